"""A partner's bundle: read within limits, validated, and reduced to the indicators in force.

Limits, each checked before the work it bounds:

* MAX_BUNDLE_BYTES (50 MB): the file's size, from the file system, before reading it (and
  the read stops one byte past the limit, should the file grow or not be a regular file);
* MAX_OBJECTS (200,000): counted while the `objects` array is decoded one object at a
  time; decoding stops at the first object past the limit;
* MAX_PATTERN_CHARS per pattern (graph.sharing.patterns), before the pattern is parsed.

Every indicator and `anonymization` infrastructure is validated by stix2 (STIX 2.1, custom
properties allowed); one that is not valid STIX makes the whole bundle refused, as does a
`confidence` that is not a whole number from 0 to 100. Other objects are not ours to read.

STIX semantics (STIX 2.1 part 1: 3.2 common properties, 3.6 versioning, 4.7 indicator):

* versions: the same id may come in several versions; the one with the latest `modified`
  is the object's state, older ones are `superseded`;
* `revoked: true` -> skipped as *revoked*; `valid_until` at or before now -> *expired*;
  `valid_from` after now -> *not yet valid*. Such an indicator also withdraws what an
  earlier import of the same id from the same source flagged;
* `confidence` (0-100) is kept on the PartnerIndicator as given. When absent, the spec
  says the confidence "is unspecified": not 0 (which is "None" on the spec's scales), and
  Appendix A maps "truth cannot be judged" to the property being absent. It is stored as
  null and weighs UNSPECIFIED_CONFIDENCE / 100, the middle of the scale ("Med" on the
  None/Low/Med/High scale, "Roughly even chance" on the DNI scale, both 50).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import stix2
from stix2.utils import format_datetime

from graph.sharing.errors import IndicatorError
from graph.sharing.patterns import MAX_PATTERN_CHARS, Rejected, pattern_values, valid_proxy_name

__all__ = [
    "MAX_BUNDLE_BYTES",
    "MAX_OBJECTS",
    "UNSPECIFIED_CONFIDENCE",
    "BundleFile",
    "Limits",
    "Selection",
    "Wanted",
    "read_bundle",
    "select",
]

MAX_BUNDLE_BYTES = 50 * 2**20
MAX_OBJECTS = 200_000
UNSPECIFIED_CONFIDENCE = 50
MAX_NAME_CHARS = 200
SKIP_REASONS = ("revoked", "expired", "not yet valid", "superseded")


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BUNDLE_BYTES
    max_objects: int = MAX_OBJECTS


@dataclass
class BundleFile:
    path: Path
    size: int
    sha256: str
    objects: list[dict[str, Any]]


@dataclass(frozen=True)
class Wanted:
    """One value an indicator in force asks us to look for."""

    indicator: str  # the STIX id of the indicator (or infrastructure)
    kind: str  # ip, payment, template, proxy
    value: str  # canonical address, lower-case HMAC hex, or service name
    name: str = ""
    key_id: str | None = None
    confidence: int | None = None  # as the partner gave it; None = unspecified
    modified: str = ""  # the version's `modified`, STIX timestamp text

    @property
    def weight(self) -> float:
        """The flag's weight in detection: confidence / 100 (unspecified: UNSPECIFIED_CONFIDENCE)."""
        return (UNSPECIFIED_CONFIDENCE if self.confidence is None else self.confidence) / 100


@dataclass
class Selection:
    """What a bundle asks for, and what it holds that does not count."""

    wanted: list[Wanted] = field(default_factory=list)
    withdrawn: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (modified, why not in force)
    skipped: Counter = field(default_factory=Counter)  # SKIP_REASONS -> count
    rejected: Counter = field(default_factory=Counter)  # reason -> count
    unsupported: int = 0


# ---------------------------------------------------------------------------------------
# reading within limits


