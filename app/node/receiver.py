"""The node's SCP: Verification and Storage (every storage SOP class, every common transfer syntax).

The store handler does little and never raises (pynetdicom's apps/storescp
pattern): take the encoded bytes as received, write them durably to the spool,
record them in the queue, then answer. Success is answered only once the file
and its row are on disk. Our own output coming back is answered Success and
dropped (routing loops end here). Access control happens when an association
is requested, with the reason logged.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import ssl
import threading
from collections import Counter

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from app.node.config import NodeConfig, TLSConfig
from app.node.jobs import JobQueue
from app.node.sender import disable_nagle
from app.node.spool import Spool, SpoolError, checked_uid, write_atomically
from product.names import MANUFACTURER, SERIES_DESCRIPTION_PREFIX

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC210
REJECT_PERMANENT, REJECT_BY_USER = 0x01, 0x01
CALLING_AE_NOT_RECOGNIZED, CALLED_AE_NOT_RECOGNIZED = 0x03, 0x07


def own_output_reason(ds: Dataset) -> str | None:
    """Why `ds` is this product's own output (by Manufacturer, or a SYNTHETIC description on a DERIVED image)."""
    if str(ds.get("Manufacturer", "")).strip().upper() == MANUFACTURER.upper():
        return f"Manufacturer {MANUFACTURER}"
    description = str(ds.get("SeriesDescription", "")).strip().upper()
    image_type = [str(v).upper() for v in ds.get("ImageType", [])]
    if description.startswith(SERIES_DESCRIPTION_PREFIX) and "DERIVED" in image_type:
        return f"a DERIVED image described {description!r}"
    return None


def access_refusal(config: NodeConfig, calling: str, called: str, address: str) -> tuple[int, str] | None:
    """(diagnostic, reason) when an association must be rejected; None when it may go on."""
    if called != config.ae_title:
        return CALLED_AE_NOT_RECOGNIZED, f"called AE title {called!r} is not this node's ({config.ae_title!r})"
    if not config.allowed_callers:
        return None
    entries = [p for p in config.allowed_callers if p.ae_title == calling]
    if not entries:
        return CALLING_AE_NOT_RECOGNIZED, f"calling AE title {calling!r} is not in allowed_callers"
    if all(p.host is not None for p in entries) and address not in {p.host for p in entries}:
        return CALLING_AE_NOT_RECOGNIZED, f"calling AE {calling!r} connected from {address}, not an allowed address"
    return None


