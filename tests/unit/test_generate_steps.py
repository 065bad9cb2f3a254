"""Fast unit tests of the generator's pure steps and of the contract-file writer (no database).

Small worlds (a few thousand accounts, tens of milliseconds each): determinism of the plan
and of one chunk's rows for a seed, planted rings adding up, shared pools that hold distinct
addresses, and `ingest.files` writing the same bytes for the same rows.
"""

from __future__ import annotations

import gzip
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from ingest.contract import FILES
from ingest.files import FORMATS, TableSink, iso_utc, iso_utc_ms, schema
from ingest.generate import MIN_ACCOUNTS, generate_world
from ingest.generate.arrays import cumcount, expand, pick_window
from ingest.generate.benign import draw_benign_groups
from ingest.generate.constants import CATEGORY_CODE, FARM_FRACTION, FARMS
from ingest.generate.farms import draw_rings
from ingest.generate.plan import plan_world
from ingest.generate.population import BenignGroups, lay_out_population
from ingest.generate.rows import chunk_tables

N = 3_000


@pytest.fixture(scope="module")
def world():
    return plan_world(N, 5)


def test_plan_is_deterministic_for_a_seed(world):
    again = plan_world(N, 5)
    for name in ("country", "claimed_country", "created", "end", "plan", "domain", "order"):
        np.testing.assert_array_equal(getattr(world, name), getattr(again, name), err_msg=name)
    np.testing.assert_array_equal(world.population.category, again.population.category)
    np.testing.assert_array_equal(world.templates.capability, again.templates.capability)
    np.testing.assert_array_equal(world.pools.ip, again.pools.ip)
    assert world.domains == again.domains
    assert world.key == again.key


def test_another_seed_gives_another_world(world):
    other = plan_world(N, 6)
    assert not np.array_equal(world.order, other.order)
    assert not np.array_equal(world.created, other.created)
    assert world.key != other.key


def test_chunk_rows_are_deterministic_for_a_seed():
    first = chunk_tables(plan_world(N, 5), 0)
    second = chunk_tables(plan_world(N, 5), 0)
    assert list(first) == list(second)
    for name, table in first.items():
        assert table.equals(second[name]), name
    assert first["accounts"].num_rows == N
    assert first["truth/accounts"].column("account_id").equals(first["accounts"].column("account_id"))


def test_planted_rings_add_up(world):
    population = world.population
    sizes = np.array(population.ring_sizes)
    assert population.n_ring == len(population.ring_styles) == len(sizes) > 0
    assert set(population.ring_styles) == set(FARMS)  # every style, even in a small world
    np.testing.assert_array_equal(population.group_size[: population.n_ring], sizes)
    assert population.is_ring.sum() == sizes.sum()
    members = Counter(population.category[population.is_ring].tolist())
    per_style = Counter()
    for style, size in zip(population.ring_styles, population.ring_sizes, strict=True):
        per_style[CATEGORY_CODE[style]] += size
    assert members == per_style
    assert len(population.category) == N
    assert abs(sizes.sum() - FARM_FRACTION * N) <= 0.5 * FARM_FRACTION * N


def test_ring_sizes_fill_the_farm_budget():
    rings = draw_rings(np.random.default_rng(1), 1_000_000)
    total = sum(size for _, size in rings)
    assert abs(total - FARM_FRACTION * 1_000_000) / (FARM_FRACTION * 1_000_000) < 0.01
    assert {style for style, _ in rings} == set(FARMS)


def test_groups_are_contiguous_and_ranked(world):
    population = world.population
    in_group = population.in_group
    assert (np.bincount(population.group[in_group], minlength=population.n_groups) == population.group_size).all()
    assert (np.diff(population.group[in_group]) >= 0).all()  # structured order
    assert (population.rank[in_group] < population.group_size[population.group[in_group]]).all()


def test_a_world_too_small_for_its_groups_is_refused():
    benign = draw_benign_groups(np.random.default_rng(1), 80)
    crowded = BenignGroups(wanted=benign.wanted, teams=[60], households=[], labs=[])  # leaves no normal users
    with pytest.raises(ValueError, match="too small"):
        lay_out_population(100, [("farm_hydra", 20)], crowded)
    assert lay_out_population(100, [("farm_hydra", 20)], benign).n_accounts == 100


def test_generate_world_refuses_few_accounts_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=str(MIN_ACCOUNTS)) as error:
        generate_world(tmp_path / "never", 100, 1)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "never").exists()


def test_shared_pools_hold_distinct_addresses_inside_the_pool(world):
    pools = world.pools
    assert len(set(pools.ip.tolist())) == len(pools.ip)
    ends = [pools.cgnat_start + pools.cgnat_count, pools.vpn.sum(axis=1), pools.resproxy.sum(axis=1)]
    ends += [pools.dcproxy.sum(axis=1), pools.group_start + pools.group_count, np.array([sum(pools.tor)])]
    assert max(int(end.max()) for end in ends) <= len(pools.ip)


