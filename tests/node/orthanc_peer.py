"""A real Orthanc started in a test: its own database, a Lua routing script, the nodes as DICOM modalities."""

from __future__ import annotations

import json
import subprocess
import urllib.request

from tests.node.conftest import free_port, wait_for

ORTHANC_AE = "ORTHANC"


class Orthanc:
    """A real Orthanc with its own database, a Lua routing script, and the nodes as DICOM modalities."""

    def __init__(self, folder, nodes: dict[str, int], lua: str):
        self.http_port, self.dicom_port = free_port(), free_port()
        folder.mkdir()
        (folder / "route.lua").write_text(lua)
        modalities = {name: {"AET": "SYNTH", "Host": "127.0.0.1", "Port": port} for name, port in nodes.items()}
        config = {
            "Name": "test-pacs",
            "StorageDirectory": str(folder / "db"),
            "IndexDirectory": str(folder / "db"),
            "Plugins": [],
            "LuaScripts": [str(folder / "route.lua")],
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomAet": ORTHANC_AE,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "StableAge": 2,
            "SaveJobs": False,
            "DicomModalities": modalities,
        }
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            ["Orthanc", str(folder / "orthanc.json")], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for(self._answers, 30, "Orthanc's REST API")

    def _answers(self) -> bool:
        try:
            self.get("/system")
            return True
        except OSError:
            return False

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def series_descriptions(self, study_uid: str) -> list[str]:
        found = self.post("/tools/find", {"Level": "Study", "Query": {"StudyInstanceUID": study_uid}})
        if not found:
            return []
        series = self.get(f"/studies/{found[0]}/series")
        return sorted(s["MainDicomTags"].get("SeriesDescription", "") for s in series)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()
