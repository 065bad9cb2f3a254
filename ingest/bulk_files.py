"""The files a bulk first load hands to Neo4j's offline importer.

The validated rows of a delivery (ingest.contract.validate's `valid` frames, in load order:
files of a kind in name order, rows in file order) are folded the way the online writes
(ingest.writes.WRITE) fold them one row after the other, so both paths build the same graph:

- one node per key and one relationship per pair (MERGE online; one row per key here);
- `USED_IP/USED_TEMPLATE.requests` add up (sum);
- `first_seen` keeps the earliest, `last_seen` the latest (min and max of the non-empty);
- attributes (`Account.country`, `IP.asn`, `ASN.org`, `PaymentMethod.bin`,
  `PromptTemplate.capability`, `PAID_WITH.method_type`, ...) take the newest non-empty value
  (`coalesce(new, old)` online; pandas' `last()`, which skips empty values, here), and
  `Account.created_at`, always given, the last delivered one;
- `IN_ASN` and `EXIT_OF` are the distinct pairs; an IP that only ip_sightings names is a node
  without attributes.

Each label and relationship type gets one CSV in the importer's header format
(`:ID(Account)`, `id`, `:START_ID(Account)`, `requests:long`, `first_seen:datetime`, ...),
written by Arrow: strings quoted (a quote doubled), an absent value an empty unquoted field,
which the importer leaves unset as the online path does; times ISO-8601 UTC with
milliseconds. A node's importer ID is its row's number in its label's file (its own ID
space per label, `--id-type=integer`) and its key a plain property; relationships name their
nodes by those numbers. A file holding a value with a line break (a CR inside a CSV line is
data; a Parquet string may hold a newline) is listed for the importer's multi-line parsing,
which is slower and so used only where needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ingest.files import iso_utc_ms

TEXT = "string[pyarrow]"


@dataclass(frozen=True)
class Output:
    """One import file: nodes of `name` (a label) or relationships of `name` (a type)."""

    entity: str  # "nodes" or "relationships"
    name: str
    file: str
    header: dict[str, str]  # frame column -> importer header field of a property
    times: tuple[str, ...] = ()  # columns of epoch milliseconds, written as datetimes
    key: str | None = None  # nodes: the frame column that identifies a node (one row per key)
    start: tuple[str, str] | None = None  # relationships: (frame column, label) of the start node's key
    end: tuple[str, str] | None = None  # relationships: (frame column, label) of the end node's key


OUTPUTS: tuple[Output, ...] = (
    Output(
        "nodes",
        "Account",
        "accounts.csv",
        {
            "account_id": "id",
            "created_at": "created_at:datetime",
            "country": "country",
            "email_domain": "email_domain",
            "plan": "plan",
            "delivery": "delivery:long",
        },
        ("created_at",),
        key="account_id",
    ),
    Output(
        "nodes",
        "IP",
        "ips.csv",
        {
            "ip": "address",
            "asn": "asn:long",
            "as_org": "as_org",
            "ip_type": "ip_type",
            "proxy_provider": "proxy_provider",
            "delivery": "delivery:long",
        },
        key="ip",
    ),
    Output("nodes", "ASN", "asns.csv", {"asn": "number:long", "as_org": "org"}, key="asn"),
    Output("nodes", "Proxy", "proxies.csv", {"proxy_provider": "name"}, key="proxy_provider"),
    Output(
        "nodes",
        "PaymentMethod",
        "payment_methods.csv",
        {
            "payment_fingerprint": "fingerprint",
            "method_type": "method_type",
            "bin": "bin",
            "issuer_country": "issuer_country",
            "delivery": "delivery:long",
        },
        key="payment_fingerprint",
    ),
    Output(
        "nodes",
        "PromptTemplate",
        "templates.csv",
        {"template_hash": "hash", "capability": "capability", "delivery": "delivery:long"},
        key="template_hash",
    ),
    Output(
        "relationships",
        "PAID_WITH",
        "paid_with.csv",
        {"method_type": "method_type", "first_seen": "first_seen:datetime", "delivery": "delivery:long"},
        ("first_seen",),
        start=("account_id", "Account"),
        end=("payment_fingerprint", "PaymentMethod"),
    ),
    Output(
        "relationships",
        "USED_IP",
        "used_ip.csv",
        {
            "requests": "requests:long",
            "first_seen": "first_seen:datetime",
            "last_seen": "last_seen:datetime",
            "delivery": "delivery:long",
        },
        ("first_seen", "last_seen"),
        start=("account_id", "Account"),
        end=("ip", "IP"),
    ),
    Output(
        "relationships",
        "USED_TEMPLATE",
        "used_template.csv",
        {
            "requests": "requests:long",
            "first_seen": "first_seen:datetime",
            "last_seen": "last_seen:datetime",
            "capability": "capability",
            "delivery": "delivery:long",
        },
        ("first_seen", "last_seen"),
        start=("account_id", "Account"),
        end=("template_hash", "PromptTemplate"),
    ),
    Output("relationships", "IN_ASN", "in_asn.csv", {}, start=("ip", "IP"), end=("asn", "ASN")),
    Output("relationships", "EXIT_OF", "exit_of.csv", {}, start=("ip", "IP"), end=("proxy_provider", "Proxy")),
    # The load's own records (ingest.writes: BEGIN_FILE, FINISH_FILE, FAIL_FILE, CLAIM_BATCH),
    # imported with the rows they describe: a store never holds the rows without them.
    Output(
        "nodes",
        "IngestFile",
        "ingest_files.csv",
        {
            "sha256": "sha256",
            "name": "name",
            "kind": "kind",
            "status": "status",
            "error": "error",
            "batch_size": "batch_size:long",
            "partitions": "partitions:long",
            "rows": "rows:long",
            "loaded": "loaded:long",
            "quarantined": "quarantined:long",
            "started_at": "started_at:datetime",
            "finished_at": "finished_at:datetime",
            "failed_at": "failed_at:datetime",
            "delivery": "delivery:long",
        },
        ("started_at", "finished_at", "failed_at"),
        key="sha256",
    ),
    Output(
        "nodes",
        "IngestBatch",
        "ingest_batches.csv",
        {"key": "key", "rows": "rows:long", "at": "at:datetime"},
        ("at",),
        key="key",
    ),
    # the delivery counter (ingest.writes.NEXT_DELIVERY) after this first delivery
    Output("nodes", "Counter", "counters.csv", {"name": "name", "value": "value:long"}, key="name"),
)
BY_NAME = {o.name: o for o in OUTPUTS}
FIRST_DELIVERY = 1  # a bulk load is the first delivery into an empty database
# What the online writes stamp with the delivery number (ingest.writes): every account and
# link; an entity when it has an attribute detection reads (new, it changed from nothing).
STAMPED = {
    "Account": (),
    "PAID_WITH": (),
    "USED_IP": (),
    "USED_TEMPLATE": (),
    "PaymentMethod": ("method_type", "bin"),
    "IP": ("ip_type", "proxy_provider"),
    "PromptTemplate": ("capability",),
}


def compact(valid: pd.DataFrame) -> pd.DataFrame:
    """A validated chunk with its text held by Arrow (the rows of a whole delivery wait in memory
    for the fold); numbers as they are. `asn` (Python ints or None) becomes nullable Int64."""
    out = {}
    for col in valid.columns:
        s = valid[col].reset_index(drop=True)
        if col == "asn":
            out[col] = s.astype("Int64")
        elif s.dtype == object:
            out[col] = s.astype(TEXT)
        else:
            out[col] = s
    return pd.DataFrame(out, index=pd.RangeIndex(len(valid)))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


def _last(frame: pd.DataFrame, keys: str | list[str], columns: list[str]) -> pd.DataFrame:
    """Per key, each column's last non-empty value (row order): the online `coalesce(new, old)`."""
    return frame.groupby(keys, sort=False)[columns].last().reset_index()


