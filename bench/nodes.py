"""Studies per hour with one node against two nodes on the same machine, each node with its own spool and worker.

    python -m bench.nodes [--studies 4] [--repeats 2] [--sampler-steps N]

The same `--studies` studies (FLAIR missing) go to one node, then split evenly
between two nodes (as the Orthanc routing script spreads many studies); the
clock runs from the first instance sent until every study's results are
acknowledged by a dcmtk storescp destination. One and two nodes alternate in
each repeat, with fresh nodes and spools. Both nodes share this machine's
cores, so the ratio measures what a second worker adds on the same cores (it
overlaps one study's waits and transfers with another's synthesis); on two
machines each node would have its own cores and the ratio would approach 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench.common import spread, write
from bench.ingest import DCMTK_ENV, _free_port, _send, _wait_for_echo
from bench.queue import _job_states, _studies

REPO = Path(__file__).resolve().parents[1]


def _start_node(work: Path, destination: int, sampler_steps: int | None) -> tuple[subprocess.Popen, int, Path]:
    port, spool = _free_port(), work / "spool"
    settings = {
        "ae_title": "SYNTH",
        "bind_address": "127.0.0.1",
        "port": port,
        "spool": str(spool),
        "stable_after_s": 2,
        "destinations": [f"DEST@127.0.0.1:{destination}"],
        "output": {"sampler_steps": sampler_steps} if sampler_steps else {},
    }
    work.mkdir(parents=True)
    (work / "node.yaml").write_text(yaml.safe_dump(settings))
    command = [sys.executable, "-m", "app", "serve", "--config", str(work / "node.yaml"), "-l", "WARNING"]
    node = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return node, port, spool


def run(studies: list[Path], work: Path, nodes: int, sampler_steps: int | None) -> float:
    """Seconds from the first send until every study's results are acknowledged, `nodes` nodes sharing them."""
    destination, folder = _free_port(), work / "received"
    folder.mkdir(parents=True)
    scp = subprocess.Popen(
        ["storescp", "-aet", "DEST", "-od", str(folder), "+xa", str(destination)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=DCMTK_ENV,
    )
    started = [_start_node(work / f"node{i}", destination, sampler_steps) for i in range(nodes)]
    try:
        _wait_for_echo(destination, "DEST")
        for _, port, _ in started:
            _wait_for_echo(port, "SYNTH")
        start = time.perf_counter()
        senders = [
            threading.Thread(target=_send, args=(studies[i::nodes], port, "SYNTH"))
            for i, (_, port, _) in enumerate(started)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        deadline = start + 3600
        while sum(_job_states(spool).get("sent", 0) for _, _, spool in started) < len(studies):
            states = [_job_states(spool) for _, _, spool in started]
            if time.perf_counter() > deadline or any(s.get("failed") for s in states):
                raise RuntimeError(f"jobs {states} for {len(studies)} studies")
            if any(node.poll() is not None for node, _, _ in started):
                raise RuntimeError("a node stopped")
            time.sleep(0.5)
        return time.perf_counter() - start
    finally:
        for process in [node for node, _, _ in started] + [scp]:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def render(results: dict) -> str:
    """The markdown table and what the ratio means, from the results (so a result can be rendered again)."""
    one, two, speedup = results["one_node_s"], results["two_nodes_s"], results["two_over_one"]
    per_hour = {1: results["one_node_studies_per_hour"], 2: results["two_nodes_studies_per_hour"]}
    if speedup["median"] < 1:
        meaning = (
            "Two nodes on one machine are slower than one here: both workers' torch threads (each as many as the "
            "cores) compete for the same cores, and each node loads its own model. On one machine, run one node."
        )
    else:
        meaning = (
            "On one machine a second node adds overlap (one study's stability wait, transfers and model start beside "
            "another's synthesis), not compute."
        )
    return (
        "# One node against two nodes on the same machine (shipped model)\n\n"
        f"{results['studies']} studies (FLAIR missing), all to one node or split evenly between two; from the first "
        "instance sent until every study's results are acknowledged by storescp; stable_after_s 2; sampler steps: "
        f"{results['sampler_steps']}; {results['cores']} cores; median (min-max) of {results['repeats']} runs, one "
        f"and two nodes alternating. Made by `python -m bench.nodes --studies {results['studies']} --repeats "
        f"{results['repeats']}`.\n\n"
        "| nodes | seconds (min-max) | studies per hour |\n|---|---|---|\n"
        f"| 1 | {one['median']:.1f} ({one['min']:.1f}-{one['max']:.1f}) | {per_hour[1]:.0f} |\n"
        f"| 2 | {two['median']:.1f} ({two['min']:.1f}-{two['max']:.1f}) | {per_hour[2]:.0f} |\n\n"
        f"Two nodes over one, same repeat: {speedup['median']:.2f}x ({speedup['min']:.2f}-{speedup['max']:.2f}). "
        f"{meaning} On two machines each node has its own cores and model; with synthesis the bulk of a study's "
        "time, two nodes would come near twice the studies per hour of one (not measured here: one machine).\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nodes", description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sampler-steps", type=int, help="DDIM steps (default: the model's)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-nodes")
    args = parser.parse_args(argv)
    studies = _studies(args.work, args.studies)[1:]
    ones, twos = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            ones.append(run(studies, Path(scratch) / f"one{repeat}", 1, args.sampler_steps))
            twos.append(run(studies, Path(scratch) / f"two{repeat}", 2, args.sampler_steps))
    speedups = [one / two for one, two in zip(ones, twos, strict=True)]
    one, two, speedup = spread(ones), spread(twos), spread(speedups)
    per_hour = {n: 3600 * args.studies / case["median"] for n, case in ((1, one), (2, two))}
    results = {
        "studies": args.studies,
        "repeats": args.repeats,
        "one_node_s": one,
        "two_nodes_s": two,
        "one_node_studies_per_hour": per_hour[1],
        "two_nodes_studies_per_hour": per_hour[2],
        "two_over_one": speedup,
        "sampler_steps": args.sampler_steps or "model default",
        "cores": os.cpu_count(),
    }
    markdown = render(results)
    path = write("nodes", results, markdown)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
