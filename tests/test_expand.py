"""Membership that follows a found ring's own traces (graph.detection.expand), against the real database.

A hand-built delivery: a hydra whose core shares windows of its templates (a ring Leiden and
refine find), and thin members who each use two of the hydra's templates and no exit of
its pool, so that no thin member shares two entities with any single member; beside them a
VPN user on one of the hydra's exits, an account that borrowed one hydra template (a small
part of its traffic) and also rides a hydra exit, ordinary users and VPN users.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from delivery import write_delivery

from graph.db.connection import read
from graph.detection.detect import detect
from ingest.generate import Difficulty, generate_world
from ingest.load import ingest

N_CORE, N_THIN, N_NORMAL, N_VPN = 30, 20, 400, 30
DAY0 = pd.Timestamp("2026-02-01T09:00:00Z")


def tpl_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def when(hours: float) -> str:
    return (DAY0 + pd.Timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Delivery:
    """Rows of the five files, added account by account."""

    def __init__(self):
        self.rows: dict[str, list[dict]] = {
            k: [] for k in ("accounts", "payment_methods", "ip_sightings", "ip_intel", "prompt_templates")
        }

    def account(self, account: str, hours: float, card: str, method: str = "card") -> None:
        self.rows["accounts"].append({"account_id": account, "created_at": when(hours), "country": "US"})
        self.rows["payment_methods"].append({"account_id": account, "payment_fingerprint": card, "method_type": method})

    def template(self, account: str, name: str, requests: int, capability: str) -> None:
        self.rows["prompt_templates"].append(
            {
                "account_id": account,
                "template_hash": tpl_hash(name),
                "requests": requests,
                "first_seen": when(30),
                "last_seen": when(300),
                "capability": capability,
            }
        )

    def ip(self, account: str, address: str, requests: int = 20) -> None:
        self.rows["ip_sightings"].append(
            {"account_id": account, "ip": address, "first_seen": when(30), "last_seen": when(300), "requests": requests}
        )

    def intel(self, address: str, ip_type: str, provider: str = "") -> None:
        self.rows["ip_intel"].append(
            {"ip": address, "asn": "64500", "as_org": "Org", "ip_type": ip_type, "proxy_provider": provider}
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        return {k: pd.DataFrame(v) for k, v in self.rows.items()}


POOL = [f"198.51.100.{i}" for i in range(1, 16)]  # the hydra's residential-proxy exits
VPN = [f"203.0.113.{i}" for i in range(1, 4)]


def hydra(d: Delivery, rng: np.random.Generator) -> None:
    """The core (windows of 4 of 12 core templates, 2 pool exits, a thin template each) and the
    thin members (thin templates i and i+1, an exit of their own)."""
    for ip in POOL:
        d.intel(ip, "residential", "LumaProxy")
    for i in range(N_CORE):
        a = f"core_{i:02d}"
        d.account(a, rng.uniform(0, 20), f"core-card-{i}", "virtual_card")
        for k in range(4):
            d.template(a, f"core-{(i + k) % 12}", int(rng.integers(38, 43)), "coding" if k % 2 else "reasoning")
        d.template(a, f"thin-{i % N_THIN}", int(rng.integers(38, 43)), "coding")
        d.template(a, "public-1", 2, "chat")
        for ip in rng.choice(POOL, 2, replace=False):
            d.ip(a, str(ip))
    for i in range(N_THIN):
        a = f"thin_{i:02d}"
        d.account(a, rng.uniform(0, 20), f"thin-card-{i}", "prepaid_card")
        d.template(a, f"thin-{i}", int(rng.integers(38, 43)), "coding")
        d.template(a, f"thin-{(i + 1) % N_THIN}", int(rng.integers(38, 43)), "reasoning")
        d.template(a, f"public-{10 + i % 5}", 4, "chat")
        own = f"192.0.2.{i + 1}"
        d.intel(own, "residential", "LumaProxy")
        d.ip(a, own)


def others(d: Delivery, rng: np.random.Generator) -> None:
    """Ordinary users, VPN users, a VPN user on a hydra exit, an account that borrowed a hydra template."""
    for ip in VPN:
        d.intel(ip, "vpn", "SwiftVPN")
    for i in range(N_NORMAL + N_VPN):
        a = f"user_{i:03d}"
        d.account(a, rng.uniform(0, 24 * 60), f"user-card-{i}")
        for t in rng.choice(40, 3, replace=False):
            d.template(a, f"public-{t}", int(rng.integers(1, 80)), "chat")
        d.ip(a, f"10.{i // 250}.{i % 250}.1")
        if i >= N_NORMAL:
            d.ip(a, str(rng.choice(VPN)))
    d.account("bystander_vpn", 100, "bystander-card")
    d.ip("bystander_vpn", POOL[0])
    for t in range(3):
        d.template("bystander_vpn", f"bystander-own-{t}", 30, "chat")
    d.account("borrower", 100, "borrower-card")
    d.ip("borrower", POOL[1])
    d.template("borrower", "thin-3", 3, "coding")
    for t in range(3):
        d.template("borrower", f"borrower-own-{t}", 60, "writing")


@pytest.fixture(scope="module")
def thin(neo4j_server, tmp_path_factory):
    from graph.db import server
    from graph.db.connection import open_driver

    rng = np.random.default_rng(7)
    d = Delivery()
    hydra(d, rng)
    others(d, rng)
    folder = write_delivery(d.frames(), tmp_path_factory.mktemp("thin-hydra"))
    server.reset()
    driver = open_driver()
    lines: list[str] = []
    ingest(driver, folder, folder / "report.json")
    result = detect(driver, log=lines.append)
    yield {"driver": driver, "result": result, "log": lines}
    driver.close()


def membership(driver) -> pd.DataFrame:
    rows = read(
        driver,
        """
        MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring) WHERE coalesce(m.active, true)
        RETURN a.id AS account, r.id AS ring, r.status AS status, r.score AS score, m.evidence AS evidence""",
    )
    return pd.DataFrame(rows, columns=["account", "ring", "status", "score", "evidence"]).set_index("account")


def test_thin_hydra_members_join_the_found_ring_with_their_evidence(thin):
    m = membership(thin["driver"])
    core = [f"core_{i:02d}" for i in range(N_CORE)]
    thin_members = [f"thin_{i:02d}" for i in range(N_THIN)]
    assert set(core) <= set(m.index)
    ring = m.loc[core, "ring"].mode()[0]
    assert (m.loc[core, "ring"] == ring).all()
    assert m.loc[core[0], "status"] == "suspected"
    assert set(thin_members) <= set(m.index[m["ring"] == ring]), "thin members left out"
    for a in thin_members:
        evidence = m.loc[a, "evidence"]
        assert evidence.startswith("joined through the ring's own traces: uses 2 ring-only templates"), evidence
    assert any(line.startswith(f"expand: {N_THIN} accounts joined 1 found ring") for line in thin["log"]), thin["log"]


def test_no_thin_member_shares_two_entities_with_any_single_member(thin):
    """The premise: without expansion no thin member would be in the ring."""
    links = read(
        thin["driver"],
        """
        MATCH (a:Account)-[:USED_TEMPLATE|USED_IP|PAID_WITH]->(e)<-[:USED_TEMPLATE|USED_IP|PAID_WITH]-(b:Account)
        WHERE a.id STARTS WITH 'thin_' AND (b.id STARTS WITH 'thin_' OR b.id STARTS WITH 'core_')
        RETURN a.id AS a, b.id AS b, count(DISTINCT e) AS shared""",
    )
    assert links and max(r["shared"] for r in links) == 1


def test_a_vpn_user_on_one_hydra_exit_stays_out(thin):
    m = membership(thin["driver"])
    assert "bystander_vpn" not in m.index


def test_an_account_that_borrowed_one_hydra_template_stays_out(thin):
    """It holds two of the ring's traces (a hydra template and a hydra exit) but puts 2 % of its
    traffic on the ring's templates: the rule asks for a third."""
    m = membership(thin["driver"])
    assert "borrower" not in m.index


