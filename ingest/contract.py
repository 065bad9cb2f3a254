"""The data contract (../shared/DATA_CONTRACT.md) as code: files, columns, row rules.

`validate(kind, frame, known_accounts)` splits a chunk of rows (all columns read as text)
into the rows to load, cleaned and canonical, and the rows to quarantine with a reason.
It is vectorised with pandas: a chunk of 50,000 rows takes a few tens of milliseconds,
except IP canonicalisation, which goes through `ipaddress` once per distinct address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    """
    text = s.astype(TEXT).str.strip()
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


def validate(
    kind: str, raw: pd.DataFrame, known_accounts: Callable[[list[str]], set[str]] | None = None
) -> Checked:
    """Split `raw` (text columns as read) into loadable rows and quarantined rows.

    `known_accounts(ids)` returns which of `ids` the graph (or this delivery) knows; it is
    called once per chunk for the files whose rows must name a known account.
    The first broken rule is the row's reason.
    """
    spec = FILES[kind]
    reason = pd.Series(None, index=raw.index, dtype=object)

    def flag(mask: pd.Series, why: str) -> None:
        mask = mask.fillna(True) if mask.dtype == object else mask
        reason.loc[mask & reason.isna()] = why

    out = pd.DataFrame(index=raw.index)
    for col in spec.columns:
        if col not in raw.columns:
            if col in spec.required:
                flag(pd.Series(True, index=raw.index), MISSING.format(column=col))
            out[col] = None
            continue
        if col in spec.required:
            flag(_blank(raw[col]), MISSING.format(column=col))
        out[col] = raw[col]

    if "account_id" in spec.required:
        ids = out["account_id"].astype(TEXT).str.strip()
        ok = ids.str.len().between(1, 128) & ids.map(lambda v: isinstance(v, str) and v.isprintable())
        flag(~ok.fillna(False), MALFORMED.format(column="account_id"))
        out["account_id"] = ids
    if kind == "accounts":
        dup = out["account_id"].duplicated(keep="first") & reason.isna()
        flag(dup, DUPLICATE_ACCOUNT)
        out["created_at"] = epoch_ms(raw["created_at"]) if "created_at" in raw else None
        flag(out["created_at"].isna(), MALFORMED.format(column="created_at"))
        for col in ("country", "email_domain", "plan"):
            out[col] = _clean_optional(out[col])
        out["email_domain"] = out["email_domain"].map(lambda v: v.lower() if isinstance(v, str) else v)
    if "ip" in spec.required:
        texts = out["ip"].astype(TEXT).fillna("")
        out["ip"] = texts.map(lambda t: canonical_ip(t) if t else None)
        flag(out["ip"].isna(), BAD_ADDRESS)
    if kind == "ip_intel":
        asn = out["asn"].astype(TEXT).str.strip().str.upper().str.removeprefix("AS")
        asn_num = pd.to_numeric(asn, errors="coerce")
        flag(asn.notna() & (asn != "") & (asn_num.isna() | (asn_num < 0)), MALFORMED.format(column="asn"))
        out["asn"] = asn_num.astype(object).where(asn_num.notna(), None).map(
            lambda v: int(v) if v is not None else None
        )
        for col in ("as_org", "ip_type", "proxy_provider"):
            out[col] = _clean_optional(out[col])
        out["ip_type"] = out["ip_type"].map(lambda v: v.lower() if isinstance(v, str) else v)
    if kind == "payment_methods":
        out["payment_fingerprint"] = out["payment_fingerprint"].astype(TEXT).str.strip()
        for col in ("method_type", "bin", "issuer_country"):
            out[col] = _clean_optional(out[col])
        out["method_type"] = out["method_type"].map(lambda v: v.lower() if isinstance(v, str) else v)
        if "first_seen" in raw.columns:
            first = epoch_ms(raw["first_seen"])
            flag(~_blank(raw["first_seen"]) & first.isna(), MALFORMED.format(column="first_seen"))
            out["first_seen"] = first.astype(object).where(first.notna(), None)
    if kind == "prompt_templates":
        h = out["template_hash"].astype(TEXT).str.strip().str.lower()
        flag(~h.str.fullmatch(r"[0-9a-f]{16,64}").fillna(False), MALFORMED.format(column="template_hash"))
        out["template_hash"] = h
        out["capability"] = _clean_optional(out["capability"])
        out["capability"] = out["capability"].map(lambda v: v.lower() if isinstance(v, str) else v)
    if "requests" in spec.required:
        text = out["requests"].astype(TEXT).str.strip()
        num = pd.to_numeric(text.where(text.str.fullmatch(r"[+-]?\d+").fillna(False)), errors="coerce")
        flag(num.isna() | (num < 1), NON_POSITIVE)
        out["requests"] = num
    if "last_seen" in spec.required:
        first, last = epoch_ms(raw["first_seen"]), epoch_ms(raw["last_seen"])
        flag(first.isna(), MALFORMED.format(column="first_seen"))
        flag(last.isna(), MALFORMED.format(column="last_seen"))
        flag(first.notna() & last.notna() & (first > last), INVERTED)
        out["first_seen"], out["last_seen"] = first, last

    if known_accounts is not None and "account_id" in spec.required:
        pending = reason.isna()
        ids = out.loc[pending, "account_id"].dropna().unique().tolist()
        known = known_accounts(ids) if ids else set()
        flag(pending & ~out["account_id"].isin(known), UNKNOWN_ACCOUNT)

    bad = reason.notna()
    invalid = raw.loc[bad].copy()
    invalid["_reason"] = reason[bad]
    valid = out.loc[~bad]
    for col in ("requests", "created_at", "last_seen") + (("first_seen",) if "last_seen" in spec.required else ()):
        if col in valid:
            valid = valid.assign(**{col: valid[col].astype("int64")})
    if kind == "payment_methods":
        # nullable integers: a float column would reach Neo4j as 1.767e12, not a time
        valid = valid.assign(first_seen=pd.to_numeric(valid["first_seen"]).astype("Int64"))
    return Checked(valid=valid, invalid=invalid)
