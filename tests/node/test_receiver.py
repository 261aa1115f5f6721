"""The SCP alone (in this process, real associations over 127.0.0.1): access control, durability, bad peers."""

from __future__ import annotations

import socket
import subprocess
import sys

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import MRImageStorage, Verification

from app.node.config import ConfigError, Peer, build_config, load_config
from app.node.jobs import JobQueue
from app.node.receiver import OUT_OF_RESOURCES, SUCCESS, Receiver
from app.node.spool import Spool
from tests.node.conftest import NODE_AE, PACS_AE, REPO, echo, free_port


@pytest.fixture
def receiver(tmp_path):
    """A started SCP whose spool lives in `spool_root` (a parameter: the disk-full test gives a tmpfs)."""
    started = []

    def make(spool_root=None, **keys):
        config = build_config(
            {
                "ae_title": NODE_AE,
                "bind_address": "127.0.0.1",
                "port": free_port(),
                "spool": str(spool_root or tmp_path / "spool"),
                **keys,
            }
        )
        spool = Spool(config.spool)
        queue = JobQueue(tmp_path / "jobs.sqlite")
        scp = Receiver(config, spool, queue)
        scp.start()
        started.append(scp)
        return scp

    yield make
    for scp in started:
        scp.stop()
        scp.queue.close()


def _store(port, paths, calling=PACS_AE):
    ae = AE(ae_title=calling)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AE)
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(pydicom.dcmread(p)).Status) for p in paths]
    assoc.release()
    return statuses


def _mr_files(study_of, count=3):
    study = study_of("t1", "t2")
    return sorted(study.rglob("*.dcm"))[:count]


