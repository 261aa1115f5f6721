"""Ingest: instances/s and MB/s the node's SCP receives from dcmtk storescu over 127.0.0.1, against dcmtk storescp.

    python -m bench.ingest [--repeats 3] [--senders 1,4]

Each sender sends its own simulated study (distinct UIDs: the node would
acknowledge a repeat without writing it). The node runs as `python -m app
serve` with a stable time long enough that no job starts, so only receiving
is measured: each instance fsynced and renamed into the spool and recorded in
the SQLite queue before Success, where storescp writes without fsync. Between
the two, a bare pynetdicom SCP (`bench.bare_scp`) that only writes the file
splits the gap into pynetdicom's share and the node's durability work. All
three receive the same files in the same run, in turn, so the ratios hold on
a shared, noisy machine. Then the node's per-instance steps are timed one by
one in this process on the same files (decode, SHA-256, the duplicate
lookup, the durable spool write, the SQLite commit).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
import yaml

from bench.common import simulated_study, spread, write

REPO = Path(__file__).resolve().parents[1]
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_echo(port: int, called: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["echoscu", "-aet", "BENCH", "-aec", called, "127.0.0.1", str(port)],
            capture_output=True,
            timeout=30,
            env=DCMTK_ENV,
        )
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{called} on port {port} did not answer C-ECHO in {timeout_s} s")


def _studies(root: Path, count: int) -> list[Path]:
    return [simulated_study(root / f"study{seed}", 100 + seed, "t1,t1ce,t2,flair") for seed in range(count)]


def _start_receiver(kind: str, work: Path) -> tuple[subprocess.Popen, int, str]:
    port = _free_port()
    if kind == "storescp":
        folder = work / "storescp"
        folder.mkdir()
        process = subprocess.Popen(
            ["storescp", "--fork", "-aet", "REF", "-od", str(folder), "+xa", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=DCMTK_ENV,
        )
        _wait_for_echo(port, "REF")
        return process, port, "REF"
    if kind == "pynetdicom":
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_scp", "--port", str(port), "--out", str(work / "bare")],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_echo(port, "BARE")
        return process, port, "BARE"
    config = work / "node.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ae_title": "SYNTH",
                "bind_address": "127.0.0.1",
                "port": port,
                "spool": str(work / "spool"),
                "stable_after_s": 3600,
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--config", str(config), "-l", "WARNING"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_echo(port, "SYNTH")
    return process, port, "SYNTH"


def _send(studies: list[Path], port: int, called: str) -> float:
    """Seconds from the start of the first storescu to the end of the last."""
    start = time.perf_counter()
    senders = [
        subprocess.Popen(
            ["storescu", "-aet", "BENCH", "-aec", called, "+sd", "+r", "-nh", "127.0.0.1", str(port), str(study)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=DCMTK_ENV,
        )
        for study in studies
    ]
    for sender in senders:
        _, errors = sender.communicate(timeout=600)
        if sender.returncode != 0:
            raise RuntimeError(f"storescu failed: {errors[-500:]}")
    return time.perf_counter() - start


def measure(studies: list[Path], kind: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        process, port, called = _start_receiver(kind, Path(folder))
        try:
            return _send(studies, port, called)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def step_costs(files: list[Path], work: Path) -> dict[str, float]:
    """Milliseconds per instance (median) of each step the node's C-STORE handler takes, on these files."""
    from app.node.jobs import JobQueue
    from app.node.spool import Spool

    spool, queue = Spool(work / "spool"), JobQueue(work / "jobs.sqlite")
    plain = work / "plain"
    plain.mkdir()
    times: dict[str, list[float]] = {k: [] for k in ("decode", "sha256", "lookup", "spool", "sqlite", "plain write")}
    try:
        for path in files:
            data = path.read_bytes()
            clock = time.perf_counter()
            ds = pydicom.dcmread(io.BytesIO(data))
            study, series, sop = ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
            marks = [time.perf_counter()]
            sha = hashlib.sha256(data).hexdigest()
            marks.append(time.perf_counter())
            queue.known_sha(sop)
            marks.append(time.perf_counter())
            stored = spool.store(study, sop, data)
            marks.append(time.perf_counter())
            queue.record_instance(study, series, sop, stored, sha, "BENCH")
            marks.append(time.perf_counter())
            (plain / path.name).write_bytes(data)
            marks.append(time.perf_counter())
            for step, start, end in zip(times, [clock, *marks[:-1]], marks, strict=True):
                times[step].append((end - start) * 1000)
    finally:
        queue.close()
    return {step: statistics.median(values) for step, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--senders", default="1,4")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-ingest")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.senders.split(",")]
    all_studies = _studies(args.work, max(counts))
    rows, results = [], {"senders": {}}
    kinds = ("storescp", "pynetdicom", "node")
    for count in counts:
        studies = all_studies[:count]
        files = [p for s in studies for p in s.rglob("*.dcm")]
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.repeats):
            for kind in kinds:
                seconds[kind].append(measure(studies, kind))
        entry = {"instances": len(files), "megabytes": round(megabytes, 1)}
        for kind, values in seconds.items():
            entry[kind] = {
                "seconds": spread(values),
                "instances_per_s": len(files) / spread(values)["median"],
                "mb_per_s": megabytes / spread(values)["median"],
            }
        ratio = {
            f"{a}_over_{b}": spread([x / y for x, y in zip(seconds[a], seconds[b], strict=True)])
            for a, b in (("pynetdicom", "storescp"), ("node", "pynetdicom"), ("node", "storescp"))
        }
        entry["time_ratios"] = ratio
        results["senders"][count] = entry
        cells = " | ".join(f"{entry[kind]['instances_per_s']:.0f} / {entry[kind]['mb_per_s']:.1f}" for kind in kinds)
        shown = " | ".join(f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})" for r in ratio.values())
        rows.append(f"| {count} | {len(files)} ({megabytes:.0f} MB) | {cells} | {shown} |")
    with tempfile.TemporaryDirectory() as scratch:
        one_study = [p for p in all_studies[0].rglob("*.dcm")]
        steps = step_costs(one_study, Path(scratch))
    results["node_steps_ms"] = steps
    node_ms = 1000 / results["senders"][counts[0]]["node"]["instances_per_s"]
    bare_ms = 1000 / results["senders"][counts[0]]["pynetdicom"]["instances_per_s"]
    handler_ms = sum(v for k, v in steps.items() if k != "plain write")
    first = results["senders"][counts[0]]
    library_share, node_share = (
        first["time_ratios"][k]["median"] for k in ("pynetdicom_over_storescp", "node_over_pynetdicom")
    )
    owner = "pynetdicom's, not the node's" if library_share > node_share else "the node's own work, not pynetdicom's"
    step_rows = "\n".join(f"| {step} | {ms:.2f} | {ms / node_ms:.0%} |" for step, ms in steps.items())
    durable = steps["spool"] + steps["sqlite"]
    markdown = (
        f"# Ingest: the node's SCP against dcmtk storescp and a bare pynetdicom SCP\n\n"
        f"`python -m bench.ingest --repeats {args.repeats} --senders {args.senders}`: concurrent storescu senders "
        f"over 127.0.0.1, one simulated whole-head study each; median (min-max) of {args.repeats} runs, the three "
        "receivers in turn. Bare pynetdicom (`bench.bare_scp`) writes each file and answers, like storescp.\n\n"
        "| senders | instances | storescp inst/s / MB/s | bare pynetdicom inst/s / MB/s | node inst/s / MB/s "
        "| time pynetdicom / storescp | time node / pynetdicom | time node / storescp |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Where the node's time per instance goes ({node_ms:.1f} ms with {counts[0]} sender; bare pynetdicom "
        f"{bare_ms:.1f} ms): its handler's steps timed one by one in one process on the same "
        f"{len(one_study)} files, median ms per instance, and as a share of the node's {node_ms:.1f} ms.\n\n"
        "| step | ms | share |\n|---|---|---|\n" + step_rows + "\n\n"
        f"Most of the gap to storescp is {owner}: the bare pynetdicom SCP takes "
        f"{first['time_ratios']['pynetdicom_over_storescp']['median']:.1f}x storescp's time and the node "
        f"{first['time_ratios']['node_over_pynetdicom']['median']:.2f}x the bare SCP's. storescu sends the next "
        "instance only after the response to the last, so each instance pays a full round trip through "
        "pynetdicom's two Python threads: the DUL thread reads the PDUs, the association thread polls its queue "
        "with a fixed 1 ms sleep (pynetdicom 3.0's reactor), decodes the command and calls the handler, and the "
        "response goes back the same way. The node's own steps add up to "
        f"{handler_ms:.1f} ms, most of it the durable spool write (file fsync, atomic rename, folder fsync) and "
        f"the SQLite commit (WAL, synchronous=FULL): {durable:.1f} ms together, against "
        f"{steps['plain write']:.2f} ms for writing the same bytes without fsync. That is the price of an "
        "acknowledged instance surviving a power cut. What would close the gap: a C++ SCP (storescp itself) "
        "writing into the spool with the node importing from it, or group commit (one fsync and one SQLite "
        "commit for a batch of instances), which pynetdicom's one-handler-call-per-C-STORE design does not "
        "offer. Neither is done: a 600-instance study arrives in a few seconds, against about 40 s of "
        "synthesis.\n"
    )
    print(write("ingest", results, markdown).read_text())
    shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
