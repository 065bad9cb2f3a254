r"""Prompt-template hashing: raw request logs -> `ip_sightings` and `prompt_templates`.

A template hash names a prompt with its variable slots masked, so two prompts built from
the same template (different numbers, names, pasted code, links...) get the same hash
and the raw text never has to leave the serving logs. A partner lab that follows
`NORMALISATION_SPEC` (the same steps as markdown, with test vectors) computes the same
hashes.

Normalisation of a prompt, in this exact order. Steps 1-6 each replace every
non-overlapping match (leftmost first) of a Python `re` pattern with a literal token;
`\w`, `\d`, `\s`, `\b` are Unicode-aware, `\Z` is the end of the text:

    1 code    -> <code>   ```[\s\S]*?(?:```|\Z)
    2 url     -> <url>    (?:\b(?:https?|ftp)://|\bwww\.)[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}]   (ignore case)
    3 email   -> <email>  [\w.%+-]+@[\w-]+(?:\.[\w-]+)+
    4 quoted  -> <str>    "[^"]*"|“[^”]*”|(?<!\w)'[^'\n]*'(?!\w)|(?<!\w)‘[^’\n]*’(?!\w)
    5 id      -> <id>     UUID|LONG, where (T stands for the class body A-Za-z0-9_+/=\-)
                  UUID = \b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b
                  LONG = (?<![T])(?=[T]{12,}(?![T]))(?:[T]*[0-9][T]*|[0-9A-Fa-f]+)(?![T])
    6 num     -> <num>
        (?:(?<![\w)\]])[+\-−])?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][+\-]?\d+)?|\.\d+)
    7 Unicode NFKC
    8 str.casefold()
    9 every whitespace run (\s+) -> one space; strip

In words: an unclosed code fence runs to the end; trailing punctuation is not part of a
URL; double and curly quotes may span lines, single quotes may not and must not touch a
word on the outside (so apostrophes are not quotes); an id is a UUID or a token of 12+
characters of [A-Za-z0-9_+/=-] that holds a digit or is all hex (keys, hashes, base64,
order numbers, long digit runs); a number takes a sign only when not glued to a word,
may have comma thousands groups, decimals, an exponent, and digits inside words count
(`gpt4` -> `gpt<num>`). The hash is SHA-256 of the UTF-8 bytes of the result; its first
16 bytes in lower-case hex (32 characters).

Steps 3 and 4 applied literally take time quadratic in the prompt's length (a long word
without '@', unclosed curly quotes: 1 MB would take hours); `normalise_prompt` finds the
same matches in linear time (see "Linear time" below and in the spec), so the hash is the
published one for every prompt.

`hash_prompt_log` reads a request log (CSV or JSON lines, optionally gzip'd) in chunks of
`CHUNK_ROWS` rows, hashes each distinct prompt of a chunk once, and aggregates per account
and address and per account and template. Cost: O(rows) time, dominated by the regexes
(about 10-20 µs per distinct prompt); memory O(chunk + distinct pairs). Nothing of the
prompt text is written: only its hash.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ingest.contract import canonical_ips, printable
from ingest.files import FORMATS, TableSink, iso_utc

CHUNK_ROWS = 100_000

_TOKEN = r"A-Za-z0-9_+/=\-"

# (name, pattern, replacement, flags) in the order they are applied
MASKS: list[tuple[str, str, str, int]] = [
    ("code", r"""```[\s\S]*?(?:```|\Z)""", "<code>", 0),
    ("url", r"""(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}]""", "<url>", re.IGNORECASE),
    ("email", r"""[\w.%+-]+@[\w-]+(?:\.[\w-]+)+""", "<email>", 0),
    ("quoted", r""""[^"]*"|“[^”]*”|(?<!\w)'[^'\n]*'(?!\w)|(?<!\w)‘[^’\n]*’(?!\w)""", "<str>", 0),
    (
        "id",
        r"""\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b"""
        rf"""|(?<![{_TOKEN}])(?=[{_TOKEN}]{{12,}}(?![{_TOKEN}]))"""
        rf"""(?:[{_TOKEN}]*[0-9][{_TOKEN}]*|[0-9A-Fa-f]+)(?![{_TOKEN}])""",
        "<id>",
        0,
    ),
    (
        "num",
        r"""(?:(?<![\w)\]])[+\-−])?"""
        r"""(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][+\-]?\d+)?|\.\d+)""",
        "<num>",
        0,
    ),
]
# ---------------------------------------------------------------------------------------
# Linear time. Applied literally by a backtracking engine (Python's re, PCRE, Java...), two
# of the patterns above take time quadratic in the prompt's length: `email`, whose local
# part is retried from every character of a long run of [\w.%+-] without an '@', and the
# curly quotes of `quoted`, retried from every opening quote that is never closed (a 1 MB
# prompt: hours). The steps below find exactly the same matches in linear time, so the
# published hash is unchanged; tests compare them with the literal patterns on hundreds of
# thousands of adversarial strings. They also let the engine skip to the characters a match
# can start with, which the published patterns (opening with a lookbehind or \b) hide.

