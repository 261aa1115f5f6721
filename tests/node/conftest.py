"""Real peers on 127.0.0.1: the node as its own process (`python -m app serve`), dcmtk's storescp as a destination.

Ports are free ones picked by the OS; readiness is polled with C-ECHO under a
deadline, never a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from pynetdicom import AE
from pynetdicom.sop_class import Verification

REPO = Path(__file__).resolve().parents[2]
NODE_AE = "SYNTH"
PACS_AE = "PACS"
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
"""dcmtk leaves Nagle on unless TCP_NODELAY is set: every C-STORE then stalls ~60 ms on loopback."""
UNTRAINED_RECIPE = {
    "name": "untrained-node-test",
    "version": "0.0.0-untrained",
    "data": {"image_size": 64, "spacing_mm": 4.0},
    "autoencoder": {"channels": [8, 8, 8, 8], "num_embeddings": 16, "norm_num_groups": 4},
    "structure": {"base_channels": 4, "structure_channels": 8, "decoder_channels": 8, "style_channels": 4},
    "diffusion": {"channels": [32, 32, 32], "attention_levels": [False, False, False], "num_head_channels": 8},
    "sampler": {"steps": 2, "batch_size": 64},
}
"""A model with random weights: the node tests check the node (receiving, jobs, sending), not the images, so
they use a network that synthesizes in seconds; the shipped model is tested in tests/app and tests/models."""


def write_untrained_model(folder: Path) -> Path:
    """A model folder (models.export layout) with randomly initialised networks of UNTRAINED_RECIPE."""
    import torch

    from models.build import build_autoencoder, build_structure_network, build_unet
    from models.config import config_from_dict, save_config
    from models.export import CHECKSUM, CONFIG, WEIGHTS, sha256

    torch.manual_seed(0)
    config = config_from_dict(UNTRAINED_RECIPE)
    weights = {
        "autoencoder": build_autoencoder(config).half().state_dict(),
        "structure": build_structure_network(config).half().state_dict(),
        "unet": build_unet(config).half().state_dict(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(weights, folder / WEIGHTS)
    (folder / CHECKSUM).write_text(f"{sha256(folder / WEIGHTS)}  {WEIGHTS}\n")
    save_config(config, folder / CONFIG)
    return folder


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    return write_untrained_model(tmp_path_factory.mktemp("model") / "untrained")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def echo(port: int, called: str = NODE_AE, calling: str = PACS_AE) -> int | None:
    """C-ECHO status, or None when no association."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        return None
    status = assoc.send_c_echo()
    assoc.release()
    return int(status.Status) if status and "Status" in status else None


@dataclass
class NodeProcess:
    """A running `python -m app serve`."""

    spool: Path
    port: int
    config: Path
    log: Path
    process: subprocess.Popen | None = None
    env: dict = field(default_factory=dict)
    caller: str = PACS_AE

    def start(self) -> NodeProcess:
        with open(self.log, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--config", str(self.config)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(
            lambda: self.process.poll() is not None or echo(self.port, calling=self.caller) == 0,
            60,
            "the node to answer C-ECHO",
        )
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int:
        self.process.send_signal(sig)
        return self.process.wait(30)

    def status(self) -> str:
        """The admin's status table, rendered in this process (polling `python -m app status` would eat a core)."""
        from app.node.cli import render_status
        from app.node.jobs import JobQueue

        if not (self.spool / "jobs.sqlite").is_file():
            return ""
        queue = JobQueue(self.spool / "jobs.sqlite")
        try:
            return render_status(queue)
        finally:
            queue.close()

    def status_cli(self) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "app", "status", "--spool", str(self.spool)],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout + result.stderr


@pytest.fixture
def node_factory(tmp_path, untrained_model) -> Callable[..., NodeProcess]:
    """`node_factory(destinations=[...], **keys)`: a node with a YAML config of those keys, started."""
    started: list[NodeProcess] = []

    def make(spool: Path | None = None, **keys) -> NodeProcess:
        spool = spool or tmp_path / "spool"
        port = keys.pop("port", None) or free_port()
        settings = {
            "ae_title": NODE_AE,
            "bind_address": "127.0.0.1",
            "port": port,
            "spool": str(spool),
            "stable_after_s": 1.5,
            "allowed_callers": [PACS_AE],
            **keys,
        }
        settings["output"] = {"model": str(untrained_model), **settings.get("output", {})}
        config = tmp_path / f"node-{len(started)}.yaml"
        config.write_text(yaml.safe_dump(settings))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        callers = settings["allowed_callers"]
        caller = str(callers[0]).split("@")[0] if callers else PACS_AE
        node = NodeProcess(spool, port, config, tmp_path / "node.log", env=env, caller=caller)
        started.append(node)
        return node.start()

    yield make
    for node in started:
        if node.process and node.process.poll() is None:
            node.kill(signal.SIGTERM)


@dataclass
class StoreSCP:
    """dcmtk's storescp receiving into `folder`."""

    ae_title: str
    port: int
    folder: Path
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.ae_title}@127.0.0.1:{self.port}"

    def start(self) -> StoreSCP:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["storescp", "-aet", self.ae_title, "-od", str(self.folder), "+xa", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=DCMTK_ENV,
        )
        wait_for(lambda: echo(self.port, called=self.ae_title) == 0, 30, "storescp to answer C-ECHO")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())


@pytest.fixture
def storescp(tmp_path) -> Callable[..., StoreSCP]:
    started: list[StoreSCP] = []

    def make(ae_title: str = "DEST", port: int | None = None, start: bool = True) -> StoreSCP:
        scp = StoreSCP(ae_title, port or free_port(), tmp_path / f"received-{ae_title}-{len(started)}")
        started.append(scp)
        return scp.start() if start else scp

    yield make
    for scp in started:
        scp.stop()


def storescu(
    port: int, *paths: Path, extra: tuple[str, ...] = (), calling: str = PACS_AE
) -> subprocess.CompletedProcess:
    """dcmtk storescu: scan folders recursively, don't halt on a failure."""
    command = ["storescu", "-aet", calling, "-aec", NODE_AE, "+sd", "+r", "-nh", *extra, "127.0.0.1", str(port)]
    return subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, timeout=300, env=DCMTK_ENV)


def dciodvfy_errors(path: Path) -> list[str]:
    check = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in check.stderr.splitlines() if line.startswith("Error")]


@pytest.fixture
def orthanc(tmp_path):
    """`orthanc({"synth": node_port}, lua)`: a real Orthanc routing with the Lua script, stopped at the end."""
    from tests.node.orthanc_peer import Orthanc

    started = []

    def make(nodes: dict[str, int], lua: str) -> Orthanc:
        pacs = Orthanc(tmp_path / f"orthanc-{len(started)}", nodes, lua)
        started.append(pacs)
        return pacs

    yield make
    for pacs in started:
        pacs.stop()
