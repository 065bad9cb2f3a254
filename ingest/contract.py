"""The data contract (../shared/DATA_CONTRACT.md) as code: files, columns, row rules.

`validate(kind, frame, known_accounts)` splits a chunk of rows (all columns read as text)
into the rows to load, cleaned and canonical, and the rows to quarantine with a reason.
It is vectorised with pandas: a chunk of 50,000 rows takes a few tens of milliseconds,
except IP canonicalisation, which goes through `ipaddress` once per distinct address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graph.vocabulary import canonical_ip


@dataclass(frozen=True)
class FileSpec:
    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


# Load order: nodes that relationships need come first.
FILES: dict[str, FileSpec] = {
    "accounts": FileSpec("accounts", ("account_id", "created_at"), ("country", "email_domain", "plan")),
    "ip_intel": FileSpec("ip_intel", ("ip",), ("asn", "as_org", "ip_type", "proxy_provider")),
    "payment_methods": FileSpec(
        "payment_methods",
        ("account_id", "payment_fingerprint"),
        ("method_type", "bin", "issuer_country", "first_seen"),
    ),
    "ip_sightings": FileSpec("ip_sightings", ("account_id", "ip", "first_seen", "last_seen", "requests"), ()),
    "prompt_templates": FileSpec(
        "prompt_templates",
        ("account_id", "template_hash", "requests", "first_seen", "last_seen"),
        ("capability",),
    ),
}

EXTENSIONS = (".csv", ".csv.gz", ".parquet")

# Quarantine reasons (stable strings: reports count by them)
MISSING = "missing {column}"
MALFORMED = "malformed {column}"
DUPLICATE_ACCOUNT = "duplicate account_id in file"
UNKNOWN_ACCOUNT = "unknown account"
BAD_ADDRESS = "bad ip address"
NON_POSITIVE = "requests not a positive integer"
INVERTED = "first_seen after last_seen"
TOO_LARGE = "requests too large"

# Counts above 2^53 - 1 are refused: every integer up to it is exact as a double (JSON, the
# app's charts), and sums of them over a thousand deliveries stay below Neo4j's 2^63 - 1,
# where adding would fail the transaction instead of wrapping.
MAX_REQUESTS = 2**53 - 1
MAX_ASN = 2**32 - 1  # AS numbers are 32-bit (RFC 6793)


def kind_of(filename: str) -> str | None:
    """The contract file kind of `filename` (e.g. 'accounts.csv.gz' -> 'accounts'), or None."""
    for ext in EXTENSIONS:
        if filename.endswith(ext):
            stem = filename[: -len(ext)]
            return stem if stem in FILES else None
    return None


# Arrow-backed text: strip, match and compare run as Arrow kernels over the whole column
# instead of a Python call per cell (validation of 650k rows: 6.8 s -> see README).
TEXT = "string[pyarrow]"


def _blank(s: pd.Series) -> pd.Series:
    s = s.astype(TEXT).str.strip()
    return (s.isna() | (s == "")).astype(bool)


def _clean_optional(s: pd.Series) -> pd.Series:
    """Trimmed text, or None where empty (so the loader keeps the previous value)."""
    s = s.astype(TEXT).str.strip()
    return s.astype(object).where(~_blank(s), None)


def epoch_ms(s: pd.Series) -> pd.Series:
    """ISO-8601 text -> milliseconds since the epoch (UTC) as float, NaN where unparsable.

    A time with no zone is UTC (the contract); offsets are converted. Numbers travel to
    Neo4j much faster than text and become datetimes there with datetime({epochMillis}).
    Texts of the form every generator and export writes (`2025-06-28T15:11:59Z`) are read
    by `_plain_utc_ms`, the rest by pandas' ISO-8601 parser.
    """
    text = s.astype(TEXT).str.strip()
    plain = text.str.fullmatch(_PLAIN_UTC).fillna(False).astype(bool).to_numpy()
    out = pd.Series(np.nan, index=s.index)
    if plain.any():
        out[plain] = _plain_utc_ms(text[plain])
    rest = ~plain | out.isna().to_numpy()  # (a plain text that is no date: pandas says so)
    if rest.any():
        out[rest] = _iso_ms(text[rest])
    return out


# YYYY-MM-DDTHH:MM:SSZ, and the years whose every time pandas' nanosecond clock holds
_PLAIN_UTC = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
_PLAIN_YEARS = (1678, 2261)


def _plain_utc_ms(text: pd.Series) -> np.ndarray:
    """Milliseconds since the epoch of `_PLAIN_UTC` texts, NaN for a field out of range (a
    13th month, a 30th of February, hour 24, second 60, a year outside _PLAIN_YEARS). Whole
    columns at once: pandas' parser took a fifth of validation, one text at a time."""

    # each text is 20 ASCII characters: a row of a (texts x 20) matrix of digits
    digits = np.frombuffer("".join(text.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 20) - ord("0")

    def field(start: int, stop: int) -> np.ndarray:
        value = np.zeros(len(digits), dtype=np.int64)
        for i in range(start, stop):
            value = value * 10 + digits[:, i]
        return value

    year, month, day = field(0, 4), field(5, 7), field(8, 10)
    hour, minute, second = field(11, 13), field(14, 16), field(17, 19)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 1, 12) - 1]
    month_days = month_days + (leap & (month == 2))
    valid = (
        (year >= _PLAIN_YEARS[0])
        & (year <= _PLAIN_YEARS[1])
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= month_days)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
    )
    # days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-compatible
    # low-level date algorithms", days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000
    return np.where(valid, ms.astype(np.float64), np.nan)


