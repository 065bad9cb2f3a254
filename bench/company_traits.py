"""Traits that might tell a farm dressed as a company from a real team, measured on a generated world.

    python bench/company_traits.py [--accounts 20000] [--seed 3] [--difficulty 1]

Generates a world (or reads one: --world DIR) and, from its files and truth alone (no
database), measures per group (each planted farm; each team, grouped by e-mail domain,
3 accounts or more): members who sent a prompt of their own (a template no other account
used), traffic on such prompts, the coefficient of variation of member volumes and of
templates per member, the mean cosine of members' capability mixes to the group's, the
median hours from sign-up to first use, and the entropy of the first-seen hour of day.
Prints the company-dressed farms one by one and the teams' mean, min and max: the table in
docs/detection-quality.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def read_world(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accounts with ring_id, category and group; template rows with each template's user count)."""
    accounts = pd.read_csv(folder / "accounts.csv", parse_dates=["created_at"])
    truth = pd.read_csv(folder / "truth" / "accounts.csv", keep_default_na=False)
    accounts = accounts.merge(truth, on="account_id")
    team = "team:" + accounts["email_domain"].astype(str)
    accounts["group"] = np.where(
        accounts["ring_id"] != "", accounts["ring_id"], np.where(accounts["category"] == "team", team, "")
    )
    accounts = accounts[accounts["group"] != ""]
    accounts = accounts[accounts["group"].map(accounts["group"].value_counts()) >= 3]
    templates = pd.read_csv(folder / "prompt_templates.csv", parse_dates=["first_seen"])
    templates["users"] = templates["template_hash"].map(templates.groupby("template_hash")["account_id"].nunique())
    return accounts, templates


def traits(group: pd.DataFrame) -> dict:
    """The traits of one group's template rows (with created_at)."""
    volume = group.groupby("account_id")["requests"].sum()
    own = group[group["users"] == 1].groupby("account_id")["requests"].sum().reindex(volume.index).fillna(0)
    mix = group.pivot_table(index="account_id", columns="capability", values="requests", aggfunc="sum").fillna(0)
    mix = mix.div(mix.sum(axis=1), axis=0)
    mean = mix.mean()
    cosine = (mix @ mean) / (np.linalg.norm(mix, axis=1) * np.linalg.norm(mean))
    first_use = group.groupby("account_id")["first_seen"].min() - group.groupby("account_id")["created_at"].first()
    hours = np.bincount(group["first_seen"].dt.hour, minlength=24) / len(group)
    per_member = group.groupby("account_id")["template_hash"].nunique()
    return {
        "members_with_own_prompt": (own > 0).mean(),
        "own_prompt_traffic": (own / volume).mean(),
        "volume_cv": volume.std() / volume.mean(),
        "templates_per_member_cv": per_member.std() / per_member.mean(),
        "mix_cosine": cosine.mean(),
        "hours_to_first_use": first_use.dt.total_seconds().median() / 3600,
        "first_seen_hour_entropy": -(hours[hours > 0] * np.log2(hours[hours > 0])).sum(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, help="a generated world's folder (else one is generated)")
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--difficulty", type=float, default=1.0)
    args = parser.parse_args()
    folder = args.world
    if folder is None:
        from ingest.generate import generate_world

        folder = Path(tempfile.mkdtemp(prefix="company-traits-"))
        generate_world(folder, args.accounts, args.seed, difficulty=args.difficulty)
    accounts, templates = read_world(folder)
    rows = templates.merge(accounts[["account_id", "group", "category", "created_at"]], on="account_id")
    table = pd.DataFrame(
        [{"group": g, "category": f["category"].iloc[0], **traits(f)} for g, f in rows.groupby("group")]
    ).set_index("group")
    pd.set_option("display.width", 200)
    print(table[table["category"] == "farm_company"].round(3).to_string())
    teams = table[table["category"] == "team"].drop(columns="category")
    print(f"\nteams ({len(teams)}):")
    print(teams.agg(["mean", "min", "max"]).round(3).to_string())


if __name__ == "__main__":
    main()