def _accounts(frames: dict[str, pd.DataFrame], out: dict[str, pd.DataFrame]) -> None:
    acc = frames.get("accounts")
    if acc is None:
        return
    if not acc["account_id"].is_unique:  # two accounts files of one delivery may repeat an account
        acc = _last(acc, "account_id", ["created_at", "country", "email_domain", "plan"])
    out["Account"] = acc


def _addresses(frames: dict[str, pd.DataFrame], out: dict[str, pd.DataFrame]) -> None:
    intel, sightings = frames.get("ip_intel"), frames.get("ip_sightings")
    ips = []
    if intel is not None:
        ips.append(_last(intel, "ip", ["asn", "as_org", "ip_type", "proxy_provider"]))
        with_asn = intel[intel["asn"].notna()]
        out["ASN"] = _last(with_asn, "asn", ["as_org"])
        out["IN_ASN"] = with_asn[["ip", "asn"]].drop_duplicates()
        exits = intel[intel["proxy_provider"].notna()][["ip", "proxy_provider"]].drop_duplicates()
        out["EXIT_OF"] = exits
        out["Proxy"] = exits[["proxy_provider"]].drop_duplicates()
    if sightings is not None:
        seen = sightings[["ip"]].drop_duplicates()
        ips.append(seen[~seen["ip"].isin(ips[0]["ip"])] if ips else seen)
    if ips:
        out["IP"] = pd.concat(ips, ignore_index=True)