def _rejection(port: int, calling: str = PACS_AE, called: str = NODE_AE) -> tuple[int, int, int] | None:
    """(result, source, diagnostic) of the A-ASSOCIATE-RJ the caller got; None when it got none (an abort)."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert not assoc.is_established
    if not assoc.is_rejected:
        return None
    answer = assoc.acceptor.primitive
    return answer.result, answer.result_source, answer.diagnostic


def test_unknown_calling_ae_wrong_called_ae_and_wrong_address_are_rejected(receiver, caplog):
    """The caller gets a real A-ASSOCIATE-RJ (permanent, by the service user) with the DICOM reason code."""
    scp = receiver(allowed_callers=["PACS", {"ae_title": "MODALITY", "host": "10.9.9.9"}])
    assert echo(scp.port, calling="PACS") == SUCCESS
    calling_not_recognised, called_not_recognised = 0x03, 0x07
    assert _rejection(scp.port, calling="STRANGER") == (0x01, 0x01, calling_not_recognised)
    assert _rejection(scp.port, called="OTHERNODE") == (0x01, 0x01, called_not_recognised)
    assert _rejection(scp.port, calling="MODALITY") == (0x01, 0x01, calling_not_recognised), "only from 10.9.9.9"
    reasons = " ".join(r.getMessage() for r in caplog.records)
    assert "'STRANGER' is not in allowed_callers" in reasons
    assert "'OTHERNODE' is not this node's" in reasons
    assert "not an allowed address" in reasons


def test_an_instance_is_on_disk_and_in_the_queue_once_acknowledged_and_a_duplicate_is_idempotent(receiver, study_of):
    scp = receiver()
    files = _mr_files(study_of)
    assert _store(scp.port, files) == [SUCCESS] * 3
    assert _store(scp.port, files[:1]) == [SUCCESS]
    for path in files:
        ds = pydicom.dcmread(path)
        stored = scp.spool.instance_path(ds.StudyInstanceUID, ds.SOPInstanceUID)
        assert stored.read_bytes()[128:132] == b"DICM"
        assert pydicom.dcmread(stored).PixelData == ds.PixelData
    assert len(scp.queue.known_paths()) == 3
    assert not list(scp.spool.root.rglob("*.partial"))


def test_our_own_output_is_acknowledged_and_dropped(receiver, study_of):
    scp = receiver()
    path = _mr_files(study_of, 1)[0]
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "mri-synth-node"
    ae = AE(ae_title=PACS_AE)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title=NODE_AE)
    assert int(assoc.send_c_store(ds).Status) == SUCCESS
    assoc.release()
    assert scp.queue.known_paths() == set()


def test_garbage_bytes_on_the_port_do_not_stop_the_node(receiver):
    scp = receiver()
    for payload in (b"\x00" * 10, b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 64, b"\x01\x00\x00\x00\xff\xff"):
        with socket.create_connection(("127.0.0.1", scp.port), timeout=5) as s:
            s.sendall(payload)
    assert echo(scp.port) == SUCCESS


def test_a_full_disk_answers_out_of_resources_and_the_node_stays_up(receiver, study_of, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {result.stderr.decode().strip()}")
    try:
        scp = receiver(spool_root=mount)
        files = _mr_files(study_of, 3)  # 256 KiB holds one or two of them
        statuses = _store(scp.port, files)
        assert OUT_OF_RESOURCES in statuses
        for path, status in zip(files, statuses, strict=True):
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            assert scp.spool.instance_path(ds.StudyInstanceUID, ds.SOPInstanceUID).is_file() == (status == SUCCESS)
        assert echo(scp.port) == SUCCESS
        assert not list(mount.rglob("*.partial")), "no half-written file is left"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="port"):
        build_config({"port": 70000})
    with pytest.raises(ConfigError, match=r"destinations\[0\].*host and a port"):
        build_config({"destinations": ["PACS"]})
    with pytest.raises(ConfigError, match="unknown keys.*colour"):
        build_config({"colour": "red"})
    with pytest.raises(ConfigError, match="ae_title"):
        build_config({"ae_title": "A" * 17})
    with pytest.raises(ConfigError, match=r"^output\.min_present: 5: expected 1 to 3"):
        build_config({"output": {"min_present": "5"}})
    with pytest.raises(ConfigError, match=r"^output\.sop_class: 'ct'"):
        build_config({"output": {"sop_class": "ct"}})
    with pytest.raises(ConfigError, match=r"^output\.burn_label: 'maybe' is not true or false"):
        build_config({"output": {"burn_label": "maybe"}})
    with pytest.raises(ConfigError, match=r"^output: unknown keys \['colour'\]"):
        build_config({"output": {"colour": "red"}})
    config = load_config(
        None,
        {"port": 4000},
        environ={"SYNTH_NODE_PORT": "5000", "SYNTH_NODE_AE_TITLE": "ENV", "SYNTH_NODE_OUTPUT__SOP_CLASS": "mr"},
    )
    assert (config.port, config.ae_title, config.output.sop_class) == (4000, "ENV", "mr"), "flags > environment"
    assert build_config({"allowed_callers": "A,B@h:1"}).allowed_callers == (Peer("A"), Peer("B", "h", 1))
    bad = tmp_path / "node.yaml"
    bad.write_text("stable_after_s: soon\n")
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--config", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "stable_after_s" in result.stderr and "soon" in result.stderr


def test_verification_context_is_offered(receiver):
    scp = receiver()
    ae = AE(ae_title=PACS_AE)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title=NODE_AE)
    assert assoc.is_established
    assoc.release()


def _certificate(folder, name):
    key, cert = folder / f"{name}.key", folder / f"{name}.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_tls_with_client_certificates_accepts_a_trusted_client_and_refuses_a_plain_one(receiver, tmp_path):
    import ssl

    server_key, server_cert = _certificate(tmp_path, "server")
    client_key, client_cert = _certificate(tmp_path, "client")
    scp = receiver(
        tls={
            "certificate": str(server_cert),
            "private_key": str(server_key),
            "ca_certificates": str(client_cert),
            "require_client_certificate": True,
        }
    )
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(server_cert))
    context.load_cert_chain(str(client_cert), str(client_key))
    ae = AE(ae_title=PACS_AE)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title=NODE_AE, tls_args=(context, "127.0.0.1"))
    assert assoc.is_established
    assert int(assoc.send_c_echo().Status) == SUCCESS
    assoc.release()
    no_certificate = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(server_cert))
    refused = ae.associate("127.0.0.1", scp.port, ae_title=NODE_AE, tls_args=(no_certificate, "127.0.0.1"))
    assert not refused.is_established
    assert echo(scp.port) is None, "no plain DICOM on a TLS port"


def test_the_health_probe_echoes_the_node_and_counts_an_access_control_rejection_as_alive(receiver):
    from app.node.health import probe

    scp = receiver()
    healthy, what = probe(scp.config)
    assert healthy and "success" in what
    guarded = receiver(allowed_callers=["PACS"])
    healthy, what = probe(guarded.config)
    assert healthy and "rejecting" in what
    nobody = build_config({"ae_title": NODE_AE, "bind_address": "127.0.0.1", "port": free_port()})
    healthy, what = probe(nobody, timeout_s=2)
    assert not healthy and "no DICOM answer" in what


def test_a_resent_instance_with_other_content_replaces_the_first_and_says_so(tmp_path, caplog):
    spool = Spool(tmp_path / "spool")
    path = spool.store("1.2.3", "1.2.3.4", b"first")
    with caplog.at_level("WARNING", logger="app.node.spool"):
        spool.store("1.2.3", "1.2.3.4", b"first")
        assert not caplog.records, "an identical re-send is not news"
        spool.store("1.2.3", "1.2.3.4", b"corrected")
    assert path.read_bytes() == b"corrected"
    (record,) = caplog.records
    assert "1.2.3.4" in record.getMessage() and "different content" in record.getMessage()
