"""STIX patterns: written with the stix2 library's pattern objects, read with the OASIS grammar.

Writing: every pattern is built from stix2 pattern objects (`ObjectPath`,
`EqualityComparisonExpression`, `StringConstant`, `OrBooleanExpression`,
`ObservationExpression`); the library quotes and escapes each value. No value is ever
formatted into pattern text by hand, and addresses are checked (`canonical_ip`, strict)
before they are written at all.

Reading: `pattern_values` parses with `stix2.pattern_visitor.create_pattern_object`, i.e.
the OASIS STIX 2.1 pattern grammar (ANTLR, from stix2-patterns), after refusing patterns
longer than MAX_PATTERN_CHARS. It understands one observation, or observations OR-ed, of
equality comparisons OR-ed together, on

    ipv4-addr:value, ipv6-addr:value               an address (/32 and /128 accepted)
    x-ringwatch-payment:hmac_sha256                 a keyed hash: 64 hex characters
    x-ringwatch-template:hmac_sha256

Anything else (AND, FOLLOWEDBY, qualifiers, other operators or objects, networks) is
*unsupported*: not an error, other labs share other indicators, but nothing to match.
A value of a supported comparison that fails its check (an address with a zone id, a
hash that is not 64 hex characters) makes the whole indicator *rejected*, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import stix2
from stix2.pattern_visitor import create_pattern_object

from graph.vocabulary import canonical_ip

__all__ = [
    "MAX_PATTERN_CHARS",
    "Rejected",
    "equality_pattern",
    "hash_pattern",
    "ip_pattern",
    "pattern_values",
    "valid_digest",
    "valid_proxy_name",
]

MAX_PATTERN_CHARS = 4_096  # ours are under 100; an OR of a few dozen addresses still fits
IP_TYPES = {"ipv4-addr": 4, "ipv6-addr": 6}
HASH_TYPES = {"x-ringwatch-payment": "payment", "x-ringwatch-template": "template"}
HASH_PROPERTY = "hmac_sha256"
_DIGEST = re.compile(r"[0-9a-f]{64}")
# Proxy and VPN service names as data vendors write them ("GeoMesh Proxy", "PeerHop
# Residential"): letters, digits, spaces and a little punctuation; no quotes, no markup.
_PROXY_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._&+()-]{0,78}[A-Za-z0-9.)])?")


class Rejected(ValueError):
    """A supported comparison whose value fails its check; `reason` names the check."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------
# writing


def equality_pattern(comparisons: Iterable[tuple[str, str, str]]) -> str:
    """`[type:property = 'value' OR ...]` for (object type, property, value) triples, built
    and escaped by stix2's pattern objects."""
    parts = [
        stix2.EqualityComparisonExpression(stix2.ObjectPath(type_, [prop]), stix2.StringConstant(value))
        for type_, prop, value in comparisons
    ]
    if not parts:
        raise ValueError("a pattern needs at least one comparison")
    expression = parts[0] if len(parts) == 1 else stix2.OrBooleanExpression(parts)
    return str(stix2.ObservationExpression(expression))


def ip_type(address: str) -> str:
    return "ipv6-addr" if ":" in address else "ipv4-addr"


def ip_pattern(address: str) -> str:
    """`[ipv4-addr:value = '…']` (or ipv6-addr) for an address in canonical form; Rejected otherwise."""
    if canonical_ip(address) != address:
        raise Rejected("bad address", repr(address))
    return equality_pattern([(ip_type(address), "value", address)])


def hash_pattern(kind: str, digest: str) -> str:
    """`[x-ringwatch-payment:hmac_sha256 = '…']` (or template) for a keyed hash."""
    type_ = {v: k for k, v in HASH_TYPES.items()}[kind]
    if not valid_digest(digest):
        raise Rejected("bad hash", repr(digest))
    return equality_pattern([(type_, HASH_PROPERTY, digest)])


# ---------------------------------------------------------------------------------------
# reading


def valid_digest(value: str) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def valid_proxy_name(value: object) -> bool:
    return isinstance(value, str) and _PROXY_NAME.fullmatch(value) is not None


def _unquote(raw: str) -> str:
    """The value of a STIX string literal's body: the grammar allows only \\' and \\\\."""
    return re.sub(r"\\(['\\])", r"\1", raw)


def _observations(node) -> Iterator:
    """The observation expressions of a pattern made of observations OR-ed; None marks anything else."""
    if isinstance(node, stix2.ParentheticalExpression):
        yield from _observations(node.expression)
    elif isinstance(node, stix2.OrObservationExpression):
        for operand in node.operands:
            yield from _observations(operand)
    elif isinstance(node, stix2.ObservationExpression):
        yield node
    else:
        yield None


def _comparisons(node) -> Iterator:
    """The comparisons of an observation made of comparisons OR-ed; None marks anything else."""
    if isinstance(node, stix2.ParentheticalExpression):
        yield from _comparisons(node.expression)
    elif isinstance(node, stix2.OrBooleanExpression):
        for operand in node.operands:
            yield from _comparisons(operand)
    elif isinstance(node, stix2.EqualityComparisonExpression) and node.operator == "=" and not node.negated:
        yield node
    else:
        yield None


def _value(comparison) -> tuple[str, str] | None:
    """(kind, checked value) of one equality comparison; None when unsupported; Rejected when bad."""
    lhs, rhs = comparison.lhs, comparison.rhs
    if len(lhs.property_path) != 1 or not isinstance(lhs.property_path[0], stix2.BasicObjectPathComponent):
        return None
    if not isinstance(rhs, stix2.StringConstant) or isinstance(rhs, stix2.HashConstant):
        return None
    type_, prop, value = lhs.object_type_name, lhs.property_path[0].property_name, _unquote(rhs.value)
    if type_ in IP_TYPES and prop == "value":
        address, slash, bits = value.partition("/")
        if slash and bits != ("32" if IP_TYPES[type_] == 4 else "128"):
            return None  # a network, not an address
        canon = canonical_ip(address) if address == address.strip() else None
        mapped = type_ == "ipv6-addr" and canon is not None and "." in canon  # ::ffff:a.b.c.d
        if canon is None or (ip_type(canon) != type_ and not mapped):
            raise Rejected("bad address", repr(value))
        return "ip", canon
    if type_ in HASH_TYPES and prop == HASH_PROPERTY:
        if not valid_digest(value.lower()):
            raise Rejected("bad hash", repr(value))
        return HASH_TYPES[type_], value.lower()
    return None


def pattern_values(pattern: str) -> list[tuple[str, str]] | None:
    """(kind, value) of every comparison of a pattern ringwatch can match, or None when the
    pattern holds anything else. Raises Rejected for a pattern over MAX_PATTERN_CHARS or
    a value that fails its check."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise Rejected("pattern too long", f"{len(pattern):,} characters")
    try:
        tree = create_pattern_object(pattern, version="2.1")
    except Exception:  # the grammar's errors come in several types; all mean "not a pattern we read"
        return None
    out: list[tuple[str, str]] = []
    for observation in _observations(tree):
        if observation is None:
            return None
        for comparison in _comparisons(observation.operand):
            found = _value(comparison) if comparison is not None else None
            if found is None:
                return None
            out.append(found)
    return list(dict.fromkeys(out))