def test_ordinary_and_vpn_users_are_not_flagged(thin):
    m = membership(thin["driver"])
    users = m[m.index.str.startswith("user_")]
    assert (users["status"] != "suspected").all()


def test_without_expansion_the_thin_members_are_missed(thin):
    result = detect(thin["driver"], write=False, params={"expand": False}, log=lambda _: None)
    flagged = result.rings.loc[result.rings["score"] >= result.threshold, "community"]
    members = set(result.members.loc[result.members["community"].isin(flagged), "account"])
    assert {f"core_{i:02d}" for i in range(N_CORE)} <= members
    assert not any(a.startswith("thin_") for a in members)


# --- the generator's difficulty ---------------------------------------------------------------


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_difficulty_zero_is_todays_world_byte_for_byte(tmp_path):
    assert Difficulty.at(0.0) == Difficulty()
    generate_world(tmp_path / "default", 2_000, 11)
    generate_world(tmp_path / "zero", 2_000, 11, difficulty=0.0)
    assert digest(tmp_path / "default") == digest(tmp_path / "zero")
    with pytest.raises(ValueError, match="between 0 and 1"):
        Difficulty.at(1.5)


def test_the_hardest_level_spreads_a_hydra_thin(tmp_path):
    """A hydra at level 1: fewer of its templates per account, fewer accounts per template,
    fewer exits per account than at level 0."""

    def hydra_shape(level: float) -> tuple[float, float, float]:
        out = tmp_path / f"level-{level}"
        generate_world(out, 6_000, 3, difficulty=level)
        truth = pd.read_csv(out / "truth" / "accounts.csv", keep_default_na=False)
        hydra = set(truth.loc[truth["category"] == "farm_hydra", "account_id"])
        tpl = pd.read_csv(out / "prompt_templates.csv", usecols=["account_id", "template_hash"])
        users = tpl.groupby("template_hash")["account_id"].nunique()
        inside = tpl[tpl["account_id"].isin(hydra)].groupby("template_hash")["account_id"].nunique()
        own = inside[inside >= 0.8 * users.reindex(inside.index)]  # the hydra's own templates
        per_account = tpl[tpl["template_hash"].isin(own.index)].groupby("account_id").size().mean()
        ips = pd.read_csv(out / "ip_sightings.csv", usecols=["account_id", "ip"])
        exits = ips[ips["account_id"].isin(hydra)].groupby("account_id").size().mean()
        return per_account, own.mean(), exits

    easy, hard = hydra_shape(0.0), hydra_shape(1.0)
    assert hard[0] < 0.7 * easy[0]  # own templates per account (5.2 -> 3.0)
    assert hard[1] < 0.5 * easy[1]  # accounts per template (17.7 -> 6.8)
    assert hard[2] < 0.8 * easy[2]  # exits per account (2.0 -> 1.5)
