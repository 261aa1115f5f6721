"""The job worker: one long-lived child process that runs the folder-mode graph, the model kept loaded between jobs.

A child process, not a thread, because a job must be stoppable: past the job
time limit (or at shutdown) the child is killed and a fresh one started, and
a crash inside the graph (native code included) takes only the child down.
The child loads the model on its first job and keeps it (`models.synthesis`
caches it per process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import multiprocessing
import os
import resource
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.node.config import OutputConfig
from models.runtime import STACK_BYTES

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class JobResult:
    """How one run of the graph ended: the report's outcome and reason (or why there is no report)."""

    outcome: str
    reason: str
    exit_code: int | None


def graph_arguments(input_folder: Path, output_folder: Path, output: OutputConfig) -> list[str]:
    """The `python -m app` arguments that make the results the node's output settings ask for."""
    argv = ["-i", str(input_folder), "-o", str(output_folder), "--min-present", str(output.min_present)]
    argv += ["--sop-class", output.sop_class, "--output-grid", output.output_grid]
    if not output.burn_label:
        argv.append("--no-label")
    if output.synthesize_unusable:
        argv.append("--synthesize-unusable")
    if output.sampler_steps is not None:
        argv += ["--sampler-steps", str(output.sampler_steps)]
    if output.model is not None:
        argv += ["-m", str(output.model)]
    return argv


def read_result(output_folder: Path, exit_code: int | None) -> JobResult:
    try:
        report = json.loads((Path(output_folder) / "report.json").read_text())
    except (OSError, ValueError) as error:
        return JobResult("internal-error", f"the graph wrote no readable report.json ({error})", exit_code)
    return JobResult(str(report.get("outcome")), str(report.get("reason", "")), exit_code)


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the node dies (even by SIGKILL), so that a restarted node
    never shares a job's output folder with an orphaned worker."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        logging.getLogger(__name__).warning("cannot tie the worker's life to the node's (no prctl)")


def _child(connection, log_level: int, parent_pid: int) -> None:
    """The worker process: run each requested job, answer with its exit code; stop on None."""
    _die_with_parent()
    if os.getppid() != parent_pid:  # the node died before prctl took effect
        return
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s [worker]: %(message)s")
    from app.__main__ import parse_arguments, run_folder

    while True:
        request = connection.recv()
        if request is None:
            return
        try:
            code = run_folder(parse_arguments(request))
        except SystemExit as error:  # argparse refused the arguments
            code = error.code if isinstance(error.code, int) else 2
        except Exception:  # the parent reads the reason from report.json
            logging.getLogger(__name__).exception("job failed")
            code = 1
        connection.send(code)


class Worker:
    """Runs jobs one at a time in the child process; restarts it after a timeout or a crash."""

    def __init__(self, log_level: int = logging.INFO):
        self.log_level = log_level
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._connection = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        if (
            soft != resource.RLIM_INFINITY
            and soft < STACK_BYTES
            and (hard == resource.RLIM_INFINITY or hard >= STACK_BYTES)
        ):
            resource.setrlimit(resource.RLIMIT_STACK, (STACK_BYTES, hard))  # inherited by the child (Holoscan)
        parent, child = self._context.Pipe()
        arguments = (child, self.log_level, os.getpid())
        self._process = self._context.Process(target=_child, args=arguments, daemon=True, name="worker")
        self._process.start()
        child.close()
        self._connection = parent
        logger.info("worker process %d started", self._process.pid)

    def stop(self) -> None:
        """Kill the child (a job in progress is abandoned; the queue runs it again after a restart)."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.is_alive():
            process.kill()
            process.join(10)

    def run(self, input_folder: Path, output_folder: Path, output: OutputConfig, timeout_s: float, stop) -> JobResult:
        """Run the graph on one study version; `stop` (a threading.Event) abandons it."""
        shutil.rmtree(output_folder, ignore_errors=True)  # a half-made result of an interrupted run
        output_folder.mkdir(parents=True)
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
            connection = self._connection
        connection.send(graph_arguments(input_folder, output_folder, output))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if stop.is_set():
                self.stop()
                return JobResult("interrupted", "the node stopped during the job", None)
            try:
                if connection.poll(0.5):
                    return read_result(output_folder, connection.recv())
            except (EOFError, OSError):
                break
            if self._process is None or not self._process.is_alive():
                break
        if time.monotonic() >= deadline:
            self.stop()
            return JobResult("internal-error", f"job time limit of {timeout_s:g} s exceeded; stopped", None)
        code = self._process.exitcode if self._process is not None else None
        self.stop()
        return JobResult("internal-error", f"the worker process died during the job (exit code {code})", None)
