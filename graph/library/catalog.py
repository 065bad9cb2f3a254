"""The query library: named, documented Cypher files in `queries/`, and how to run them safely.

Each `queries/NAME.cypher` is one Cypher statement that opens with a header of `//`
comment lines. The header ends at the first line that is not a `//` comment; the whole
file (header included, comments are valid Cypher) is what the database runs.

    // @name: ring-members
    // Members of one ring with the evidence that put each of them there.
    // Free lines without a tag are the description (the first one is the summary).
    // @param ring_id: string                    -- the ring, e.g. R-000042
    // @param since: date = 2026-01-01          -- optional help after " -- "
    // @param statuses: list = ["blocked"]
    // @returns: account_id, created_at, evidence
    // @writes: false

Tags:
  @name      the query's name; must equal the file's stem.
  @param     `NAME: TYPE [= DEFAULT] [-- HELP]`. A parameter without a default is required.
             TYPE is int, float, bool, string, date, datetime or list. The default is
             written as on the command line (see `coerce`); `null` means no value.
  @returns   the columns the query returns, in order.
  @writes    true when the query changes the graph (it then needs `--write`).

Values given as text (`--param k=v`) are converted by the declared type:
  int, float    Python literals (`5`, `0.5`)
  bool          true/false, yes/no, on/off, 1/0
  date          ISO date `2026-01-01` -> neo4j.time.Date
  datetime      ISO-8601 `2026-01-01T10:00:00Z` (no zone = UTC) -> neo4j.time.DateTime
  list          JSON (`["a", 2]`) or comma-separated strings (`blocked,confirmed`)
  string        as given
  `null` (of any type) is no value.

Parameters are always sent as Cypher parameters, never spliced into the text.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

import neo4j
import neo4j.graph
import neo4j.spatial
import neo4j.time

from graph.library.cells import neutralise

QUERY_DIR = Path(str(resources.files("queries")))  # shipped as package data
SUFFIX = ".cypher"
TYPES = ("int", "float", "bool", "string", "date", "datetime", "list")
WRITE_QUERY_TYPES = ("w", "rw", "s")  # ResultSummary.query_type of a statement that writes

_TAG = re.compile(r"^@(?P<tag>[a-z_]+)\s*:?\s*(?P<rest>.*)$")
_PARAM = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<type>[a-z]+)"
    r"(?:\s*=\s*(?P<default>.*?))?(?:\s+--\s+(?P<help>.*))?$"
)
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class LibraryError(ValueError):
    """A bad query file, name or parameter; the message is one line for the user."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any = None
    required: bool = True
    help: str = ""
    default_text: str | None = None

    def signature(self) -> str:
        if self.required:
            return f"{self.name}: {self.type}"
        return f"{self.name}: {self.type} = {self.default_text}"


@dataclass
class Query:
    name: str
    text: str
    description: str = ""
    params: dict[str, Param] = field(default_factory=dict)
    returns: list[str] = field(default_factory=list)
    writes: bool = False
    path: Path | None = None

    @property
    def summary(self) -> str:
        """The first sentence of the description."""
        text = " ".join(self.description.split())
        m = re.match(r"(.+?\.)(?:\s|$)", text)
        return m.group(1) if m else text


# ---------------------------------------------------------------------------------------
# header and files


def header_lines(text: str) -> list[str]:
    """The leading `//` comment lines of `text`, without the slashes (blank lines skipped)."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("//"):
            break
        out.append(stripped[2:].strip())
    return out


def parse_header(text: str, source: str = "query") -> dict[str, Any]:
    """name, description, params, returns, writes from a query's header comment."""
    name = None
    description: list[str] = []
    params: dict[str, Param] = {}
    returns: list[str] = []
    writes = False
    for line in header_lines(text):
        m = _TAG.match(line)
        if not m:
            if line:
                description.append(line)
            continue
        tag, rest = m["tag"], m["rest"].strip()
        if tag == "name":
            name = rest
        elif tag == "param":
            param = parse_param(rest, source)
            if param.name in params:
                raise LibraryError(f"{source}: parameter {param.name!r} declared twice")
            params[param.name] = param
        elif tag == "returns":
            returns = [c.strip() for c in rest.split(",") if c.strip()]
        elif tag == "writes":
            writes = _bool(rest, f"{source}: @writes")
        elif tag == "description":
            description.append(rest)
        else:
            raise LibraryError(f"{source}: unknown header tag @{tag}")
    return {"name": name, "description": "\n".join(description), "params": params, "returns": returns, "writes": writes}


