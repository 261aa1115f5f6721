"""The MAP manifests (`/etc/holoscan/app.json`, `pkg.json`) derived from `app.yaml`, as the Holoscan packager does.

`monai-deploy package` (holoscan-cli 4.x) needs docker buildx, which hospital
build hosts may lack; our Dockerfile builds the same layout with any engine and
calls `python -m app.manifest` so the manifests carry the same keys and paths a
packaged MAP has (`monai-deploy run` and MAP tooling read them).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

from product.errors import ProductError

API_VERSION = "1.0.0"
APP_ROOT = "/opt/holoscan/app"
MODEL_ROOT = "/opt/holoscan/models"
WORKING_DIRECTORY = "/var/holoscan"
APP_MANIFEST = "/etc/holoscan/app.json"
PKG_MANIFEST = "/etc/holoscan/pkg.json"
COMMAND = ["python3", "-u", "-m", "app"]
PLATFORMS = ("cpu", "dgpu")


class ManifestError(ProductError, ValueError):
    """app.yaml cannot make a MAP manifest; the message names the file and the key."""


@dataclass(frozen=True)
class AppConfig:
    title: str
    version: str
    application: dict
    resources: dict


def read_app_yaml(path: Path) -> AppConfig:
    """app.yaml checked with the packager's rules plus the resource keys a scheduler needs."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ManifestError(f"{path}: cannot read ({error})") from error
    if not isinstance(config, dict):
        raise ManifestError(f"{path}: expected a mapping with 'application' and 'resources'")
    application, resources = config.get("application"), config.get("resources")
    if not isinstance(application, dict):
        raise ManifestError(f"{path}: 'application' is missing")
    if not isinstance(resources, dict):
        raise ManifestError(f"{path}: 'resources' is missing")
    title, version = application.get("title"), application.get("version")
    if not isinstance(title, str) or not title.strip():
        raise ManifestError(f"{path}: 'application>title' is missing or empty")
    if version is None or not str(version).strip():
        raise ManifestError(f"{path}: 'application>version' is missing or empty")
    for key in ("cpu", "gpu"):
        if not isinstance(resources.get(key), (int, float)) or resources[key] < 0:
            raise ManifestError(f"{path}: 'resources>{key}' must be a number >= 0, not {resources.get(key)!r}")
    for key in ("memory", "gpuMemory"):
        value = resources.get(key)
        if key in resources and not (isinstance(value, str) and value[:-2].replace(".", "", 1).isdigit()):
            raise ManifestError(f"{path}: 'resources>{key}' must look like 8Gi or 512Mi, not {value!r}")
    if "memory" not in resources:
        raise ManifestError(f"{path}: 'resources>memory' is missing")
    return AppConfig(str(title), str(version), application, resources)


def _sdk_version() -> str | None:
    try:
        return metadata.version("monai-deploy-app-sdk")
    except metadata.PackageNotFoundError:
        return None


def app_manifest(config: AppConfig) -> dict:
    """app.json: how to start the application and where its folders are (relative to the working directory)."""
    return {
        "apiVersion": API_VERSION,
        "command": json.dumps(COMMAND),
        "environment": {
            "HOLOSCAN_APPLICATION": APP_ROOT,
            "HOLOSCAN_INPUT_PATH": "input/",
            "HOLOSCAN_OUTPUT_PATH": "output/",
            "HOLOSCAN_WORKDIR": WORKING_DIRECTORY,
            "HOLOSCAN_MODEL_PATH": MODEL_ROOT,
            "HOLOSCAN_CONFIG_PATH": WORKING_DIRECTORY + "/app.yaml",
            "HOLOSCAN_APP_MANIFEST_PATH": APP_MANIFEST,
            "HOLOSCAN_PKG_MANIFEST_PATH": PKG_MANIFEST,
            "HOLOSCAN_DOCS_PATH": "/opt/holoscan/docs",
            "HOLOSCAN_LOGS_PATH": WORKING_DIRECTORY + "/logs",
        },
        "input": {"path": "input/", "formats": config.application.get("input-formats")},
        "output": {"path": "output/", "formats": config.application.get("output-formats")},
        "readiness": None,
        "liveness": None,
        "sdk": "monai-deploy",
        "sdkVersion": _sdk_version(),
        "timeout": 0,
        "version": config.version,
        "workingDirectory": WORKING_DIRECTORY,
    }


def package_manifest(config: AppConfig, models: list[str], platform: str) -> dict:
    """pkg.json: the application root, each model's folder, the resources a scheduler must grant."""
    if platform not in PLATFORMS:
        raise ManifestError(f"platform {platform!r}: expected one of {', '.join(PLATFORMS)}")
    resources = dict(config.resources)
    if platform == "cpu":
        resources["gpu"] = 0
    return {
        "apiVersion": API_VERSION,
        "applicationRoot": APP_ROOT,
        "modelRoot": MODEL_ROOT,
        "models": {name: f"{MODEL_ROOT}/{name}" for name in models},
        "resources": resources,
        "version": config.version,
        "platformConfig": platform,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.manifest", description=__doc__.splitlines()[0])
    parser.add_argument("app_yaml", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for app.json and pkg.json")
    parser.add_argument("--model", action="append", default=[], help="name of a model folder under models/")
    parser.add_argument("--platform", default="cpu", choices=PLATFORMS)
    args = parser.parse_args(argv)
    try:
        config = read_app_yaml(args.app_yaml)
        manifests = {
            "app.json": app_manifest(config),
            "pkg.json": package_manifest(config, args.model, args.platform),
        }
    except ManifestError as error:
        print(f"python -m app.manifest: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, manifest in manifests.items():
        (args.out / name).write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
