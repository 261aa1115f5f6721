"""`python -m app health`: a real C-ECHO to this node, for a container HEALTHCHECK or a monitoring probe.

Healthy means the node's SCP answered DICOM: a successful C-ECHO, or an
association rejected by the node's own access control (an admin who lists
allowed_callers need not add the probe). A refused connection, a timeout or an
abort is unhealthy.
"""

from __future__ import annotations

import ssl

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from app.node.config import NodeConfig

PROBE_AE = "HEALTHCHECK"


def _client_tls(config: NodeConfig) -> tuple[ssl.SSLContext, None] | None:
    """The node's own certificate as client certificate (the node may require one), no host name check."""
    tls = config.tls
    if tls.certificate is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(str(tls.certificate), str(tls.private_key))
    return context, None


def probe(config: NodeConfig, timeout_s: float = 5.0) -> tuple[bool, str]:
    """(healthy, what happened) for one C-ECHO to the node on this host."""
    host = "127.0.0.1" if config.bind_address in ("0.0.0.0", "") else config.bind_address
    host = "::1" if host == "::" else host
    ae = AE(ae_title=PROBE_AE)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    assoc = ae.associate(host, config.port, ae_title=config.ae_title, tls_args=_client_tls(config))
    where = f"{config.ae_title}@{host}:{config.port}"
    if assoc.is_established:
        status = assoc.send_c_echo()
        assoc.release()
        if status and status.Status == 0x0000:
            return True, f"C-ECHO to {where}: success"
        return False, f"C-ECHO to {where}: status {status.Status if status else 'none'}"
    if assoc.is_rejected:
        return True, f"{where} answered, rejecting the probe's association (access control)"
    return False, f"{where}: no DICOM answer (connection refused, timed out or aborted)"