def parse_param(spec: str, source: str = "query") -> Param:
    """One `@param NAME: TYPE [= DEFAULT] [-- HELP]` line as a Param."""
    m = _PARAM.match(spec.strip())
    if not m:
        raise LibraryError(f"{source}: cannot read @param {spec!r} (want NAME: TYPE [= DEFAULT] [-- HELP])")
    type_ = m["type"]
    if type_ not in TYPES:
        raise LibraryError(f"{source}: parameter {m['name']!r} has unknown type {type_!r} (one of {', '.join(TYPES)})")
    default_text = m["default"]
    if default_text is None:
        return Param(m["name"], type_, None, True, (m["help"] or "").strip())
    default = coerce(default_text.strip(), type_, f"{source}: default of {m['name']}")
    return Param(m["name"], type_, default, False, (m["help"] or "").strip(), default_text.strip())


def parse(text: str, name: str | None = None, path: Path | None = None) -> Query:
    """A Query from the text of a query file (its header may be absent)."""
    source = str(path or name or "query")
    head = parse_header(text, source)
    if name and head["name"] and head["name"] != name:
        raise LibraryError(f"{source}: @name {head['name']!r} differs from the file name {name!r}")
    body = text.rstrip()
    if body.endswith(";"):
        body = body[:-1].rstrip()
    if not _strip_comments(body).strip():
        raise LibraryError(f"{source}: holds no Cypher statement")
    return Query(
        name=head["name"] or name or (path.stem if path else "query"),
        text=body,
        description=head["description"],
        params=head["params"],
        returns=head["returns"],
        writes=head["writes"],
        path=path,
    )


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))


def library_dir() -> Path:
    """The folder the library's .cypher files are read from."""
    return QUERY_DIR


def names(directory: Path | None = None) -> list[str]:
    """The library's query names, sorted."""
    d = directory or library_dir()
    return sorted(p.stem for p in d.glob(f"*{SUFFIX}"))


def load(name: str, directory: Path | None = None) -> Query:
    """The library query `name` (the stem of queries/NAME.cypher)."""
    d = directory or library_dir()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise LibraryError(f"no query named {name!r} in the library (see `ringwatch query list`)")
    path = d / f"{name}{SUFFIX}"
    if not path.is_file():
        raise LibraryError(f"no query named {name!r} in the library (see `ringwatch query list`)")
    return parse(path.read_text(encoding="utf-8"), name=name, path=path)


