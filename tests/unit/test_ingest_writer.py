"""The online load's writer threads (ingest.load._Writer): order, skipping, failures.

What a batch writes is Cypher and is tested against the database (tests/test_ingest.py);
here `_write_one` is replaced by a recorder, to pin the threads' own rules: each part's
batches in file order, committed batches skipped, every record reported once, and a failed
write surfacing in the reader's thread without leaving it waiting.
"""

from __future__ import annotations

import threading
import time

import pytest

from ingest.load import _Writer


class Recorder:
    """Stands in for `_Writer._write_one`: records (key, rows) per thread, fails on `fail_on`."""

    def __init__(self, fail_on: str | None = None, slow_part: int | None = None) -> None:
        self.calls: list[tuple[str, str]] = []  # (thread name, key)
        self.lock = threading.Lock()
        self.fail_on, self.slow_part = fail_on, slow_part

    def __call__(self, parameters: dict, rows: int, key: str) -> None:
        if self.slow_part is not None and key.endswith(f":{self.slow_part}"):
            time.sleep(0.01)  # one part runs behind the other
        if key == self.fail_on:
            raise RuntimeError(f"write of {key} failed")
        with self.lock:
            self.calls.append((threading.current_thread().name, key))


def writer(monkeypatch, recorder: Recorder, parts: int = 2, done: set[str] | None = None) -> _Writer:
    monkeypatch.setattr(_Writer, "_write_one", lambda self, parameters, rows, key: recorder(parameters, rows, key))
    return _Writer(driver=None, kind="prompt_templates", sha="f", parts=parts, done=done or set(), delivery=1)


def chunk(parts: int) -> list[tuple[dict, int]]:
    return [({}, 10) for _ in range(parts)]


def test_each_part_is_written_in_file_order_by_its_own_thread(monkeypatch):
    recorder = Recorder(slow_part=1)
    w = writer(monkeypatch, recorder)
    reported = []
    for _ in range(20):
        reported += w.add(chunk(2), records=7)
    reported += w.finish()
    w.close()
    for part in (0, 1):
        keys = [key for _, key in recorder.calls if key.endswith(f":{part}")]
        assert keys == [f"f:{i}:{part}" for i in range(20)]
        assert {name for name, key in recorder.calls if key.endswith(f":{part}")} == {f"ingest-writer-{part}"}
    assert sum(reported) == 20 * 7  # each chunk's 7 records split 3 + 4 over its parts


def test_committed_batches_are_skipped_and_counted(monkeypatch):
    recorder = Recorder()
    w = writer(monkeypatch, recorder, done={"f:0:0", "f:1:1"})
    reported = w.add(chunk(2), records=4) + w.add(chunk(2), records=4) + w.finish()
    w.close()
    assert sorted(key for _, key in recorder.calls) == ["f:0:1", "f:1:0"]
    assert sum(reported) == 8


def test_one_part_keys_batches_by_chunk_alone(monkeypatch):
    recorder = Recorder()
    w = writer(monkeypatch, recorder, parts=1)
    reported = w.add(chunk(1), records=5) + w.add(chunk(1), records=5) + w.finish()
    w.close()
    assert [key for _, key in recorder.calls] == ["f:0", "f:1"]
    assert sum(reported) == 10


def test_a_failed_write_reaches_the_reader_and_the_later_batches_are_not_written(monkeypatch):
    recorder = Recorder(fail_on="f:2:1")
    w = writer(monkeypatch, recorder)
    with pytest.raises(RuntimeError, match="write of f:2:1 failed"):
        for _ in range(50):  # more chunks than the queues hold: the reader must not block
            w.add(chunk(2), records=2)
        w.finish()
    w.close()
    assert not any(thread.is_alive() for thread in w.threads)
    assert "f:2:1" not in {key for _, key in recorder.calls}
    assert not [key for _, key in recorder.calls if key.endswith(":1") and int(key.split(":")[1]) > 2]


def test_closing_after_the_reader_failed_stops_the_threads(monkeypatch):
    recorder = Recorder()
    w = writer(monkeypatch, recorder)
    w.add(chunk(2), records=2)
    w.close()  # as load_file does when reading the file fails mid-way
    assert not any(thread.is_alive() for thread in w.threads)
