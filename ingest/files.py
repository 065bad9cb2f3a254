"""Writing contract files in csv, csv.gz or parquet.

`schema(kind)` is the Arrow schema of a contract file (its columns from
`ingest.contract.FILES`, counts as int64, all else text); `TableSink` appends Arrow tables
to one file chunk by chunk, so that the same rows always give the same bytes; `iso_utc`
formats epoch seconds as the contract's ISO-8601 UTC text with array look-ups.

Used by the synthetic generator (`ingest.generate`) and by the prompt-log hasher
(`ingest.prompts`), which handles real data and so imports this module, not the generator.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from graph.vocabulary import FILE_FORMATS
from ingest.contract import FILES

__all__ = ["FORMATS", "INTEGER_COLUMNS", "TableSink", "fixed_width_strings", "iso_utc", "schema"]

FORMATS = FILE_FORMATS  # format name -> file extension
INTEGER_COLUMNS = frozenset({"requests", "asn"})  # written as int64; every other column is text

_DAY = 86_400
_HOUR = 3_600
_DIGITS = np.frombuffer(b"0123456789", np.uint8)


def schema(kind: str) -> pa.Schema:
    """Arrow schema of contract file `kind`: its columns in order, counts as int64, all else text."""
    return pa.schema(
        [(column, pa.int64() if column in INTEGER_COLUMNS else pa.string()) for column in FILES[kind].columns]
    )


class TableSink:
    """Appends Arrow tables to one output file (CSV, gzip'd CSV or Parquet), chunk by chunk.

    `name` is a contract file kind (see `schema`) or an Arrow schema of its own (the
    generator's truth files). CSV: a plain header, fields unquoted unless a value needs
    RFC 4180 quoting, nulls as empty fields, LF line ends. gzip headers carry no time and
    Parquet no wall-clock metadata: the same tables always give the same bytes.
    """

    def __init__(self, path: Path, name: str | pa.Schema, fmt: str):
        self.schema = name if isinstance(name, pa.Schema) else schema(name)
        self.fmt = fmt
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self.raw = open(path, "wb")  # noqa: SIM115 - closed in close()
            # mtime=0 and no file name: the same rows give the same bytes
            self.out = (
                gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0, compresslevel=6)
                if fmt == "csv.gz"
                else self.raw
            )
            self.out.write((",".join(self.schema.names) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        """Append `table` (its columns selected and cast to the file's schema)."""
        table = table.select(self.schema.names).cast(self.schema)
        self.rows += table.num_rows
        if self.fmt == "parquet":
            self.writer.write_table(table, row_group_size=max(1, table.num_rows))
            return
        buf = pa.BufferOutputStream()
        try:  # plain fields; quote only if a value ever needs it (the generator's never do)
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        except pa.ArrowInvalid:
            buf = pa.BufferOutputStream()
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        self.out.write(buf.getvalue())

    def close(self) -> None:
        """Finish the file (Parquet footer, gzip trailer) and close it."""
        if self.fmt == "parquet":
            self.writer.close()
        else:
            if self.out is not self.raw:
                self.out.close()
            self.raw.close()


def fixed_width_strings(codes: np.ndarray, prefix: bytes = b"") -> pa.Array:
    """Arrow string array from an (n, width) matrix of ASCII codes, each row one value,
    each value preceded by `prefix`. No per-row Python."""
    n_rows = codes.shape[0]
    if prefix:
        full = np.empty((n_rows, len(prefix) + codes.shape[1]), np.uint8)
        full[:, : len(prefix)] = np.frombuffer(prefix, np.uint8)
        full[:, len(prefix) :] = codes
        codes = full
    width = codes.shape[1]
    offsets = np.arange(n_rows + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(n_rows, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(codes)))


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (H. Hinnant's civil_from_days)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def _write_digits(out: np.ndarray, column: int, value: np.ndarray, width: int) -> None:
    """Write `value` as `width` zero-padded decimal digits into out[:, column:column+width]."""
    for k in range(width):
        out[:, column + k] = _DIGITS[value // 10 ** (width - 1 - k) % 10]


def _clock_table() -> np.ndarray:
    """(86400, 8) ASCII "HH:MM:SS" of every second of a day."""
    clock = np.empty((_DAY, 8), np.uint8)
    second = np.arange(_DAY)
    _write_digits(clock, 0, second // _HOUR, 2)
    _write_digits(clock, 3, second // 60 % 60, 2)
    _write_digits(clock, 6, second % 60, 2)
    clock[:, 2] = clock[:, 5] = ord(":")
    return clock


_CLOCK = _clock_table()


def iso_utc(secs: np.ndarray) -> pa.Array:
    """ISO-8601 UTC strings `YYYY-MM-DDTHH:MM:SSZ` from epoch seconds: two table look-ups
    (the dates of the span the values cover, the clock of a day); ~20x numpy's formatter."""
    return fixed_width_strings(_iso_codes(np.asarray(secs, np.int64)))


def iso_utc_ms(millis: pa.Array) -> pa.Array:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` from epoch milliseconds (int64; a null stays null), as
    Arrow's strftime writes a millisecond timestamp, by iso_utc's look-ups: strftime took
    a microsecond a value, a third of a bulk load's writing of its import files."""
    seconds, milli = np.divmod(millis.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64), 1000)
    out = np.empty((len(seconds), 24), np.uint8)
    out[:, :19] = _iso_codes(seconds)[:, :19]
    out[:, 19] = ord(".")
    _write_digits(out, 20, milli, 3)
    out[:, 23] = ord("Z")
    text = fixed_width_strings(out)
    return pc.if_else(pc.is_null(millis), pa.scalar(None, pa.string()), text) if millis.null_count else text


def _iso_codes(seconds: np.ndarray) -> np.ndarray:
    """(n, 20) ASCII codes of `YYYY-MM-DDTHH:MM:SSZ` for epoch seconds (int64)."""
    out = np.empty((len(seconds), 20), np.uint8)
    if len(seconds):
        days, second_of_day = np.divmod(seconds, _DAY)
        first_day = int(days.min())
        span = np.arange(first_day, int(days.max()) + 1)
        year, month, day = _civil(span)
        dates = np.empty((len(span), 10), np.uint8)
        _write_digits(dates, 0, year, 4)
        _write_digits(dates, 5, month, 2)
        _write_digits(dates, 8, day, 2)
        dates[:, 4] = dates[:, 7] = ord("-")
        out[:, :10] = dates[days - first_day]
        out[:, 11:19] = _CLOCK[second_of_day]
    out[:, 10] = ord("T")
    out[:, 19] = ord("Z")
    return out
