"""Cells and files that are safe to open: CSV a spreadsheet cannot execute, exact JSON.

CSV cells that a spreadsheet would run as a formula (leading = + - @, tab, CR) are
prefixed with an apostrophe; JSON is left exact.
"""

from __future__ import annotations

import io
import json

import pandas as pd

__all__ = ["FORMULA_START", "neutralise", "to_csv", "to_json"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A spreadsheet shows this cell as text, never runs it."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(frame: pd.DataFrame) -> str:
    """The frame as CSV text with every text cell neutralised."""
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = safe[col].map(neutralise)
    buf = io.StringIO()
    safe.to_csv(buf, index=False)
    return buf.getvalue()


def to_json(frame: pd.DataFrame) -> str:
    """The frame as a JSON list of records (missing values as null)."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return json.dumps(records, indent=2, ensure_ascii=False, default=str)
