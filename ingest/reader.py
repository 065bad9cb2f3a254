"""Reading a contract file, whatever arrives: bad lines are set aside, bad files refused.

`open_source(kind, path)` looks at a file before anything of it is loaded and raises
`FileRejected` (one line naming the file and the fix) when it is not what its name says:
no header, a header without a required column, a truncated or corrupt gzip stream, a
Parquet file that does not decode, a gzip, ZIP, Parquet or UTF-16 file under a `.csv`
name, bytes that are not text. The whole stream is decoded once for that (gzip and
Parquet), so a broken file is refused before its first row reaches the graph and a rerun
after fixing it cannot apply any row twice.

`Source.chunks(batch_size)` then yields the file as `Chunk`s: `batch_size` physical lines
of a CSV (blank lines count, though they are skipped; fewer when they pass 64 MB), or
record batches of a Parquet file. Each
chunk holds the records that split into the header's columns, as text, indexed by line
number, and the lines that do not (`BadLine`, with a reason):

- `not UTF-8`: the line holds bytes that are not UTF-8 text;
- `NUL byte`: the line holds a NUL (0x00) byte;
- `line longer than 1 MB`: more than LINE_LIMIT bytes before the line end; only the first
  LINE_LIMIT bytes are kept, so one runaway line never fills the memory;
- `unterminated quote`: a quoted field that does not close on its line;
- `bad quoting`: text after the closing quote of a field (`"a"b`);
- `too many fields` / `too few fields`: not as many fields as the header.

A record is one line: a quoted field may hold commas and doubled quotes but not a line
break. That bounds a stray quote to its own line (it is quarantined alone and the next
line is read afresh) instead of merging every following row into one field; the
contract's values (ids, times, addresses, hashes, short labels) never need a line break.
A UTF-8 byte-order mark before the header and CRLF line ends are accepted.

Parquet columns are turned into the contract's text by type: timestamps become ISO-8601
UTC (`2026-03-01T09:15:00Z`; a timestamp without a zone is UTC), integers stay integers
when the column has nulls, nulls are empty cells; a column of a nested type is refused.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.contract import FILES

LINE_LIMIT = 1 << 20  # bytes in one CSV line, its line end not counted
csv.field_size_limit(max(csv.field_size_limit(), LINE_LIMIT))  # a quoted field may fill its line
_BLOCK = 1 << 22  # bytes read at a time
CHUNK_BYTES = 1 << 26  # a chunk ends before batch_size lines when its lines pass 64 MB
_BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"  # the first two bytes of every gzip member

NOT_UTF8 = "not UTF-8"
NUL_BYTE = "NUL byte"
TOO_LONG = "line longer than 1 MB"
UNTERMINATED = "unterminated quote"
BAD_QUOTING = "bad quoting"
TOO_MANY = "too many fields"
TOO_FEW = "too few fields"


class FileRejected(Exception):
    """The file cannot be read as its name says; the message names the file and the fix."""


@dataclass
class BadLine:
    line: int  # physical line number (the header is line 1)
    reason: str
    raw: bytes  # the line as in the file, without its line end (at most LINE_LIMIT bytes)
    length: int  # its length in the file, in bytes


@dataclass
class Chunk:
    frame: pd.DataFrame  # records split into the header's columns, text as read; index: line or row number
    raw: pd.Series | None  # each record's line as text (CSV), None for Parquet
    bad: list[BadLine] = field(default_factory=list)

    @property
    def records(self) -> int:
        return len(self.frame) + len(self.bad)


def fingerprint(path: Path) -> tuple[str, int]:
    """(SHA-256 of the bytes, approximate row count) in one streaming pass."""
    digest, lines = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    if path.name.endswith(".parquet"):
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception:  # refused with its reason by open_source
            rows = 0
    elif path.name.endswith(".gz"):
        rows = 0  # unknown without decompressing; open_source counts them
    else:
        rows = max(lines - 1, 0)
    return digest.hexdigest(), rows


# --------------------------------------------------------------------------- opening a file


def _magic_problem(path: Path, head: bytes) -> str | None:
    """What the first bytes say the file is, when that is not what its name says."""
    name, stem = path.name, path.name.split(".")[0]
    gzipped = head.startswith(GZIP_MAGIC)
    if name.endswith(".parquet"):
        return "is gzip data, not Parquet: deliver the Parquet file itself" if gzipped else None
    if name.endswith(".gz"):
        return None if gzipped else f"is not gzip data: name it {stem}.csv if it is plain CSV, or compress it again"
    if gzipped:
        return f"is gzip-compressed: name it {name}.gz"
    if head.startswith(b"PAR1"):
        return f"is a Parquet file: name it {stem}.parquet"
    if head.startswith(b"PK\x03\x04"):
        return "is a ZIP archive: unzip it and deliver the CSV inside"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "is UTF-16 text: save it as UTF-8"
    return None


def _check_columns(kind: str, name: str, columns: list[str]) -> None:
    """Refuse a header with a repeated column or without a required one."""
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if repeated:
        raise FileRejected(f"{name}: column {repeated[0]!r} appears twice in the header: keep one")
    spec = FILES[kind]
    missing = [c for c in spec.required if c not in columns]
    if not missing:
        return
    near = {c.strip().lower(): c for c in columns}
    hints = [f"{near[m]!r} should be {m!r}" for m in missing if m in near]
    hint = f" ({'; '.join(hints)}: names are exact and case-sensitive)" if hints else ""
    shown = ",".join(columns)
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    raise FileRejected(
        f"{name}: the header has no column {', '.join(missing)}{hint}; it reads {shown!r}. "
        f"A {kind} file needs {', '.join(spec.required)}: fix the header and deliver it again"
    )


class Source:
    """An opened contract file: its header and its chunks."""

    columns: list[str]
    approx_rows: int

    def chunks(self, batch_size: int) -> Iterator[Chunk]:
        raise NotImplementedError


def open_source(kind: str, path: Path) -> Source:
    """Look the file over (see the module docstring); FileRejected when it cannot be loaded."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise FileRejected(f"{path.name}: cannot be read ({e.strerror or e}): check the file's permissions") from e
    problem = _magic_problem(path, head)
    if problem:
        raise FileRejected(f"{path.name} {problem}")
    try:
        return ParquetSource(kind, path) if path.name.endswith(".parquet") else CsvSource(kind, path)
    except FileRejected:
        raise
    except Exception as e:  # whatever else a damaged file makes a library raise: still one line
        raise FileRejected(f"{path.name}: cannot be read ({_first_line(e)}): is it a {kind} file?") from e


