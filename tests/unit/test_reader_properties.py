"""Property-based tests of the reader (Hypothesis, no database): generated deliveries of one
contract file mix valid rows with every kind of bad line the reader knows, and what comes
out is compared with a model of what was generated, never with the reader's own output.

Each generated line carries its expectation: a record (its fields), a bad line (its
reason), or a blank line. The reader must return every record with its line number and
fields, every bad line with its line number, reason and bytes, and lose nothing: records
+ bad lines + blank lines = the physical lines after the header.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ingest.reader as reader
from ingest.contract import FILES
from ingest.reader import (
    BAD_QUOTING,
    NOT_UTF8,
    NUL_BYTE,
    TOO_FEW,
    TOO_LONG,
    TOO_MANY,
    UNTERMINATED,
    FileRejected,
    open_source,
)

LIMIT = 160  # LINE_LIMIT during these tests: long lines are cheap to make, valid lines stay under it
KINDS = ["accounts", "ip_sightings", "ip_intel", "prompt_templates", "payment_methods"]
BOM = b"\xef\xbb\xbf"

# Field text: no quote, comma, CR, LF or NUL (those make their own cases below); non-ASCII is fine.
plain_text = st.text(alphabet=st.characters(blacklist_characters='",\r\n\0', blacklist_categories=("Cs",)), max_size=6)


@dataclass
class Line:
    data: bytes  # without its line end
    kind: str  # "record", "bad" or "blank"
    fields: tuple[str, ...] = ()
    reason: str = ""


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@st.composite
def valid_line(draw, width: int) -> Line:
    """A record: plain fields, some quoted (holding commas and doubled quotes)."""
    fields, cells = [], []
    for _ in range(width):
        if draw(st.integers(0, 4)) == 0:
            value = draw(st.text(alphabet=st.sampled_from('ab,"é '), max_size=5))
            cells.append(_quoted(value))
        else:
            value = draw(plain_text)
            cells.append(value)
        fields.append(value)
    return Line(",".join(cells).encode(), "record", tuple(fields))


@st.composite
def bad_line(draw, width: int) -> Line:
    """A line the reader must set aside, with the reason it must give."""
    base = draw(valid_line(width)).data
    text = base.decode()
    cut = draw(st.integers(0, len(text)))  # between two characters, not inside one
    before, after = text[:cut].encode(), text[cut:].encode()
    case = draw(st.sampled_from(["utf8", "nul", "long", "unterminated", "quoting", "many", "few"]))
    if case == "utf8":  # a stray Latin-1 byte, or a multi-byte sequence cut short
        junk = draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\xe2\x80", b"\x80"]))
        return Line(before + junk + after, "bad", reason=NOT_UTF8)
    if case == "nul":
        return Line(before + b"\0" + after, "bad", reason=NUL_BYTE)
    if case == "long":  # over the limit, whatever it holds (a NUL or bad byte in it too)
        tail = draw(st.sampled_from([b"x", b"\xff", b"\0", b'"', b","]))
        return Line(
            base + b"," + tail * (LIMIT + 1 - len(base)) + b"9" * draw(st.integers(0, 40)), "bad", reason=TOO_LONG
        )
    cells = [draw(plain_text).encode() for _ in range(width)]
    j = draw(st.integers(0, width - 1))
    if case == "unterminated":  # a field opens a quote that never closes
        cells[j] = b'"' + cells[j]
        return Line(b",".join(cells), "bad", reason=UNTERMINATED)
    if case == "quoting":  # text after a field's closing quote
        cells[j] = b'"' + cells[j] + b'"' + draw(st.sampled_from([b"x", b"b", b" ", b"\xc3\xa9"]))
        return Line(b",".join(cells), "bad", reason=BAD_QUOTING)
    if case == "many":
        extra = [draw(plain_text).encode() for _ in range(draw(st.integers(1, 3)))]
        return Line(b",".join(cells + extra), "bad", reason=TOO_MANY)
    n = draw(st.integers(1, width - 1))
    few = cells[:n]
    if n == 1 and few[0] == b"":
        few[0] = b"x"  # a lone empty field is a blank line, not a record
    return Line(b",".join(few), "bad", reason=TOO_FEW)


@st.composite
def delivery(draw) -> tuple[str, bytes, list[Line], bool]:
    """(kind, file bytes, the lines after the header with their expectations, gzip?)."""
    kind = draw(st.sampled_from(KINDS))
    columns = list(FILES[kind].columns)
    width = len(columns)
    line = st.one_of(valid_line(width), valid_line(width), bad_line(width), st.just(Line(b"", "blank")))
    lines = draw(st.lists(line, max_size=40))
    lead = draw(st.integers(0, 2))  # blank lines before the header
    eols = [draw(st.sampled_from([b"\n", b"\r\n"])) for _ in range(lead + 1 + len(lines))]
    physical = [b""] * lead + [",".join(columns).encode()] + [x.data for x in lines]
    body = b"".join(p + e for p, e in zip(physical, eols, strict=True))
    if lines and lines[-1].kind != "blank" and draw(st.booleans()):
        body = body[: -len(eols[-1])]  # the last line without a line end
    if draw(st.booleans()):
        body = BOM + body
    return kind, body, lines, draw(st.booleans())


def read_everything(path, kind, batch_size):
    source = open_source(kind, path)
    records, bad, total = [], [], 0
    for chunk in source.chunks(batch_size):
        assert list(chunk.frame.columns) == source.columns
        rows = zip(chunk.frame.index, chunk.frame.itertuples(index=False), strict=True)
        records += [(int(n), tuple(r), chunk.raw[n]) for n, r in rows]
        bad += [(b.line, b.reason, b.raw, b.length) for b in chunk.bad]
        total += chunk.records
    return records, bad, total


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=delivery(), batch_size=st.integers(1, 25), block=st.sampled_from([7, 64, 1 << 22]))
def test_every_line_comes_out_as_a_record_a_bad_line_or_a_blank(tmp_path_factory, case, batch_size, block):
    kind, body, lines, gz = case
    path = tmp_path_factory.mktemp("d") / (f"{kind}.csv.gz" if gz else f"{kind}.csv")
    path.write_bytes(gzip.compress(body) if gz else body)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reader, "LINE_LIMIT", LIMIT)
        mp.setattr(reader, "_BLOCK", block)  # lines cross block boundaries
        records, bad, total = read_everything(path, kind, batch_size)

    header = 1 + next(i for i, x in enumerate(body.removeprefix(BOM).split(b"\n")) if x.strip(b"\r"))
    numbered = list(enumerate(lines, start=header + 1))
    want_records = [(n, x.fields, x.data.decode()) for n, x in numbered if x.kind == "record"]
    want_bad = [(n, x.reason, x.data[:LIMIT], len(x.data)) for n, x in numbered if x.kind == "bad"]
    assert records == want_records
    assert bad == want_bad
    blanks = sum(x.kind == "blank" for x in lines)
    assert total == len(records) + len(bad)
    assert len(records) + len(bad) + blanks == len(lines)  # nothing lost
    physical = body.count(b"\n") + (not body.endswith(b"\n"))
    assert header + len(lines) == physical


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=600),
    kind=st.sampled_from(KINDS),
    suffix=st.sampled_from([".csv", ".csv.gz"]),
    cut=st.integers(0, 200),
    batch_size=st.integers(1, 20),
)
def test_any_bytes_are_read_or_refused_in_one_line(tmp_path_factory, data, kind, suffix, cut, batch_size):
    """Arbitrary bytes under a contract name, behind a valid header or not, and gzip streams
    cut short: reading raises nothing but FileRejected (one line naming the file), and a
    file it reads loses no line."""
    header = ",".join(FILES[kind].columns).encode() + b"\n"
    body = header + data if cut % 2 else data
    path = tmp_path_factory.mktemp("d") / f"{kind}{suffix}"
    if suffix == ".csv.gz":
        packed = gzip.compress(body)
        path.write_bytes(packed[: max(len(packed) - cut, 0)] if cut > 100 else packed)
    else:
        path.write_bytes(body)
    records, bad, total, message = [], [], 0, None
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(reader, "LINE_LIMIT", LIMIT)
            records, bad, total = read_everything(path, kind, batch_size)
    except FileRejected as e:
        message = str(e)
    # refused: one line naming the file; read: every line after the header accounted for
    assert message is None or (message.startswith(path.name) and "\n" not in message), message
    lines = body.removeprefix(BOM).split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    header_at = next((i for i, x in enumerate(lines) if x.strip(b"\r")), len(lines))
    after = [] if message else lines[header_at + 1 :]
    blanks = sum(1 for x in after if x in (b"", b"\r"))
    assert len(records) + len(bad) + blanks == len(after) == total + blanks  # (all 0 when refused)
    assert sorted([n for n, *_ in records] + [n for n, *_ in bad]) == [
        n for n, x in enumerate(after, start=header_at + 2) if x not in (b"", b"\r")
    ]
