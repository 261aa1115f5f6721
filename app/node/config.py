"""The node's settings: code defaults, then one YAML file, then SYNTH_NODE_* environment variables, then flags.

Validated once at start-up: a bad key or value fails with the key and the
reason (`ConfigError`), before any port is opened. Every key and its default
is listed in the README ("Node configuration").
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from app.run_options import OptionError, RunOptions
from product.errors import ProductError

logger = logging.getLogger(__name__)

ENV_PREFIX = "SYNTH_NODE_"
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE VR: 16 chars, no backslash or control chars
_DESTINATION = re.compile(r"^(?P<ae>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>\d+)$")


class ConfigError(ProductError, ValueError):
    """A configuration key has a bad value; the message names the key."""


@dataclass(frozen=True)
class Peer:
    """A DICOM peer: an AE title, and where it listens (a destination) or connects from (a caller)."""

    ae_title: str
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}" if self.host else self.ae_title


@dataclass(frozen=True)
class TLSConfig:
    """TLS for the SCP (off when `certificate` is empty)."""

    certificate: Path | None = None
    private_key: Path | None = None
    ca_certificates: Path | None = None
    require_client_certificate: bool = False


@dataclass(frozen=True)
class NodeConfig:
    """Every setting of `python -m app serve`.

    Attributes:
        ae_title: the node's AE title; the called AE title of every association must match it.
        bind_address: interface the SCP listens on.
        port: the SCP's TCP port (the only port the node opens).
        allowed_callers: calling AE titles (with optional source host, and the port results go back to) that may
            associate; empty allows every caller (logged as a warning at start).
        destinations: where results are C-STOREd; empty sends them back to the caller's entry in allowed_callers.
        spool: folder for received instances, results and the job database.
        stable_after_s: a study is complete after this long without a new instance.
        job_timeout_s: a job running longer is stopped and marked failed.
        retention_days: keep a study's files this long after its results are acknowledged (0: delete at once).
        max_associations: concurrent associations the SCP accepts.
        max_pdu_size: largest PDU the SCP receives (bytes; 0 for no limit).
        send_retry_s: first wait before a failed send is retried; doubled each time up to send_retry_max_s.
        send_retry_max_s: longest wait between retries.
        send_attempts: attempts before a send is marked failed.
        tls: TLS settings.
        output: how results are made: the options of every run (`app.study_run.RunOptions`).
    """

    ae_title: str = "SYNTH"
    bind_address: str = "0.0.0.0"
    port: int = 11112
    allowed_callers: tuple[Peer, ...] = ()
    destinations: tuple[Peer, ...] = ()
    spool: Path = Path("spool")
    stable_after_s: float = 60.0
    job_timeout_s: float = 1800.0
    retention_days: float = 2.0
    max_associations: int = 10
    max_pdu_size: int = 65536
    send_retry_s: float = 5.0
    send_retry_max_s: float = 600.0
    send_attempts: int = 50
    tls: TLSConfig = field(default_factory=TLSConfig)
    output: RunOptions = field(default_factory=RunOptions)

    @property
    def database(self) -> Path:
        return self.spool / "jobs.sqlite"

    def summary(self) -> str:
        """One line with the effective settings (no secrets: TLS file names only)."""
        callers = ", ".join(map(str, self.allowed_callers)) or "any"
        destinations = ", ".join(map(str, self.destinations)) or "the caller"
        return (
            f"AE {self.ae_title} on {self.bind_address}:{self.port}{' (TLS)' if self.tls.certificate else ''}, "
            f"callers {callers}, results to {destinations}, spool {self.spool}, "
            f"stable after {self.stable_after_s:g} s, "
            f"job timeout {self.job_timeout_s:g} s, retention {self.retention_days:g} days"
        )


def ae_title(value: object, key: str) -> str:
    text = str(value).strip() if value is not None else ""
    if not _AE_TITLE.match(text):
        raise ConfigError(f"{key}: AE title {value!r} must be 1 to 16 printable characters without a backslash")
    return text


def _port(value: object, key: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: port {value!r} is not an integer") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{key}: port {port} is outside 1..65535")
    return port


def parse_peer(value: object, key: str, need_address: bool) -> Peer:
    """'AE@host:port', 'AE', or a mapping {ae_title, host, port}."""
    if isinstance(value, Mapping):
        unknown = set(value) - {"ae_title", "host", "port"}
        if unknown:
            raise ConfigError(f"{key}: unknown keys {sorted(unknown)} (expected ae_title, host, port)")
        title, host, port = value.get("ae_title"), value.get("host"), value.get("port")
    else:
        text = str(value).strip()
        match = _DESTINATION.match(text)
        title, host, port = (match["ae"], match["host"], match["port"]) if match else (text, None, None)
    peer = Peer(ae_title(title, key), str(host) if host else None, _port(port, key) if port is not None else None)
    if need_address and (peer.host is None or peer.port is None):
        raise ConfigError(f"{key}: {value!r} needs a host and a port (AE@host:port)")
    return peer


def _number(value: object, key: str, minimum: float, integer: bool = False) -> float:
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: {value!r} is not a {'whole ' if integer else ''}number") from None
    if number < minimum:
        raise ConfigError(f"{key}: {number} is below the minimum {minimum}")
    return number


def _bool(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}: {value!r} is not true or false")


def _list(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[,\s]+", value) if v]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


_RUN_FLAGS = ("dry_run", "synthesize_unusable", "burn_label", "allow_different_frames", "task_metadata")
_RUN_WHOLE_NUMBERS = ("min_present", "sampler_steps")


def _output(values: Mapping, key: str) -> RunOptions:
    """The run options from the file's or the environment's text; `RunOptions` checks the values."""
    unknown = set(values) - RunOptions.field_names()
    if unknown:
        raise ConfigError(f"{key}: unknown keys {sorted(unknown)}; known keys: {sorted(RunOptions.field_names())}")
    out = {name: value for name, value in values.items() if value is not None}
    for name in _RUN_FLAGS:
        if name in out:
            out[name] = _bool(out[name], f"{key}.{name}")
    for name in _RUN_WHOLE_NUMBERS:
        if name in out:
            out[name] = int(_number(out[name], f"{key}.{name}", float("-inf"), integer=True))
    for name in ("model", "device", "sop_class", "output_grid", "sampler"):
        if name in out:
            out[name] = Path(out[name]) if name == "model" else str(out[name])
    try:
        return RunOptions(**out)
    except OptionError as error:
        raise ConfigError(f"{key}.{error}") from None


def _tls(values: Mapping, key: str) -> TLSConfig:
    unknown = set(values) - {f.name for f in dataclasses.fields(TLSConfig)}
    if unknown:
        raise ConfigError(f"{key}: unknown keys {sorted(unknown)}")
    tls = TLSConfig(
        **{k: (Path(v) if v else None) for k, v in values.items() if k != "require_client_certificate"},
        require_client_certificate=_bool(
            values.get("require_client_certificate", False), f"{key}.require_client_certificate"
        ),
    )
    for name in ("certificate", "private_key", "ca_certificates"):
        path = getattr(tls, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"{key}.{name}: {path} is not a file")
    if tls.certificate and not tls.private_key:
        raise ConfigError(f"{key}.private_key: needed with {key}.certificate")
    if tls.require_client_certificate and not tls.ca_certificates:
        raise ConfigError(f"{key}.ca_certificates: needed to verify client certificates")
    return tls


_NUMBERS = {
    "port": (1, True),
    "stable_after_s": (0.1, False),
    "job_timeout_s": (1, False),
    "retention_days": (0, False),
    "max_associations": (1, True),
    "max_pdu_size": (0, True),
    "send_retry_s": (0.1, False),
    "send_retry_max_s": (0.1, False),
    "send_attempts": (1, True),
}


def build_config(values: Mapping, source: str = "settings") -> NodeConfig:
    """A validated `NodeConfig` from a mapping of keys (file, environment and flags merged)."""
    known = {f.name for f in dataclasses.fields(NodeConfig)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)}; known keys: {sorted(known)}")
    settings: dict = {}
    for key, value in values.items():
        if value is None:
            continue
        if key in _NUMBERS:
            minimum, integer = _NUMBERS[key]
            settings[key] = _number(value, key, minimum, integer)
            if key == "port":
                settings[key] = _port(value, key)
        elif key == "ae_title":
            settings[key] = ae_title(value, key)
        elif key == "bind_address":
            settings[key] = str(value)
        elif key == "spool":
            settings[key] = Path(value)
        elif key == "allowed_callers":
            settings[key] = tuple(parse_peer(v, f"{key}[{i}]", False) for i, v in enumerate(_list(value)))
        elif key == "destinations":
            settings[key] = tuple(parse_peer(v, f"{key}[{i}]", True) for i, v in enumerate(_list(value)))
        elif key == "tls":
            settings[key] = _tls(value or {}, key)
        elif key == "output":
            settings[key] = _output(value or {}, key)
    return NodeConfig(**settings)


def environment_values(environ: Mapping[str, str]) -> dict:
    """SYNTH_NODE_<KEY> variables as keys (SYNTH_NODE_OUTPUT__SOP_CLASS sets output.sop_class)."""
    values: dict = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if "__" in key:
            section, sub = key.split("__", 1)
            values.setdefault(section, {})[sub] = value
        else:
            values[key] = value
    return values


def _merge(base: dict, extra: Mapping) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        elif value is not None:
            merged[key] = value
    return merged


def load_config(path: Path | None, flags: Mapping, environ: Mapping[str, str] | None = None) -> NodeConfig:
    """Defaults < YAML file < environment < flags (flags that are None are not given)."""
    values: dict = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as error:
            raise ConfigError(f"--config {path}: cannot read it ({error.strerror})") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"--config {path}: not valid YAML ({error})") from error
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"--config {path}: expected a mapping of keys, got {type(loaded).__name__}")
        values = dict(loaded)
    values = _merge(values, environment_values(os.environ if environ is None else environ))
    values = _merge(values, {k: v for k, v in flags.items() if v is not None and v != []})
    return build_config(values, str(path) if path else "settings")
