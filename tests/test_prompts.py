"""Prompt-template hashing and the request-log aggregator (pure Python, no database)."""

from __future__ import annotations

import ipaddress
import json
import re

import pandas as pd
import pytest

import ingest.prompts as prompts
from ingest.prompts import MASKS, NORMALISATION_SPEC, hash_prompt_log, normalise_prompt, template_hash

SAME = [
    ("numbers", "Give me 3 ideas for a 25-minute talk", "Give me 12 ideas for a 1,500-minute talk"),
    ("signed decimals", "Scale by -2.5 and add +3e-4", "Scale by 7 and add 10"),
    ("thousands", "Budget is 1,234,567.89 dollars", "Budget is 42 dollars"),
    ("double quotes", 'Translate "good morning" into German', 'Translate "where is it?" into German'),
    ("single quotes", "Rename the variable 'foo' to 'bar'", "Rename the variable 'user_count' to 'n'"),
    ("curly quotes", "Summarise “the long report” please", "Summarise “x” please"),
    ("urls", "Summarise https://example.com/a/b?x=1 briefly", "Summarise http://other.org/page briefly"),
    ("url then dot", "Read www.example.com/x.", "Read https://a.b/c."),
    ("emails", "Draft a reply to alice@example.com", "Draft a reply to bob.smith+tag@corp.co.uk"),
    (
        "code blocks",
        "Fix this:\n```python\nprint(1)\n```\nthanks",
        "Fix this:\n```js\nconsole.log('a very different program')\nwhile(true){}\n```\nthanks",
    ),
    ("unclosed code", "Explain ```int main() {}", "Explain ```SELECT * FROM t"),
    ("ids", "Look up order 9f8e7d6c5b4a3f2e1d0c", "Look up order 0123456789abcdef0123"),
    (
        "uuids",
        "Ticket 123e4567-e89b-12d3-a456-426614174000 failed",
        "Ticket 00000000-0000-0000-0000-000000000000 failed",
    ),
    ("tokens with digits", "Use key sk_live_51Habcdefghijklmn", "Use key AKIA2EXAMPLE77KEY99"),
    ("case and space", "  Write   a HAIKU\tabout\n\nthe sea ", "write a haiku about the sea"),
    ("unicode compat", "Ｗｒｉｔｅ a poem", "write a poem"),
    ("apostrophes kept", "Don't list 5 items, it's 'short'", "Don't list 9 items, it's 'long one'"),
]

DIFFERENT = [
    ("Write a poem about the sea", "Write a story about the sea"),
    ("Translate to French", "Translate to German"),
    ("Don't stop", "Do not stop"),
    ("Solve step by step", "Solve step by step."),
    ("Use <num> here", "Use <str> here"),
]


