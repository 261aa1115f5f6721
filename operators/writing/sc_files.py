"""Write a series folder so that no reader ever sees half of it: files and folder appear whole or not at all.

Every file is written under a temporary name, flushed to disk (fsync) and
renamed; the files go into a hidden temporary folder beside the target, which
is renamed to the target name only once the last file is on disk. A previous
folder of the same name is replaced (moved aside, the new one renamed in, the
old one removed). Leftovers of a crash (`.<name>.*.partial`, `.<name>.*.old`)
are removed before the next write of the same series folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset

from product.files import fsync_folder, write_with

logger = logging.getLogger(__name__)


def _save(dataset: Dataset, stream: BinaryIO) -> None:
    dataset.save_as(stream, enforce_file_format=True)


def write_series_folder(folder: Path, datasets: Iterable[Dataset], name: str = "IM_{:04d}.dcm") -> list[Path]:
    """Write `datasets` as `folder/IM_0001.dcm ...`, replacing `folder` as a whole.

    Args:
        folder: the series folder to create or replace.
        datasets: the instances, in the order they are numbered in file names.
        name: file name pattern, formatted with the 1-based position.

    Returns:
        The final paths, in order.
    """
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in [*parent.glob(f".{folder.name}.*.partial"), *parent.glob(f".{folder.name}.*.old")]:
        logger.warning("removing %s, left by an interrupted write", stale)
        shutil.rmtree(stale, ignore_errors=True)
    temporary = parent / f".{folder.name}.{uuid.uuid4().hex}.partial"
    temporary.mkdir()
    names: list[str] = []
    old = parent / f".{folder.name}.{uuid.uuid4().hex}.old"
    try:
        for position, dataset in enumerate(datasets, start=1):
            names.append(name.format(position))
            write_with(temporary / names[-1], partial(_save, dataset), sync_folder=False)
        fsync_folder(temporary)
        if folder.exists():
            os.rename(folder, old)
        os.rename(temporary, folder)
        fsync_folder(parent)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        if old.exists() and not folder.exists():
            os.rename(old, folder)  # put the previous series back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return [folder / n for n in names]
