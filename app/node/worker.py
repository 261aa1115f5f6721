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
import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
from pathlib import Path

from app.run_options import RunOptions, RunResult
from app.study_run import run_study
from product.outcome import Outcome
from product.process import raise_stack_limit

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the node dies (even by SIGKILL), so that a restarted node
    never shares a job's output folder with an orphaned worker."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        logging.getLogger(__name__).warning("cannot tie the worker's life to the node's (no prctl)")


def _child(connection, log_level: int, parent_pid: int) -> None:
    """The worker process: run each requested job (input, output, options), answer with its `RunResult`."""
    _die_with_parent()
    if os.getppid() != parent_pid:  # the node died before prctl took effect
        return
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s [worker]: %(message)s")
    while True:
        request = connection.recv()
        if request is None:
            return
        input_folder, output_folder, options = request
        try:
            result = run_study(input_folder, output_folder, options)
        except Exception as error:  # run_study reports the graph's failures itself; this is what is left
            logging.getLogger(__name__).exception("job failed")
            result = RunResult(Outcome.INTERNAL_ERROR, f"{type(error).__name__}: {error}")
        connection.send(result)


class Worker:
    """Runs jobs one at a time in the child process; restarts it after a timeout or a crash."""

    def __init__(self, log_level: int = logging.INFO):
        self.log_level = log_level
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._connection = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        raise_stack_limit()  # inherited by the child (Holoscan)
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

    def run(self, input_folder: Path, output_folder: Path, options: RunOptions, timeout_s: float, stop) -> RunResult:
        """Run the graph on one study version; `stop` (a threading.Event) abandons it."""
        shutil.rmtree(output_folder, ignore_errors=True)  # a half-made result of an interrupted run
        output_folder.mkdir(parents=True)
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
            connection = self._connection
        connection.send((input_folder, output_folder, options))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if stop.is_set():
                self.stop()
                return RunResult(Outcome.INTERRUPTED, "the node stopped during the job")
            try:
                if connection.poll(0.5):
                    return connection.recv()
            except (EOFError, OSError):
                break
            if self._process is None or not self._process.is_alive():
                break
        if time.monotonic() >= deadline:
            self.stop()
            return RunResult(Outcome.INTERNAL_ERROR, f"job time limit of {timeout_s:g} s exceeded; stopped")
        code = self._process.exitcode if self._process is not None else None
        self.stop()
        return RunResult(Outcome.INTERNAL_ERROR, f"the worker process died during the job (exit code {code})")
