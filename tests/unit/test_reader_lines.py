"""The tolerant CSV reader: every bad line set aside with its line number and reason, the
rest read in file order (no database)."""

from __future__ import annotations

import gzip
import random

import pytest

import ingest.reader as reader
from ingest.reader import (
    BAD_QUOTING,
    LINE_LIMIT,
    NOT_UTF8,
    NUL_BYTE,
    TOO_FEW,
    TOO_LONG,
    TOO_MANY,
    UNTERMINATED,
    open_source,
)

HEADER = b"account_id,created_at,country,email_domain,plan"
T = b"2026-01-01T00:00:00Z"


def read_all(path, kind="accounts", batch_size=4):
    """(records as (line, values), bad lines as (line, reason, raw)) of the whole file."""
    source = open_source(kind, path)
    records, bad = [], []
    for chunk in source.chunks(batch_size):
        assert list(chunk.frame.columns) == source.columns
        assert list(chunk.raw.index) == list(chunk.frame.index)
        records += [
            (line, tuple(row)) for line, row in zip(chunk.frame.index, chunk.frame.itertuples(index=False), strict=True)
        ]
        bad += [(b.line, b.reason, b.raw) for b in chunk.bad]
    return records, bad


def write(folder, body: bytes, name="accounts.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(body))
    else:
        path.write_bytes(body)
    return path


BAD_LINES = [  # (line as bytes, reason)
    (b"acct_2," + T + b",DE,x.com,pro,EXTRA", TOO_MANY),
    (b"acct_3," + T, TOO_FEW),
    (b"acct_\xff4," + T + b",,,", NOT_UTF8),
    (b"acct_\xc3," + T + b",,,", NOT_UTF8),  # a multi-byte sequence cut short
    (b'"acct_5,' + T + b",,,", UNTERMINATED),
    (b"acct_6," + T + b',"open,,', UNTERMINATED),
    (b"acct_7\x00," + T + b",,,", NUL_BYTE),
    (b'"a"b,' + T + b",,,", BAD_QUOTING),
]


def test_every_bad_line_is_set_aside_and_the_rest_reads_in_order(tmp_path):
    good = [b"acct_%d," % i + T + b",DE,x.com,pro" for i in range(100, 110)]
    lines, expected_bad, expected_good = [HEADER], [], []
    for i, g in enumerate(good):  # a good line, then a bad one, alternately
        lines.append(g)
        expected_good.append(len(lines))
        if i < len(BAD_LINES):
            lines.append(BAD_LINES[i][0])
            expected_bad.append((len(lines), BAD_LINES[i][1], BAD_LINES[i][0]))
    records, bad = read_all(write(tmp_path, b"\n".join(lines) + b"\n"))
    assert bad == expected_bad
    assert [line for line, _ in records] == expected_good
    assert [r[0] for _, r in records] == [f"acct_{i}" for i in range(100, 110)]


def test_a_stray_quote_takes_only_its_own_line(tmp_path):
    body = b"\n".join(
        [HEADER, b'acct_1,"2026,,,', b"acct_2," + T + b",,,", b"acct_3," + T + b',"x,,', b"acct_4," + T + b",,,"]
    )
    records, bad = read_all(write(tmp_path, body))
    assert [r[0] for _, r in records] == ["acct_2", "acct_4"]
    assert [(line, why) for line, why, _ in bad] == [(2, UNTERMINATED), (4, UNTERMINATED)]


def test_quoted_fields_bom_crlf_and_blank_lines(tmp_path):
    body = (
        b"\xef\xbb\xbf"
        + HEADER
        + b"\r\n\r\n"
        + b"acct_1,"
        + T
        + b',"DE, Berlin",,"say ""hi"""\r\n'
        + b"\r\n"
        + b"acct_2,"
        + T
        + b",,,\r\n"
    )
    records, bad = read_all(write(tmp_path, body))
    assert bad == []
    assert records == [
        (3, ("acct_1", T.decode(), "DE, Berlin", "", 'say "hi"')),
        (5, ("acct_2", T.decode(), "", "", "")),
    ]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize("block", [1 << 16, 1 << 22, LINE_LIMIT + 1])
def test_a_line_over_the_limit_is_cut_and_the_next_line_reads(tmp_path, monkeypatch, eol, block):
    monkeypatch.setattr(reader, "_BLOCK", block)  # the long line spans blocks, or fits in one
    long_line = b"acct_9," + b"x" * (LINE_LIMIT + 5000)
    prefix = b"acct_8," + T + b",,,"
    at_limit = prefix + b"y" * (LINE_LIMIT - len(prefix))  # exactly the limit: not too long
    body = eol.join([HEADER, b"acct_1," + T + b",,,", long_line, at_limit, b"acct_2," + T + b",,,"]) + eol
    source = open_source("accounts", write(tmp_path, body))
    chunks = list(source.chunks(10))
    bad = [b for c in chunks for b in c.bad]
    assert [(b.line, b.reason, b.length) for b in bad] == [(3, TOO_LONG, len(long_line))]
    assert len(bad[0].raw) == LINE_LIMIT and long_line.startswith(bad[0].raw)
    assert [list(c.frame.index) for c in chunks] == [[2, 4, 5]]
    assert chunks[0].frame["plan"].iloc[1] == "y" * (LINE_LIMIT - len(prefix))


def test_a_last_line_over_the_limit_without_a_line_end(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "_BLOCK", 1 << 16)
    body = HEADER + b"\n" + b"acct_1," + T + b",,,\n" + b"y" * (LINE_LIMIT + 1)
    records, bad = read_all(write(tmp_path, body))
    assert [r[0] for _, r in records] == ["acct_1"]
    assert [(line, why) for line, why, _ in bad] == [(3, TOO_LONG)]


def test_chunks_are_batch_size_lines_whatever_the_block_size(tmp_path, monkeypatch):
    """Chunk boundaries must not move between runs (a resumed load names the same batches)."""
    rng = random.Random(3)
    lines = [HEADER]
    for i in range(400):
        kind = rng.random()
        lines.append(
            b"" if kind < 0.1 else BAD_LINES[i % len(BAD_LINES)][0] if kind < 0.3 else b"acct_%d," % i + T + b",,,"
        )
    path = write(tmp_path, b"\n".join(lines) + b"\n")
    seen = []
    for block in (1 << 22, 64, 7):
        monkeypatch.setattr(reader, "_BLOCK", block)
        chunks = list(open_source("accounts", path).chunks(37))
        spans = [
            (
                min([*c.frame.index, *(b.line for b in c.bad)], default=None),
                max([*c.frame.index, *(b.line for b in c.bad)], default=None),
            )
            for c in chunks
        ]
        for (lo, hi), i in zip(spans, range(len(spans)), strict=True):
            assert lo is None or (2 + 37 * i <= lo and hi < 2 + 37 * (i + 1))
        seen.append(read_all(path, batch_size=37))
    assert seen[0] == seen[1] == seen[2]


@pytest.mark.parametrize("name", ["accounts.csv", "accounts.csv.gz"])
def test_csv_and_gzip_read_alike(tmp_path, name):
    body = b"\n".join([HEADER] + [line for line, _ in BAD_LINES] + [b"acct_1," + T + b",,,"])
    assert read_all(write(tmp_path / "a", body, name)) == read_all(write(tmp_path / "b", body, "accounts.csv"))


def test_header_only_reads_nothing(tmp_path):
    source = open_source("accounts", write(tmp_path, HEADER + b"\r\n"))
    assert [c.records for c in source.chunks(10)] == []


def test_values_are_text_as_delivered(tmp_path):
    """Whitespace and 'NA'/'null' stay as they are: the contract trims and checks later."""
    body = HEADER + b"\n" + b" acct_1 ,NA,null,None, =1+1 \n"
    records, _ = read_all(write(tmp_path, body))
    assert records == [(2, (" acct_1 ", "NA", "null", "None", " =1+1 "))]


def test_the_block_reader_splits_like_a_plain_split(monkeypatch):
    """Lines, cut lines and their lengths, whatever the block size and line limit."""
    import io

    rng = random.Random(11)
    for _ in range(300):
        limit, block = rng.randint(1, 40), rng.randint(1, 64)
        monkeypatch.setattr(reader, "LINE_LIMIT", limit)
        monkeypatch.setattr(reader, "_BLOCK", block)
        data = b"".join(rng.choice([b"a", b"bb", b"\r", b"\n", b"\r\n", b"x" * 30]) for _ in range(rng.randint(0, 60)))
        expected = data.split(b"\n")
        if expected[-1] == b"":
            expected.pop()
        got, lengths = [], {}
        for b in reader._blocks(io.BytesIO(data)):
            lengths.update({b.first + i: n for i, n in b.long.items()})
            got += b.lines
        assert len(got) == len(expected), data
        for number, (line, want) in enumerate(zip(got, expected, strict=True), start=1):
            content = len(want) - want.endswith(b"\r")
            if content > limit:
                assert (line, lengths.get(number)) == (want[:limit], content), (data, number)
            else:
                assert (line, number in lengths) == (want, False), (data, number)


def _reference(lines: list[bytes], width: int) -> tuple[list, list]:
    """One line at a time, the plain way: what split_lines must find."""
    import csv

    records, bad = [], []
    for number, raw in enumerate(lines, start=2):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.append((number, NOT_UTF8))
            continue
        if "\0" in text:
            bad.append((number, NUL_BYTE))
            continue
        text = text.removesuffix("\r")
        if text == "":
            continue
        try:  # a CR inside a line is data (the csv module would end the record there)
            fields = [f.replace("\0", "\r") for f in next(csv.reader([text.replace("\r", "\0")], strict=True))]
        except csv.Error as e:
            bad.append((number, UNTERMINATED if "unexpected end" in str(e) else BAD_QUOTING))
            continue
        if len(fields) != width:
            bad.append((number, TOO_MANY if len(fields) > width else TOO_FEW))
            continue
        records.append((number, tuple(fields)))
    return records, bad


def test_split_lines_agrees_with_reading_one_line_at_a_time():
    pieces = [b"a", b"b1", b",", b",", b'"', b'""', b"\r", b"\xff", b"\xc3\xa9", b"\x00", b" ", b"=", b"\xe2\x80"]
    rng = random.Random(5)
    for _ in range(400):
        width = rng.randint(1, 4)
        columns = [f"c{i}" for i in range(width)]
        lines = [b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(0, 30))]
        chunk = reader.split_lines(lines, 2, {}, columns)
        got = [(n, tuple(row)) for n, row in zip(chunk.frame.index, chunk.frame.itertuples(index=False), strict=True)]
        assert (got, [(b.line, b.reason) for b in chunk.bad]) == _reference(lines, width), lines
        assert [chunk.raw[n] for n, _ in got] == [lines[n - 2].decode().removesuffix("\r") for n, _ in got]


