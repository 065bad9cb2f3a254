"""Test session: a real Neo4j + GDS of its own, in a temporary state directory and port.

The server is started once per test session (about 25 s warm) and never touches a user's
data: NEO4J_* variables are removed so every command goes to this server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def db_env(tmp_path_factory) -> dict[str, str]:
    """Environment that points ringwatch at the test session's own server."""
    for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "RINGWATCH_NEO4J_PASSWORD"):
        os.environ.pop(name, None)
    state = tmp_path_factory.mktemp("ringwatch-state")
    os.environ.update(
        RINGWATCH_STATE=str(state),
        RINGWATCH_BOLT_PORT=str(free_port()),
        RINGWATCH_HEAP=os.environ.get("RINGWATCH_TEST_HEAP", "3g"),
        RINGWATCH_PAGECACHE="512m",
    )
    return {k: os.environ[k] for k in ("RINGWATCH_STATE", "RINGWATCH_BOLT_PORT")}


@pytest.fixture(scope="session")
def neo4j_server(db_env):
    from graph.db import server

    server.start()
    yield db_env
    server.stop()


@pytest.fixture()
def driver(neo4j_server):
    from graph.db.connection import open_driver

    d = open_driver()
    yield d
    d.close()


@pytest.fixture()
def empty_db(driver):
    """A database emptied before the test (schema kept)."""
    from graph.db import server

    server.reset()
    return driver


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run `ringwatch ARGS` as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "ringwatch.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=input,
        cwd=ROOT,
        timeout=1800,
    )


WORLD_ACCOUNTS = int(os.environ.get("RINGWATCH_TEST_WORLD", "4000"))


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    """A generated world (delivery + truth/) of WORLD_ACCOUNTS accounts, made once per session."""
    from ingest.generate import generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(out, accounts=WORLD_ACCOUNTS, seed=5)
    return out


def load_world(folder: Path, tmp: Path, detect_threshold: float | None = None, backend: str = "auto"):
    """Empty the test database, ingest `folder`, run detection; returns the DetectionResult."""
    from graph.db import server
    from graph.db.connection import open_driver
    from graph.detection.detect import detect
    from graph.detection.scoring import DEFAULT_THRESHOLD
    from ingest.load import ingest

    server.reset()
    d = open_driver()
    try:
        ingest(d, folder, tmp / "ingest-report.json")
        threshold = DEFAULT_THRESHOLD if detect_threshold is None else detect_threshold
        return detect(d, backend=backend, threshold=threshold, log=lambda _: None)
    finally:
        d.close()


@pytest.fixture(scope="module")
def world(neo4j_server, small_world, tmp_path_factory):
    """The small world loaded and detected, once per test module that asks for it.

    Modules using it may change rings (decisions); the next module reloads from scratch.
    """
    result = load_world(small_world, tmp_path_factory.mktemp("world-load"))
    return {"folder": small_world, "truth": small_world / "truth", "detection": result}
