"""Reading a partner's bundle: size and object-count limits before the work they bound,
one-line errors for anything that is not a STIX 2.1 bundle, and STIX semantics (versions,
revoked, valid_from/valid_until, confidence) deciding which indicators are in force."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from graph.sharing.bundles import UNSPECIFIED_CONFIDENCE, Limits, read_bundle, select
from graph.sharing.errors import IndicatorError
from graph.sharing.patterns import MAX_PATTERN_CHARS

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DIGEST = "cd" * 32


def sid(type_: str, n: int) -> str:
    return f"{type_}--{uuid.uuid5(uuid.NAMESPACE_URL, str(n))}"


def indicator(n: int, pattern: str = "[ipv4-addr:value = '198.51.100.4']", **props) -> dict:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": sid("indicator", n),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        **props,
    }


def infrastructure(n: int, name: str, **props) -> dict:
    return {
        "type": "infrastructure",
        "spec_version": "2.1",
        "id": sid("infrastructure", n),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": name,
        "infrastructure_types": ["anonymization"],
        **props,
    }


def write(tmp_path, objects, name="bundle.json") -> object:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "bundle", "id": sid("bundle", 1), "objects": objects}))
    return path


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(IndicatorError) as e:
        fn(*args, **kwargs)
    message = str(e.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- limits ---------------------------------------------------------------------------


def test_a_bundle_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    with path.open("wb") as f:
        f.truncate(50 * 2**20 + 1)  # sparse: refused from its size alone, nothing is read
    assert "is over the 50 MB a bundle may have" in one_line_error(read_bundle, path)
    small = write(tmp_path, [indicator(i) for i in range(20)])
    assert "is over the" in one_line_error(read_bundle, small, Limits(max_bytes=1000))
    assert len(read_bundle(small, Limits(max_bytes=small.stat().st_size)).objects) == 20


def test_a_bundle_over_the_object_limit_is_refused_before_the_rest_is_decoded(tmp_path):
    objects = ",".join(json.dumps(indicator(i)) for i in range(11))
    path = tmp_path / "many.json"
    # what follows object 11 is not even JSON: the count stops the read before it gets there
    path.write_text(f'{{"type": "bundle", "id": "{sid("bundle", 1)}", "objects": [{objects}, {{{{{{ not json')
    message = one_line_error(read_bundle, path, Limits(max_objects=10))
    assert "holds more than 10 objects, the most a bundle may have" in message
    assert "not a valid STIX 2.1 bundle" in one_line_error(read_bundle, path, Limits(max_objects=100))


def test_anything_but_a_stix_bundle_is_one_line(tmp_path):
    bid = sid("bundle", 1)
    cases = {
        "not json": b"hello",
        "a list": b"[1, 2]",
        "not a bundle": json.dumps({"type": "indicator", "id": bid, "objects": []}).encode(),
        "bad id": json.dumps({"type": "bundle", "id": "bundle--1", "objects": []}).encode(),
        "objects twice": b'{"type": "bundle", "id": "%s", "objects": [], "objects": []}' % bid.encode(),
        "trailing data": json.dumps({"type": "bundle", "id": bid, "objects": []}).encode() + b" {}",
        "object without type": json.dumps({"type": "bundle", "id": bid, "objects": [{"id": "x"}]}).encode(),
        "not utf-8": b'{"type": "bundle", "id": "\xff\xfe"}',
        "deeply nested": b'{"type": "bundle", "id": "%s", "objects": [%s]}' % (bid.encode(), b"[" * 100_000),
        "invalid indicator": json.dumps(
            {"type": "bundle", "id": bid, "objects": [{"type": "indicator", "id": sid("indicator", 1)}]}
        ).encode(),
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        with pytest.raises(IndicatorError) as e:
            select(read_bundle(path), NOW)
        assert "\n" not in str(e.value) and str(path) in str(e.value), name
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"type": "bundle", "id": bid, "objects": []}).encode())
    assert read_bundle(bom).objects == []


def test_a_pattern_over_the_limit_is_rejected_before_it_is_parsed(tmp_path):
    long = "[ipv4-addr:value = '198.51.100.4'" + " OR ipv4-addr:value = '198.51.100.4'" * 120 + "]"
    assert len(long) > MAX_PATTERN_CHARS
    sel = select(read_bundle(write(tmp_path, [indicator(1, long), indicator(2)])), NOW)
    assert sel.rejected == {"pattern too long": 1}
    assert [w.indicator for w in sel.wanted] == [sid("indicator", 2)]


# --- values ---------------------------------------------------------------------------


def test_every_value_is_checked_and_rejects_are_counted(tmp_path):
    objects = [
        indicator(1, "[ipv6-addr:value = 'fe80::1%eth0']"),
        indicator(2, "[ipv4-addr:value = '198.51.100.4' OR ipv4-addr:value = '300.1.1.1']"),
        indicator(3, "[x-ringwatch-payment:hmac_sha256 = 'abc']"),
        indicator(4, f"[x-ringwatch-payment:hmac_sha256 = '{DIGEST}']", x_ringwatch_key_id="0123abcd"),
        indicator(5, "[ipv4-addr:value = '198.51.100.0/24']"),
        indicator(6, "[domain-name:value = 'example.com']"),
        indicator(7, "198.51.100.4", pattern_type="snort"),
        infrastructure(8, "GeoMesh Proxy"),
        infrastructure(9, "<img src=x onerror=alert(1)>"),
        infrastructure(10, "Peer'Hop"),
        infrastructure(11, "x" * 200),
    ]
    sel = select(read_bundle(write(tmp_path, objects)), NOW)
    assert sel.rejected == {"bad address": 2, "bad hash": 1, "bad proxy name": 3}
    assert sel.unsupported == 3
    assert {(w.kind, w.value) for w in sel.wanted} == {("payment", DIGEST), ("proxy", "GeoMesh Proxy")}
    assert next(w for w in sel.wanted if w.kind == "payment").key_id == "0123abcd"


# --- STIX semantics -------------------------------------------------------------------


def test_revoked_expired_and_future_indicators_do_not_count(tmp_path):
    objects = [
        indicator(1),
        indicator(2, "[ipv4-addr:value = '198.51.100.2']", revoked=True),
        indicator(3, "[ipv4-addr:value = '198.51.100.3']", valid_until="2026-02-01T00:00:00Z"),
        indicator(4, "[ipv4-addr:value = '198.51.100.4']", valid_until="2026-03-01T00:00:00Z"),  # ends now
        indicator(5, "[ipv4-addr:value = '198.51.100.5']", valid_from="2026-04-01T00:00:00Z"),
        indicator(6, "[ipv4-addr:value = '198.51.100.6']", valid_until="2026-04-01T00:00:00Z"),
        infrastructure(7, "LumaProxy", revoked=True),
    ]
    sel = select(read_bundle(write(tmp_path, objects)), NOW)
    assert dict(sel.skipped) == {"revoked": 2, "expired": 2, "not yet valid": 1}
    assert {w.indicator for w in sel.wanted} == {sid("indicator", 1), sid("indicator", 6)}
    assert set(sel.withdrawn) == {
        sid("indicator", 2),
        sid("indicator", 3),
        sid("indicator", 4),
        sid("indicator", 5),
        sid("infrastructure", 7),
    }


def test_the_latest_version_of_an_object_is_its_state(tmp_path):
    v1 = indicator(1, confidence=40)
    v2 = indicator(1, confidence=90, modified="2026-02-01T00:00:00.000Z")
    v3 = indicator(1, revoked=True, modified="2026-02-15T00:00:00.000Z")
    sel = select(read_bundle(write(tmp_path, [v2, v1])), NOW)  # order in the file does not matter
    assert [(w.confidence, w.modified) for w in sel.wanted] == [(90, "2026-02-01T00:00:00.000Z")]
    assert sel.skipped["superseded"] == 1
    sel = select(read_bundle(write(tmp_path, [v1, v3, v2])), NOW)
    assert sel.wanted == [] and sel.skipped["revoked"] == 1 and sel.skipped["superseded"] == 2
    assert sel.withdrawn == {sid("indicator", 1): ("2026-02-15T00:00:00.000Z", "revoked")}


def test_confidence_is_kept_and_an_absent_one_is_unspecified(tmp_path):
    objects = [
        indicator(1, confidence=0),
        indicator(2, "[ipv4-addr:value = '198.51.100.2']", confidence=85),
        indicator(3, "[ipv4-addr:value = '198.51.100.3']"),
    ]
    by_id = {w.indicator: w for w in select(read_bundle(write(tmp_path, objects)), NOW).wanted}
    assert [(by_id[sid("indicator", n)].confidence, by_id[sid("indicator", n)].weight) for n in (1, 2, 3)] == [
        (0, 0.0),
        (85, 0.85),
        (None, UNSPECIFIED_CONFIDENCE / 100),
    ]
    for bad in (101, -1, "50", True, 50.5):
        path = write(tmp_path, [indicator(1, confidence=bad)], name="bad.json")
        assert "confidence must be a whole number from 0 to 100" in one_line_error(select, read_bundle(path), NOW)