def load_file(path: Path) -> Query:
    """An ad-hoc query file; its header, when present, declares its parameters."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise LibraryError(f"{path} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise LibraryError(f"cannot read {path}: {e}") from e
    return parse(text, path=path)


def list_queries(directory: Path | None = None) -> list[Query]:
    """Every query of the library, parsed."""
    return [load(n, directory) for n in names(directory)]


# ---------------------------------------------------------------------------------------
# parameters


def _bool(text: str, what: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise LibraryError(f"{what}: {text!r} is not a boolean (true/false)")


def _datetime(text: str) -> dt.datetime:
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(t)
    if value.tzinfo is None:  # the data contract: a time with no zone is UTC
        value = value.replace(tzinfo=dt.UTC)
    return value


def _float(text: str) -> float:
    number = float(text)
    if math.isnan(number):
        raise ValueError("nan")
    return number


def _date(text: str) -> neo4j.time.Date:
    if "T" in text or " " in text:
        return neo4j.time.Date.from_native(_datetime(text).date())
    return neo4j.time.Date.from_native(dt.date.fromisoformat(text))


def _list(text: str) -> list:
    if text.startswith(("[", "{")):
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("not a list")
        return items
    return [part.strip() for part in text.split(",") if part.strip()]


# type -> how its text becomes a value (ValueError when it does not)
_FROM_TEXT = {
    "int": int,
    "float": _float,
    "date": _date,
    "datetime": lambda text: neo4j.time.DateTime.from_native(_datetime(text)),
    "list": _list,
}


def _native(value: Any, type_: str) -> Any:
    """A value that is not text: dates and datetimes become neo4j.time values, the rest passes."""
    if type_ == "datetime" and isinstance(value, dt.datetime):
        return neo4j.time.DateTime.from_native(value if value.tzinfo else value.replace(tzinfo=dt.UTC))
    if type_ == "date" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return neo4j.time.Date.from_native(value)
    return value


def coerce(value: Any, type_: str, what: str = "value") -> Any:
    """`value` as the Python value the driver sends for a parameter of `type_`.

    Text is converted (see the module docstring); values that are not text pass through,
    except dates and datetimes, which become neo4j.time values.
    """
    if type_ not in TYPES:
        raise LibraryError(f"{what}: unknown type {type_!r} (one of {', '.join(TYPES)})")
    if value is None:
        return None
    if not isinstance(value, str):
        return _native(value, type_)
    if value.strip() == "null":
        return None
    if type_ == "string":
        return value
    if type_ == "bool":
        return _bool(value.strip(), what)
    try:
        return _FROM_TEXT[type_](value.strip())
    except (ValueError, json.JSONDecodeError) as e:
        raise LibraryError(f"{what}: {value!r} is not a valid {type_}") from e


def parse_assignment(text: str) -> tuple[str, str | None, str]:
    """`name=value` or `name:type=value` -> (name, type or None, value text)."""
    if "=" not in text:
        raise LibraryError(f"--param {text!r}: write it as NAME=VALUE")
    key, value = text.split("=", 1)
    key = key.strip()
    type_ = None
    if ":" in key:
        key, type_ = (s.strip() for s in key.split(":", 1))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise LibraryError(f"--param {text!r}: {key!r} is not a parameter name")
    return key, type_, value


def bind(
    query: Query, assignments: Iterable[str] = (), values: dict[str, Any] | None = None, strict: bool | None = None
) -> dict[str, Any]:
    """The parameters to send: declared defaults, overridden by `--param` texts and `values`.

    Declared parameters are converted by their declared type; undeclared ones (allowed
    only when `strict` is false; by default, when the query declares none) are strings,
    or of the type written as `name:type=value`. A required parameter left without a
    value is an error.
    """
    strict = bool(query.params) if strict is None else strict
    params: dict[str, Any] = {name: p.default for name, p in query.params.items() if not p.required}
    given: dict[str, tuple[str | None, Any]] = {}
    for text in assignments:
        key, type_, value = parse_assignment(text)
        given[key] = (type_, value)
    for key, value in (values or {}).items():
        given[key] = (None, value)
    for key, (type_, value) in given.items():
        declared = query.params.get(key)
        if declared is None and strict:
            known = ", ".join(query.params) or "none"
            raise LibraryError(f"query {query.name} has no parameter {key!r} (it takes: {known})")
        if declared is not None and type_ and type_ != declared.type:
            raise LibraryError(f"parameter {key!r} is declared {declared.type}, not {type_}")
        params[key] = coerce(value, declared.type if declared else (type_ or "string"), f"parameter {key}")
    missing = [p.name for p in query.params.values() if p.required and p.name not in given]
    if missing:
        raise LibraryError(f"query {query.name} needs " + ", ".join(f"--param {m}=..." for m in missing))
    return params


# ---------------------------------------------------------------------------------------
# running


class WritesError(LibraryError):
    """The query writes and the caller did not allow writing."""

    def __init__(self, reason: str = "this query writes") -> None:
        super().__init__(f"{reason}; rerun with --write if you mean it")


# What a query may not do without --write, whatever the planner says: read files or URLs
# (LOAD CSV), run DBMS procedures, or call procedures outside the read-only ones below.
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_LOAD_CSV = re.compile(r"\bLOAD\s+CSV\b", re.I)
_CALLS = re.compile(r"\bCALL\s+([A-Za-z_][\w.]*)\s*\(", re.I)
_DBMS = re.compile(r"\bdbms\s*\.", re.I)
READ_ONLY_PROCEDURE = re.compile(
    r"^(db\.(labels|relationshipTypes|propertyKeys|schema\.\w+|indexes|constraints|awaitIndexes|info|ping)"
    r"|gds\.(version|list|graph\.list|[\w.]+\.(stream|estimate)))$",
    re.I,
)


def outside_reach(text: str) -> str | None:
    """Why this statement needs --write even if it only reads the graph, or None.

    Comments and string literals are ignored (a template hash may contain anything).
    """
    code = _STRINGS.sub("''", _COMMENTS.sub(" ", text))
    if _LOAD_CSV.search(code):
        return "LOAD CSV reads files or URLs outside the graph"
    if _DBMS.search(code):
        return "dbms.* procedures administer the server"
    for name in _CALLS.findall(code):
        if not READ_ONLY_PROCEDURE.match(name):
            return f"procedure {name} is not on the read-only list"
    return None


def query_type(s: neo4j.Session, query: Query, params: dict[str, Any]) -> str:
    """'r', 'rw', 'w' or 's' (schema), as the planner sees the statement (EXPLAIN, nothing runs)."""
    return s.run("EXPLAIN " + query.text, params).consume().query_type


def stream(
    s: neo4j.Session, query: Query, params: dict[str, Any], allow_write: bool = False
) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """(column names, rows as plain Python dicts), rows fetched lazily from the server.

    Refuses a query that writes unless `allow_write` (the session should then be a write
    session; a read session rejects writes anyway, which is reported the same way).
    """
    if not allow_write:
        reason = outside_reach(query.text)
        if reason:
            raise WritesError(reason)
    if (query.writes or query_type(s, query, params) in WRITE_QUERY_TYPES) and not allow_write:
        raise WritesError()
    try:
        result = s.run(query.text, params)
        keys = list(result.keys())
    except neo4j.exceptions.ClientError as e:
        if e.code == "Neo.ClientError.Statement.AccessMode":
            raise WritesError() from e
        raise

    def rows() -> Iterator[dict[str, Any]]:
        try:
            for record in result:
                yield {k: to_plain(v) for k, v in zip(keys, record.values(), strict=True)}
        except neo4j.exceptions.ClientError as e:
            if e.code == "Neo.ClientError.Statement.AccessMode":
                raise WritesError() from e
            raise

    return keys, rows()


def _plain_time(value: Any) -> Any:
    """ISO-8601 text of a temporal value, or None if `value` is not one."""
    if isinstance(value, neo4j.time.DateTime):
        return _iso(value.to_native()) if value.tzinfo is not None else value.iso_format()
    if isinstance(value, neo4j.time.Date | neo4j.time.Time | neo4j.time.Duration):
        return value.iso_format()
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return None


def _plain_graph(value: Any) -> Any:
    """A dict for a node, relationship, path or point, or None if `value` is none of them."""
    if isinstance(value, neo4j.graph.Node):
        return {"_id": value.element_id, "_labels": sorted(value.labels), **{k: to_plain(v) for k, v in value.items()}}
    if isinstance(value, neo4j.graph.Relationship):
        return {
            "_id": value.element_id,
            "_type": value.type,
            "_start": value.start_node.element_id if value.start_node else None,
            "_end": value.end_node.element_id if value.end_node else None,
            **{k: to_plain(v) for k, v in value.items()},
        }
    if isinstance(value, neo4j.graph.Path):
        return {
            "nodes": [to_plain(n) for n in value.nodes],
            "relationships": [to_plain(r) for r in value.relationships],
        }
    if isinstance(value, neo4j.spatial.Point):
        out = {"srid": value.srid, "x": value.x, "y": value.y}
        if len(value) > 2:
            out["z"] = value.z
        return out
    return None


def to_plain(value: Any) -> Any:
    """A JSON-friendly Python value for anything the driver returns.

    Temporal values become ISO-8601 text (UTC as `...Z`, microseconds), durations ISO-8601 durations, nodes
    `{"_id", "_labels", **properties}`, relationships `{"_type", "_start", "_end", **properties}`,
    paths `{"nodes": [...], "relationships": [...]}`, points `{"srid", "x", "y"[, "z"]}`,
    bytes hex text; lists and maps recursively.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    for convert in (_plain_time, _plain_graph):
        out = convert(value)
        if out is not None:
            return out
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return str(value)


def _iso(value: dt.datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def cell(value: Any) -> str:
    """One CSV cell: text never run as a formula; lists and maps as JSON; null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)  # a number (-1 included) is not a formula
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)  # starts with [ or {
    return neutralise(str(value))


def write_csv(keys: list[str], rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Stream rows as CSV (header first); returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow([cell(k) for k in keys])
    n = 0
    for row in rows:
        writer.writerow([cell(row[k]) for k in keys])
        n += 1
    return n


def write_json(keys: list[str], rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Stream rows as one JSON list of objects, a row per line; returns the number of rows."""
    out.write("[")
    n = 0
    for row in rows:
        out.write(",\n" if n else "\n")
        out.write(json.dumps(row, ensure_ascii=False, default=str))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n