def _iso_ms(text: pd.Series) -> pd.Series:
    """epoch_ms of any ISO-8601 texts (stripped), by pandas."""
    # A plain date or a space separator is not the contract's ISO-8601 form.
    shaped = text.str.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$")
    # No zone means UTC; say so explicitly, or pandas lends a neighbour's offset to it.
    zoned = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).fillna(False)
    text = text.where(zoned, text + "Z").where(shaped.fillna(False))
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    return (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)


@dataclass
class Checked:
    valid: pd.DataFrame  # cleaned rows to load (canonical values, None for empty optionals)
    invalid: pd.DataFrame  # original rows, unchanged, plus a `_reason` column


def _requests(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(value as int64, not a positive integer, too large) of `requests` texts."""
    text = text.astype(TEXT).str.strip()
    integer = text.str.fullmatch(r"[+-]?\d+").fillna(False).astype(bool)
    digits = text.str.lstrip("+-").str.lstrip("0").str.len().fillna(0)
    sign_ok = ~text.str.startswith("-").fillna(False).astype(bool)
    large = integer & sign_ok & (digits > 16)  # longer than 2^53 - 1 has digits: never parsed
    num = pd.to_numeric(text.where(integer & ~large), errors="coerce")
    large |= integer & (num > MAX_REQUESTS).fillna(False)
    return num, num.isna() & ~large | (num < 1).fillna(False), large


def _asn(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(AS numbers as Python ints or None, malformed) of `asn` texts: digits with an optional
    `AS` prefix, at most 2^32 - 1. Kept as objects so a chunk with empty cells never turns
    them into floats."""
    text = text.astype(TEXT).str.strip()
    given = text.notna() & (text != "")
    asn = text.str.upper().str.removeprefix("AS")
    digits = asn.str.fullmatch(r"\d{1,10}").fillna(False).astype(bool)
    num = pd.to_numeric(asn.where(digits), errors="coerce")
    ok = digits & (num <= MAX_ASN).fillna(False)
    values = [int(v) if keep else None for v, keep in zip(num.tolist(), ok.tolist(), strict=True)]
    return pd.Series(values, index=text.index, dtype=object), (given & ~ok).astype(bool)


class _Reasons:
    """Each row's reason for quarantine: the first rule it breaks."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(None, index=index, dtype=object)

    def flag(self, mask: pd.Series, why: str) -> None:
        mask = mask.fillna(True) if mask.dtype == object else mask
        self.reason.loc[mask & self.reason.isna()] = why

    @property
    def pending(self) -> pd.Series:
        return self.reason.isna()


def _lower(s: pd.Series) -> pd.Series:
    """Each text lowercased (Python's str.lower), once per distinct value: a column holds a
    few capabilities, types or domains in tens of thousands of rows."""
    codes, uniques = pd.factorize(s.astype(object))
    lowered = np.array([v.lower() if isinstance(v, str) else v for v in uniques] + [None], dtype=object)
    return pd.Series(lowered[codes], index=s.index, dtype=object)


# Printable ASCII: what str.isprintable says of an ASCII text, tested by Arrow's regex
# engine for a whole column; only texts with other characters are asked one by one.
_PRINTABLE_ASCII = r"[ -~]*"
# An IPv4 address in canonical form: four decimal octets 0-255 without leading zeros, which
# canonical_ip returns as they are; only other texts go through `ipaddress` one by one.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"


def printable(s: pd.Series) -> pd.Series:
    """Per text, str.isprintable() (False where missing)."""
    text = s.astype(TEXT)
    ok = text.str.fullmatch(_PRINTABLE_ASCII).fillna(False).astype(bool)
    rest = ~ok & text.notna()
    if rest.any():
        ok[rest] = [v.isprintable() for v in text[rest]]
    return ok


def canonical_ips(s: pd.Series) -> pd.Series:
    """Per text, graph.vocabulary.canonical_ip of it (objects; None where missing, empty or
    not an address)."""
    text = s.astype(TEXT).str.strip()
    fast = text.str.fullmatch(_CANONICAL_IPV4).fillna(False).astype(bool).to_numpy()
    out = text.astype(object).where(fast, None)
    rest = ~fast & (text.fillna("") != "").to_numpy()
    if rest.any():
        out[rest] = [canonical_ip(t) for t in text[rest]]
    return out


def _account_rules(out: pd.DataFrame, r: _Reasons, seen: set[str] | None) -> None:
    dup = out["account_id"].duplicated(keep="first")
    if seen is not None:
        ids = out["account_id"].astype(object)
        dup |= ids.map(seen.__contains__).astype(bool)
        seen.update(ids.dropna().tolist())
    r.flag(dup & r.pending, DUPLICATE_ACCOUNT)
    out["created_at"] = epoch_ms(out["created_at"])
    r.flag(out["created_at"].isna(), MALFORMED.format(column="created_at"))
    for col in ("country", "email_domain", "plan"):
        out[col] = _clean_optional(out[col])
    out["email_domain"] = _lower(out["email_domain"])


def _ip_intel_rules(out: pd.DataFrame, r: _Reasons) -> None:
    out["asn"], bad_asn = _asn(out["asn"])
    r.flag(bad_asn, MALFORMED.format(column="asn"))
    for col in ("as_org", "ip_type", "proxy_provider"):
        out[col] = _clean_optional(out[col])
    out["ip_type"] = _lower(out["ip_type"])


def _payment_rules(out: pd.DataFrame, r: _Reasons) -> None:
    out["payment_fingerprint"] = out["payment_fingerprint"].astype(TEXT).str.strip()
    for col in ("method_type", "bin", "issuer_country"):
        out[col] = _clean_optional(out[col])
    out["method_type"] = _lower(out["method_type"])
    first = epoch_ms(out["first_seen"])
    r.flag(~_blank(out["first_seen"]) & first.isna(), MALFORMED.format(column="first_seen"))
    out["first_seen"] = first.astype(object).where(first.notna(), None)


def _template_rules(out: pd.DataFrame, r: _Reasons) -> None:
    h = out["template_hash"].astype(TEXT).str.strip().str.lower()
    r.flag(~h.str.fullmatch(r"[0-9a-f]{16,64}").fillna(False), MALFORMED.format(column="template_hash"))
    out["template_hash"] = h
    out["capability"] = _lower(_clean_optional(out["capability"]))


def _usage_rules(out: pd.DataFrame, r: _Reasons) -> None:
    """requests, first_seen and last_seen of ip_sightings and prompt_templates."""
    num, not_positive, too_large = _requests(out["requests"])
    r.flag(too_large, TOO_LARGE)
    r.flag(not_positive, NON_POSITIVE)
    out["requests"] = num
    first, last = epoch_ms(out["first_seen"]), epoch_ms(out["last_seen"])
    r.flag(first.isna(), MALFORMED.format(column="first_seen"))
    r.flag(last.isna(), MALFORMED.format(column="last_seen"))
    r.flag(first.notna() & last.notna() & (first > last), INVERTED)
    out["first_seen"], out["last_seen"] = first, last


def _columns(kind: str, raw: pd.DataFrame, r: _Reasons) -> pd.DataFrame:
    """The contract's columns of `raw` (absent ones empty), required values checked present."""
    spec = FILES[kind]
    out = pd.DataFrame(index=raw.index)
    for col in spec.columns:
        if col not in raw.columns:
            if col in spec.required:
                r.flag(pd.Series(True, index=raw.index), MISSING.format(column=col))
            out[col] = None
            continue
        if col in spec.required:
            r.flag(_blank(raw[col]), MISSING.format(column=col))
        out[col] = raw[col]
    if "account_id" in spec.required:
        ids = out["account_id"].astype(TEXT).str.strip()
        ok = ids.str.len().between(1, 128) & printable(ids)
        r.flag(~ok.fillna(False), MALFORMED.format(column="account_id"))
        out["account_id"] = ids
    return out


def validate(
    kind: str,
    raw: pd.DataFrame,
    known_accounts: Callable[[list[str]], set[str]] | None = None,
    seen_accounts: set[str] | None = None,
) -> Checked:
    """Split `raw` (text columns as read) into loadable rows and quarantined rows.

    `known_accounts(ids)` returns which of `ids` the graph (or this delivery) knows; it is
    called once per chunk for the files whose rows must name a known account.
    `seen_accounts` (accounts files) holds the ids of the file's earlier chunks, so a
    repeat anywhere in the file is a duplicate; the chunk's ids are added to it.
    The first broken rule is the row's reason.
    """
    spec = FILES[kind]
    r = _Reasons(raw.index)
    out = _columns(kind, raw, r)
    if kind == "accounts":
        _account_rules(out, r, seen_accounts)
    if "ip" in spec.required:
        out["ip"] = canonical_ips(out["ip"])
        r.flag(out["ip"].isna(), BAD_ADDRESS)
    if kind == "ip_intel":
        _ip_intel_rules(out, r)
    if kind == "payment_methods":
        _payment_rules(out, r)
    if kind == "prompt_templates":
        _template_rules(out, r)
    if "last_seen" in spec.required:
        _usage_rules(out, r)
    if known_accounts is not None and "account_id" in spec.required:
        pending = r.pending
        ids = out.loc[pending, "account_id"].dropna().unique().tolist()
        known = known_accounts(ids) if ids else set()
        # (as objects: Arrow text's isin converts the set value by value, in Python)
        r.flag(pending & ~out["account_id"].astype(object).isin(known), UNKNOWN_ACCOUNT)

    bad = r.reason.notna()
    invalid = raw.loc[bad].copy()
    invalid["_reason"] = r.reason[bad]
    valid = out.loc[~bad]
    for col in ("requests", "created_at", "last_seen") + (("first_seen",) if "last_seen" in spec.required else ()):
        if col in valid:
            valid = valid.assign(**{col: valid[col].astype("int64")})
    if kind == "payment_methods":
        # nullable integers: a float column would reach Neo4j as 1.767e12, not a time
        valid = valid.assign(first_seen=pd.to_numeric(valid["first_seen"]).astype("Int64"))
    return Checked(valid=valid, invalid=invalid)
