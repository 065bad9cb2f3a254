"""One chunk of accounts -> the rows of every file.

Each chunk draws from its own Generator seeded with [seed, 1, chunk index], in a fixed
order of files (templates, addresses, payments), so a chunk's rows depend only on the plan
and the addresses allocated by earlier chunks; memory is bounded by one chunk.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ingest.files import iso_utc

from .address_rows import address_rows
from .chunk import Chunk, chunk_of
from .constants import PLANS
from .encoding import code_strings
from .payment_rows import payment_rows
from .plan import World
from .reference import COUNTRIES
from .template_rows import prompt_template_rows
from .truth import account_truth

__all__ = ["account_rows", "chunk_tables"]


def account_rows(world: World, chunk: Chunk) -> pa.Table:
    """The chunk's accounts table: id, sign-up, claimed country, e-mail domain, plan."""
    accounts = chunk.accounts
    return pa.table(
        {
            "account_id": chunk.account_id,
            "created_at": iso_utc(chunk.created),
            "country": code_strings(world.claimed_country[accounts], COUNTRIES),
            "email_domain": code_strings(world.domain[accounts], world.domains),
            "plan": code_strings(chunk.plan, PLANS),
        }
    )


def chunk_tables(world: World, index: int) -> dict[str, pa.Table]:
    """All rows of the accounts at output positions [index*CHUNK, (index+1)*CHUNK), by file
    name ("accounts", ..., "truth/accounts"). Updates the world's address state."""
    rng = np.random.default_rng([world.seed, 1, index])
    chunk = chunk_of(world, index)
    tables = {"accounts": account_rows(world, chunk), "truth/accounts": account_truth(world, chunk)}
    tables["prompt_templates"], total = prompt_template_rows(rng, world, chunk)
    tables["ip_sightings"], tables["ip_intel"] = address_rows(rng, world, chunk, total)
    tables["payment_methods"] = payment_rows(rng, world, chunk)
    return tables
