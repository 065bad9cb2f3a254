"""The quarantine of one delivered file: every line or row that did not load, and why.

Two files per delivered file, in the report's `<report>-quarantine/` folder, named after
the delivered file so that two files of one kind never share (or erase) a quarantine:

- `<name>` (`<name>.csv` unless the name already ends in .csv) to read in a spreadsheet:
  `_file, _line, <the file's columns>, _reason, _raw`. A row that broke a rule of the
  contract shows its values in the columns; a line that could not be split into columns
  (not UTF-8, wrong number of fields, ...) has them empty and shows its text in `_raw`
  (cut at 32,000 characters, a spreadsheet cell's limit). Every cell that a spreadsheet
  would run as a formula (starting with = + - @, tab or CR) is prefixed with an
  apostrophe (`graph.library.cells.neutralise`), so the file can be opened safely.
- `<name>.jsonl`, exact: one JSON object per quarantined line or row, in file order,
  `{"file", "line", "reason", "raw"}` with the text as delivered (nothing neutralised).
  A line that is not UTF-8 also has `raw_base64`, its exact bytes; a line over the
  length limit has `"length"` (its bytes in the file) and keeps its first 1 MB.

`_line`/`line` is the physical line of a CSV (the header is line 1) or the row number of
a Parquet file (the first row is 1).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pandas as pd

from graph.library.cells import neutralise
from ingest.contract import Checked
from ingest.reader import LINE_LIMIT, BadLine, Chunk

CELL_LIMIT = 32_000  # characters of `_raw` in the CSV (spreadsheets stop at 32,767)


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


def _cell(text: str) -> str:
    """A cell a spreadsheet shows as text: no formula, and no NUL (which ends a cell early in
    many readers; the exact text is in the .jsonl)."""
    return neutralise(text.replace("\0", "\\x00"))


class Quarantine:
    """Appends a file's invalid rows and bad lines, chunk by chunk, to its two quarantine files."""

    def __init__(self, folder: Path, name: str, columns: list[str] | None = None) -> None:
        self.folder, self.name = folder, name
        self.columns = columns or []
        self.table = folder / (name if name.endswith(".csv") else f"{name}.csv")
        self.exact = folder / f"{name}.jsonl"
        for path in (self.table, self.exact):  # every validation rewrites the quarantine in full
            path.unlink(missing_ok=True)

    @property
    def paths(self) -> list[str]:
        return [str(p) for p in (self.table, self.exact) if p.exists()]

    def add(self, chunk: Chunk, checked: Checked) -> None:
        invalid = checked.invalid
        if not len(invalid) and not chunk.bad:
            return
        rows = zip(invalid.index, invalid.to_dict("records"), strict=True)
        entries = [self._row_entry(line, row, chunk) for line, row in rows]
        entries += [self._line_entry(bad) for bad in chunk.bad]
        entries.sort(key=lambda e: e["line"])
        self.folder.mkdir(parents=True, exist_ok=True)
        self._append_table(entries)
        with self.exact.open("a", encoding="utf-8") as f:
            for e in entries:
                f.write(json.dumps(e["exact"], ensure_ascii=False) + "\n")

    def _row_entry(self, line: int, row: dict, chunk: Chunk) -> dict:
        values = ["" if pd.isna(row.get(c)) else str(row.get(c)) for c in self.columns]
        raw = str(chunk.raw.loc[line]) if chunk.raw is not None else _csv_line(values)
        exact = {"file": self.name, "line": int(line), "reason": row["_reason"], "raw": raw}
        return {"line": int(line), "values": values, "reason": row["_reason"], "raw": "", "exact": exact}

    def _line_entry(self, bad: BadLine) -> dict:
        text = bad.raw.decode("utf-8", "backslashreplace")
        exact: dict = {"file": self.name, "line": bad.line, "reason": bad.reason, "raw": text}
        try:
            bad.raw.decode("utf-8")
        except UnicodeDecodeError:
            exact["raw_base64"] = base64.b64encode(bad.raw).decode("ascii")
        if bad.length > LINE_LIMIT:
            exact["length"] = bad.length
        shown = text if len(text) <= CELL_LIMIT else text[:CELL_LIMIT] + "…"
        return {
            "line": bad.line,
            "values": [""] * len(self.columns),
            "reason": bad.reason,
            "raw": shown,
            "exact": exact,
        }

    def _append_table(self, entries: list[dict]) -> None:
        new = not self.table.exists()
        with self.table.open("a", encoding="utf-8", newline="") as f:
            out = csv.writer(f)
            if new:
                out.writerow([_cell(c) for c in ["_file", "_line", *self.columns, "_reason", "_raw"]])
            for e in entries:
                cells = [self.name, str(e["line"]), *e["values"], e["reason"], e["raw"]]
                out.writerow([_cell(c) for c in cells])