# --------------------------------------------------------------------------- CSV


def _open_text(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")  # type: ignore[return-value]


def _gzip_lines(path: Path) -> int:
    """Decompress the whole file once (nothing kept) and count its lines; FileRejected if broken."""
    lines = 0
    try:
        with gzip.open(path, "rb") as f:
            while block := f.read(_BLOCK):
                lines += block.count(b"\n")
    except EOFError as e:
        raise FileRejected(
            f"{path.name}: the gzip data ends early (a truncated copy or upload): copy or compress "
            "the file again and deliver it"
        ) from e
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise FileRejected(
            f"{path.name}: the gzip data is corrupt ({e}): compress the file again and deliver it"
        ) from e
    return lines


@dataclass
class _Block:
    first: int  # line number of lines[0]
    lines: list[bytes]
    long: dict[int, int]  # index in lines -> length in bytes of a line over LINE_LIMIT (kept cut)


def _blocks(stream: BinaryIO) -> Iterator[_Block]:
    """The stream's physical lines (without line ends) a block at a time, never holding more
    than LINE_LIMIT bytes of one line: a longer line is cut, and its length (without its
    line end, LF or CRLF) noted."""
    first, carry, skipped, tail = 1, b"", 0, b""  # next line number; the unfinished line; its
    # length when cut; the last byte read of it
    while data := stream.read(_BLOCK):
        if skipped:  # inside a line already over the limit: drop the rest of it
            end = data.find(b"\n")
            if end < 0:
                skipped, tail = skipped + len(data), data[-1:]
                continue
            cr = (data[end - 1 : end] if end else tail) == b"\r"
            yield _Block(first, [carry], {0: skipped + end - cr})
            first, carry, skipped, data = first + 1, b"", 0, data[end + 1 :]
        lines = (carry + data).split(b"\n")
        carry = lines.pop()
        if len(carry) > LINE_LIMIT + 1:  # (+1: a CR that a LF may yet follow)
            carry, skipped, tail = carry[:LINE_LIMIT], len(carry), carry[-1:]
        long = {i: n for i, x in enumerate(lines) if (n := len(x) - x.endswith(b"\r")) > LINE_LIMIT}
        for i in long:
            lines[i] = lines[i][:LINE_LIMIT]
        if lines:
            yield _Block(first, lines, long)
            first += len(lines)
    if skipped:  # the last line, over the limit, without a line end
        yield _Block(first, [carry], {0: skipped - (tail == b"\r")})
    elif carry:
        n = len(carry) - carry.endswith(b"\r")
        yield _Block(first, [carry[:LINE_LIMIT]], {0: n}) if n > LINE_LIMIT else _Block(first, [carry], {})


def _lines_within(part: list[bytes], held: int) -> int:
    """How many lines of `part` a chunk holding `held` bytes takes: up to the one that passes
    CHUNK_BYTES, that one included."""
    for k, n in enumerate(map(len, part), start=1):
        held += n
        if held > CHUNK_BYTES:
            return k
    return len(part)


def _line_chunks(blocks: Iterator[_Block], size: int, after: int) -> Iterator[_Block]:
    """The lines after line `after`, regrouped into blocks of `size` lines, or fewer when
    they would pass CHUNK_BYTES (lines of up to 1 MB: a chunk's memory stays bounded).
    Chunk boundaries depend on the file and `size` only, so a resumed load finds the same."""
    lines: list[bytes] = []
    long: dict[int, int] = {}
    first, held = after + 1, 0  # line number of lines[0]; bytes in lines
    for block in blocks:
        start = max(0, after + 1 - block.first)  # skip the header and the lines before it
        while start < len(block.lines):
            take = min(size - len(lines), len(block.lines) - start)
            part = block.lines[start : start + take]
            weight = sum(map(len, part))
            full = len(lines) + take == size
            if held + weight > CHUNK_BYTES:  # rare: end the chunk at the line that passes the limit
                take = _lines_within(part, held)
                part, weight, full = part[:take], sum(map(len, part[:take])), True
            long.update({len(lines) + i - start: n for i, n in block.long.items() if start <= i < start + take})
            lines.extend(part)
            held += weight
            start += take
            if full:
                yield _Block(first, lines, long)
                first, lines, long, held = first + len(lines), [], {}, 0
    if lines:
        yield _Block(first, lines, long)


class CsvSource(Source):
    def __init__(self, kind: str, path: Path) -> None:
        self.kind, self.path = kind, path
        self.approx_rows = _gzip_lines(path) if path.name.endswith(".gz") else 0
        with _open_text(path) as stream:
            self.header_line, self.columns = self._header(stream)
        _check_columns(kind, path.name, self.columns)

    def _header(self, stream: BinaryIO) -> tuple[int, list[str]]:
        """(line number, column names) of the first non-blank line."""
        name = self.path.name
        for block in _blocks(stream):
            for i, line in enumerate(block.lines):
                if block.first + i == 1 and line.startswith(_BOM):
                    line = line[len(_BOM) :]
                if line.strip(b"\r") == b"":
                    continue
                if i in block.long:
                    raise FileRejected(
                        f"{name}: the first line is over 1 MB, so it is no CSV header: is it a CSV file?"
                    )
                if b"\0" in line:
                    raise FileRejected(f"{name}: the first line holds NUL bytes, so it looks binary: is it a CSV file?")
                try:
                    text = line.decode("utf-8").removesuffix("\r")
                except UnicodeDecodeError as e:
                    raise FileRejected(
                        f"{name}: the header is not UTF-8 text: is it a CSV file? (save CSV as UTF-8)"
                    ) from e
                try:
                    return block.first + i, next(csv.reader([text], strict=True))
                except csv.Error as e:
                    raise FileRejected(f"{name}: the header line is not valid CSV ({e}): fix its quoting") from e
        raise FileRejected(f"{name}: the file is empty (no header line): a file with no rows still needs its header")

    def chunks(self, batch_size: int) -> Iterator[Chunk]:
        with _open_text(self.path) as stream:
            for block in _line_chunks(_blocks(stream), batch_size, self.header_line):
                yield split_lines(block.lines, block.first, block.long, self.columns)


def _decode(lines: list[bytes], bad: dict[int, str]) -> str:
    """The lines as one text joined by newlines; a line that is not UTF-8 becomes empty and
    its index is noted in `bad`."""
    try:
        return b"\n".join(lines).decode("utf-8")
    except UnicodeDecodeError:
        pass
    texts = []
    for i, line in enumerate(lines):
        try:
            texts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            bad.setdefault(i, NOT_UTF8)
            texts.append("")
    return "\n".join(texts)


def _misfit(n: int, width: int) -> str:
    return TOO_MANY if n > width else TOO_FEW


def _split_plain(arr: pa.Array, where: np.ndarray, width: int, bad: dict[int, str]) -> tuple[np.ndarray, list]:
    """Lines without a quote: split on commas in Arrow, all at once."""
    lists = pc.split_pattern(arr.take(pa.array(where, pa.int64())), ",")
    sizes = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    fits = sizes == width
    for i, n in zip(where[~fits].tolist(), sizes[~fits].tolist(), strict=True):
        bad[i] = _misfit(n, width)
    flat = pc.list_flatten(lists.filter(pa.array(fits)))
    return where[fits], [flat.take(pa.array(np.arange(j, len(flat), width))) for j in range(width)]


def _split_quoted(arr: pa.Array, where: np.ndarray, width: int, bad: dict[int, str]) -> tuple[np.ndarray, list]:
    """Lines with a quote: Python's csv module, one line at a time (a line is a record). A CR
    inside a line is data, as on the plain path (the csv module would take it for a line
    end): it passes through as a NUL, which these lines cannot hold."""
    kept, rows = [], []
    for i, text in zip(where.tolist(), arr.take(pa.array(where, pa.int64())).to_pylist(), strict=True):
        try:
            fields = next(csv.reader([text.replace("\r", "\0")], strict=True))
        except csv.Error as e:
            bad[i] = UNTERMINATED if "unexpected end of data" in str(e) else BAD_QUOTING
            continue
        if "\r" in text:
            fields = [f.replace("\0", "\r") for f in fields]
        if len(fields) != width:
            bad[i] = _misfit(len(fields), width)
            continue
        kept.append(i)
        rows.append(fields)
    return np.asarray(kept, np.int64), [pa.array([r[j] for r in rows], pa.string()) for j in range(width)]


def split_lines(lines: list[bytes], first: int, long: dict[int, int], columns: list[str]) -> Chunk:
    """The records of `lines` (physical line `first` onwards) split into `columns`.

    Blank lines are dropped; every other line becomes a record or a BadLine. Records keep
    the file's order, with their line numbers as the index.
    """
    width = len(columns)
    bad: dict[int, str] = dict.fromkeys(long, TOO_LONG)
    text = _decode(lines, bad)
    arr = pc.split_pattern(pa.array([text], pa.large_string()), "\n").flatten().cast(pa.string())
    if "\r" in text:
        arr = pc.replace_substring_regex(arr, "\r$", "")
    for i in np.flatnonzero(pc.match_substring(arr, "\0").to_numpy(zero_copy_only=False)).tolist():
        bad.setdefault(i, NUL_BYTE)
    open_ = ~pc.equal(arr, "").to_numpy(zero_copy_only=False)
    open_[list(bad)] = False
    quote = pc.match_substring(arr, '"').to_numpy(zero_copy_only=False)
    plain, cols = _split_plain(arr, np.flatnonzero(open_ & ~quote), width, bad)
    if (open_ & quote).any():
        quoted, more = _split_quoted(arr, np.flatnonzero(open_ & quote), width, bad)
        plain = np.concatenate([plain, quoted])
        cols = [pa.concat_arrays([a, b]) for a, b in zip(cols, more, strict=True)]
        order = pa.array(np.argsort(plain, kind="stable"))
        plain, cols = plain[order.to_numpy()], [c.take(order) for c in cols]
    index = pd.Index(plain + first, name="_line")
    frame = pd.DataFrame(
        {name: pd.Series(pd.arrays.ArrowStringArray(c), index=index) for name, c in zip(columns, cols, strict=True)},
        index=index,
    )
    raw = pd.Series(pd.arrays.ArrowStringArray(arr.take(pa.array(plain, pa.int64()))), index=index)
    raws = {i: lines[i].removesuffix(b"\r") for i in bad}
    bad_lines = [BadLine(first + i, why, raws[i], long.get(i, len(raws[i]))) for i, why in sorted(bad.items())]
    return Chunk(frame, raw, bad_lines)


# --------------------------------------------------------------------------- Parquet

_NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map, pa.types.is_union)


