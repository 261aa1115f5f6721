"""A bare pynetdicom Storage SCP that only writes each instance to a file: the ingest benchmark's middle reference.

    python -m bench.bare_scp --port N --out FOLDER

It answers Success as soon as the bytes are written, without fsync, as
dcmtk's storescp does, so node time / bare time is what the node's
durability and queue cost, and bare time / storescp time is what
pynetdicom's Python DIMSE handling costs against dcmtk's C++.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from pynetdicom import evt

from app.node.config import NodeConfig
from app.node.receiver import storage_scp_ae
from app.node.sender import disable_nagle


def serve(port: int, out: Path, max_pdu_size: int) -> None:
    out.mkdir(parents=True, exist_ok=True)

    def on_store(event) -> int:
        (out / f"{event.request.AffectedSOPInstanceUID}.dcm").write_bytes(event.encoded_dataset(include_meta=True))
        return 0x0000

    ae = storage_scp_ae("BARE")  # the node's presentation contexts
    ae.maximum_associations = 16
    ae.maximum_pdu_size = max_pdu_size
    handlers = [(evt.EVT_CONN_OPEN, disable_nagle), (evt.EVT_C_STORE, on_store)]
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_scp", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-pdu-size", type=int, default=NodeConfig.max_pdu_size, help="default: the node's")
    args = parser.parse_args(argv)
    serve(args.port, args.out, args.max_pdu_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
