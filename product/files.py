"""Files that are whole or absent: written under a temporary name, fsynced, renamed, their folder fsynced.

POSIX rename is atomic, so after `kill -9` or a power cut a file under its
final name is complete. The temporary name is `.<name>.partial`; the node's
spool removes those left by a crash when it starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

PARTIAL_SUFFIX = ".partial"


def partial_path(path: Path) -> Path:
    """The temporary name `path` is written under before the rename."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def fsync_folder(folder: Path) -> None:
    """Make a rename inside `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_with(path: Path, write: Callable[[BinaryIO], object], sync_folder: bool = True) -> None:
    """Call `write` on a binary stream, then make what it wrote appear at `path` at once; nothing is left on error.

    `sync_folder=False` leaves the folder's fsync to the caller (one for a folder of many files).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        with partial.open("wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
        if sync_folder:
            fsync_folder(path.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """`path` holds `data`, or its old content, or is absent: never part of `data`."""
    write_with(path, lambda stream: stream.write(data))


def write_json(data: dict, path: Path) -> None:
    """`data` as indented JSON (values JSON does not know written as their str) at `path`, whole or not at all."""
    text = json.dumps(data, indent=1, default=str) + "\n"
    write_bytes(path, text.encode())
