"""Orthanc as the PACS: it auto-routes stable series to the node, the node sends results back into it, no loop."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pydicom
import pytest

from tests.node.conftest import free_port, wait_for

ORTHANC_AE = "ORTHANC"
ROUTE_LUA = """
function OnStableSeries(seriesId, tags, metadata)
  -- Route what modalities acquired; never what the node made (its Manufacturer), which would loop.
  if tags['Manufacturer'] == 'mri-synth-node' then
    return
  end
  RestApiPost('/modalities/synth/store', '{"Resources":["' .. seriesId .. '"],"Synchronous":false}')
end
"""


class Orthanc:
    def __init__(self, folder, node_port):
        self.http_port, self.dicom_port = free_port(), free_port()
        folder.mkdir()
        (folder / "route.lua").write_text(ROUTE_LUA)
        config = {
            "Name": "test-pacs", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
            "Plugins": [], "LuaScripts": [str(folder / "route.lua")], "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomAet": ORTHANC_AE,
            "DicomPort": self.dicom_port, "DicomCheckCalledAet": False, "StableAge": 2, "SaveJobs": False,
            "DicomModalities": {"synth": {"AET": "SYNTH", "Host": "127.0.0.1", "Port": node_port}},
        }  # fmt: skip
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(["Orthanc", str(folder / "orthanc.json")], stdout=self.log,
                                        stderr=subprocess.STDOUT)  # fmt: skip
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
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
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


@pytest.fixture
def orthanc(tmp_path):
    started = []

    def make(node_port: int) -> Orthanc:
        pacs = Orthanc(tmp_path / "orthanc", node_port)
        started.append(pacs)
        return pacs

    yield make
    for pacs in started:
        pacs.stop()


def test_orthanc_routes_a_study_and_receives_each_synthetic_series_exactly_once(node_factory, orthanc, study_of):
    node_port = free_port()
    pacs = orthanc(node_port)
    # No destination configured: results go back to the caller's address in allowed_callers. Orthanc routes
    # series one after the other: the node waits long enough to see them all as one study version.
    node = node_factory(port=node_port, stable_after_s=15,
                        allowed_callers=[f"{ORTHANC_AE}@127.0.0.1:{pacs.dicom_port}"])  # fmt: skip
    study = study_of("t1", "t2", "flair")
    uid = pydicom.dcmread(next(study.rglob("*.dcm")), stop_before_pixels=True).StudyInstanceUID
    sent = subprocess.run(["storescu", "-aet", "MRI", "-aec", ORTHANC_AE, "+sd", "+r", "-nh", "127.0.0.1",
                           str(pacs.dicom_port), str(study)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert sent.returncode == 0, sent.stderr[-2000:]
    acquired = pacs.series_descriptions(uid)
    assert len(acquired) == 3

    synthetic = "SYNTHETIC T1ce (MSG-LDM)"
    wait_for(lambda: synthetic in pacs.series_descriptions(uid), 900, "the synthetic T1ce in Orthanc", every_s=1)
    time.sleep(8)  # several stable periods of Orthanc and of the node: a routing loop would show now
    descriptions = pacs.series_descriptions(uid)
    assert descriptions.count(synthetic) == 1, descriptions
    assert len(descriptions) == 4, descriptions
    status = node.status()
    assert status.count(" sent ") == 1, status
    assert "failed" not in status.split("jobs:")[-1], status