def tls_context(tls: TLSConfig) -> ssl.SSLContext | None:
    if tls.certificate is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(tls.certificate), str(tls.private_key))
    if tls.ca_certificates is not None:
        context.load_verify_locations(str(tls.ca_certificates))
    if tls.require_client_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def storage_scp_ae(ae_title: str) -> AE:
    """An AE accepting every storage SOP class and Verification in every transfer syntax: a node stores what
    the PACS sends, compressed or not, and decides later what it can read."""
    ae = AE(ae_title=ae_title)
    ae.supported_contexts = [*AllStoragePresentationContexts]
    for context in ae.supported_contexts:
        context.transfer_syntax = list(ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
    return ae


class Receiver:
    """The Storage SCP bound to one spool and one queue."""

    def __init__(self, config: NodeConfig, spool: Spool, queue: JobQueue):
        self.config, self.spool, self.queue = config, spool, queue
        self._counts: dict[int, Counter] = {}
        self._counts_lock = threading.Lock()
        self._server = None

    # Handlers (each returns a status; none raises)

    def _on_requested(self, event) -> None:
        assoc = event.assoc
        primitive = assoc.requestor.primitive
        calling, called = str(primitive.calling_ae_title).strip(), str(primitive.called_ae_title).strip()
        refusal = access_refusal(self.config, calling, called, assoc.requestor.address)
        if refusal is not None:
            diagnostic, reason = refusal
            logger.warning("association from %s (%s) rejected: %s", calling, assoc.requestor.address, reason)
            assoc.acse.send_reject(REJECT_PERMANENT, REJECT_BY_USER, diagnostic)
            # As pynetdicom's own rejections do: wait until the A-ASSOCIATE-RJ is out, or the socket is shut
            # first and the caller sees an abort instead of the reason.
            assoc.kill()

    def _count(self, event, what: str, study: str | None = None) -> None:
        with self._counts_lock:
            counts = self._counts.setdefault(id(event.assoc), Counter())
            counts[what] += 1
            if study:
                counts[f"study {study}"] += 1

    def _on_closed(self, event) -> None:
        with self._counts_lock:
            counts = self._counts.pop(id(event.assoc), None)
        if counts:
            studies = sorted(k.removeprefix("study ") for k in counts if k.startswith("study "))
            summary = ", ".join(
                f"{counts[k]} {k}" for k in ("stored", "duplicate", "own output", "failed") if counts[k]
            )
            logger.info(
                "association from %s ended: %s (studies: %s)",
                event.assoc.requestor.ae_title,
                summary or "nothing stored",
                ", ".join(studies) or "none",
            )

    def _on_echo(self, event) -> int:
        return SUCCESS

    def _on_store(self, event) -> int:
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            data = event.encoded_dataset(include_meta=True)
        except Exception as error:  # the peer's bytes: anything may be wrong with them
            logger.error("instance from %s cannot be encoded to a file: %s", calling, error)
            self._count(event, "failed")
            return CANNOT_UNDERSTAND
        try:
            ds = event.dataset
            study, series = checked_uid(ds.StudyInstanceUID, "StudyInstanceUID"), str(ds.get("SeriesInstanceUID", ""))
            sop = checked_uid(event.request.AffectedSOPInstanceUID, "AffectedSOPInstanceUID")
            own = own_output_reason(ds)
        except Exception as error:  # no study to file it under: kept aside, answered "cannot understand"
            return self._keep_unreadable(event, data, calling, error)
        if own is not None:
            logger.debug("instance %s of series %s is this node's own output (%s): dropped", sop, series, own)
            self._count(event, "own output")
            return SUCCESS
        sha = hashlib.sha256(data).hexdigest()
        try:
            if self.queue.known_sha(sop) == sha and self.spool.instance_path(study, sop).is_file():
                self._count(event, "duplicate", study)
                return SUCCESS
            path = self.spool.store(study, sop, data)
            self.queue.record_instance(study, series, sop, path, sha, calling)
        except (SpoolError, OSError, sqlite3.Error) as error:
            logger.error("instance %s of study %s from %s not stored: %s", sop, study, calling, error)
            self._count(event, "failed")
            return OUT_OF_RESOURCES
        self._count(event, "stored", study)
        return SUCCESS

    def _keep_unreadable(self, event, data: bytes, calling: str, error: Exception) -> int:
        path = self.spool.root / "unreadable" / f"{hashlib.sha256(data).hexdigest()}.dcm"
        try:
            write_atomically(path, data)
        except OSError as write_error:
            logger.error("unreadable instance from %s could not be kept: %s", calling, write_error)
            return OUT_OF_RESOURCES
        logger.error(
            "instance from %s has no usable StudyInstanceUID or SOPInstanceUID (%s): kept as %s", calling, error, path
        )
        self._count(event, "failed")
        return CANNOT_UNDERSTAND

    # Server

    def start(self) -> None:
        """Listen (non-blocking); raises OSError when the port cannot be bound."""
        ae = storage_scp_ae(self.config.ae_title)
        ae.maximum_associations = self.config.max_associations
        ae.maximum_pdu_size = self.config.max_pdu_size
        ae.require_called_aet = False  # checked in _on_requested, with the reason logged
        ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = 60
        handlers = [
            (evt.EVT_CONN_OPEN, disable_nagle),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_CONN_CLOSE, self._on_closed),
        ]
        self._server = ae.start_server(
            (self.config.bind_address, self.config.port),
            block=False,
            evt_handlers=handlers,
            ssl_context=tls_context(self.config.tls),
        )
        logger.info("listening as %s on %s:%d", self.config.ae_title, self.config.bind_address, self.port)

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.config.port

    def stop(self) -> None:
        """Stop listening; associations in progress end (instances not yet answered are not acknowledged)."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
