"""`python -m app serve` (the DICOM node), `status` (its queue, for an admin) and `health` (a C-ECHO probe)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from app.node.config import ConfigError, NodeConfig, load_config

logger = logging.getLogger("app.node")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="node YAML file (keys in the README); SYNTH_NODE_* override it")
    parser.add_argument("--spool", help="spool folder (received instances, results, queue database)")


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app serve", description="Run the DICOM node (SCP, queue, sender).")
    _common(parser)
    parser.add_argument("--ae-title", help="the node's AE title (default SYNTH)")
    parser.add_argument("--bind", dest="bind_address", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port to listen on (default 11112)")
    parser.add_argument(
        "--allow", action="append", default=[], help="allowed calling AE (AE, or AE@host:port to send results back)"
    )
    parser.add_argument("--destination", action="append", default=[], help="send results to AE@host:port")
    parser.add_argument("--stable-after", dest="stable_after_s", type=float, help="seconds without new instances")
    parser.add_argument("--job-timeout", dest="job_timeout_s", type=float, help="seconds a job may run")
    parser.add_argument(
        "-l", "--log-level", type=str.upper, default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser


def serve(argv: list[str]) -> int:
    from app.node.service import NodeService

    args = serve_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    flags = {
        "spool": args.spool,
        "ae_title": args.ae_title,
        "bind_address": args.bind_address,
        "port": args.port,
        "allowed_callers": args.allow,
        "destinations": args.destination,
        "stable_after_s": args.stable_after_s,
        "job_timeout_s": args.job_timeout_s,
    }
    try:
        config = load_config(args.config, flags)
    except ConfigError as error:
        print(f"python -m app serve: configuration error: {error}", file=sys.stderr)
        return 2
    service = NodeService(config, logging.getLevelName(args.log_level))
    try:
        service.start()
    except OSError as error:
        print(f"python -m app serve: cannot listen on {config.bind_address}:{config.port}: {error}", file=sys.stderr)
        service.stop()
        return 2

    def stop(signum, frame) -> None:
        logger.info("signal %s received", signal.Signals(signum).name)
        service.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    service.wait()
    return 0


def status(argv: list[str]) -> int:
    from app.node.jobs import JobQueue

    parser = argparse.ArgumentParser(prog="python -m app status", description="Print the node's queue.")
    _common(parser)
    args = parser.parse_args(argv)
    try:
        config: NodeConfig = load_config(args.config, {"spool": args.spool})
    except ConfigError as error:
        print(f"python -m app status: configuration error: {error}", file=sys.stderr)
        return 2
    if not config.database.is_file():
        print(f"no queue at {config.database}: the node has not run with this spool", file=sys.stderr)
        return 1
    queue = JobQueue(config.database)
    print(render_status(queue), end="")
    queue.close()
    return 0


def health(argv: list[str]) -> int:
    from app.node.health import probe

    parser = argparse.ArgumentParser(prog="python -m app health", description="C-ECHO the node on this host.")
    parser.add_argument("--config", type=Path, help="node YAML file (keys in the README); SYNTH_NODE_* override it")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the node (default 5)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, {})
    except ConfigError as error:
        print(f"python -m app health: configuration error: {error}", file=sys.stderr)
        return 2
    healthy, what = probe(config, args.timeout)
    print(what)
    return 0 if healthy else 1


def render_status(queue) -> str:
    """The queue as the admin's table: one line per study version (newest first), then counts per state."""
    lines = [f"{'study':<64}  {'ver':>3}  {'state':<8}  {'inst':>5}  {'age':>8}  reason"]
    for row in queue.status_rows():
        version = "-" if row["version"] is None else str(row["version"])
        lines.append(
            f"{row['study']:<64}  {version:>3}  {row['state']:<8}  {row['instances']:>5}  "
            f"{_age(row['age_s']):>8}  {row['reason']}"
        )
    counts = queue.counts()
    lines.append("jobs: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    return "\n".join(lines) + "\n"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


COMMANDS = {"serve": serve, "status": status, "health": health}


def main(argv: list[str]) -> int:
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
