"""Files that are not what their name says are refused before anything of them loads, with
one line naming the file and the fix; Parquet columns are read by type (no database)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import random
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.reader import FileRejected, open_source

HEADER = "account_id,created_at,country,email_domain,plan\n"
ROWS = "".join(f"acct_{i},2026-01-01T00:00:00Z,DE,x.com,pro\n" for i in range(2000))


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def accounts_table() -> pa.Table:
    return pa.table({"account_id": [f"acct_{i}" for i in range(2000)], "created_at": ["2026-01-01T00:00:00Z"] * 2000})


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("accounts.csv", text)
    return buf.getvalue()


REFUSED = [  # (file name, bytes, words the one-line message must hold)
    ("accounts.csv", b"", ["empty", "header"]),
    ("accounts.csv", b"\n\r\n\n", ["empty"]),
    ("accounts.csv.gz", gz(HEADER + ROWS)[:-40], ["ends early", "truncated", "again"]),
    ("accounts.csv.gz", gz(HEADER + ROWS)[:200], ["ends early"]),
    ("accounts.csv.gz", (HEADER + ROWS).encode(), ["not gzip", "accounts.csv"]),
    ("accounts.csv", gz(HEADER + ROWS), ["gzip-compressed", "accounts.csv.gz"]),
    ("accounts.csv", parquet_bytes(accounts_table()), ["Parquet", "accounts.parquet"]),
    ("accounts.csv", _zip(HEADER + ROWS), ["ZIP"]),
    ("accounts.csv", (HEADER + ROWS).encode("utf-16"), ["UTF-16", "UTF-8"]),
    ("accounts.csv", b"\x07\xff\xfe\x00binary\x00junk" + random.Random(1).randbytes(5000), ["CSV"]),
    ("accounts.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, ["CSV"]),
    ("accounts.parquet", parquet_bytes(accounts_table())[:-100], ["Parquet", "again"]),
    ("accounts.parquet", (HEADER + ROWS).encode(), ["Parquet"]),
    ("accounts.parquet", gz(HEADER), ["gzip", "Parquet"]),
    ("accounts.csv", b"account_id,plan\nacct_1,pro\n", ["created_at", "header"]),
    ("accounts.csv", b"Account_ID,Created_At\nacct_1,x\n", ["'Account_ID' should be 'account_id'", "case-sensitive"]),
    ("accounts.csv", b"account_id,created_at,account_id\n", ["appears twice"]),
    ("accounts.parquet", parquet_bytes(pa.table({"account_id": ["a"]})), ["created_at"]),
    (
        "accounts.parquet",
        parquet_bytes(pa.table({"account_id": ["a"], "created_at": [[1, 2]]})),
        ["created_at", "text"],
    ),
]


@pytest.mark.parametrize(("name", "data", "words"), REFUSED, ids=[f"{n}:{w[0]}" for n, _, w in REFUSED])
def test_a_file_that_is_not_what_its_name_says_is_refused_in_one_line(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(FileRejected) as e:
        source = open_source("accounts", path)
        for _ in source.chunks(100):
            pass
    message = str(e.value)
    assert "\n" not in message and message.startswith(name), message
    for word in words:
        assert word in message, message


def test_a_corrupt_parquet_page_is_refused_before_any_chunk(tmp_path):
    data = bytearray(
        parquet_bytes(
            pa.table(
                {
                    "account_id": [f"acct_{i:06d}" for i in range(50_000)],
                    "created_at": ["2026-01-01T00:00:00Z"] * 50_000,
                }
            )
        )
    )
    middle = len(data) // 3
    data[middle : middle + 64] = random.Random(2).randbytes(64)
    path = tmp_path / "accounts.parquet"
    path.write_bytes(bytes(data))
    try:
        source = open_source("accounts", path)
    except FileRejected as e:
        assert "accounts.parquet" in str(e)
        return
    # random bytes may land where Parquet does not notice (no page checksums): then every row reads
    assert sum(c.records for c in source.chunks(10_000)) == 50_000


def test_a_file_that_cannot_be_opened_is_refused(tmp_path):
    # a folder under a file's name cannot be opened, whoever runs the test (root reads a chmod-0 file)
    path = tmp_path / "accounts.csv"
    path.mkdir()
    with pytest.raises(FileRejected, match="accounts.csv: cannot be read"):
        open_source("accounts", path)


def test_parquet_columns_are_read_by_type(tmp_path):
    when = dt.datetime(2026, 3, 1, 9, 15, 0, 123000)
    berlin = dt.datetime(2026, 3, 1, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    table = pa.table(
        {
            "account_id": pa.array(["a1", "a2", "a3"]).dictionary_encode(),
            "ip": ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
            "first_seen": pa.array([when, when, None], pa.timestamp("ms")),  # no zone: UTC
            "last_seen": pa.array([berlin, berlin, berlin], pa.timestamp("us", tz="Europe/Berlin")),
            "requests": pa.array([5, None, 2**40], pa.int64()),  # a null makes pandas use floats
            "extra": pa.array([[1], [2], None], pa.list_(pa.int64())),  # an extra column of any type
        }
    )
    path = tmp_path / "ip_sightings.parquet"
    pq.write_table(table, path)
    source = open_source("ip_sightings", path)
    [chunk] = list(source.chunks(10))
    frame = chunk.frame
    assert list(frame.index) == [1, 2, 3] and chunk.raw is None
    assert list(frame["account_id"]) == ["a1", "a2", "a3"]
    assert list(frame["first_seen"]) == ["2026-03-01T09:15:00.123Z", "2026-03-01T09:15:00.123Z", ""]
    assert list(frame["last_seen"]) == ["2026-03-01T09:15:00.000000Z"] * 3
    assert list(frame["requests"]) == ["5", "", str(2**40)]
    assert list(frame["extra"]) == ["[1]", "[2]", ""]


def test_parquet_and_csv_of_the_same_rows_validate_alike(tmp_path):
    from ingest.contract import validate

    table = pa.table({"ip": ["192.0.2.1", "192.0.2.2", "bad"], "asn": pa.array([64501, None, 7], pa.int64())})
    pq.write_table(table, tmp_path / "ip_intel.parquet")
    (tmp_path / "ip_intel.csv").write_text("ip,asn\n192.0.2.1,64501\n192.0.2.2,\nbad,7\n")
    checked = []
    for name in ("ip_intel.parquet", "ip_intel.csv"):
        [chunk] = list(open_source("ip_intel", tmp_path / name).chunks(10))
        checked.append(validate("ip_intel", chunk.frame))
    parquet, csv = checked
    assert list(parquet.valid["asn"]) == list(csv.valid["asn"]) == [64501, None]
    assert all(isinstance(v, int) for v in parquet.valid["asn"].dropna())
    assert list(parquet.invalid["_reason"]) == list(csv.invalid["_reason"]) == ["bad ip address"]