def _payments(frames: dict[str, pd.DataFrame], out: dict[str, pd.DataFrame]) -> None:
    pay = frames.get("payment_methods")
    if pay is None:
        return
    out["PaymentMethod"] = _last(pay, "payment_fingerprint", ["method_type", "bin", "issuer_country"])
    pairs = pay.groupby(["account_id", "payment_fingerprint"], sort=False)
    out["PAID_WITH"] = pairs.agg(method_type=("method_type", "last"), first_seen=("first_seen", "min")).reset_index()


def _usage(frame: pd.DataFrame, target: str, extra: dict | None = None) -> pd.DataFrame:
    """USED_IP / USED_TEMPLATE: requests add up, the earliest first_seen, the latest last_seen."""
    pairs = frame.groupby(["account_id", target], sort=False)
    aggs = {
        "requests": ("requests", "sum"),
        "first_seen": ("first_seen", "min"),
        "last_seen": ("last_seen", "max"),
    }
    return pairs.agg(**aggs, **(extra or {})).reset_index()


def fold(valid: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The graph's nodes and relationships (by label or type) from each kind's validated rows,
    in load order, folded as the online writes fold them (see the module docstring)."""
    frames = {kind: f for kind, parts in valid.items() if (f := _concat(parts)) is not None}
    out: dict[str, pd.DataFrame] = {}
    _accounts(frames, out)
    _addresses(frames, out)
    _payments(frames, out)
    if (sightings := frames.get("ip_sightings")) is not None:
        out["USED_IP"] = _usage(sightings, "ip")
    if (templates := frames.get("prompt_templates")) is not None:
        out["PromptTemplate"] = _last(templates, "template_hash", ["capability"])
        out["USED_TEMPLATE"] = _usage(templates, "template_hash", {"capability": ("capability", "last")})
    out = {name: frame for name, frame in out.items() if len(frame)}
    for name, attributes in STAMPED.items():
        if name in out:
            frame = out[name]
            stamp = pd.Series(FIRST_DELIVERY, index=frame.index, dtype="Int64")
            if attributes:
                stamp = stamp.where(frame[list(attributes)].notna().any(axis=1))
            out[name] = frame.assign(delivery=stamp)
    if out:
        out["Counter"] = pd.DataFrame({"name": ["delivery"], "value": [FIRST_DELIVERY]})
    return out


def _column(frame: pd.DataFrame, col: str, is_time: bool) -> pa.Array:
    array = pa.array(frame[col], from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if is_time:  # epoch milliseconds -> 2026-03-01T09:15:00.000Z (a null stays null)
        return iso_utc_ms(array.cast(pa.int64()))
    return array


def _has_line_break(table: pa.Table) -> bool:
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            if pc.any(pc.match_substring_regex(column, r"[\r\n]")).as_py():
                return True
    return False


@dataclass
class ImportFiles:
    """The import files written to `folder`, and the importer's arguments for them."""

    folder: Path
    nodes: list[tuple[str, str]] = field(default_factory=list)  # (label, file name)
    relationships: list[tuple[str, str]] = field(default_factory=list)  # (type, file name)
    multiline: list[str] = field(default_factory=list)  # file names holding a line break
    rows: dict[str, int] = field(default_factory=dict)  # label or type -> rows written

    def arguments(self) -> list[str]:
        """Options of `neo4j-admin database import full`, naming the files relative to `folder`."""
        args = [f"--nodes={label}={name}" for label, name in self.nodes]
        args += [f"--relationships={rel}={name}" for rel, name in self.relationships]
        if self.multiline:
            args += ["--multiline-fields-format=v2", "--multiline-fields=" + ",".join(self.multiline)]
        # Every row was validated and folded: a bad entry is a bug, so the import stops on the first.
        checks = ["--bad-tolerance=0", "--skip-bad-relationships=false", "--skip-duplicate-nodes=false"]
        return [*args, "--id-type=integer", *checks]


def _numbers(frame: pd.DataFrame, col: str, label: str, keys: dict[str, pa.Array]) -> pa.Array:
    """The numbers of the `label` nodes whose keys `frame[col]` holds (a node's number is its row)."""
    numbers = pc.index_in(_column(frame, col, False), value_set=keys[label])
    if numbers.null_count:  # every row was validated and folded: a bug, not bad input
        raise ValueError(f"{col} names {numbers.null_count} {label} node(s) that the import files do not hold")
    return numbers


def write_import_files(
    graph: dict[str, pd.DataFrame], folder: Path, done: Callable[[str, int], None] | None = None
) -> ImportFiles:
    """Write each label's and type's rows of `graph` (fold's result) as an import CSV in `folder`.

    Nodes are numbered by their row (`:ID(Label)`, an integer per label) and relationships name
    them by those numbers, their keys looked up by Arrow: the importer's integer ID mapping is
    a quarter faster than its text one at 1M accounts (docs/scale.md); each key stays a property."""
    files = ImportFiles(folder)
    keys: dict[str, pa.Array] = {}  # label -> its nodes' keys, in row order
    for output in sorted(OUTPUTS, key=lambda o: o.entity != "nodes"):  # nodes first: relationships use their numbers
        frame = graph.get(output.name)
        if frame is None:
            continue
        properties = {header: _column(frame, col, col in output.times) for col, header in output.header.items()}
        columns = {}
        if output.key is not None:
            keys[output.name] = properties[output.header[output.key]]  # a node's key is also one of its properties
            if pc.count_distinct(keys[output.name]).as_py() != len(frame):  # fold gives one row per key
                raise ValueError(f"{output.name}: a key is given twice")
            columns[f":ID({output.name})"] = pa.array(np.arange(len(frame), dtype=np.int64))
        if output.start is not None and output.end is not None:
            columns[f":START_ID({output.start[1]})"] = _numbers(frame, *output.start, keys)
            columns[f":END_ID({output.end[1]})"] = _numbers(frame, *output.end, keys)
        columns |= properties
        table = pa.table(columns)
        pa_csv.write_csv(table, folder / output.file)
        (files.nodes if output.entity == "nodes" else files.relationships).append((output.name, output.file))
        if _has_line_break(table):
            files.multiline.append(output.file)
        files.rows[output.name] = len(frame)
        if done is not None:
            done(output.name, len(frame))
    return files