@pytest.mark.parametrize(("why", "a", "b"), SAME, ids=[s[0] for s in SAME])
def test_slot_values_do_not_change_the_hash(why, a, b):
    assert normalise_prompt(a) == normalise_prompt(b), why
    assert template_hash(a) == template_hash(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_templates_differ(a, b):
    assert template_hash(a) != template_hash(b)


def test_hash_shape_and_definition():
    import hashlib

    h = template_hash("Hello, World 42!")
    assert re.fullmatch(r"[0-9a-f]{32}", h)
    assert normalise_prompt("Hello, World 42!") == "hello, world <num>!"
    assert h == hashlib.sha256(b"hello, world <num>!").hexdigest()[:32]
    assert normalise_prompt("") == "" and len(template_hash("")) == 32


def test_masks_in_documented_order():
    text = 'Mail "x" to a@b.io about https://u.io/"q" 12 and ```"7"```'
    assert normalise_prompt(text) == "mail <str> to <email> about <url><str> <num> and <code>"
    assert normalise_prompt("internationalization deadbeefcafe01") == "internationalization <id>"
    assert normalise_prompt("gpt4 vs gpt-4o: 3-4") == "gpt<num> vs gpt-<num>o: <num>-<num>"
    assert [m[0] for m in MASKS] == ["code", "url", "email", "quoted", "id", "num"]


def test_spec_documents_every_pattern_and_its_vectors():
    for name, pattern, token, _ in MASKS:
        assert pattern in NORMALISATION_SPEC, name
        assert token in NORMALISATION_SPEC
    doc = prompts.__doc__
    for name, pattern, _, _ in MASKS:
        if name != "id":  # written as UUID|LONG on two lines in the docstring
            assert pattern in doc, name
    assert (
        doc.index("1 code")
        < doc.index("2 url")
        < doc.index("3 email")
        < doc.index("4 quoted")
        < doc.index("5 id")
        < doc.index("6 num")
        < doc.index("7 Unicode NFKC")
    )
    assert NORMALISATION_SPEC.startswith("## ")
    # the test vectors printed in the spec are what the code computes
    for example in prompts._EXAMPLES:
        assert template_hash(example) in NORMALISATION_SPEC
        assert repr(normalise_prompt(example)) in NORMALISATION_SPEC


# ------------------------------------------------------------------------------- request logs

SECRET = "PROPRIETARY-SECRET-PROMPT-TEXT"
LOG = [
    # account, ts, ip, prompt, capability
    ("a1", "2026-03-07T19:40:19Z", "1.2.3.4", f'{SECRET} translate "hello" to French 3 times', "translation"),
    ("a1", "2026-03-07T20:40:19+01:00", "1.2.3.4", f'{SECRET} translate "good night" to French 12 times', ""),
    ("a1", "2026-03-08T10:00:00", "2001:DB8:0:0:0:0:0:1", f'{SECRET} translate "x" to French 1 times', "translation"),
    ("a1", "2026-03-09T10:00:00Z", "1.2.3.4", f"{SECRET} solve 2+2", "reasoning"),
    ("a2", "2026-03-09T10:00:00Z", "", f"{SECRET} write code\nspanning lines 42", "coding"),
    ("a2", "2026-03-10T10:00:00Z", "not-an-ip", f"{SECRET} write code\nspanning lines 7", "chat"),
    ("a2", "2026-03-10T11:00:00Z", "10.0.0.1", f"{SECRET} write code\nspanning lines 8", "chat"),
    ("", "2026-03-09T10:00:00Z", "1.1.1.1", "no account", ""),
    ("a3", "not-a-time", "1.1.1.1", "bad time", ""),
    ("a3", "2026-03-09T10:00:00Z", "1.1.1.1", "", ""),
]


def write_log(path, fmt):
    cols = ["account_id", "ts", "ip", "prompt", "capability"]
    df = pd.DataFrame(LOG, columns=cols)
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps(dict(zip(cols, row, strict=True))) + "\n" for row in LOG))
    return path


def read_out(d, name, ext=".csv"):
    if ext == ".parquet":
        df = pd.read_parquet(d / f"{name}{ext}")
        return df.astype(object).where(df.notna(), "").astype(str)
    return pd.read_csv(d / f"{name}{ext}", dtype=str, keep_default_na=False)


