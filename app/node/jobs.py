"""The persistent job queue: instances received, study versions, jobs and sends, in one SQLite file (WAL mode).

A study *version* is the set of instances the node holds for a study when it
becomes stable, identified by a digest of their SOP Instance UIDs and bytes.
A new version (a job) is made only when the digest differs from the last one
processed: a PACS re-sending the same files makes none. Results go to each
destination once: `delivered` remembers every instance a destination
acknowledged, so a re-run that makes the same instances (same UIDs) sends
nothing twice.

State of a job: queued -> running -> done (nothing to send, or sends pending)
-> sent (every destination acknowledged every result); or failed (reason).
After a crash, running jobs are queued again (`recover`).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, series_uid TEXT, path TEXT NOT NULL,
    sha256 TEXT NOT NULL, calling_ae TEXT, received_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS instances_study ON instances(study_uid);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY, last_received_at REAL NOT NULL, calling_ae TEXT, processed_digest TEXT);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, study_uid TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL,
    instances INTEGER NOT NULL, calling_ae TEXT, state TEXT NOT NULL, reason TEXT, outcome TEXT,
    output TEXT, attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS sends (
    id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, destination TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, last_status TEXT, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS delivered (
    destination TEXT NOT NULL, sop_uid TEXT NOT NULL, sha256 TEXT NOT NULL, delivered_at REAL NOT NULL,
    PRIMARY KEY (destination, sop_uid));
"""

QUEUED, RUNNING, DONE, SENT, FAILED = "queued", "running", "done", "sent", "failed"
PENDING = "pending"
FINISHED_STATES = (DONE, SENT, FAILED)


@dataclass(frozen=True)
class Job:
    """One study version to process."""

    id: int
    study_uid: str
    version: int
    calling_ae: str | None
    state: str
    attempts: int
    output: str | None


@dataclass(frozen=True)
class Send:
    """Results of one job to one destination."""

    id: int
    job_id: int
    destination: str
    attempts: int
    output: str


def study_digest(rows: Iterable[tuple[str, str]]) -> str:
    """Digest of a study version from its (SOP Instance UID, SHA-256 of the file) pairs."""
    return hashlib.sha256("\n".join(f"{s}:{h}" for s, h in sorted(rows)).encode()).hexdigest()