_PATTERNS = {name: pattern for name, pattern, _, _ in MASKS}
_URL = re.compile(r"(?=[hfw])" + _PATTERNS["url"], re.IGNORECASE)  # a match opens with http, ftp or www
_ID = re.compile(rf"(?=[{_TOKEN}])(?:{_PATTERNS['id']})")  # a UUID's hex digits are token characters
_NUM = re.compile(r"(?=[+\-−\d.])" + _PATTERNS["num"])  # a sign, a digit or a point
# The same alternatives, each opening with its quote: (?<!\w)' is '(?<!\w'), so the engine
# can skip to the quotes.
_QUOTED = re.compile(r""""[^"]*"|“[^”]*”|'(?<!\w')[^'\n]*'(?!\w)|‘(?<!\w‘)[^’\n]*’(?!\w)""")

# A match starts at the start of a run of local-part characters (every later start in the
# run ends at the same '@' and the same domain, so the leftmost wins), or where the
# previous match ended. So every match begins a chain of back-to-back matches that starts
# at a run start: find the chains (each match atomic: the literal pattern never revisits a
# match it found) and write one <email> per '@' in it (each match holds exactly one).
_EMAIL_CHAINS = re.compile(rf"(?<![\w.%+-])(?>{_PATTERNS['email']})+")

# An opening ‘ can only match if the first ’ or line end after it is a ’ not followed by a
# word character; in a stretch between two such stops whose stop is not that, every ‘
# fails, and the literal pattern rescans the stretch from each of them. Stretches of at
# least 16 characters holding two or more ‘ are found (each scanned once from its start)
# and their ‘ hidden from the pattern; in shorter ones the rescans cost at most 16 steps
# a character.
_DOOMED_SINGLE = re.compile(r"(?<![^’\n])(?=[^’\n]{16})[^’\n‘]*+‘[^’\n‘]*+‘[^’\n]*+(?=\n|’\w|\Z)")
_HIDDEN = "\x00"  # stands in for a hidden opening quote: no alternative starts or stops at
# it, and like a quote it is not a word character


def _mask_emails(text: str) -> str:
    if "@" not in text:
        return text
    return _EMAIL_CHAINS.sub(lambda m: "<email>" * m.group().count("@"), text)


def _mask_quoted(text: str) -> str:
    """`quoted` with the openings that cannot match hidden: a “ after the last ” (no closing
    quote follows it) and the ‘ of doomed stretches. Hiding never changes a match, since
    only the hidden positions would have started one; the text between matches is taken
    from the original."""
    marked = text
    if "“" in text:
        last = text.rfind("”")
        if "“" in text[last + 1 :]:
            marked = text[: last + 1] + text[last + 1 :].replace("“", _HIDDEN)
    if marked.count("‘") > 1:
        marked = _DOOMED_SINGLE.sub(lambda m: m.group().replace("‘", _HIDDEN), marked)
    if marked is text:
        return _QUOTED.sub("<str>", text)
    out, pos = [], 0
    for m in _QUOTED.finditer(marked):
        out += (text[pos : m.start()], "<str>")
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


