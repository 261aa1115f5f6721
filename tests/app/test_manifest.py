"""app.yaml and the MAP manifests: read by the Holoscan packager's own reader (holoscan-cli 4.2), same result."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from holoscan_cli.packager.config_reader import ApplicationConfiguration

from app import manifest
from app.manifest import ManifestError, app_manifest, package_manifest, read_app_yaml

REPO = Path(__file__).resolve().parents[2]


def _packager_parameters() -> SimpleNamespace:
    """The values `monai-deploy package` uses by default (holoscan_cli.common.constants.DefaultValues)."""
    return SimpleNamespace(
        command=json.dumps(manifest.COMMAND),
        app_dir=Path(manifest.APP_ROOT),
        input_dir="input/",
        output_dir="output/",
        working_dir=Path(manifest.WORKING_DIRECTORY),
        models_dir=Path(manifest.MODEL_ROOT),
        config_file_path=Path("/var/holoscan/app.yaml"),
        app_manifest_path=manifest.APP_MANIFEST,
        package_manifest_path=manifest.PKG_MANIFEST,
        docs_dir=Path("/opt/holoscan/docs"),
        logs_dir=Path("/var/holoscan/logs"),
        timeout=0,
        version=None,
        models={"msgldm-cpu": None},
    )


def test_app_yaml_gives_the_manifests_the_holoscan_packager_would_write():
    reader = ApplicationConfiguration()
    reader.read(REPO / "app.yaml")
    parameters = _packager_parameters()
    ours = read_app_yaml(REPO / "app.yaml")
    mine = app_manifest(ours)
    assert (mine.pop("sdk"), mine.pop("sdkVersion")) == ("monai-deploy", "4.0.0"), "the packager adds these too"
    theirs = reader.populate_app_manifest(parameters).data
    assert {k: v for k, v in theirs.items() if k not in ("sdk", "sdkVersion")} == mine
    theirs = reader.populate_package_manifest(parameters).data
    mine = package_manifest(ours, ["msgldm-cpu"], "cpu")
    assert mine.pop("platformConfig") == "cpu"
    assert {k: v for k, v in theirs.items() if k != "platformConfig"} == mine
    assert ours.resources["memory"] and ours.resources["cpu"] >= 1


@pytest.mark.parametrize(
    "text, key",
    [
        ("resources: {cpu: 1, gpu: 0, memory: 1Gi}", "'application' is missing"),
        ("application: {title: ''}\nresources: {cpu: 1, gpu: 0, memory: 1Gi}", "application>title"),
        ("application: {title: t}\nresources: {cpu: 1, gpu: 0, memory: 1Gi}", "application>version"),
        ("application: {title: t, version: 1}\nresources: {cpu: -1, gpu: 0, memory: 1Gi}", "resources>cpu"),
        ("application: {title: t, version: 1}\nresources: {cpu: 1, gpu: 0, memory: lots}", "resources>memory"),
    ],
)
def test_a_bad_app_yaml_is_refused_naming_the_key(tmp_path, text, key):
    path = tmp_path / "app.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=key):
        read_app_yaml(path)


def test_the_cli_writes_both_files(tmp_path):
    assert manifest.main([str(REPO / "app.yaml"), "--out", str(tmp_path), "--model", "msgldm-cpu"]) == 0
    models = json.loads((tmp_path / "pkg.json").read_text())["models"]
    assert models == {"msgldm-cpu": "/opt/holoscan/models/msgldm-cpu"}
    assert json.loads((tmp_path / "app.json").read_text())["command"] == '["python3", "-u", "-m", "app"]'