class JobQueue:
    """Thread-safe access to the queue database (one connection, one lock)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, parameters in statements:
                    self._db.execute(sql, parameters)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    # Receiving

    def known_sha(self, sop_uid: str) -> str | None:
        rows = self._read("SELECT sha256 FROM instances WHERE sop_uid = ?", (sop_uid,))
        return rows[0][0] if rows else None

    def record_instance(
        self, study_uid: str, series_uid: str, sop_uid: str, path: Path, sha256: str, calling_ae: str | None
    ) -> None:
        """Register a stored instance (new or replaced) and mark its study as changed now."""
        now = time.time()
        self._write(
            [
                (
                    "INSERT INTO instances VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sop_uid) DO UPDATE SET "
                    "study_uid=excluded.study_uid, series_uid=excluded.series_uid, path=excluded.path, "
                    "sha256=excluded.sha256, calling_ae=excluded.calling_ae, received_at=excluded.received_at",
                    (sop_uid, study_uid, series_uid, str(path), sha256, calling_ae, now),
                ),
                (
                    "INSERT INTO studies (study_uid, last_received_at, calling_ae) VALUES (?, ?, ?) "
                    "ON CONFLICT(study_uid) DO UPDATE SET last_received_at=excluded.last_received_at, "
                    "calling_ae=COALESCE(excluded.calling_ae, studies.calling_ae)",
                    (study_uid, now, calling_ae),
                ),
            ]
        )

    def known_paths(self) -> set[str]:
        return {row[0] for row in self._read("SELECT path FROM instances")}

    # Study versions and jobs

    def make_jobs_for_stable_studies(self, stable_after_s: float) -> list[Job]:
        """Queue a new version of every study quiet for `stable_after_s` whose instances changed since the last."""
        cutoff = time.time() - stable_after_s
        made = []
        candidates = self._read(
            "SELECT study_uid, calling_ae, processed_digest FROM studies WHERE last_received_at <= ?", (cutoff,)
        )
        for study_uid, calling_ae, processed in candidates:
            rows = self._read("SELECT sop_uid, sha256 FROM instances WHERE study_uid = ?", (study_uid,))
            if not rows:
                continue
            digest = study_digest(rows)
            if digest == processed:
                continue
            version = self._read("SELECT COALESCE(MAX(version), 0) + 1 FROM jobs WHERE study_uid = ?", (study_uid,))[0][
                0
            ]
            now = time.time()
            self._write(
                [
                    (
                        "INSERT INTO jobs (study_uid, version, digest, instances, calling_ae, state, created_at, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (study_uid, version, digest, len(rows), calling_ae, QUEUED, now, now),
                    ),
                    ("UPDATE studies SET processed_digest = ? WHERE study_uid = ?", (digest, study_uid)),
                ]
            )
            made.append(self.job_of(study_uid, version))
        return made

    def job_of(self, study_uid: str, version: int) -> Job:
        rows = self._read(
            "SELECT id, study_uid, version, calling_ae, state, attempts, output FROM jobs "
            "WHERE study_uid = ? AND version = ?",
            (study_uid, version),
        )
        return Job(*rows[0])

    def start_next_job(self) -> Job | None:
        """The oldest queued job, now marked running (its attempt counted)."""
        rows = self._read(
            "SELECT id, study_uid, version, calling_ae, state, attempts, output FROM jobs WHERE state = ? "
            "ORDER BY id LIMIT 1",
            (QUEUED,),
        )
        if not rows:
            return None
        job = Job(*rows[0])
        self._write(
            [
                (
                    "UPDATE jobs SET state = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
                    (RUNNING, time.time(), job.id),
                )
            ]
        )
        return job

    def finish_job(
        self, job_id: int, state: str, reason: str, outcome: str | None, output: Path | None, destinations: list[str]
    ) -> None:
        """Record a job's end; with results, one pending send per destination."""
        now = time.time()
        statements = [
            (
                "UPDATE jobs SET state = ?, reason = ?, outcome = ?, output = ?, updated_at = ? WHERE id = ?",
                (state, reason, outcome, str(output) if output else None, now, job_id),
            )
        ]
        for destination in destinations:
            statements.append(
                (
                    "INSERT INTO sends (job_id, destination, state, next_attempt_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (job_id, destination, PENDING, now, now),
                )
            )
        self._write(statements)

    def recover(self) -> int:
        """After a crash: running jobs run again. Returns how many."""
        count = self._read("SELECT COUNT(*) FROM jobs WHERE state = ?", (RUNNING,))[0][0]
        if count:
            self._write(
                [
                    (
                        "UPDATE jobs SET state = ?, reason = ?, updated_at = ? WHERE state = ?",
                        (QUEUED, "interrupted by a restart; queued again", time.time(), RUNNING),
                    )
                ]
            )
        return count

    # Sending

    def due_sends(self) -> list[Send]:
        rows = self._read(
            "SELECT sends.id, job_id, destination, sends.attempts, jobs.output "
            "FROM sends JOIN jobs ON jobs.id = job_id WHERE sends.state = ? AND next_attempt_at <= ? ORDER BY sends.id",
            (PENDING, time.time()),
        )
        return [Send(*row) for row in rows]

    def delivered(self, destination: str, sop_uid: str, sha256: str) -> bool:
        rows = self._read(
            "SELECT 1 FROM delivered WHERE destination = ? AND sop_uid = ? AND sha256 = ?",
            (destination, sop_uid, sha256),
        )
        return bool(rows)

    def mark_delivered(self, destination: str, sop_uid: str, sha256: str) -> None:
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO delivered VALUES (?, ?, ?, ?)",
                    (destination, sop_uid, sha256, time.time()),
                )
            ]
        )

    def send_finished(self, send: Send) -> None:
        """Every result acknowledged by this destination; the job is `sent` when all its sends are."""
        now = time.time()
        self._write(
            [
                (
                    "UPDATE sends SET state = ?, attempts = attempts + 1, last_status = ?, updated_at = ? WHERE id = ?",
                    (SENT, "all acknowledged", now, send.id),
                ),
                (
                    "UPDATE jobs SET state = ?, updated_at = ? WHERE id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM sends WHERE job_id = ? AND state != ?)",
                    (SENT, now, send.job_id, send.job_id, SENT),
                ),
            ]
        )

    def send_failed(self, send: Send, status: str, retry_in_s: float | None) -> None:
        """A try failed: retry after `retry_in_s`, or give up (None) and mark the send and its job failed."""
        now = time.time()
        if retry_in_s is not None:
            self._write(
                [
                    (
                        "UPDATE sends SET attempts = attempts + 1, last_status = ?, next_attempt_at = ?, "
                        "updated_at = ? WHERE id = ?",
                        (status, now + retry_in_s, now, send.id),
                    )
                ]
            )
            return
        self._write(
            [
                (
                    "UPDATE sends SET state = ?, attempts = attempts + 1, last_status = ?, updated_at = ? WHERE id = ?",
                    (FAILED, status, now, send.id),
                ),
                (
                    "UPDATE jobs SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
                    (FAILED, f"sending to {send.destination} failed: {status}", now, send.job_id),
                ),
            ]
        )

    # Housekeeping and status

    def studies_to_clean(self, retention_s: float) -> list[str]:
        """Studies whose every job ended (sent, done without sends, or failed) more than `retention_s` ago, that
        received nothing since and whose instances are all in the last version queued."""
        cutoff = time.time() - retention_s
        rows = self._read(
            "SELECT s.study_uid FROM studies s WHERE s.last_received_at <= ? "
            "AND EXISTS (SELECT 1 FROM instances i WHERE i.study_uid = s.study_uid) "
            "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.study_uid = s.study_uid AND "
            "(j.state IN (?, ?) OR j.updated_at > ?)) "
            "AND NOT EXISTS (SELECT 1 FROM sends d JOIN jobs j ON j.id = d.job_id WHERE j.study_uid = s.study_uid "
            "AND d.state = ?)",
            (cutoff, QUEUED, RUNNING, cutoff, PENDING),
        )
        return [study for (study,) in rows if self._processed(study)]

    def _processed(self, study_uid: str) -> bool:
        """True when the study's current instances are the version last queued (nothing new waits)."""
        rows = self._read("SELECT sop_uid, sha256 FROM instances WHERE study_uid = ?", (study_uid,))
        processed = self._read("SELECT processed_digest FROM studies WHERE study_uid = ?", (study_uid,))
        return bool(rows) and bool(processed) and study_digest(rows) == processed[0][0]

    def forget_instances(self, study_uid: str) -> None:
        """Drop a cleaned study's instance rows (its history of jobs and digest stay)."""
        self._write([("DELETE FROM instances WHERE study_uid = ?", (study_uid,))])

    def status_rows(self) -> list[dict]:
        """Every study version (and studies still receiving) with state, age and reason, newest first."""
        now = time.time()
        rows = []
        for study_uid, last, processed in self._read(
            "SELECT study_uid, last_received_at, processed_digest FROM studies"
        ):
            current = self._read("SELECT sop_uid, sha256 FROM instances WHERE study_uid = ?", (study_uid,))
            if current and study_digest(current) != processed:
                rows.append(
                    {
                        "study": study_uid,
                        "version": None,
                        "state": "received",
                        "instances": len(current),
                        "age_s": now - last,
                        "reason": "waiting for the study to be stable",
                        "updated": last,
                    }
                )
        for study_uid, version, state, reason, instances, updated in self._read(
            "SELECT study_uid, version, state, reason, instances, updated_at FROM jobs"
        ):
            rows.append(
                {
                    "study": study_uid,
                    "version": version,
                    "state": state,
                    "instances": instances,
                    "age_s": now - updated,
                    "reason": reason or "",
                    "updated": updated,
                }
            )
        return sorted(rows, key=lambda r: -r["updated"])

    def counts(self) -> dict[str, int]:
        return dict(self._read("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
