"""Inputs the SC writer's tests share: the writer called as the node calls it, and small reference series."""

from __future__ import annotations

import numpy as np
import pydicom

from operators.writing.sc_writer import WriterOptions, write_synthetic_series
from tests.operators.conftest import build_mr_datasets

MODEL = {"model_name": "MSG-LDM", "model_version": "0.1.0"}
DEVICE_UID = "2.25.1234567890"


def write_t1ce(volume, reference, out, sources, **options):
    series_number = options.pop("series_number", 901)
    return write_synthetic_series(
        volume,
        reference,
        "t1ce",
        out,
        WriterOptions(**options),
        series_number=series_number,
        source_series=sources,
        device_uid=DEVICE_UID,
        **MODEL,
    )


def small_reference(n_slices=5, rows=40, columns=48, **tags) -> list[pydicom.Dataset]:
    tags = {"FrameOfReferenceUID": "1.2.826.0.1.3680043.10.3.1", "PatientName": "TEST^ONE", "PatientID": "P1", **tags}
    return build_mr_datasets(n_slices=n_slices, spacing=4.0, Rows=rows, Columns=columns, **tags)


def small_volume(reference, seed=0) -> np.ndarray:
    shape = (int(reference[0].Columns), int(reference[0].Rows), len(reference))
    return np.random.default_rng(seed).uniform(0.1, 0.9, shape).astype(np.float32)


def series_uids(paths) -> list[tuple[str, str]]:
    return [(str(d.SeriesInstanceUID), str(d.SOPInstanceUID)) for d in map(pydicom.dcmread, paths)]