def test_a_chunk_of_long_lines_stops_at_its_byte_limit(tmp_path, monkeypatch):
    """10,000 lines of 1 MB would be 10 GB in one chunk: a chunk also ends past CHUNK_BYTES."""
    monkeypatch.setattr(reader, "CHUNK_BYTES", 100)
    lines = [b"acct_%d," % i + T + b",,," + b"x" * (i % 40) for i in range(60)]
    path = write(tmp_path, HEADER + b"\n" + b"\n".join(lines) + b"\n")
    chunks = list(open_source("accounts", path).chunks(10))
    assert sum(len(c.frame) for c in chunks) == 60 and all(not c.bad for c in chunks)
    sizes = []
    for c in chunks:
        got = [len(r.encode()) for r in c.raw]
        assert len(got) <= 10 and (sum(got[:-1]) <= 100)  # ends at the line that passes the limit
        sizes.append(len(got))
    assert len(chunks) > 6 and sizes == [len(c.frame) for c in open_source("accounts", path).chunks(10)]


def test_an_extra_field_on_the_first_data_line_shifts_nothing(tmp_path):
    """pandas took the first column of such a file as row labels and shifted every column."""
    body = b"\n".join([HEADER, b"acct_1," + T + b",DE,x.com,pro,EXTRA", b"acct_2," + T + b",DE,x.com,pro"])
    records, bad = read_all(write(tmp_path, body))
    assert records == [(3, ("acct_2", T.decode(), "DE", "x.com", "pro"))]
    assert [(line, why) for line, why, _ in bad] == [(2, TOO_MANY)]


def test_a_long_quoted_value_is_a_value(tmp_path):
    """Python's csv module stops at 128 kB fields unless told; a line may hold up to 1 MB."""
    value = "x, " * 100_000
    body = HEADER + b"\n" + b"acct_1," + T + b',,,"' + value.encode() + b'"\n'
    records, bad = read_all(write(tmp_path, body))
    assert bad == [] and records[0][1][4] == value
