"""The image, built once per session with podman from the repository's Dockerfile, as hospital IT builds it.

No registry is reachable here: the Debian base comes from debootstrap (kept as
an image between runs on one machine), the Python wheels from pip's own
download into container/wheels, and the build runs offline from them
(`--no-index`). Podman's layer cache makes a rebuild of unchanged code quick.

A build from scratch takes minutes, mostly unpacking and waiting on disk: it
starts in the background as soon as the session has collected a container
test (at low CPU priority), the container tests run last, and the `image`
fixture waits for the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.node.conftest import storescp  # noqa: F401  (dcmtk's storescp as the node's destination)

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/debian-minbase:bookworm"
IMAGE = "localhost/mri-synth-node:test"
ENGINE = ["podman"]
# runc (crun fails on these machines' cgroups) and limits podman can set here (dicom-peers.md)
LOW_PRIORITY = ["nice", "-n", "10"]  # the build yields the cores to the tests running beside it
RUN_FLAGS = ["--runtime", "runc", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]


def podman(*args: str, timeout: float = 120, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([*ENGINE, *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} failed ({result.returncode}): {result.stderr[-3000:]}")
    return result


def make_base_image(folder: Path) -> None:
    """Debian bookworm minbase from Debian's packages, imported as the build's base (apt's .deb cache left out)."""
    rootfs = folder / "rootfs"
    subprocess.run(
        [*LOW_PRIORITY, "debootstrap", "--variant=minbase", "bookworm", str(rootfs), "http://deb.debian.org/debian"],
        check=True,
        capture_output=True,
        timeout=900,
    )
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--exclude=./var/cache/apt/archives/*.deb", "-c", "."], stdout=subprocess.PIPE
    )
    subprocess.run([*ENGINE, "import", "-", BASE_IMAGE], stdin=tar.stdout, check=True, capture_output=True, timeout=300)
    assert tar.wait() == 0
    shutil.rmtree(rootfs, ignore_errors=True)


def fill_wheel_folder() -> None:
    """The image's Python dependencies as wheels, so the build needs no index (pip skips wheels already there)."""
    subprocess.run(
        [
            *LOW_PRIORITY,
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "-r",
            "container/requirements.txt",
            "-c",
            "constraints.txt",
            "-d",
            "container/wheels",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=900,
    )


def build_image(scratch: Path) -> None:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        make_base_image(scratch)
    fill_wheel_folder()
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    build = subprocess.run(
        [
            *LOW_PRIORITY,
            *ENGINE,
            "build",
            *RUN_FLAGS,
            "--format",
            "docker",
            "--pull=never",
            "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}",
            "--build-arg",
            "PIP_OPTIONS=--no-index",
            "--build-arg",
            f"REVISION={revision or 'unknown'}",
            "-t",
            IMAGE,
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if build.returncode != 0:
        raise AssertionError(f"podman build failed ({build.returncode}): {build.stdout[-3000:]}{build.stderr[-3000:]}")


class BackgroundBuild(threading.Thread):
    """The image build, started early; `result()` waits for it and re-raises its failure in the test."""

    def __init__(self, scratch: Path):
        super().__init__(name="image-build", daemon=True)
        self.scratch, self.error = scratch, None

    def run(self) -> None:
        try:
            build_image(self.scratch)
        except BaseException as error:  # noqa: BLE001 (handed to the test that needs the image)
            self.error = error

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise self.error
        return IMAGE


_build: BackgroundBuild | None = None


def _in_this_folder(item) -> bool:
    return Path(str(item.path)).resolve().is_relative_to(Path(__file__).resolve().parent)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Container tests last, so that the image builds while the rest of the suite runs."""
    mine = [item for item in items if _in_this_folder(item)]
    items[:] = [item for item in items if not _in_this_folder(item)] + mine


def pytest_collection_finish(session) -> None:
    global _build
    if any(_in_this_folder(item) for item in session.items) and _build is None:
        _build = BackgroundBuild(Path(tempfile.mkdtemp(prefix="image-build-")))
        _build.start()


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> str:
    global _build
    if _build is None:
        _build = BackgroundBuild(tmp_path_factory.mktemp("image-build"))
        _build.start()  # collected without the hook (e.g. a single test by node id)
    return _build.result()


@dataclass
class Container:
    name: str

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def running(self) -> bool:
        result = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return result.stdout.strip() == "true"


@pytest.fixture
def container(image) -> Iterator[Callable[..., Container]]:
    """`container(*run_args, command...)`: a detached container of the image, removed at the end."""
    started: list[str] = []

    def start(*args: str) -> Container:
        name = f"synth-test-{uuid.uuid4().hex[:8]}"
        podman("run", "-d", "--name", name, *RUN_FLAGS, *args, timeout=120)
        started.append(name)
        return Container(name)

    yield start
    for name in started:
        podman("rm", "-f", "-t", "0", name, check=False)


@pytest.fixture
def volume(image) -> Iterator[str]:
    """A named podman volume (the spool, as the README's node command uses), removed at the end."""
    name = f"synth-test-spool-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "-f", name, check=False)


def volume_folder(name: str) -> Path:
    """Where podman keeps a named volume on this host (the test runs as root, like podman here)."""
    return Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", name).stdout.strip())


def writable_folder(path: Path) -> Path:
    """An output folder the image's non-root user may write to."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)
    return path
