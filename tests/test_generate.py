"""The synthetic world generator: contract validity, determinism, formats and realism.

Pure Python (no database). Two worlds are generated once per module: a small one (2,000
accounts, every category and farm style must still be there) and a 25,000-account one for
the statistical shape of rings and benign look-alikes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from pathlib import Path

import pandas as pd
import pytest

from ingest.generate import BENIGN, CATEGORIES, FARMS, RELEASES, generate_world

FILES = ("accounts", "payment_methods", "ip_sightings", "ip_intel", "prompt_templates")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
HEX = re.compile(r"^[0-9a-f]+$")
CC = re.compile(r"^[A-Z]{2}$")
SPAN = (pd.Timestamp("2025-06-01", tz="UTC"), pd.Timestamp("2026-04-01", tz="UTC"))
CAPABILITY = {"reasoning", "coding", "tool_use", "agentic", "extraction"}
EXT = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}


def read(d: Path, name: str, fmt: str = "csv") -> pd.DataFrame:
    """A contract file as all-text columns, empty fields as ''."""
    path = d / f"{name}{EXT[fmt]}"
    if fmt == "parquet":
        df = pd.read_parquet(path)
        return df.astype(object).where(df.notna(), "").astype(str)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load(d: Path) -> dict[str, pd.DataFrame]:
    out = {name: read(d, name) for name in FILES}
    out["truth"] = pd.read_csv(d / "truth" / "accounts.csv", dtype=str, keep_default_na=False)
    out["rings"] = pd.read_csv(d / "truth" / "rings.csv", dtype={"ring_id": str, "style": str, "size": int})
    return out


def digest(d: Path) -> dict[str, str]:
    return {
        p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def times(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True, format="ISO8601")


def validate(w: dict[str, pd.DataFrame]) -> None:
    """Every rule of the data contract that a loader would quarantine a row for."""
    acc = w["accounts"]
    assert acc.account_id.str.len().between(1, 128).all()
    assert acc.account_id.map(str.isprintable).all()
    assert acc.account_id.is_unique
    assert acc.created_at.str.match(ISO).all()
    assert times(acc.created_at).between(*SPAN).all()
    assert acc.country[acc.country != ""].str.match(CC).all()
    dom = acc.email_domain[acc.email_domain != ""]
    assert (dom == dom.str.lower()).all() and dom.str.contains(r"^[a-z0-9.-]+\.[a-z]{2,}$").all()
    assert set(acc.plan) <= {"free", "pro", "team", "api", "enterprise"}
    known = set(acc.account_id)

    pay = w["payment_methods"]
    assert set(pay.account_id) <= known
    assert pay.payment_fingerprint.str.match(HEX).all()
    assert set(pay.method_type) <= {"card", "prepaid_card", "virtual_card", "wallet", "bank", "crypto", "other"}
    assert pay.bin[pay.bin != ""].str.match(r"^\d{6,8}$").all()
    assert pay.issuer_country[pay.issuer_country != ""].str.match(CC).all()
    assert pay.first_seen.str.match(ISO).all()
    assert not pay.duplicated(["account_id", "payment_fingerprint"]).any()

    ips = w["ip_sightings"]
    assert set(ips.account_id) <= known
    assert all(str(ipaddress.ip_address(x)) == x for x in ips.ip.unique())  # valid and canonical
    assert ips.first_seen.str.match(ISO).all() and ips.last_seen.str.match(ISO).all()
    assert (times(ips.first_seen) <= times(ips.last_seen)).all()
    assert (ips.requests.astype(int) >= 1).all()
    assert not ips.duplicated(["account_id", "ip"]).any()

    intel = w["ip_intel"]
    assert intel.ip.is_unique
    assert set(intel.ip) == set(ips.ip)  # one intel row per distinct sighted address
    assert (intel.asn.astype(int) > 0).all() and (intel.as_org != "").all()
    assert set(intel.ip_type) <= {"residential", "mobile", "business", "datacenter", "vpn", "proxy", "tor", "unknown"}
    with_provider = intel[intel.proxy_provider != ""]
    assert set(with_provider.ip_type) <= {"vpn", "proxy", "residential", "mobile"}
    assert (intel[intel.ip_type.isin(["vpn"])].proxy_provider != "").all()

    tpl = w["prompt_templates"]
    assert set(tpl.account_id) <= known
    assert tpl.template_hash.str.match(r"^[0-9a-f]{32}$").all()
    assert (tpl.requests.astype(int) >= 1).all()
    assert (times(tpl.first_seen) <= times(tpl.last_seen)).all()
    assert times(tpl.last_seen).between(*SPAN).all()
    assert not tpl.duplicated(["account_id", "template_hash"]).any()


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("small")
    return d, generate_world(d, 2_000, 11)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict[str, pd.DataFrame]]:
    """25,000 accounts with ground truth joined onto every account-level file."""
    d = tmp_path_factory.mktemp("world")
    generate_world(d, 25_000, 1)
    w = load(d)
    cat = w["truth"].set_index("account_id")
    for name in ("accounts", "payment_methods", "ip_sightings", "prompt_templates"):
        w[name] = w[name].join(cat, on="account_id")
    return d, w


# ------------------------------------------------------------------------------- validity


def test_small_world_is_valid_and_counts_match(small):
    d, counts = small
    w = load(d)
    validate(w)
    for name in FILES:
        assert counts[name] == len(w[name]) > 0
    assert counts["truth/accounts"] == len(w["truth"]) == 2_000
    assert counts["truth/rings"] == len(w["rings"])


def test_truth_covers_every_account_and_every_kind(small):
    d, _ = small
    w = load(d)
    truth, rings = w["truth"], w["rings"]
    assert list(truth.columns) == ["account_id", "ring_id", "category"]
    assert list(rings.columns) == ["ring_id", "style", "size"]
    assert set(truth.account_id) == set(w["accounts"].account_id)
    assert set(truth.category) == set(CATEGORIES)  # every benign kind and farm style, even at 2,000
    farm = truth.category.isin(FARMS)
    assert (truth.ring_id[farm] != "").all() and (truth.ring_id[~farm] == "").all()
    assert truth.ring_id[farm].str.match(r"^ring_\d{4,}$").all()
    members = truth[farm].groupby("ring_id").agg(size=("account_id", "size"), styles=("category", "unique"))
    rings = rings.set_index("ring_id")
    assert set(members.index) == set(rings.index)
    assert (members["size"] == rings["size"]).all()
    assert all(len(s) == 1 and s[0] == rings["style"][r] for r, s in members.styles.items())
    assert set(rings["style"]) == set(FARMS)


def test_big_world_is_valid(world):
    _, w = world
    validate(w)
    # every account has traffic: at least one address and one template
    ids = set(w["accounts"].account_id)
    assert set(w["ip_sightings"].account_id) == ids and set(w["prompt_templates"].account_id) == ids
    assert w["payment_methods"].account_id.nunique() > 0.8 * len(ids)  # some free users never pay


def test_bad_arguments():
    with pytest.raises(ValueError):
        generate_world(Path("/nonexistent-never-written"), 2_000, 1, fmt="xlsx")
    with pytest.raises(ValueError):
        generate_world(Path("/nonexistent-never-written"), 10, 1)


# ------------------------------------------------------------------------------- determinism, formats


def test_same_seed_same_bytes_other_seed_other_world(small, tmp_path):
    d, _ = small
    generate_world(tmp_path / "again", 2_000, 11)
    assert digest(tmp_path / "again") == digest(d)
    generate_world(tmp_path / "other", 2_000, 12)
    other = digest(tmp_path / "other")
    assert all(other[k] != v for k, v in digest(d).items())


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_formats_hold_the_same_rows(small, tmp_path, fmt):
    d, counts = small
    assert generate_world(tmp_path, 2_000, 11, fmt=fmt) == counts
    for name in FILES:
        assert (tmp_path / f"{name}{EXT[fmt]}").exists()
        pd.testing.assert_frame_equal(read(tmp_path, name, fmt), read(d, name))
    assert (tmp_path / "truth" / "accounts.csv").read_bytes() == (d / "truth" / "accounts.csv").read_bytes()
    again = tmp_path / "again"
    generate_world(again, 2_000, 11, fmt=fmt)
    assert digest(again) == {k: v for k, v in digest(tmp_path).items() if not k.startswith("again/")}


# ------------------------------------------------------------------------------- the shape of the world


def test_population_mix(world):
    _, w = world
    cat = w["truth"].category
    farm_share = cat.isin(FARMS).mean()
    assert 0.05 <= farm_share <= 0.08
    share = cat.value_counts(normalize=True)
    assert share["normal"] > 0.35
    assert all(share[c] > 0.01 for c in BENIGN)
    rings = w["rings"]
    hydra = rings[rings["style"] == "farm_hydra"]
    assert len(hydra) >= 1 and hydra["size"].max() >= 500
    assert (rings[rings["style"] == "farm_small_prepaid"]["size"].between(5, 15)).all()
    assert (rings[rings["style"] == "farm_company"]["size"].between(8, 80)).all()
    v6 = w["ip_intel"].ip.str.contains(":").mean()
    assert 0.03 < v6 < 0.5


def test_teams_share_one_company_card_a_nat_and_private_templates(world):
    _, w = world
    acc = w["accounts"]
    team = acc[acc.category == "team"]
    company = team.set_index("account_id").email_domain  # each company has a domain of its own
    size = team.groupby("email_domain").size()
    assert size.between(5, 60).all()
    plans = team.groupby("email_domain").plan.agg(["nunique", "first"])
    assert (plans["nunique"] == 1).all() and set(plans["first"]) <= {"team", "enterprise"}
    pay = w["payment_methods"]
    cards = pay[pay.category == "team"].assign(company=lambda d: d.account_id.map(company))
    per = cards.groupby("company").agg(cards=("payment_fingerprint", "nunique"), rows=("account_id", "size"))
    assert (per.cards == 1).all() and (per.rows == size[per.index]).all()
    assert set(cards.method_type) == {"card"}
    # private templates: used by the team and by nobody else
    tpl = w["prompt_templates"]
    users = tpl.groupby("template_hash").account_id.nunique()
    used = tpl[tpl.category == "team"].assign(company=lambda d: d.account_id.map(company))
    inside = used.groupby(["company", "template_hash"]).account_id.nunique().reset_index()
    inside["private"] = inside.account_id.to_numpy() == users[inside.template_hash].to_numpy()
    assert inside.groupby("company").private.any().all()
    # most members sign up on the company's onboarding day
    day = team.assign(day=team.created_at.str[:10]).groupby(["email_domain", "day"]).size()
    same_day = day.groupby(level=0).max() / size
    assert same_day.median() >= 0.5
    ips = w["ip_sightings"].merge(w["ip_intel"], on="ip")
    assert (ips[ips.category == "team"].ip_type == "business").mean() > 0.5


def test_households_share_a_card(world):
    _, w = world
    pay = w["payment_methods"]
    hh = pay[pay.category == "household"]
    per_card = hh.groupby("payment_fingerprint").account_id.nunique()
    shared = per_card[per_card > 1]
    assert len(shared) > 0 and shared.between(2, 5).all()
    assert hh.account_id.isin(hh[hh.payment_fingerprint.isin(shared.index)].account_id).mean() > 0.9


def test_shared_exits_mix_benign_users_and_farms(world):
    _, w = world
    ips = w["ip_sightings"].merge(w["ip_intel"], on="ip")
    per_ip = ips.groupby("ip").account_id.nunique()
    vpn = ips[ips.category == "vpn_user"]
    assert (vpn.ip_type == "vpn").mean() > 0.5 and (vpn[vpn.ip_type == "vpn"].proxy_provider != "").all()
    assert per_ip[vpn[vpn.ip_type == "vpn"].ip.unique()].mean() >= 20
    mob = ips[ips.category == "mobile_nat"]
    cgnat = mob[(mob.ip_type == "mobile") & ~mob.ip.str.contains(":")].ip.unique()
    assert per_ip[cgnat].median() >= 10  # carrier-grade NAT: many strangers behind one address
    benign_ips = set(ips[ips.ring_id == ""].ip)
    for style in ("farm_resproxy_pool", "farm_hydra"):
        exits = set(ips[ips.category == style].ip)
        assert len(exits & benign_ips) / len(exits) > 0.5
    providers = set(ips[ips.category == "resproxy_user"].proxy_provider) - {""}
    assert providers & set(ips[ips.category.isin(["farm_resproxy_pool", "farm_hydra"])].proxy_provider)
    for ring, rows in ips[ips.category == "farm_resproxy_pool"].groupby("ring_id"):
        assert rows.proxy_provider[rows.proxy_provider != ""].nunique() == 1, ring  # one proxy service


def test_farm_payment_patterns(world):
    _, w = world
    pay = w["payment_methods"]
    acc = w["accounts"]
    for ring, rows in pay[pay.category == "farm_small_prepaid"].groupby("ring_id"):
        assert rows.payment_fingerprint.nunique() <= 2 and set(rows.method_type) == {"prepaid_card"}, ring
        t = pd.to_datetime(acc[acc.ring_id == ring].created_at)
        assert t.max() - t.min() <= pd.Timedelta(hours=4)
    for ring, rows in pay[pay.category == "farm_resproxy_pool"].groupby("ring_id"):
        per_card = rows.groupby("payment_fingerprint").account_id.nunique()
        assert set(rows.method_type) == {"prepaid_card"} and per_card.mean() >= 3, ring
    for ring, rows in pay[pay.category == "farm_virtual_cards"].groupby("ring_id"):
        assert set(rows.method_type) == {"virtual_card"} and rows.payment_fingerprint.is_unique
        assert rows.bin.nunique() <= 2, ring
    hyd = pay[pay.category == "farm_hydra"]
    assert hyd.payment_fingerprint.is_unique
    assert set(hyd.method_type) <= {"virtual_card", "prepaid_card", "wallet"}
    for ring, rows in pay[pay.category == "farm_company"].groupby("ring_id"):
        members = acc[acc.ring_id == ring]
        assert rows.payment_fingerprint.nunique() == 1 and len(rows) == len(members), ring
        assert members.email_domain.nunique() == 1 and set(members.plan) <= {"team", "enterprise"}


def test_hydra_signs_up_in_waves_after_releases(world):
    _, w = world
    acc = w["accounts"]
    t = pd.to_datetime(acc[acc.category == "farm_hydra"].created_at).astype("int64") // 10**9
    after = t.to_numpy()[:, None] - RELEASES[None, :]
    assert ((after >= 0) & (after <= 8 * 86_400)).any(axis=1).all()
    ips = w["ip_sightings"]
    per_acc = ips[ips.category == "farm_hydra"].groupby("account_id").size()
    assert per_acc.between(1, 3).all()


def test_farms_use_private_capability_templates_with_uniform_volumes(world):
    _, w = world
    tpl = w["prompt_templates"]
    tpl = tpl.assign(requests=tpl.requests.astype(int))
    users = tpl.groupby("template_hash").account_id.nunique()
    for ring, rows in tpl[tpl.ring_id != ""].groupby("ring_id"):
        inside = rows.groupby("template_hash").account_id.nunique()
        private = inside[inside / users[inside.index] >= 0.75].index
        assert rows[rows.template_hash.isin(private)].requests.sum() / rows.requests.sum() > 0.7, ring
        assert len(private) >= 3
        # each account uses a subset of the pool, not all of it
        per_acc = rows[rows.template_hash.isin(private)].groupby("account_id").size()
        assert per_acc.max() < len(private) or len(per_acc) < 3
        cap = rows[rows.template_hash.isin(private)]
        assert cap.capability.isin(CAPABILITY).mean() > 0.95
        assert rows.requests.sum() > 0
    vol = tpl.groupby(["category", "ring_id", "account_id"]).requests.sum().reset_index()
    cv = vol.groupby(["category", "ring_id"]).requests.agg(lambda v: v.std() / v.mean())
    assert (cv.loc[list(FARMS)] < 0.6).all()
    assert cv.loc["normal"].iloc[0] > 1.0  # heavy-tailed benign volumes
    company = tpl[tpl.category == "farm_company"]
    assert company[company.capability.isin(CAPABILITY)].requests.sum() / company.requests.sum() > 0.8


def test_benign_look_alikes(world):
    _, w = world
    tpl = w["prompt_templates"]
    users = tpl.groupby("template_hash").account_id.nunique()
    res = tpl[tpl.category == "researcher"]
    n_res = res.account_id.nunique()
    by_tpl = res.groupby("template_hash").account_id.nunique()
    assert (by_tpl >= 0.3 * n_res).sum() >= 3  # the same public benchmarks, run by many researchers
    assert res.capability[res.template_hash.isin(by_tpl[by_tpl >= 0.3 * n_res].index)].isin(CAPABILITY).all()
    app = tpl[tpl.category == "app_user"]
    assert users[app.template_hash.unique()].max() >= 300  # app templates used by crowds
    acc = w["accounts"]
    months = acc[acc.category == "normal"].created_at.str[:7].nunique()
    assert months >= 9  # benign sign-ups spread over the whole span
