"""Scoring's member rule (graph.detection.scoring._members) for the weakest evidence it keeps:
one bound template and bound addresses, no card. Such an account is kept only with a third of
its template traffic on the bound templates, or a fifth if it never sent a prompt of its own
(expansion's rule for the same evidence): a residential-proxy user who borrowed one of the
farm's templates for a small part of its traffic goes out through the same exits, and is not
a member."""

import pandas as pd

from graph.detection.evidence import Evidence
from graph.detection.scoring import DEFAULT_PARAMS, score_communities

FARM = [f"farm{i:02d}" for i in range(12)]


def evidence(extra_templates: list[tuple[str, str, int]]) -> tuple[Evidence, pd.Series]:
    """A scripted farm of 12 on four templates of its own and six exits of one residential
    proxy service (member i on exits i and i+1 mod 6: every exit bound), and the accounts of
    `extra_templates` (account, template, requests), each also on exits 0 and 1; all in one
    community but the `outsider`s (no exits, in no community)."""
    tpl = [(a, f"farm-tpl{(i + k) % 4}", 10) for i, a in enumerate(FARM) for k in range(3)]
    tpl += extra_templates
    extra = sorted({a for a, _, _ in extra_templates if not a.startswith("outsider")})
    outsiders = sorted({a for a, _, _ in extra_templates if a.startswith("outsider")})
    ips = [(a, f"exit{(i + k) % 6}", 5) for i, a in enumerate(FARM) for k in range(2)]
    ips += [(a, f"exit{k}", 3) for a in extra for k in range(2)]
    accounts = FARM + extra
    ev = Evidence(
        accounts=pd.DataFrame(
            {"account": accounts + outsiders, "created": 1.7e9, "email_domain": "", "partner_flagged": False}
        ),
        payments=pd.DataFrame(columns=["account", "entity", "method_type", "bin", "partner_flagged"]),
        ips=pd.DataFrame(ips, columns=["account", "entity", "requests"]).assign(
            ip_type="residential", proxy="resi-net", partner_flagged=False
        ),
        templates=pd.DataFrame(tpl, columns=["account", "entity", "requests"]).assign(
            capability="coding", partner_flagged=False
        ),
    )
    return ev, pd.Series(1, index=accounts, name="community")


def members(extra_templates: list[tuple[str, str, int]]) -> set[str]:
    ev, community = evidence(extra_templates)
    _, m = score_communities(ev, community, DEFAULT_PARAMS)
    return set(m["account"])


# a popular template (nobody's own prompt), bound to nothing: most of its users are outside
PUBLIC = [(f"outsider{i}", "public-chat", 4) for i in range(3)]


def test_the_farm_itself_is_kept_whole():
    assert members(PUBLIC) >= set(FARM)


def test_a_proxy_user_with_a_borrowed_template_for_a_quarter_of_its_traffic_is_not_a_member():
    borrower = [("borrower", "farm-tpl0", 8), ("borrower", "own-prompt", 23)]  # 26% on the farm's
    assert "borrower" not in members(borrower + PUBLIC)


def test_with_most_of_its_traffic_on_the_farms_template_it_is_a_member():
    heavy = [("heavy", "farm-tpl0", 20), ("heavy", "own-prompt", 10)]  # 67%
    assert "heavy" in members(heavy + PUBLIC)


def test_without_a_prompt_of_its_own_a_fifth_is_enough():
    scripted = [("scripted", "farm-tpl0", 5), ("scripted", "public-chat", 15)]  # 25%, no own prompt
    assert "scripted" in members(scripted + PUBLIC)


def test_the_same_share_with_a_prompt_of_its_own_is_not():
    writer = [("writer", "farm-tpl0", 5), ("writer", "public-chat", 14), ("writer", "own-prompt", 2)]  # 24%
    assert "writer" not in members(writer + PUBLIC)


def test_two_bound_templates_need_no_share():
    two = [("two", "farm-tpl0", 2), ("two", "farm-tpl1", 2), ("two", "own-prompt", 40)]  # 9%
    assert "two" in members(two + PUBLIC)
