"""The spool: received instances on disk, one folder per study, each file written so that a crash never leaves half.

    SPOOL/studies/<StudyInstanceUID>/<SOPInstanceUID>.dcm   received instances (the job's input folder)
    SPOOL/results/<StudyInstanceUID>/v<version>/             the graph's output for one study version
    SPOOL/jobs.sqlite                                        the job queue (`app.node.jobs`)

A file is written as `.<name>.partial`, fsynced, renamed over its final name
and its folder fsynced (POSIX rename is atomic): after `kill -9` or a power
cut a file under its final name is whole. Partial files are removed at start.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from product.errors import ProductError
from product.files import PARTIAL_SUFFIX, write_bytes

logger = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9.]{1,64}$")


class SpoolError(ProductError, OSError):
    """The spool cannot be written (disk full, permissions); the instance is answered Out of Resources."""


def checked_uid(value: object, keyword: str) -> str:
    """A UID safe as a file name (digits and dots, PS3.5 9.1), or ValueError naming the keyword."""
    text = str(value or "").strip().rstrip("\x00")
    if not _UID.match(text):
        raise ValueError(f"{keyword} {value!r} is not a valid UID")
    return text


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` is either absent, its old content, or all of `data`."""
    try:
        write_bytes(path, data)
    except OSError as error:
        raise SpoolError(error.errno, f"cannot write {path}: {error.strerror}") from error


class Spool:
    """The node's folders under one root."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.studies = self.root / "studies"
        self.results = self.root / "results"
        for folder in (self.studies, self.results):
            folder.mkdir(parents=True, exist_ok=True)

    def study_folder(self, study_uid: str) -> Path:
        return self.studies / study_uid

    def result_folder(self, study_uid: str, version: int) -> Path:
        return self.results / study_uid / f"v{version}"

    def instance_path(self, study_uid: str, sop_uid: str) -> Path:
        study, sop = checked_uid(study_uid, "StudyInstanceUID"), checked_uid(sop_uid, "SOPInstanceUID")
        return self.study_folder(study) / f"{sop}.dcm"

    def store(self, study_uid: str, sop_uid: str, data: bytes) -> Path:
        """Write one instance durably; a later copy replaces an earlier one (a re-send corrects), said in the log
        when the content differs. Returns its path."""
        path = self.instance_path(study_uid, sop_uid)
        if path.is_file() and path.read_bytes() != data:
            logger.warning(
                "study %s: SOP Instance %s received again with different content: the later copy replaces the earlier",
                study_uid,
                sop_uid,
            )
        write_atomically(path, data)
        return path

    def remove_partials(self) -> int:
        """Delete files a crash left half-written; returns how many."""
        count = 0
        for partial in self.root.rglob(f".*{PARTIAL_SUFFIX}"):
            partial.unlink(missing_ok=True)
            count += 1
        if count:
            logger.warning("spool %s: removed %d half-written files left by an interruption", self.root, count)
        return count

    def instances_on_disk(self) -> dict[str, list[Path]]:
        """Every complete instance file, by study folder name."""
        return {
            folder.name: sorted(folder.glob("*.dcm")) for folder in sorted(self.studies.iterdir()) if folder.is_dir()
        }

    def delete_study(self, study_uid: str) -> None:
        """Remove a study's received files and results (housekeeping)."""
        for folder in (self.study_folder(study_uid), self.results / study_uid):
            shutil.rmtree(folder, ignore_errors=True)
