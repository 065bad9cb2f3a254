"""A real TAXII 2.1 server on loopback for the tests: OASIS's medallion (Flask) with its
memory backend, one API root and one read-write collection, served by werkzeug in a thread."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

COLLECTION = "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4"
USER, PASSWORD = "lab-one", "a password for the taxii server"
MEDIA = "application/stix+json;version=2.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(port: int) -> dict:
    root = f"http://127.0.0.1:{port}/api1/"
    return {
        "/discovery": {"title": "ringwatch test TAXII", "default": root, "api_roots": [root]},
        "api1": {
            "information": {
                "title": "labs' shared signals",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 50_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": COLLECTION,
                    "title": "distillation farms",
                    "can_read": True,
                    "can_write": True,
                    "media_types": [MEDIA],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }


@contextmanager
def run_taxii_server(tmp: Path) -> Iterator[str]:
    """Serve medallion on a free loopback port; yields the collection's URL."""
    import medallion
    from werkzeug.serving import make_server

    port = _free_port()
    data = tmp / "taxii-data.json"
    data.write_text(json.dumps(_data(port)))
    config = tmp / "taxii-config.json"
    config.write_text(
        json.dumps(
            {
                "backend": {
                    "module": "medallion.backends.memory_backend",
                    "module_class": "MemoryBackend",
                    "filename": str(data),
                },
                "users": {USER: PASSWORD},
                "taxii": {"max_page_size": 100},
            }
        )
    )
    app = medallion.load_app(str(config))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/api1/collections/{COLLECTION}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)
