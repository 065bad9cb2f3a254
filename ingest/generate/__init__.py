"""Synthetic world generator: a delivery in the data contract plus its ground truth.

`generate_world(out_dir, accounts, seed)` writes the five contract files (accounts,
payment_methods, ip_sightings, ip_intel, prompt_templates) as CSV, gzip'd CSV or Parquet,
and `truth/accounts.csv` (account_id, ring_id, category) and `truth/rings.csv`
(ring_id, style, size).

The world is meant to be hard the way real data is hard. About 7 % of accounts belong to
adversarial-distillation farms of five styles; the rest are benign users of eight kinds
that share payment instruments, addresses and templates for innocent reasons:

    benign   normal, team, household, vpn_user, resproxy_user, mobile_nat, researcher, app_user
    farms    farm_small_prepaid, farm_resproxy_pool, farm_virtual_cards, farm_hydra, farm_company

Confounders on purpose: companies share one card and a NAT and have private templates
(some are AI dev shops whose templates are coding/agentic); households share a card and an
address; VPN exits and mobile CGNAT addresses are shared by hundreds of strangers; benign
residential-proxy users ride the very exits farms use; researchers run the same public
benchmark templates with uniform volumes; benign users sign up in bursts after model
releases too. Farms show the real tells only in combination: private capability-eliciting
templates spread over accounts with uniform per-account volumes, shared prepaid cards or
a run of virtual cards from one BIN, datacenter subnets, tight sign-up windows or waves.

How it is built, and what it costs. One global pass plans the population with numpy
(`plan`: per-account arrays of category, group, country, sign-up and activity window;
per-group card, address and template pools; the shared pools of VPN, proxy and carrier
addresses), a few dozen bytes per account. Accounts are then visited in a shuffled order
in fixed chunks of `CHUNK` accounts; each chunk draws its rows vectorised from its own
seeded generator and appends them to every output file (`rows`, `writing`), so memory is
bounded by one chunk and the output does not depend on the format. Identifiers, hashes,
addresses and timestamps are formatted with array arithmetic (no per-row Python). A seed
gives byte-identical files: gzip headers carry no time and Parquet is written without
wall-clock metadata. About 40 s and 0.5 GB peak memory per million accounts (CSV, one core).

Modules, in the order the data flows:

    constants, reference   vocabulary, proportions, static tables (countries, domains, ...)
    difficulty             how hard the farms are: level 0 (these worlds) to 1, as knobs
    networks, cards        the AS table and address text; card BINs (seed independent)
    encoding, arrays       vectorised hashing/formatting; small pure array helpers
    farms, benign          rings by style; benign groups and sign-up curve
    population, timeline   layout of accounts, group traits, countries, plans; activity windows
    domains, templates, instruments, pools    the rest of the plan
    plan                   World and plan_world (the order of planning steps)
    chunk                  what row builders know about one chunk
    template_rows, address_rows, payment_rows, truth    per-chunk rows of each file
    rows, writing          one chunk's tables; generate_world

Writing the files themselves (schemas, sinks, ISO time text) lives in `ingest.files`.
"""

from __future__ import annotations

from ingest.files import FORMATS, TableSink, iso_utc, schema

from .constants import (
    BENIGN,
    BENIGN_SHARE,
    CAPS,
    CATEGORIES,
    CHUNK,
    DAY,
    FARM_FRACTION,
    FARM_SHARE,
    FARM_SIZE,
    FARMS,
    HOUR,
    IP_TYPES,
    METHODS,
    MIN_ACCOUNTS,
    PLANS,
    PROVIDERS,
    RELEASES,
    T0,
    T1,
)
from .difficulty import Difficulty
from .writing import generate_world

__all__ = [
    "BENIGN",
    "BENIGN_SHARE",
    "CAPS",
    "CATEGORIES",
    "CHUNK",
    "DAY",
    "FARMS",
    "FARM_FRACTION",
    "FARM_SHARE",
    "FARM_SIZE",
    "FORMATS",
    "HOUR",
    "IP_TYPES",
    "METHODS",
    "MIN_ACCOUNTS",
    "PLANS",
    "PROVIDERS",
    "RELEASES",
    "T0",
    "T1",
    "Difficulty",
    "TableSink",
    "generate_world",
    "iso_utc",
    "schema",
]
