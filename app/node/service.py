"""The DICOM node: SCP -> spool -> stable study versions -> worker -> sender, all state in the spool.

Three threads beside the SCP's: the scheduler (stable studies become jobs,
housekeeping), the job runner (one job at a time in the worker process) and
the sender (due sends, with back-off). Start-up repairs what an interruption
left: half-written files are removed, files on disk that the queue does not
know are registered, running jobs are queued again, pending sends resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from app.node.config import NodeConfig
from app.node.jobs import DONE, FAILED, Job, JobQueue, Send
from app.node.receiver import Receiver
from app.node.sender import SendError, result_files, send_files
from app.node.spool import Spool
from app.node.worker import Worker
from product.outcome import Outcome

logger = logging.getLogger(__name__)

TICK_S = 0.5
HOUSEKEEPING_EVERY_S = 5.0


def superseded_synthetics(study_results: Path, version: int) -> list[str]:
    """What earlier versions of a study synthesized and this version holds acquired: a synthetic series the node
    sent that now sits beside the real one in the PACS, which only an admin can remove."""
    try:
        current = json.loads((study_results / f"v{version}" / "report.json").read_text())
    except (OSError, ValueError):
        return []
    acquired = set(current.get("contrasts_present", {})) | set(current.get("contrasts_acquired_unusable", {}))
    notes = []
    for earlier in range(1, version):
        try:
            report = json.loads((study_results / f"v{earlier}" / "report.json").read_text())
        except (OSError, ValueError):
            continue
        for output in report.get("outputs", []):
            if output.get("contrast") in acquired:
                notes.append(
                    f"{output['contrast'].upper()} is acquired now, but version {earlier} synthesized it (series "
                    f"{output.get('series_instance_uid')}, '{output.get('description')}'): remove that series from "
                    "the PACS"
                )
    return notes


class NodeService:
    """One node: `start()`, then `stop()` (SIGTERM does it in `python -m app serve`)."""

    def __init__(self, config: NodeConfig, log_level: int = logging.INFO):
        self.config = config
        self.spool = Spool(config.spool)
        self.queue: JobQueue | None = None
        self.receiver: Receiver | None = None
        self.worker = Worker(log_level)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return self.receiver.port if self.receiver else self.config.port

    def start(self) -> None:
        self.spool.remove_partials()
        self.queue = JobQueue(self.config.database)
        recovered = self.queue.recover()
        if recovered:
            logger.warning("%d interrupted jobs queued again", recovered)
        self._register_orphans()
        self.receiver = Receiver(self.config, self.spool, self.queue)
        self.receiver.start()
        if not self.config.allowed_callers:
            logger.warning("allowed_callers is empty: any calling AE title may store to this node")
        for target, name in ((self._schedule, "scheduler"), (self._run_jobs, "jobs"), (self._send, "sender")):
            thread = threading.Thread(target=self._guarded, args=(target, name), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("node started: %s", self.config.summary())

    def stop(self) -> None:
        """Stop receiving, abandon a running job (queued again at the next start), keep every state on disk."""
        if self._stop.is_set():
            return
        logger.info("node stopping")
        if self.receiver is not None:
            self.receiver.stop()
        self._stop.set()
        self.worker.stop()
        for thread in self._threads:
            thread.join(15)
        if self.queue is not None:
            self.queue.recover()
            self.queue.close()
        logger.info("node stopped")

    def wait(self) -> None:
        while not self._stop.wait(1.0):
            pass

    def _guarded(self, loop, name: str) -> None:
        """Run a loop until stop; an unexpected error is logged and the loop goes on after a pause."""
        while not self._stop.is_set():
            try:
                loop()
            except Exception:
                logger.exception("%s loop error; going on", name)
                self._stop.wait(5.0)

    # Start-up repair

    def _register_orphans(self) -> None:
        """Files in the spool that the queue does not know (a crash between rename and commit)."""
        known = self.queue.known_paths()
        count = 0
        for study, paths in self.spool.instances_on_disk().items():
            for path in paths:
                if str(path) in known:
                    continue
                try:
                    header = dcmread(path, stop_before_pixels=True)
                    sha = hashlib.sha256(path.read_bytes()).hexdigest()
                    self.queue.record_instance(
                        study, str(header.get("SeriesInstanceUID", "")), str(header.SOPInstanceUID), path, sha, None
                    )
                    count += 1
                except (InvalidDicomError, OSError, AttributeError) as error:
                    logger.error("spool file %s cannot be registered: %s", path, error)
        if count:
            logger.warning("%d spooled instances registered after an interruption", count)

    # Scheduler

    def _schedule(self) -> None:
        last_housekeeping = 0.0
        while not self._stop.wait(TICK_S):
            for job in self.queue.make_jobs_for_stable_studies(self.config.stable_after_s):
                logger.info(
                    "study %s version %d queued (stable for %g s)",
                    job.study_uid,
                    job.version,
                    self.config.stable_after_s,
                )
            if time.monotonic() - last_housekeeping >= HOUSEKEEPING_EVERY_S:
                last_housekeeping = time.monotonic()
                self._housekeeping()

    def _housekeeping(self) -> None:
        for study in self.queue.studies_to_clean(self.config.retention_days * 86400):
            self.spool.delete_study(study)
            self.queue.forget_instances(study)
            logger.info("study %s: spool files deleted (results acknowledged, retention over)", study)

    # Jobs

    def destinations_for(self, job: Job) -> list[str]:
        if self.config.destinations:
            return [str(p) for p in self.config.destinations]
        return [
            str(p)
            for p in self.config.allowed_callers
            if p.ae_title == job.calling_ae and p.host is not None and p.port is not None
        ]

    def _run_jobs(self) -> None:
        while not self._stop.wait(TICK_S):
            job = self.queue.start_next_job()
            if job is None:
                continue
            self._run_job(job)

    def _run_job(self, job: Job) -> None:
        output = self.spool.result_folder(job.study_uid, job.version)
        logger.info("study %s version %d: running (attempt %d)", job.study_uid, job.version, job.attempts + 1)
        result = self.worker.run(
            self.spool.study_folder(job.study_uid), output, self.config.output, self.config.job_timeout_s, self._stop
        )
        if result.outcome is Outcome.INTERRUPTED or self._stop.is_set():
            return  # left running: queued again by recover() at stop or at the next start
        files = result_files(output) if result.outcome is Outcome.SYNTHESIZED else []
        if result.outcome.succeeded:
            destinations = self.destinations_for(job) if files else []
            reason = result.reason
            for note in superseded_synthetics(self.spool.results / job.study_uid, job.version):
                logger.warning("study %s version %d: %s", job.study_uid, job.version, note)
                reason += f"; {note}"
            if files and not destinations:
                reason += f"; no destination for caller {job.calling_ae}: results kept in {output}"
            self.queue.finish_job(job.id, DONE, reason, result.outcome.value, output, destinations)
            logger.info("study %s version %d: %s: %s", job.study_uid, job.version, result.outcome, reason)
        else:
            self.queue.finish_job(job.id, FAILED, result.reason, result.outcome.value, output, [])
            logger.error(
                "study %s version %d failed: %s: %s", job.study_uid, job.version, result.outcome, result.reason
            )

    # Sending

    def _send(self) -> None:
        while not self._stop.wait(TICK_S):
            for send in self.queue.due_sends():
                if self._stop.is_set():
                    return
                self._send_one(send)

    def _send_one(self, send: Send) -> None:
        files = result_files(Path(send.output))
        try:
            count = send_files(
                files,
                send.destination,
                self.config.ae_title,
                lambda sop, sha: self.queue.delivered(send.destination, sop, sha),
                lambda sop, sha: self.queue.mark_delivered(send.destination, sop, sha),
            )
        except (SendError, OSError, ValueError, RuntimeError) as error:
            attempt = send.attempts + 1
            if attempt >= self.config.send_attempts:
                self.queue.send_failed(send, str(error), None)
                logger.error(
                    "results of job %d to %s: giving up after %d attempts: %s",
                    send.job_id,
                    send.destination,
                    attempt,
                    error,
                )
                return
            wait = min(self.config.send_retry_s * 2 ** (attempt - 1), self.config.send_retry_max_s)
            self.queue.send_failed(send, str(error), wait)
            logger.warning(
                "results of job %d to %s: %s; retry %d in %.0f s",
                send.job_id,
                send.destination,
                error,
                attempt + 1,
                wait,
            )
            return
        self.queue.send_finished(send)
        logger.info(
            "results of job %d acknowledged by %s (%d instances sent now, %d in all)",
            send.job_id,
            send.destination,
            count,
            len(files),
        )