_STEPS = {
    "code": functools.partial(re.compile(_PATTERNS["code"]).sub, "<code>"),
    "url": functools.partial(_URL.sub, "<url>"),
    "email": _mask_emails,
    "quoted": _mask_quoted,
    "id": functools.partial(_ID.sub, "<id>"),
    "num": functools.partial(_NUM.sub, "<num>"),
}


def normalise_prompt(text: str) -> str:
    """The prompt with its variable slots masked, NFKC-normalised, case-folded and with
    whitespace collapsed (see the module docstring). O(len(text)): a 1 MB prompt built to
    make the patterns backtrack takes well under a second (bench/prompt_hash.py)."""
    for name, _, _, _ in MASKS:
        text = _STEPS[name](text)
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split())  # str.split() splits on the whitespace runs \s+ matches


def template_hash(text: str) -> str:
    """32 lower-case hex characters: the first 16 bytes of SHA-256 of the normalised prompt."""
    return hashlib.sha256(normalise_prompt(text).encode("utf-8")).hexdigest()[:32]


_EXAMPLES = [
    'Summarise this article in 3 bullet points: "Markets rallied 2.5% on Monday" '
    "(source: https://news.example.com/a?id=7)",
    "Write a Python function that returns the 10th Fibonacci number.\n```python\ndef fib(n): ...\n```",
    # the cases a linear implementation must get right (see "Linear time")
    "Mail a@b.io%c@d.io and ‘Bob‘s’ plan: “one “two” three “four",
]


def _spec() -> str:
    steps = "\n".join(
        f"{i}. `{name}`: replace every match with `{repl}`"
        + (" (case-insensitive)" if flags else "")
        + f"\n\n   ~~~\n   {pat}\n   ~~~\n"
        for i, (name, pat, repl, flags) in enumerate(MASKS, 1)
    )
    examples = "\n".join(f"~~~\n{ex!r}\n{normalise_prompt(ex)!r}\n{template_hash(ex)}\n~~~" for ex in _EXAMPLES)
    return f"""## Prompt-template hash (ringwatch v1)

The hash is computed from the prompt text (a sequence of Unicode code points) in these
steps, in this order. Steps 1-6 replace every non-overlapping match, leftmost first, of a
Python `re` pattern with a literal token (Unicode semantics: `\\w`, `\\d`, `\\s`, `\\b` match
Unicode word characters, digits and spaces; `\\Z` is the end of the text).

{steps}
7. Unicode normalisation form NFKC.
8. Full case folding (Python `str.casefold()`).
9. Every run of whitespace (`\\s+`) becomes one space; leading and trailing spaces are removed.

The hash is SHA-256 over the UTF-8 bytes of the result, truncated to its first 16 bytes,
written as 32 lower-case hexadecimal characters.

Test vectors (Python literals: prompt, normalised text, hash):

{examples}

### Linear time

Steps 3 and 4, applied literally by a backtracking engine (Python `re`, PCRE, Java, .NET),
take time quadratic in the prompt's length: step 3 retries its local part from every
character of a long run of `[\\w.%+-]` that holds no `@`, and step 4 retries every opening
`“` that is never closed and every `‘` that cannot close. Prompts are written by whoever
sends them, so find the same matches this way (the hash does not change):

- Step 3: a match starts only at the first character of a maximal run of `[\\w.%+-]`, or
  exactly where the previous match ended. Match each chain of back-to-back matches that
  starts at a run start, `(?<![\\w.%+-])(?>E)+` where `E` is the step's pattern, and replace
  it with one `<email>` per `@` in it (each match holds exactly one).
- Step 4: a `“` after the last `”` of the text never opens a match, nor does a `‘` when the
  first `’` or line end after it is a line end, the end of the text, or a `’` followed by a
  word character. Treat those as plain characters, match the pattern, and copy the text
  between matches from the prompt.

ringwatch's implementation (`ingest/prompts.py`) hashes a 1 MB prompt of any shape in well
under a second and is tested against the literal patterns.
"""


