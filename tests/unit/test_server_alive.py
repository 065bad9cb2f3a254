"""Whether a server process still runs (graph.db.server._alive), on real child processes.

A server started by a long-lived process (a bench run, a test session) and stopped by
another (`ringwatch ingest --bulk`) exits into a zombie until its parent reaps it. Signal 0
still reaches a zombie, so a stop that asked only that waited out its 90 s grace and then
reported the server "killed"."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from graph.db import server


def state(pid: int) -> str:
    """The process state letter from /proc (after the command name, which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_process_that_exited_unreaped_is_not_alive():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 20
    while state(proc.pid) != "Z":
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.05)
    os.kill(proc.pid, 0)  # the premise: signal 0 still reaches the zombie
    assert not server._alive(proc.pid)
    proc.wait()


def test_a_running_process_is_alive_and_a_reaped_one_is_not():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert server._alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert not server._alive(proc.pid)
