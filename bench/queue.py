"""Queue throughput: studies per hour through the DICOM node when several wait, against one study alone.

    python -m bench.queue [--studies 3] [--repeats 2] [--sampler-steps N]

The node (`python -m app serve`, the shipped model) gets one study, then
`--studies` studies at once from parallel storescu senders; each time the
clock runs from the first instance sent until the node's queue marks every
study's results as delivered (acknowledged by a dcmtk storescp destination). The single study is the reference
measured in the same run, alternating with the several, each with a fresh
node and spool: with a worker that keeps the model loaded, N studies should
take less than N times one study (no model load per job).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import simulated_study, spread, write
from bench.ingest import DCMTK_ENV, _free_port, _send, _wait_for_echo

REPO = Path(__file__).resolve().parents[1]


def _studies(root: Path, count: int) -> list[Path]:
    """Distinct simulated studies with FLAIR missing (each makes one job)."""
    return [simulated_study(root / f"study{seed}", 200 + seed, "t1,t1ce,t2") for seed in range(count + 1)]


def _job_states(spool: Path) -> dict[str, int]:
    """Jobs per state in the node's queue (read beside the running node, as `python -m app status` does)."""
    from app.node.jobs import JobQueue

    if not (spool / "jobs.sqlite").is_file():
        return {}
    queue = JobQueue(spool / "jobs.sqlite")
    try:
        return queue.counts()
    finally:
        queue.close()


def run(studies: list[Path], work: Path, sampler_steps: int | None) -> float:
    """Seconds from the first send until every synthetic instance is at the destination."""
    destination, folder = _free_port(), work / "received"
    folder.mkdir(parents=True)
    scp = subprocess.Popen(
        ["storescp", "-aet", "DEST", "-od", str(folder), "+xa", str(destination)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=DCMTK_ENV,
    )
    port = _free_port()
    output = {"sampler_steps": sampler_steps} if sampler_steps else {}
    config = work / "node.yaml"
    settings = {
        "ae_title": "SYNTH",
        "bind_address": "127.0.0.1",
        "port": port,
        "spool": str(work / "spool"),
        "stable_after_s": 2,
        "destinations": [f"DEST@127.0.0.1:{destination}"],
        "output": output,
    }
    config.write_text(yaml.safe_dump(settings))
    node = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--config", str(config), "-l", "WARNING"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_echo(destination, "DEST")
        _wait_for_echo(port, "SYNTH")
        start = time.perf_counter()
        _send(studies, port, "SYNTH")
        deadline = start + 3600
        while (states := _job_states(work / "spool")).get("sent", 0) < len(studies):
            if time.perf_counter() > deadline or node.poll() is not None or states.get("failed"):
                raise RuntimeError(f"jobs {states} for {len(studies)} studies")
            time.sleep(0.5)
        return time.perf_counter() - start
    finally:
        for process in (node, scp):
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queue", description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sampler-steps", type=int, help="DDIM steps (default: the model's)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-queue")
    args = parser.parse_args(argv)
    studies = _studies(args.work, args.studies)
    singles, severals = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            singles.append(run(studies[:1], Path(scratch) / f"single{repeat}", args.sampler_steps))
            severals.append(run(studies[1:], Path(scratch) / f"several{repeat}", args.sampler_steps))
    ratios = [several / args.studies / single for single, several in zip(singles, severals, strict=True)]
    single, several = spread(singles), spread(severals)
    per_study = several["median"] / args.studies
    results = {
        "studies": args.studies,
        "repeats": args.repeats,
        "single_s": single,
        "several_s": several,
        "per_study_s": per_study,
        "studies_per_hour": 3600 / per_study,
        "per_study_over_single": spread(ratios),
        "sampler_steps": args.sampler_steps or "model default",
        "stable_after_s": 2,
    }
    ratio = spread(ratios)
    markdown = (
        "# Queue throughput of the DICOM node (shipped model, one worker)\n\n"
        f"From the first instance sent until the queue marks every study's results delivered to storescp; "
        f"stable_after_s 2; sampler steps: {results['sampler_steps']}; median (min-max) of {args.repeats} runs, "
        f"single and several alternating. Made by `python -m bench.queue --studies {args.studies} "
        f"--repeats {args.repeats}`.\n\n"
        "| case | seconds (min-max) | per study | studies per hour |\n|---|---|---|---|\n"
        f"| 1 study alone | {single['median']:.1f} ({single['min']:.1f}-{single['max']:.1f}) | "
        f"{single['median']:.1f} | {3600 / single['median']:.0f} |\n"
        f"| {args.studies} studies at once | {several['median']:.1f} ({several['min']:.1f}-{several['max']:.1f}) | "
        f"{per_study:.1f} | {3600 / per_study:.0f} |\n\n"
        f"Per study with {args.studies} waiting: {ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}) of "
        "one study alone in the same repeat. A fresh node's worker process starts and loads the model on its first "
        "job and keeps it; one study alone pays that start, the 2 s stability wait and the send-back in full, "
        "where with several waiting later studies' waits and send-backs overlap earlier studies' synthesis.\n"
    )
    path = write("queue", results, markdown)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