def test_cumcount_and_expand():
    np.testing.assert_array_equal(cumcount(np.array([3, 1, 3, 3, 1])), [0, 0, 1, 2, 1])
    owner, index = expand(np.array([2, 0, 3]))
    np.testing.assert_array_equal(owner, [0, 0, 2, 2, 2])
    np.testing.assert_array_equal(index, [0, 1, 0, 1, 2])


def test_pick_window_takes_distinct_items_of_the_pool():
    rng = np.random.default_rng(0)
    accounts = np.arange(50)
    start = np.full(50, 100)
    count = np.full(50, 7)
    account, item = pick_window(rng, accounts, start, count, np.full(50, 5))
    assert len(account) == 250
    assert ((item >= 100) & (item < 107)).all()
    assert len(set(zip(account.tolist(), item.tolist(), strict=True))) == 250


def test_progress_goes_to_the_callback(tmp_path):
    lines: list[str] = []
    counts = generate_world(tmp_path, MIN_ACCOUNTS, 3, progress=lines.append)
    assert lines[0].startswith("generate: chunk 1/1 (500 accounts")
    assert lines[-1].startswith("generate: done in")
    assert counts["accounts"] == MIN_ACCOUNTS
    assert list(counts) == [
        "accounts",
        "payment_methods",
        "ip_sightings",
        "ip_intel",
        "prompt_templates",
        "truth/accounts",
        "truth/rings",
    ]


def _sample_table(third_id: str = "a3") -> pa.Table:
    return pa.table(
        {
            "account_id": ["a1", "a2", third_id],
            "ip": ["10.0.0.1", None, "2001:db8::1"],
            "first_seen": iso_utc(np.array([0, 86_399, 1_709_208_000])),
            "last_seen": iso_utc(np.array([1, 86_400, 1_709_208_001])),
            "requests": pa.array([1, 2, 3]),
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "csv.gz"])
def test_sink_writes_the_same_bytes_twice(tmp_path, fmt):
    paths = [tmp_path / f"{run}{FORMATS[fmt]}" for run in ("one", "two")]
    for path in paths:
        sink = TableSink(path, "ip_sightings", fmt)
        sink.write(_sample_table())
        sink.write(_sample_table().slice(0, 1))
        sink.close()
        assert sink.rows == 4
    assert paths[0].read_bytes() == paths[1].read_bytes()
    raw = paths[0].read_bytes()
    text = (gzip.decompress(raw) if fmt == "csv.gz" else raw).decode()
    assert text.splitlines() == [
        "account_id,ip,first_seen,last_seen,requests",
        "a1,10.0.0.1,1970-01-01T00:00:00Z,1970-01-01T00:00:01Z,1",
        "a2,,1970-01-01T23:59:59Z,1970-01-02T00:00:00Z,2",
        "a3,2001:db8::1,2024-02-29T12:00:00Z,2024-02-29T12:00:01Z,3",
        "a1,10.0.0.1,1970-01-01T00:00:00Z,1970-01-01T00:00:01Z,1",
    ]


def test_sink_quotes_a_chunk_that_needs_it(tmp_path):
    path = tmp_path / "ip_sightings.csv"
    sink = TableSink(path, "ip_sightings", "csv")
    sink.write(_sample_table("a,3"))  # a comma: this chunk's text fields are quoted
    sink.close()
    back = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=schema("ip_sightings")))
    assert back.column("account_id").to_pylist() == ["a1", "a2", "a,3"]
    assert back.column("ip").to_pylist() == ["10.0.0.1", "", "2001:db8::1"]  # a null is an empty field
    assert back.column("requests").to_pylist() == [1, 2, 3]


def test_parquet_sink_writes_the_same_bytes_twice(tmp_path):
    paths = [tmp_path / f"{run}.parquet" for run in ("one", "two")]
    for path in paths:
        sink = TableSink(path, "ip_sightings", "parquet")
        sink.write(_sample_table())
        sink.close()
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert pq.read_table(paths[0]).schema == schema("ip_sightings")


def test_schema_follows_the_contract():
    for kind, spec in FILES.items():
        assert schema(kind).names == list(spec.columns)
    assert schema("ip_sightings").field("requests").type == pa.int64()
    assert schema("ip_intel").field("asn").type == pa.int64()
    assert schema("accounts").field("created_at").type == pa.string()
    assert FORMATS == {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}


@pytest.mark.parametrize("seed", [1, 2])
def test_iso_utc_ms_writes_what_arrows_strftime_writes(seed):
    rng = np.random.default_rng(seed)
    millis = rng.integers(-9_000_000_000_000, 9_000_000_000_000, 50_000)  # 1684 to 2255
    values = pa.array(millis, pa.int64(), mask=rng.random(len(millis)) < 0.1)
    by_arrow = pc.strftime(values.cast(pa.timestamp("ms", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
    assert iso_utc_ms(values).equals(by_arrow)  # the same text, nulls where null
    assert iso_utc_ms(values.slice(7, 1000)).equals(by_arrow.slice(7, 1000))
    assert iso_utc_ms(pa.array([-1, 0], pa.int64())).to_pylist() == [
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z",
    ]