NORMALISATION_SPEC: str = _spec()

# ---------------------------------------------------------------------------------------
# request logs -> contract files

_REQUIRED = ("account_id", "ts", "prompt")


def _read_chunks(path: Path):
    """Chunks of the log as all-text DataFrames; format by extension (.csv, .jsonl, .ndjson,
    .json, each optionally .gz)."""
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS)
    elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")):
        for chunk in pd.read_json(path, lines=True, dtype=False, chunksize=CHUNK_ROWS, convert_dates=False):
            yield chunk.astype(object).where(chunk.notna(), "").astype(str)
    else:
        raise ValueError(f"{path.name}: request log must be .csv or .jsonl (optionally .gz)")


_TIME_PART = re.compile(r"[T ]\d")
_ZONED = r"[T ]\d[^Zz+-]*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


def _parse_ts(values: pd.Series) -> pd.Series:
    """UTC timestamps of ISO-8601 texts (NaT when unparsable). A time without a zone is UTC
    and a bare date is its midnight UTC: both get an explicit `Z` first, because pandas
    would otherwise lend a naive value the offset of a zoned value parsed before it."""
    s = values.str.strip()
    timed = s.str.contains(_TIME_PART, regex=True)
    zoned = s.str.contains(_ZONED, regex=True)
    s = s.where(zoned | (s == ""), s + np.where(timed, "Z", "T00:00:00Z"))
    return pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")


def _printable_id(s: pd.Series) -> pd.Series:
    return (s.str.len() <= 128) & printable(s)