def parquet_text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A Parquet column as the contract's text: nulls empty, timestamps ISO-8601 UTC."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_timestamp(t):
        utc = array.cast(pa.timestamp(t.unit, tz="UTC"))
        array = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")
    elif pa.types.is_date(t):
        array = pc.strftime(array, format="%Y-%m-%d")
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        array = pa.array(
            [None if v is None else v.decode("utf-8", "backslashreplace") for v in array.to_pylist()], pa.string()
        )
    elif any(f(t) for f in _NESTED):
        array = pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
    else:
        array = array.cast(pa.string())
    return pc.fill_null(array.cast(pa.string()), "")


class ParquetSource(Source):
    def __init__(self, kind: str, path: Path) -> None:
        self.kind, self.path = kind, path
        name = path.name
        try:
            self.file = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises ArrowInvalid, OSError... for a bad footer
            raise FileRejected(
                f"{name}: not a readable Parquet file ({_first_line(e)}): a truncated copy, or another "
                "format under a .parquet name? write or copy it again"
            ) from e
        schema = self.file.schema_arrow
        self.columns = list(schema.names)
        _check_columns(kind, name, self.columns)
        for column in FILES[kind].columns:
            if column in self.columns and any(f(schema.field(column).type) for f in _NESTED):
                raise FileRejected(
                    f"{name}: column {column} is of type {schema.field(column).type}: write it as text (string)"
                )
        self.approx_rows = self.file.metadata.num_rows
        self._decode_all()

    def _decode_all(self) -> None:
        """Decode every page of the contract's columns once; FileRejected if one does not."""
        used = [c for c in self.columns if c in FILES[self.kind].columns]
        try:
            for batch in self.file.iter_batches(batch_size=65_536, columns=used):
                for column in batch.columns:
                    parquet_text(column)
        except Exception as e:
            raise FileRejected(
                f"{self.path.name}: the Parquet data does not decode ({_first_line(e)}): write or copy it again"
            ) from e

    def chunks(self, batch_size: int) -> Iterator[Chunk]:
        start = 1
        for batch in self.file.iter_batches(batch_size=batch_size):
            index = pd.RangeIndex(start, start + batch.num_rows, name="_line")
            frame = pd.DataFrame(
                {
                    name: pd.Series(pd.arrays.ArrowStringArray(parquet_text(col)), index=index)
                    for name, col in zip(batch.schema.names, batch.columns, strict=True)
                },
                index=index,
            )
            start += batch.num_rows
            yield Chunk(frame, None)


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]