def _read_bytes(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError as e:
        raise IndicatorError(f"{path} does not exist") from e
    except OSError as e:
        raise IndicatorError(f"cannot read {path}: {e.strerror}") from e
    refuse = (
        f"{path} is over the {limit / 2**20:g} MB a bundle may have: ask the partner for a smaller one "
        "(e.g. only rings changed since the last exchange)"
    )
    if size > limit:
        raise IndicatorError(refuse)
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise IndicatorError(f"cannot read {path}: {e.strerror}") from e
    if len(data) > limit:
        raise IndicatorError(refuse)
    return data


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _expect(text: str, pos: int, chars: str, what: str) -> int:
    pos = _skip_ws(text, pos)
    if pos >= len(text) or text[pos] not in chars:
        raise ValueError(f"expected {what} at character {pos}")
    return pos


def _objects_array(text: str, pos: int, max_objects: int, path: Path) -> tuple[list[Any], int]:
    """Decode the `objects` array one element at a time, stopping past `max_objects`."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, _expect(text, pos, "[", "'['") + 1)
    out: list[Any] = []
    if text.startswith("]", pos):
        return out, pos + 1
    while True:
        item, pos = decoder.raw_decode(text, _skip_ws(text, pos))
        out.append(item)
        if len(out) > max_objects:
            raise IndicatorError(
                f"{path} holds more than {max_objects:,} objects, the most a bundle may have: "
                "ask the partner for a smaller one"
            )
        pos = _expect(text, pos, ",]", "',' or ']'")
        if text[pos] == "]":
            return out, pos + 1
        pos += 1


def _scan(text: str, max_objects: int, path: Path) -> tuple[dict[str, Any], list[Any]]:
    """The bundle's own properties and its objects, from JSON text, objects counted as they come."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, _expect(text, 0, "{", "a JSON object") + 1)
    header: dict[str, Any] = {}
    objects: list[Any] | None = None
    if text.startswith("}", pos):
        pos += 1
    else:
        while True:
            pos = _expect(text, pos, '"', "a property name")
            key, pos = decoder.raw_decode(text, pos)
            pos = _expect(text, pos, ":", "':'") + 1
            if key in header or (key == "objects" and objects is not None):
                raise ValueError(f"property {key!r} appears twice")
            if key == "objects":
                objects, pos = _objects_array(text, pos, max_objects, path)
            else:
                header[key], pos = decoder.raw_decode(text, _skip_ws(text, pos))
            pos = _expect(text, pos, ",}", "',' or '}'") + 1
            if text[pos - 1] == "}":
                break
    if _skip_ws(text, pos) != len(text):
        raise ValueError(f"extra data after the bundle at character {_skip_ws(text, pos)}")
    return header, objects or []


def _check_envelope(header: dict[str, Any], objects: list[Any]) -> None:
    if header.get("type") != "bundle":
        raise ValueError("its type is not 'bundle'")
    bundle_id = header.get("id")
    prefix = "bundle--"
    try:
        if not (isinstance(bundle_id, str) and bundle_id.startswith(prefix)):
            raise ValueError
        uuid.UUID(bundle_id[len(prefix) :])
    except ValueError as e:
        raise ValueError(f"{bundle_id!r} is not a bundle id") from e
    for i, obj in enumerate(objects):
        if not (isinstance(obj, dict) and isinstance(obj.get("type"), str) and isinstance(obj.get("id"), str)):
            raise ValueError(f"object {i + 1} has no type and id")


def read_bundle(path: Path, limits: Limits = Limits()) -> BundleFile:
    """The objects of a STIX 2.1 bundle file, within `limits`; IndicatorError otherwise."""
    data = _read_bytes(path, limits.max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IndicatorError(f"{path} is not UTF-8 text (byte {e.start}): a STIX bundle is JSON in UTF-8") from e
    try:
        header, objects = _scan(text, limits.max_objects, path)
        _check_envelope(header, objects)
    except IndicatorError:
        raise
    except (ValueError, RecursionError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise IndicatorError(f"{path} is not a valid STIX 2.1 bundle: {detail}") from e
    return BundleFile(path, len(data), hashlib.sha256(data).hexdigest(), objects)


# ---------------------------------------------------------------------------------------
# STIX semantics


def _ours(obj: dict[str, Any]) -> bool:
    if obj["type"] == "indicator":
        return True
    types = obj.get("infrastructure_types")
    return obj["type"] == "infrastructure" and isinstance(types, list) and "anonymization" in types


def _validated(obj: dict[str, Any], index: int, path: Path) -> Any:
    """stix2's object for `obj`, or IndicatorError naming it."""
    confidence = obj.get("confidence")
    if confidence is not None and (type(confidence) is not int or not 0 <= confidence <= 100):
        raise IndicatorError(
            f"{path} is not a valid STIX 2.1 bundle: object {index + 1} ({obj['id']}): confidence must be a "
            f"whole number from 0 to 100, not {json.dumps(confidence)[:40]}"
        )
    try:
        return stix2.parse(obj, allow_custom=True, version="2.1")
    except Exception as e:  # stix2 raises many kinds; all mean "not valid STIX"
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise IndicatorError(
            f"{path} is not a valid STIX 2.1 bundle: object {index + 1} ({obj['id']}): {detail}"
        ) from e


def _not_in_force(obj: Any, now: datetime) -> str | None:
    """Why the latest version of an object does not count now, or None when it does."""
    if obj.get("revoked"):
        return "revoked"
    if obj["type"] != "indicator":
        return None
    if obj.get("valid_until") is not None and obj["valid_until"] <= now:
        return "expired"
    if obj["valid_from"] > now:
        return "not yet valid"
    return None


def _wanted(obj: Any, raw: dict[str, Any], sel: Selection) -> None:
    """Add what one object in force asks for to `sel` (or count it as rejected or unsupported)."""
    common = {
        "name": str(raw.get("name") or "")[:MAX_NAME_CHARS],
        "confidence": raw.get("confidence"),
        "modified": format_datetime(obj["modified"]),
    }
    if obj["type"] == "infrastructure":
        if valid_proxy_name(raw.get("name")):
            sel.wanted.append(Wanted(obj["id"], "proxy", raw["name"], **common))
        else:
            sel.rejected["bad proxy name"] += 1
        return
    if obj["pattern_type"] != "stix":
        sel.unsupported += 1
        return
    try:
        found = pattern_values(obj["pattern"])
    except Rejected as e:
        sel.rejected[e.reason] += 1
        return
    if not found:
        sel.unsupported += 1
        return
    kid = raw.get("x_ringwatch_key_id")
    kid = kid if isinstance(kid, str) and len(kid) <= 64 else None
    sel.wanted += [Wanted(obj["id"], kind, value, key_id=kid, **common) for kind, value in found]


def select(bundle: BundleFile, now: datetime) -> Selection:
    """The indicators of `bundle` in force at `now` and the values they ask for; see the module docstring."""
    sel = Selection()
    latest: dict[str, tuple[Any, dict[str, Any]]] = {}
    for i, raw in enumerate(bundle.objects):
        if not _ours(raw):
            continue
        pattern = raw.get("pattern")
        if isinstance(pattern, str) and len(pattern) > MAX_PATTERN_CHARS:
            sel.rejected["pattern too long"] += 1
            continue
        obj = _validated(raw, i, bundle.path)
        seen = latest.get(obj["id"])
        if seen is not None:
            sel.skipped["superseded"] += 1
            if seen[0]["modified"] >= obj["modified"]:
                continue
        latest[obj["id"]] = (obj, raw)
    for obj, raw in latest.values():
        reason = _not_in_force(obj, now)
        if reason:
            sel.skipped[reason] += 1
            sel.withdrawn[obj["id"]] = (format_datetime(obj["modified"]), reason)
        else:
            _wanted(obj, raw, sel)
    sel.wanted = list(dict.fromkeys(sel.wanted))
    return sel