def hash_prompt_log(log_path: Path, out_dir: Path, fmt: str = "csv") -> dict:
    """Aggregate a raw request log into `ip_sightings` and `prompt_templates` files of the
    data contract in `out_dir` (extension per fmt: csv, csv.gz, parquet).

    The log has columns account_id, ts (ISO-8601; no zone means UTC), ip, prompt and
    optionally capability. A row without account_id, ts or prompt, with an unparsable ts
    or an account id that is not 1..128 printable characters is skipped; a row with a
    missing or invalid ip still counts for its template but adds no sighting. A template
    row's capability is the most common non-empty capability of its requests (ties: the
    alphabetically first). Returns counts: rows, skipped, no_ip, ip_sightings,
    prompt_templates. Cost: O(rows); memory O(chunk + distinct pairs)."""
    log_path, out_dir = Path(log_path), Path(out_dir)
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {sorted(FORMATS)}, not {fmt!r}")
    counts = {"rows": 0, "skipped": 0, "no_ip": 0}
    ip_parts: list[pd.DataFrame] = []
    tpl_parts: list[pd.DataFrame] = []
    for chunk in _read_chunks(log_path):
        counts["rows"] += len(chunk)
        for col in _REQUIRED:
            if col not in chunk.columns:
                raise ValueError(f"{log_path.name}: request log has no column {col!r}")
        if "ip" not in chunk.columns:
            chunk["ip"] = ""
        if "capability" not in chunk.columns:
            chunk["capability"] = ""
        acct = chunk["account_id"].str.strip()
        ts = _parse_ts(chunk["ts"])
        ok = (acct != "") & _printable_id(acct) & ts.notna() & (chunk["prompt"].str.strip() != "")
        counts["skipped"] += int((~ok).sum())
        secs = (ts[ok] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        df = pd.DataFrame(
            {
                "account_id": acct[ok],
                "secs": secs.astype(np.int64),
                # the contract's rule for addresses, so ingest keeps them as they are
                "ip": canonical_ips(chunk["ip"][ok]).fillna(""),
                "capability": chunk["capability"][ok].str.strip(),
                "prompt": chunk["prompt"][ok],
            }
        )
        # each distinct prompt of the chunk is normalised once
        uniq = df["prompt"].unique()
        df["template_hash"] = df["prompt"].map(dict(zip(uniq, map(template_hash, uniq), strict=True)))
        df = df.drop(columns="prompt")
        has_ip = df["ip"] != ""
        counts["no_ip"] += int((~has_ip).sum())
        ip_parts.append(
            df[has_ip]
            .groupby(["account_id", "ip"], sort=False)["secs"]
            .agg(first="min", last="max", requests="size")
            .reset_index()
        )
        tpl_parts.append(
            df.groupby(["account_id", "template_hash", "capability"], sort=False)["secs"]
            .agg(first="min", last="max", requests="size")
            .reset_index()
        )
        # fold the partial aggregates now and then so memory follows distinct pairs, not rows
        if len(ip_parts) >= 16:
            ip_parts = [_fold(ip_parts, ["account_id", "ip"])]
            tpl_parts = [_fold(tpl_parts, ["account_id", "template_hash", "capability"])]

    ips = _fold(ip_parts, ["account_id", "ip"])
    tpl = _fold(tpl_parts, ["account_id", "template_hash", "capability"])
    # capability: most requests among the non-empty ones, then alphabetical
    cap = tpl[tpl["capability"] != ""].sort_values(
        ["account_id", "template_hash", "requests", "capability"], ascending=[True, True, False, True]
    )
    key = ["account_id", "template_hash"]
    cap = cap.drop_duplicates(key).set_index(key)["capability"]
    tpl = _fold([tpl.drop(columns="capability")], ["account_id", "template_hash"])
    tpl["capability"] = cap.reindex(pd.MultiIndex.from_frame(tpl[["account_id", "template_hash"]])).to_numpy()

    ext = FORMATS[fmt]
    out_dir.mkdir(parents=True, exist_ok=True)
    sink = TableSink(out_dir / f"ip_sightings{ext}", "ip_sightings", fmt)
    try:
        sink.write(
            pa.table(
                {
                    "account_id": pa.array(ips["account_id"], pa.string()),
                    "ip": pa.array(ips["ip"], pa.string()),
                    "first_seen": iso_utc(ips["first"].to_numpy()),
                    "last_seen": iso_utc(ips["last"].to_numpy()),
                    "requests": pa.array(ips["requests"].to_numpy(np.int64)),
                }
            )
        )
    finally:
        sink.close()
    counts["ip_sightings"] = sink.rows
    sink = TableSink(out_dir / f"prompt_templates{ext}", "prompt_templates", fmt)
    try:
        cap_values = tpl["capability"].where(tpl["capability"].notna(), None)
        sink.write(
            pa.table(
                {
                    "account_id": pa.array(tpl["account_id"], pa.string()),
                    "template_hash": pa.array(tpl["template_hash"], pa.string()),
                    "requests": pa.array(tpl["requests"].to_numpy(np.int64)),
                    "first_seen": iso_utc(tpl["first"].to_numpy()),
                    "last_seen": iso_utc(tpl["last"].to_numpy()),
                    "capability": pa.array(cap_values, pa.string(), from_pandas=True),
                }
            )
        )
    finally:
        sink.close()
    counts["prompt_templates"] = sink.rows
    return counts


def _fold(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Merge partial aggregates: requests add, first is the min, last the max; rows sorted
    by key so the output does not depend on chunking."""
    if not parts:
        return pd.DataFrame(
            {
                **{k: pd.Series(dtype=str) for k in keys},
                "first": pd.Series(dtype=np.int64),
                "last": pd.Series(dtype=np.int64),
                "requests": pd.Series(dtype=np.int64),
            }
        )
    df = pd.concat(parts, ignore_index=True)
    return (
        df.groupby(keys, sort=True)
        .agg(first=("first", "min"), last=("last", "max"), requests=("requests", "sum"))
        .reset_index()
    )