def test_hash_prompt_log_aggregates_into_contract_files(tmp_path):
    log = write_log(tmp_path / "requests.csv", "csv")
    counts = hash_prompt_log(log, tmp_path / "out")
    assert counts == {"rows": 10, "skipped": 3, "no_ip": 2, "ip_sightings": 3, "prompt_templates": 3}
    ips = read_out(tmp_path / "out", "ip_sightings")
    assert list(ips.columns) == ["account_id", "ip", "first_seen", "last_seen", "requests"]
    rows = {(r.account_id, r.ip): r for r in ips.itertuples()}
    r = rows[("a1", "1.2.3.4")]
    # +01:00 is converted; the zone-less time is UTC
    assert (r.first_seen, r.last_seen, r.requests) == ("2026-03-07T19:40:19Z", "2026-03-09T10:00:00Z", "3")
    assert rows[("a1", "2001:db8::1")].first_seen == "2026-03-08T10:00:00Z"  # canonical IPv6
    assert ("a2", "10.0.0.1") in rows and len(rows) == 3
    for ip in ips.ip:
        assert str(ipaddress.ip_address(ip)) == ip

    tpl = read_out(tmp_path / "out", "prompt_templates")
    assert list(tpl.columns) == ["account_id", "template_hash", "requests", "first_seen", "last_seen", "capability"]
    assert tpl.template_hash.str.fullmatch(r"[0-9a-f]{32}").all()
    by = {(r.account_id, r.template_hash): r for r in tpl.itertuples()}
    t = by[("a1", template_hash(LOG[0][3]))]
    assert (t.requests, t.first_seen, t.last_seen, t.capability) == (
        "3",
        "2026-03-07T19:40:19Z",
        "2026-03-08T10:00:00Z",
        "translation",
    )
    t = by[("a2", template_hash(LOG[4][3]))]
    assert (t.requests, t.capability) == ("3", "chat")  # most common non-empty capability
    assert (pd.to_datetime(tpl.first_seen) <= pd.to_datetime(tpl.last_seen)).all()

    # the raw prompt is written nowhere
    for f in (tmp_path / "out").iterdir():
        data = f.read_bytes()
        assert SECRET.encode() not in data and b"translate" not in data and b"spanning" not in data


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_hash_prompt_log_jsonl_and_formats_agree_with_csv(tmp_path, fmt):
    hash_prompt_log(write_log(tmp_path / "a.csv", "csv"), tmp_path / "csv")
    counts = hash_prompt_log(write_log(tmp_path / "a.jsonl", "jsonl"), tmp_path / "other", fmt=fmt)
    assert counts["skipped"] == 3
    ext = ".csv.gz" if fmt == "csv.gz" else ".parquet"
    for name in ("ip_sightings", "prompt_templates"):
        other, csv = read_out(tmp_path / "other", name, ext), read_out(tmp_path / "csv", name)
        pd.testing.assert_frame_equal(other, csv)


def test_hash_prompt_log_does_not_depend_on_chunking(tmp_path, monkeypatch):
    log = write_log(tmp_path / "a.csv", "csv")
    hash_prompt_log(log, tmp_path / "one")
    monkeypatch.setattr(prompts, "CHUNK_ROWS", 2)
    hash_prompt_log(log, tmp_path / "many")
    for name in ("ip_sightings", "prompt_templates"):
        one, many = (tmp_path / d / f"{name}.csv" for d in ("one", "many"))
        assert one.read_bytes() == many.read_bytes()


def test_hash_prompt_log_rejects_unknown_input(tmp_path):
    bad = tmp_path / "requests.txt"
    bad.write_text("x")
    with pytest.raises(ValueError):
        hash_prompt_log(bad, tmp_path / "out")
    no_prompt = tmp_path / "r.csv"
    no_prompt.write_text("account_id,ts\na,2026-01-01T00:00:00Z\n")
    with pytest.raises(ValueError, match="prompt"):
        hash_prompt_log(no_prompt, tmp_path / "out")


def test_spec_tells_partners_how_to_hash_in_linear_time():
    """The published hash is v1 and unchanged; the spec says how to compute it in linear time."""
    assert NORMALISATION_SPEC.startswith("## Prompt-template hash (ringwatch v1)")
    linear = NORMALISATION_SPEC[NORMALISATION_SPEC.index("### Linear time") :]
    assert "(?<![\\w.%+-])(?>E)+" in linear and "“" in linear and "‘" in linear
    # the third vector is the one a linear implementation can get wrong
    tricky = prompts._EXAMPLES[2]
    assert "@" in tricky and "“" in tricky and "‘" in tricky
    assert normalise_prompt(tricky) == "mail <email><email> and <str> plan: <str> three “four"
