"""DICOM loading: the SDK's `DICOMDataLoaderOperator`, made to report the files it cannot read instead of failing.

The SDK loader skips files that are not DICOM with a warning nobody sees in a
report, stops the graph on any other read error (a truncated file, a file it
may not open) or when nothing loads at all, and keeps only one instance per
Image Position (Patient) in a series, which silently drops the second echo of
a dual-echo PD/T2 series or the b-values of a DWI series that selection must
see to judge the series. Here every file is read once; those that fail are
listed with their reason for report.json, the others are grouped into the
SDK's `DICOMStudy` / `DICOMSeries` objects (with the SDK's attribute
population) keeping every distinct SOP Instance. An empty or unreadable
folder becomes a state that says so rather than an exception that kills the
graph.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from monai.deploy.core import Fragment, OperatorSpec
from monai.deploy.core.domain import DICOMSeries, DICOMStudy
from monai.deploy.operators import DICOMDataLoaderOperator
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DuplicateInstance:
    """A SOP Instance UID met in two files: which file was used, which ignored, and whether their pixels agree."""

    sop_instance_uid: str
    used: str
    ignored: str
    same_pixels: bool

    @property
    def note(self) -> str:
        """The report's line: a differing copy is a fault of the sender that a PACS admin should see."""
        if self.same_pixels:
            return f"SOP Instance {self.sop_instance_uid} is in two files with the same pixels: used {self.used}"
        return (
            f"SOP Instance {self.sop_instance_uid} is in two files with DIFFERENT pixel data: used {self.used} "
            f"(the first in file order; nothing tells which copy is right), ignored {self.ignored}"
        )


@dataclass
class LoadedInput:
    """What the loader read: the SDK's studies, the files it could not read and why, the duplicates it ignored."""

    input_path: Path
    studies: list = field(default_factory=list)
    files: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[DuplicateInstance] = field(default_factory=list)
    seconds: float = 0.0


REQUIRED = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
"""Attributes without which an instance cannot be placed in a study and series."""


def read_instance(path: Path) -> tuple[Dataset | None, str | None]:
    """The dataset of `path`, or None and why it cannot be used."""
    try:
        dataset = dcmread(path)
    except InvalidDicomError as error:
        return None, f"not a DICOM file ({error})"
    except (OSError, EOFError) as error:
        return None, f"cannot be read: {error}"
    except Exception as error:  # pydicom raises many kinds on corrupt data; the file is reported, not fatal
        return None, f"corrupt DICOM ({type(error).__name__}: {error})"
    absent = [keyword for keyword in REQUIRED if not dataset.get(keyword)]
    if absent:
        return None, f"no {', '.join(absent)}: cannot be placed in a study and series"
    return dataset, None


def _pixels(dataset: Dataset) -> bytes | None:
    return dataset.get("PixelData") or dataset.get("FloatPixelData") or dataset.get("DoubleFloatPixelData")


def first_of_each_instance(read: list[tuple[str, Dataset]]) -> tuple[list[Dataset], list[DuplicateInstance]]:
    """One dataset per SOP Instance UID (the first in file order) and every other copy, compared by pixels.

    Args:
        read: (file, dataset) pairs in file order.
    """
    first: dict[str, tuple[str, Dataset]] = {}
    duplicates = []
    for name, dataset in read:
        uid = str(dataset.SOPInstanceUID)
        if uid not in first:
            first[uid] = (name, dataset)
            continue
        used, kept = first[uid]
        duplicate = DuplicateInstance(uid, used, name, _pixels(kept) == _pixels(dataset))
        duplicates.append(duplicate)
        (logger.info if duplicate.same_pixels else logger.warning)("%s", duplicate.note)
    return [dataset for _, dataset in first.values()], duplicates


def _is_sidecar(name: str, names: set[str]) -> bool:
    """`X.dcm.json` beside `X.dcm`: the metadata MONAI Deploy's Informatics Gateway writes into a payload."""
    return name.endswith(".dcm.json") and name[: -len(".json")] in names


def list_files(folder: Path) -> list[Path]:
    """Every regular file under `folder`, sorted; hidden files (spool temporaries) and the Informatics Gateway's
    `.dcm.json` sidecars excluded."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        present = set(names)
        found.extend(Path(root) / n for n in sorted(names) if not n.startswith(".") and not _is_sidecar(n, present))
    return found


class StudyLoaderOperator(DICOMDataLoaderOperator):
    """Loads the DICOM files of a folder into the SDK's `DICOMStudy` objects, listing unreadable files.

    Named output:
        loaded: a `LoadedInput`.
    """

    OUTPUT = "loaded"

    def __init__(self, fragment: Fragment, *args, input_folder: Path, **kwargs):
        super().__init__(fragment, *args, input_folder=Path(input_folder), output_name=self.OUTPUT, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output(self.OUTPUT)

    def compute(self, op_input, op_output, context) -> None:
        op_output.emit(self.load(Path(self.input_path)), self.OUTPUT)

    def load(self, folder: Path) -> LoadedInput:
        """Read `folder` (recursively); never raises for bad files, only lists them."""
        start = time.perf_counter()
        loaded = LoadedInput(folder)
        if not folder.is_dir():
            loaded.unreadable.append((str(folder), "input folder does not exist or is not a folder"))
            return loaded

        read: list[tuple[str, Dataset]] = []
        for path in list_files(folder):
            loaded.files += 1
            dataset, problem = read_instance(path)
            if dataset is None:
                loaded.unreadable.append((str(path.relative_to(folder)), problem))
                logger.warning("%s skipped: %s", path, problem)
            elif dataset.SOPClassUID in self.SOP_CLASSES_TO_IGNORE:
                logger.info("%s skipped: a DICOMDIR, not an instance", path)
            else:
                read.append((str(path.relative_to(folder)), dataset))
        datasets, loaded.duplicates = first_of_each_instance(read)
        loaded.studies = self.group(datasets)
        loaded.seconds = time.perf_counter() - start
        logger.info(
            "%s: %d files, %d read, %d unreadable, %d studies",
            folder,
            loaded.files,
            len(datasets),
            len(loaded.unreadable),
            len(loaded.studies),
        )
        return loaded

    def group(self, datasets: list[Dataset]) -> list[DICOMStudy]:
        """Studies and series in the SDK's domain objects, in input order (`datasets`: one per SOP Instance)."""
        studies: dict[str, DICOMStudy] = {}
        series: dict[str, DICOMSeries] = {}
        for dataset in datasets:
            study_uid, series_uid = str(dataset.StudyInstanceUID), str(dataset.SeriesInstanceUID)
            if study_uid not in studies:
                studies[study_uid] = DICOMStudy(study_uid)
                self.populate_study_attributes(studies[study_uid], dataset)
            if series_uid not in series:
                series[series_uid] = DICOMSeries(series_uid)
                self._populate_series(series[series_uid], dataset)
                studies[study_uid].add_series(series[series_uid])
            series[series_uid].add_sop_instance(dataset)
        return list(studies.values())

    def _populate_series(self, series: DICOMSeries, dataset: Dataset) -> None:
        """The SDK's series attributes; it raises KeyError for series without pixel spacing (SR, PDF...)."""
        try:
            self.populate_series_attributes(series, dataset)
        except KeyError as error:
            logger.debug("series %s: %s", series.SeriesInstanceUID, error)
