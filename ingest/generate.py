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
(per-account arrays of category, group, country, sign-up and activity window; per-group
card, address and template pools; the shared pools of VPN, proxy and carrier addresses),
a few dozen bytes per account. Accounts are then visited in a shuffled order in fixed
chunks of `CHUNK` accounts; each chunk draws its rows vectorised from its own seeded
generator and appends them to every output file, so memory is bounded by one chunk and
the output does not depend on the format. Identifiers, hashes, addresses and timestamps
are formatted with array arithmetic (no per-row Python). A seed gives byte-identical
files: gzip headers carry no time and Parquet is written without wall-clock metadata.
About 40 s and 0.5 GB peak memory per million accounts (CSV, one core).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CHUNK = 50_000  # accounts per output chunk; fixed so every format holds the same rows

FORMATS = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}

BENIGN = ("normal", "team", "household", "vpn_user", "resproxy_user", "mobile_nat", "researcher", "app_user")
FARMS = ("farm_small_prepaid", "farm_resproxy_pool", "farm_virtual_cards", "farm_hydra", "farm_company")
CATEGORIES = BENIGN + FARMS
_C = {name: i for i, name in enumerate(CATEGORIES)}
_INDIVIDUAL = ("normal", "vpn_user", "resproxy_user", "mobile_nat", "researcher", "app_user")  # no group

# shares of the benign population (the rest of `normal` absorbs rounding)
BENIGN_SHARE = {
    "normal": 0.50, "team": 0.12, "household": 0.07, "vpn_user": 0.06, "resproxy_user": 0.04,
    "mobile_nat": 0.08, "researcher": 0.03, "app_user": 0.10,
}
FARM_FRACTION = 0.07
FARM_SHARE = {
    "farm_small_prepaid": 0.06, "farm_resproxy_pool": 0.21, "farm_virtual_cards": 0.19,
    "farm_hydra": 0.45, "farm_company": 0.09,
}
# (typical low, typical high, smallest allowed when a small world scales a ring down)
FARM_SIZE = {
    "farm_small_prepaid": (5, 15, 5), "farm_resproxy_pool": (100, 400, 12),
    "farm_virtual_cards": (100, 400, 12), "farm_hydra": (1000, 5000, 20), "farm_company": (20, 80, 8),
}
MIN_ACCOUNTS = 500

DAY = 86_400
HOUR = 3_600


def _epoch(text: str) -> int:
    return int(np.datetime64(text, "s").astype(np.int64))


T0 = _epoch("2025-06-01T00:00:00")
T1 = _epoch("2026-03-31T23:59:59")
RELEASES = np.array([_epoch(d) for d in ("2025-07-22T17:00:00", "2025-10-14T17:00:00",
                                          "2025-12-09T17:00:00", "2026-02-24T17:00:00")])

PLANS = ["free", "pro", "team", "api", "enterprise"]
_P = {p: i for i, p in enumerate(PLANS)}
METHODS = ["card", "prepaid_card", "virtual_card", "wallet", "bank", "crypto"]
_M = {m: i for i, m in enumerate(METHODS)}
IP_TYPES = ["residential", "mobile", "business", "datacenter", "vpn", "proxy", "tor", "unknown"]
_T = {t: i for i, t in enumerate(IP_TYPES)}
CAPS = ["chat", "writing", "summarize", "translation", "coding", "reasoning", "extraction",
        "tool_use", "agentic", "classification"]

VPN_PROVIDERS = ["SwiftVPN", "AirShield VPN", "HaloTunnel", "CloakWave VPN", "PrivaLink VPN", "BurrowVPN"]
RESPROXY_PROVIDERS = ["LumaProxy", "OxyNet Residential", "PeerHop Residential", "NimbleIP", "GeoMesh Proxy"]
DCPROXY_PROVIDERS = ["StaticHop Proxies", "RackRoute Proxy"]
PROVIDERS = VPN_PROVIDERS + RESPROXY_PROVIDERS + DCPROXY_PROVIDERS
_VPN0, _RES0, _DCP0 = 0, len(VPN_PROVIDERS), len(VPN_PROVIDERS) + len(RESPROXY_PROVIDERS)

# ---------------------------------------------------------------------------------------
# static reference tables (the same for every seed)

# country, weight, UTC offset in hours (for day-time sign-ups)
_COUNTRIES = [
    ("US", 22, -5), ("IN", 9, 5.5), ("GB", 6, 0), ("DE", 5, 1), ("FR", 4, 1), ("BR", 4, -3), ("CA", 3.5, -5),
    ("JP", 3.5, 9), ("KR", 3, 9), ("ID", 3, 7), ("AU", 2, 10), ("ES", 2, 1), ("IT", 2, 1), ("MX", 2, -6),
    ("NG", 2, 1), ("TR", 2, 3), ("VN", 2, 7), ("PH", 2, 8), ("NL", 1.5, 1), ("PL", 1.5, 1), ("PK", 1.5, 5),
    ("TW", 1.5, 8), ("SE", 1, 1), ("SG", 1, 8), ("IL", 1, 2), ("CH", 1, 1), ("ZA", 1, 2), ("AR", 1, -3),
    ("UA", 1, 2), ("EG", 1, 2),
]
CC = [c for c, _, _ in _COUNTRIES]
_CW = np.array([w for _, w, _ in _COUNTRIES], float)
_CW /= _CW.sum()
_TZ = np.array([tz for _, _, tz in _COUNTRIES])
_CI = {c: i for i, c in enumerate(CC)}

_ISP_WORDS = """
    Northwind Bluewave Skyline Riverbend Meridian Crestnet Harbor Pinecone Silverline Horizon Evergreen
    Brightpath Summit Lakeshore Redwood Copperfield Falcon Aurora Granite Maple Cobalt Orchid Sable Tundra
    Zephyr Vista Beacon Keystone Ironbridge Goldcoast Westgate Eastline Coral Monsoon Saffron Jade Indigo
    Nimbus Quartz Solstice Kestrel Larkspur Marlin Oakridge Pelican Sequoia Tamarind Umber Valence Willow
    Yarrow Alder Bramble Cypress Driftwood Ember Fjord Glacier Heron Islay Juniper Kelp Lotus Mistral Nectar
    Obsidian Prairie Quill Rosewood Sirocco Thistle Upland Verdant Wren Xenon Yucca Zinnia""".split()
_HOSTING = [
    ("Cloudline Hosting", "US"), ("Stackforge Cloud", "US"), ("Nebula Compute", "DE"), ("Packetbarn", "NL"),
    ("Hostiq Servers", "FR"), ("Vaultrack DC", "GB"), ("OrbitVPS", "SG"), ("Kumo Cloud", "JP"),
]
_UNIVERSITIES = [  # name, country, e-mail domain
    ("University of Eastbrook", "US", "eastbrook.edu"),
    ("Northfield Institute of Technology", "US", "nfit.edu"),
    ("Westmoor University", "GB", "westmoor.ac.uk"),
    ("Technische Hochschule Lindenau", "DE", "th-lindenau.de"),
    ("Universite de Valmont", "FR", "univ-valmont.fr"),
    ("Kitamura University", "JP", "kitamura-u.ac.jp"),
    ("Hanbit National University", "KR", "hanbit.ac.kr"),
    ("Rampur Institute of Science", "IN", "ris.ac.in"),
    ("Universidade Serra Azul", "BR", "usazul.edu.br"),
    ("University of Kingsford", "CA", "kingsford.ca"),
    ("Harbourside University", "AU", "harbourside.edu.au"),
    ("Zeeland Technical University", "NL", "ztu.nl"),
    ("Alpenrand Polytechnic", "CH", "alpenrand.ch"),
    ("Merlion Institute of Technology", "SG", "merlion.edu.sg"),
    ("Universitat Costa Daurada", "ES", "ucdaurada.es"),
    ("Universita di Montelago", "IT", "unimontelago.it"),
    ("Politechnika Wislana", "PL", "pwis.edu.pl"),
    ("Uppvik University", "SE", "uppvik.se"),
    ("Carmel Institute of Science", "IL", "carmel-sci.ac.il"),
    ("Universidad del Valle Alto", "MX", "uvalto.mx"),
    ("Institut Teknologi Nusantara", "ID", "itn.ac.id"),
    ("University of Lagosia", "NG", "unilagosia.edu.ng"),
    ("Bosphorus Technical University", "TR", "btu.edu.tr"),
    ("Formosa Tech University", "TW", "formosatech.edu.tw"),
    ("Rampur Institute of Technology", "IN", "rit.ac.in"),
    ("University of Stonehaven", "US", "stonehaven.edu"),
]
_CONSUMER_DOMAINS = [("gmail.com", 45), ("outlook.com", 10), ("hotmail.com", 6), ("yahoo.com", 6),
                     ("icloud.com", 5), ("proton.me", 2)]
_LOCAL_DOMAINS = {
    "DE": ["gmx.de", "web.de", "t-online.de"], "FR": ["orange.fr", "free.fr"],
    "JP": ["yahoo.co.jp", "docomo.ne.jp"],
    "KR": ["naver.com", "daum.net"], "IN": ["rediffmail.com"], "BR": ["uol.com.br", "bol.com.br"],
    "IT": ["libero.it"], "PL": ["wp.pl", "onet.pl"], "GB": ["btinternet.com", "sky.com"], "UA": ["ukr.net"],
    "MX": ["prodigy.net.mx"], "AU": ["bigpond.com"], "CA": ["rogers.com"], "NL": ["ziggo.nl"],
    "SE": ["telia.com"], "CH": ["bluewin.ch"], "ES": ["telefonica.net"], "TR": ["yandex.com.tr"],
}
_DISPOSABLE = ["quickinbox.net", "burnermail.app", "tmpmail.dev", "mailshed.io"]
_DOM_A = """blue bright swift clear deep north open prime quant red silver smart solid true vivid wild zen
    apex nova lumen astro hyper meta neo omni pixel rapid sage terra ultra vector core data cloud logic
    signal""".split()
_DOM_B = """labs works forge stack bridge path scale mind loop grid wave leaf field point shift craft flow
    hub line nest ops peak port ridge spark sync tide trail vault yard metrics systems analytics
    health""".split()
_TLDS = ["com", "io", "ai", "co", "dev", "net", "tech", "app"]


def _build_asns() -> dict:
    """The AS table: residential ISPs and mobile carriers per country, business ISPs, hosting
    providers and universities, each with a /10 of IPv4 and a /32 of IPv6. Seed independent."""
    r = np.random.default_rng(20250601)
    words = list(r.permutation(_ISP_WORDS))
    rows: list[tuple[str, str, str]] = []  # (org, kind, country)
    for i, c in enumerate(CC):
        brands = [words.pop() for _ in range(2 if _CW[i] >= 0.03 else 1)]  # a telco runs both networks
        for b in brands:
            rows.append((f"{b} {'Broadband' if len(brands) > 1 else 'Telecom'}", "res", c))
        for b in brands:
            rows.append((f"{b} Mobile", "mob", c))
    for c in CC[:10]:
        rows.append((f"{words.pop()} Business Networks", "biz", c))
    for name, c in _HOSTING:
        rows.append((name, "host", c))
    for name, c, _ in _UNIVERSITIES:
        rows.append((name, "uni", c))
    n = len(rows)
    asn = r.choice(np.arange(1000, 64000), n, replace=False)
    asn[r.random(n) < 0.3] += 200_000  # some 32-bit AS numbers
    octets = [o for o in range(1, 224) if o not in {10, 100, 127, 169, 172, 192, 198, 203}]
    blocks = r.permutation(np.array([(o << 24) | (q << 22) for o in octets for q in range(4)], np.int64))[:n]
    v6a = r.choice([0x2001, 0x2400, 0x2600, 0x2a00, 0x2a01, 0x2a02, 0x2800, 0x2c0f, 0x2403, 0x2605], n)
    v6b = r.integers(1, 0xFFFF, n)
    kind = np.array([k for _, k, _ in rows])
    country = np.array([_CI[c] for _, _, c in rows])
    return dict(org=[o for o, _, _ in rows], kind=kind, country=country, asn=asn.astype(np.int64),
                v4=blocks, v6a=v6a.astype(np.int64), v6b=v6b.astype(np.int64), salt=r.integers(0, 1 << 14, n))


_ASN = _build_asns()
_NA = len(_ASN["org"])


def _per_country(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(country x 2) matrix of AS indices of `kind` and how many each country has."""
    idx = np.full((len(CC), 2), -1, np.int64)
    cnt = np.zeros(len(CC), np.int64)
    for a in np.flatnonzero(_ASN["kind"] == kind):
        c = _ASN["country"][a]
        idx[c, cnt[c]] = a
        cnt[c] += 1
    return idx, cnt


_RES_AS, _RES_N = _per_country("res")
_MOB_AS, _MOB_N = _per_country("mob")
_BIZ_AS = np.flatnonzero(_ASN["kind"] == "biz")
_HOST_AS = np.flatnonzero(_ASN["kind"] == "host")
_UNI_AS = np.flatnonzero(_ASN["kind"] == "uni")


def _build_bins() -> dict:
    """Card BINs: consumer (3 per country), corporate (one per top-10 country + 2 global),
    prepaid (12) and virtual-card issuers (6). Seed independent."""
    r = np.random.default_rng(7_420)
    out: list[tuple[str, str, int]] = []

    def new_bin() -> str:
        first = r.choice(["4", "5", "5", "2", "3"])
        width = 8 if r.random() < 0.3 else 6
        return first + "".join(str(d) for d in r.integers(0, 10, width - 1))

    for i in range(len(CC)):
        out += [(new_bin(), "consumer", i) for _ in range(3)]
    for i in range(10):
        out.append((new_bin(), "corporate", i))
    out += [(new_bin(), "corporate", _CI["US"]), (new_bin(), "corporate", _CI["GB"])]
    for c in ["US", "US", "US", "GB", "GB", "DE", "FR", "MX", "BR", "IN", "NG", "PH"]:
        out.append((new_bin(), "prepaid", _CI[c]))
    for c in ["US", "US", "GB", "SG", "NL", "US"]:
        out.append((new_bin(), "virtual", _CI[c]))
    kind = np.array([k for _, k, _ in out])
    return dict(bin=[b for b, _, _ in out], kind=kind, country=np.array([c for _, _, c in out]),
                consumer=np.flatnonzero(kind == "consumer").reshape(len(CC), 3),
                corporate=np.flatnonzero(kind == "corporate"), prepaid=np.flatnonzero(kind == "prepaid"),
                virtual=np.flatnonzero(kind == "virtual"))


_BIN = _build_bins()

# ---------------------------------------------------------------------------------------
# vectorised formatting


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection of uint64, used as a keyed hash of integer ids."""
    z = np.asarray(x).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


_HEXB = np.frombuffer(b"0123456789abcdef", np.uint8)
_DIG = np.frombuffer(b"0123456789", np.uint8)


def _hex_matrix(words: list[np.ndarray], width: int) -> np.ndarray:
    """(n, width) ASCII hex of the concatenated big-endian uint64 words (width <= 16*len)."""
    b = np.stack([w.astype(np.uint64) for w in words], axis=1).astype(">u8").view(np.uint8)
    out = np.empty((b.shape[0], b.shape[1] * 2), np.uint8)
    out[:, 0::2] = _HEXB[b >> 4]
    out[:, 1::2] = _HEXB[b & 15]
    return out[:, :width]


def _fixed_str(mat: np.ndarray, prefix: bytes = b"") -> pa.Array:
    """Arrow string array from an (n, w) matrix of ASCII codes, each row one value."""
    n = mat.shape[0]
    if prefix:
        full = np.empty((n, len(prefix) + mat.shape[1]), np.uint8)
        full[:, : len(prefix)] = np.frombuffer(prefix, np.uint8)
        full[:, len(prefix):] = mat
        mat = full
    w = mat.shape[1]
    offsets = np.arange(n + 1, dtype=np.int32) * w
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat)))


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (H. Hinnant's civil_from_days)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (m <= 2), m, d


def _digits(out: np.ndarray, col: int, value: np.ndarray, width: int) -> None:
    for k in range(width):
        out[:, col + k] = _DIG[value // 10 ** (width - 1 - k) % 10]


_CLOCK = np.empty((DAY, 8), np.uint8)  # "HH:MM:SS" of every second of a day
_s = np.arange(DAY)
_digits(_CLOCK, 0, _s // HOUR, 2)
_digits(_CLOCK, 3, _s // 60 % 60, 2)
_digits(_CLOCK, 6, _s % 60, 2)
_CLOCK[:, 2] = _CLOCK[:, 5] = ord(":")
del _s


def iso_utc(secs: np.ndarray) -> pa.Array:
    """ISO-8601 UTC strings `YYYY-MM-DDTHH:MM:SSZ` from epoch seconds: two table look-ups
    (the dates of the span the values cover, the clock of a day); ~20x numpy's formatter."""
    s = np.asarray(secs, np.int64)
    out = np.empty((len(s), 20), np.uint8)
    if len(s):
        days, sod = np.divmod(s, DAY)
        d0 = int(days.min())
        span = np.arange(d0, int(days.max()) + 1)
        y, m, d = _civil(span)
        dates = np.empty((len(span), 10), np.uint8)
        _digits(dates, 0, y, 4)
        _digits(dates, 5, m, 2)
        _digits(dates, 8, d, 2)
        dates[:, 4] = dates[:, 7] = ord("-")
        out[:, :10] = dates[days - d0]
        out[:, 11:19] = _CLOCK[sod]
    out[:, 10] = ord("T")
    out[:, 19] = ord("Z")
    return _fixed_str(out)


def _dict_str(codes: np.ndarray, values: list[str]) -> pa.Array:
    """Arrow strings values[codes]; a negative code is a null (an empty CSV field)."""
    codes = np.asarray(codes)
    idx = pa.array(np.where(codes < 0, 0, codes).astype(np.int32), mask=codes < 0)
    return pa.array(values, pa.string()).take(idx)


_OCT = np.array([str(i) for i in range(256)], dtype=object)
_H16 = np.array([f"{i:x}" for i in range(65536)], dtype=object)


def _ip_strings(asn_idx: np.ndarray, local: np.ndarray, v6: np.ndarray, key: np.uint64) -> np.ndarray:
    """Addresses (object array of str) for local index `local` inside AS `asn_idx`.

    IPv4: the AS's /10 holds 16384 /24s of 250 hosts; the /24 number and host are
    scrambled by bijections, so consecutive locals share a /24 (ISP pools, a rented
    subnet) yet look random. IPv6: the AS's /32, then 32 bits from the local index and a
    64-bit interface id from a keyed hash; every group nonzero but one, so the text is
    already canonical (RFC 5952). Distinct (AS, local) give distinct addresses."""
    asn_idx = np.asarray(asn_idx, np.int64)
    local = np.asarray(local, np.int64)
    out = np.empty(len(local), dtype=object)
    four = ~v6
    if four.any():
        a, lo = asn_idx[four], local[four]
        if (lo >= 16384 * 250).any():
            raise ValueError("address space of an AS exhausted; world too large")
        sub = ((lo // 250) * 0x2C2B ^ _ASN["salt"][a]) & 0x3FFF
        host = 2 + (lo % 250 * 97 + 31) % 250
        ip = _ASN["v4"][a] + (sub << 8) + host
        out[four] = (_OCT[ip >> 24] + "." + _OCT[(ip >> 16) & 255] + "." + _OCT[(ip >> 8) & 255] + "."
                     + _OCT[ip & 255])
    if v6.any():
        a, lo = asn_idx[v6], local[v6]
        g3 = (lo // 65535 * 0x9E37 + _ASN["salt"][a] * 3) & 0xFFFF
        g4 = 1 + lo % 65535
        h = _mix64((a.astype(np.uint64) << np.uint64(40)) ^ lo.astype(np.uint64) ^ key)
        g = [1 + ((h >> np.uint64(16 * i)) & np.uint64(0xFFFF)).astype(np.int64) % 65535 for i in range(4)]
        out[v6] = (_H16[_ASN["v6a"][a]] + ":" + _H16[_ASN["v6b"][a]] + ":" + _H16[g3] + ":" + _H16[g4] + ":"
                   + _H16[g[0]] + ":" + _H16[g[1]] + ":" + _H16[g[2]] + ":" + _H16[g[3]])
    return out


# ---------------------------------------------------------------------------------------
# small vectorised helpers


def _cumcount(keys: np.ndarray) -> np.ndarray:
    """Rank of each element among the earlier elements with the same key (O(n log n))."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    start = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
    runs = np.diff(np.r_[start, len(sk)])
    cc = np.arange(len(sk)) - np.repeat(start, runs)
    out = np.empty(len(keys), np.int64)
    out[order] = cc
    return out


def _expand(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For per-owner counts k: (owner of each new row, index of the row within its owner)."""
    k = np.asarray(k, np.int64)
    owner = np.repeat(np.arange(len(k)), k)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(k) - k, k)
    return owner, j


def _choice(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """n draws of an index with probabilities p (inverse CDF; p need not be normalised)."""
    cdf = np.cumsum(p, dtype=float)
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), len(p) - 1)


def _sizes_to_budget(rng: np.random.Generator, budget: int, draw) -> list[int]:
    """Group sizes from `draw(rng, m)` until `budget` accounts are used; a remainder too
    small for a group is left over (the caller gives it to `normal`)."""
    sizes: list[int] = []
    left = budget
    while True:
        batch = draw(rng, 256)
        for s in batch:
            if s > left:
                return sizes
            sizes.append(int(s))
            left -= int(s)


def _ring_sizes(rng: np.random.Generator, budget: int, lo: int, hi: int, smallest: int) -> list[int]:
    """Ring sizes drawn in [lo, hi] and rescaled to fill `budget`; at least one ring, which
    a small world scales down (never below `smallest`)."""
    n = max(1, round(budget / ((lo + hi) / 2)))
    raw = rng.uniform(lo, hi, n)
    sizes = np.maximum(smallest, np.round(raw * budget / raw.sum())).astype(int)
    return [int(s) for s in sizes]


def _benign_signup(rng: np.random.Generator, n: int, country: np.ndarray) -> np.ndarray:
    """Sign-up times: a growing base rate over the world's span plus bursts after model
    releases, at a local day-time hour of the account's country."""
    span_days = (T1 - T0) // DAY - 2
    a = 1.5  # density grows linearly to 2.5x the start
    y = rng.random(n)
    frac = (-1 + np.sqrt(1 + 2 * a * y * (1 + a / 2))) / a
    day = np.floor(frac * span_days)
    burst = rng.random(n) < 0.2
    rel = RELEASES[rng.integers(0, len(RELEASES), n)]
    bday = np.floor((rel - T0) / DAY + rng.exponential(7, n))
    day = np.where(burst, np.minimum(bday, span_days), day)
    hour = (rng.normal(14, 4.5, n) - _TZ[country]) % 24
    return (T0 + day * DAY + hour * HOUR).astype(np.int64)


# ---------------------------------------------------------------------------------------
# the plan: the whole population, decided before any row is written


@dataclass
class _World:
    n: int
    seed: int
    key: np.uint64
    # per account (structured order: rings, teams, households, university groups, individuals)
    cat: np.ndarray = field(default=None)
    grp: np.ndarray = field(default=None)
    country: np.ndarray = field(default=None)  # where the account really is
    country_out: np.ndarray = field(default=None)  # what it claims (-1: empty)
    created: np.ndarray = field(default=None)
    end: np.ndarray = field(default=None)
    plan: np.ndarray = field(default=None)
    domain: np.ndarray = field(default=None)
    app: np.ndarray = field(default=None)
    perm: np.ndarray = field(default=None)  # output position -> account
    # per group
    g: dict = field(default_factory=dict)
    ring_styles: list = field(default_factory=list)
    ring_sizes: list = field(default_factory=list)
    domains: list = field(default_factory=list)
    # shared address pool (group NATs, homes, exits, CGNAT, subnets)
    pool_asn: np.ndarray = field(default=None)
    pool_type: np.ndarray = field(default=None)
    pool_prov: np.ndarray = field(default=None)
    pool_ip: np.ndarray = field(default=None)
    pool_used: np.ndarray = field(default=None)
    pools: dict = field(default_factory=dict)
    asn_next: np.ndarray = field(default=None)  # next free local index per AS
    own_serial: int = 0
    # templates
    tpl_cap: np.ndarray = field(default=None)
    pub_n: int = 0
    pub_cdf: np.ndarray = field(default=None)
    bench_start: int = 0
    bench_n: int = 0
    bench_items: np.ndarray = field(default=None)
    bench_cdf: np.ndarray = field(default=None)
    app_start: np.ndarray = field(default=None)
    app_count: np.ndarray = field(default=None)
    farm_tpl: tuple = (0, 0)
    # group payment instruments
    gi_type: np.ndarray = field(default=None)
    gi_bin: np.ndarray = field(default=None)


class _PoolBuilder:
    """Allocates shared addresses: (AS, type, provider) per address, a local index per AS."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.asn: list[np.ndarray] = []
        self.typ: list[np.ndarray] = []
        self.prov: list[np.ndarray] = []
        self.v6: list[np.ndarray] = []
        self.size = 0

    def add(self, asn: np.ndarray, typ, prov, v6_share: float) -> tuple[int, int]:
        asn = np.asarray(asn, np.int64)
        n = len(asn)
        self.asn.append(asn)
        self.typ.append(np.broadcast_to(np.asarray(typ, np.int8), (n,)).copy())
        self.prov.append(np.broadcast_to(np.asarray(prov, np.int8), (n,)).copy())
        self.v6.append(self.rng.random(n) < v6_share)
        start = self.size
        self.size += n
        return start, n

    def finish(self, w: _World) -> None:
        asn = np.concatenate(self.asn) if self.asn else np.zeros(0, np.int64)
        local = _cumcount(asn)
        w.asn_next = np.bincount(asn, minlength=_NA).astype(np.int64)
        w.pool_asn = asn
        w.pool_type = np.concatenate(self.typ)
        w.pool_prov = np.concatenate(self.prov)
        w.pool_ip = _ip_strings(asn, local, np.concatenate(self.v6), w.key)
        w.pool_used = np.zeros(len(asn), bool)


def _plan(n: int, seed: int) -> _World:
    """Decide every account's category, group, country, plan, e-mail domain, sign-up and
    activity window, and every group's and shared pool's resources. O(n) numpy."""
    rng = np.random.default_rng([seed, 0])
    w = _World(n=n, seed=seed, key=_mix64(np.array([seed * 0x1000193 + 17]))[0])

    # -- farms: ring sizes per style, from a budget of ~7 % of the world
    farm_budget = round(FARM_FRACTION * n)
    rings: list[tuple[str, int]] = []
    for style in FARMS:
        lo, hi, smallest = FARM_SIZE[style]
        budget = round(farm_budget * FARM_SHARE[style])
        rings += [(style, s) for s in _ring_sizes(rng, budget, lo, hi, smallest)]
    rings = [rings[i] for i in rng.permutation(len(rings))]
    n_farm = sum(s for _, s in rings)
    n_benign = n - n_farm
    want = {c: round(BENIGN_SHARE[c] * n_benign) for c in BENIGN}

    # -- benign groups
    team_sizes = _sizes_to_budget(  # heavy-tailed: most companies small, a few of 60
        rng, want["team"], lambda r, m: np.clip(np.round(5 * (1 - r.random(m)) ** (-1 / 1.4)), 5, 60))
    house_sizes = _sizes_to_budget(rng, want["household"], lambda r, m: r.choice([2, 2, 2, 3, 3, 4, 5], m))
    uni_sizes = _sizes_to_budget(rng, round(0.3 * want["researcher"]), lambda r, m: r.integers(3, 16, m))
    groups = ([(_C[s], sz) for s, sz in rings] + [(_C["team"], s) for s in team_sizes]
              + [(_C["household"], s) for s in house_sizes] + [(_C["researcher"], s) for s in uni_sizes])
    g_kind = np.array([k for k, _ in groups], np.int8)
    g_size = np.array([s for _, s in groups], np.int64)
    n_groups = len(groups)
    n_ring = len(rings)
    w.ring_styles = [s for s, _ in rings]
    w.ring_sizes = [s for _, s in rings]

    indiv = {c: want[c] for c in ("vpn_user", "resproxy_user", "mobile_nat", "app_user")}
    indiv["researcher"] = want["researcher"] - sum(uni_sizes)
    indiv["normal"] = n_benign - sum(team_sizes) - sum(house_sizes) - sum(uni_sizes) - sum(indiv.values())
    if indiv["normal"] < 0.3 * n_benign:
        raise ValueError(f"world of {n} accounts is too small (at least {MIN_ACCOUNTS})")
    ind_cat = np.concatenate([np.full(indiv[c], _C[c], np.int8) for c in _INDIVIDUAL])
    w.cat = np.concatenate([np.repeat(g_kind, g_size), ind_cat])
    w.grp = np.r_[np.repeat(np.arange(n_groups), g_size), np.full(len(ind_cat), -1)].astype(np.int64)
    assert len(w.cat) == n
    g_first = np.r_[0, np.cumsum(g_size)[:-1]]
    in_grp = w.grp >= 0
    rank = np.where(in_grp, np.arange(n) - g_first[np.maximum(w.grp, 0)], 0)
    gr = np.maximum(w.grp, 0)
    is_ring = in_grp & (w.grp < n_ring)
    cat = w.cat

    # -- group attributes
    g = w.g
    g["kind"], g["size"], g["n_ring"] = g_kind, g_size, n_ring
    g_country = _choice(rng, _CW, n_groups)
    g_uni = np.full(n_groups, -1)
    uni_g = np.flatnonzero(g_kind == _C["researcher"])
    g_uni[uni_g] = rng.integers(0, len(_UNIVERSITIES), len(uni_g))
    g_country[uni_g] = [_CI[_UNIVERSITIES[u][1]] for u in g_uni[uni_g]]
    g["country"] = g_country
    g["ai"] = (g_kind == _C["team"]) & (rng.random(n_groups) < 0.2)  # AI dev shops
    g["enterprise"] = rng.random(n_groups) < 0.25

    # -- countries (true and claimed)
    country = _choice(rng, _CW, n)
    mixed = (cat == _C["researcher"]) & ~in_grp & (rng.random(n) < 0.5)
    country[mixed] = rng.integers(0, len(CC), mixed.sum())  # researchers are everywhere
    stay = in_grp & ~is_ring & (rng.random(n) < 0.93)
    country[stay] = g_country[gr[stay]]
    # farms claim a country per ring (often the US) for most accounts
    ring_home = np.where(rng.random(n_groups) < 0.5, _CI["US"], _choice(rng, _CW, n_groups))
    claim = is_ring & (rng.random(n) < 0.7)
    country[claim] = ring_home[gr[claim]]
    w.country = country
    w.country_out = np.where((~in_grp) & (rng.random(n) < 0.02), -1, country)

    # -- sign-up times and activity windows
    created = _benign_signup(rng, n, country)
    gbase = _benign_signup(rng, n_groups, g_country)
    house = cat == _C["household"]
    created[house] = np.where(rank[house] == 0, gbase[gr[house]],
                              gbase[gr[house]] + rng.exponential(60 * DAY, house.sum()))
    team = cat == _C["team"]
    onboard = (gbase // DAY) * DAY + ((9 - _TZ[g_country]) % 24 * HOUR).astype(np.int64)
    nt = team.sum()
    created[team] = onboard[gr[team]] + np.where(rng.random(nt) < 0.7, rng.uniform(0, 9 * HOUR, nt),
                                                 rng.exponential(45 * DAY, nt))
    unim = (cat == _C["researcher"]) & in_grp
    created[unim] = gbase[gr[unim]] + rng.exponential(90 * DAY, unim.sum())
    # farm rings
    r_start = rng.uniform(T0 + 10 * DAY, T1 - 30 * DAY, n_groups).astype(np.int64)
    r_span = np.select([g_kind == _C[s] for s in FARMS[:3]] + [g_kind == _C["farm_company"]],
                       [rng.uniform(1, 3, n_groups) * HOUR, rng.uniform(7, 21, n_groups) * DAY,
                        rng.uniform(2, 5, n_groups) * DAY, rng.uniform(1, 2, n_groups) * DAY], DAY)
    nonhyd = is_ring & (cat != _C["farm_hydra"])
    created[nonhyd] = r_start[gr[nonhyd]] + rng.random(nonhyd.sum()) * r_span[gr[nonhyd]]
    # hydra: waves of a few days, a day or three after model releases
    hyd = cat == _C["farm_hydra"]
    nh = hyd.sum()
    waves_rel = np.sort(rng.random((n_groups, len(RELEASES))).argsort(axis=1)[:, :3], axis=1)
    n_waves = rng.integers(2, 4, n_groups)
    which = np.floor(rng.random(nh) * n_waves[gr[hyd]]).astype(int)
    rel = RELEASES[waves_rel[gr[hyd], which]]
    wave_off = rng.uniform(0.5, 3, (n_groups, 3)) * DAY
    wave_len = rng.uniform(2, 5, (n_groups, 3)) * DAY
    created[hyd] = rel + wave_off[gr[hyd], which] + rng.random(nh) * wave_len[gr[hyd], which]
    created = np.minimum(created, T1 - DAY).astype(np.int64)
    w.created = created

    dur = rng.lognormal(np.log(60 * DAY), 1.2, n)
    dur[rng.random(n) < 0.35] = T1 - T0  # retained users stay active to the end
    r_dur = np.select([g_kind == _C[s] for s in FARMS],
                      [rng.uniform(lo, hi, n_groups)
                       for lo, hi in ((5, 30), (20, 60), (10, 40), (3, 20), (30, 90))], 0) * DAY
    dur[is_ring] = r_dur[gr[is_ring]] * rng.uniform(0.8, 1.2, is_ring.sum())
    w.end = np.minimum(created + np.maximum(dur, 2 * HOUR), T1).astype(np.int64)

    # -- plans
    plan = _choice(rng, [55, 35, 0, 10, 0], n)
    res = cat == _C["researcher"]
    plan[res] = _choice(rng, [10, 40, 0, 50, 0], res.sum())
    app_u = cat == _C["app_user"]
    plan[app_u] = _choice(rng, [45, 30, 0, 25, 0], app_u.sum())
    biz = (cat == _C["team"]) | (cat == _C["farm_company"])
    plan[biz] = np.where(g["enterprise"][gr[biz]], _P["enterprise"], _P["team"])
    for style, p in (("farm_small_prepaid", [0, 40, 0, 60, 0]), ("farm_resproxy_pool", [40, 60, 0, 0, 0]),
                     ("farm_virtual_cards", [0, 60, 0, 40, 0]), ("farm_hydra", [70, 30, 0, 0, 0])):
        m = cat == _C[style]
        plan[m] = _choice(rng, p, m.sum())
    w.plan = plan

    # -- e-mail domains
    doms: list[str] = [d for d, _ in _CONSUMER_DOMAINS] + _DISPOSABLE
    consumer_w = np.array([x for _, x in _CONSUMER_DOMAINS], float)
    local_idx = np.full((len(CC), 3), -1)
    local_n = np.zeros(len(CC), int)
    for c, names in _LOCAL_DOMAINS.items():
        for j, d in enumerate(names):
            local_idx[_CI[c], j] = len(doms)
            doms.append(d)
        local_n[_CI[c]] = len(names)
    seen = set(doms)

    def new_domains(m: int, tlds=_TLDS) -> list[int]:
        out = []
        while len(out) < m:
            d = f"{rng.choice(_DOM_A)}{rng.choice(_DOM_B)}"
            if rng.random() < 0.2:
                d += str(rng.integers(2, 99))
            d = f"{d}.{rng.choice(tlds)}"
            if d not in seen:
                seen.add(d)
                out.append(len(doms))
                doms.append(d)
        return out

    custom = np.array(new_domains(max(20, n // 60)))
    u = rng.random(n)
    dom = _choice(rng, consumer_w, n)
    loc = (u >= 0.78) & (u < 0.93) & (local_n[country] > 0)
    dom[loc] = local_idx[country[loc], np.floor(rng.random(loc.sum()) * local_n[country[loc]]).astype(int)]
    cust = (u >= 0.93) & (u < 0.995)
    dom[cust] = custom[rng.integers(0, len(custom), cust.sum())]
    disp = u >= 0.995
    dom[disp] = len(_CONSUMER_DOMAINS) + rng.integers(0, len(_DISPOSABLE), disp.sum())
    # companies (teams and farm_company) have their own domain; universities theirs
    g_dom = np.full(n_groups, -1)
    comp = np.flatnonzero((g_kind == _C["team"]) | (g_kind == _C["farm_company"]))
    g_dom[comp] = new_domains(len(comp))
    uni_dom = {}
    for gi in uni_g:
        name = _UNIVERSITIES[g_uni[gi]][2]
        if name not in uni_dom:
            uni_dom[name] = len(doms)
            doms.append(name)
        g_dom[gi] = uni_dom[name]
    corp = biz
    dom[corp] = g_dom[gr[corp]]
    unid = unim & (rng.random(n) < 0.85)
    dom[unid] = g_dom[gr[unid]]
    # operator catch-all domains on some farm accounts; disposable inboxes on others
    op_ring = np.flatnonzero(np.isin(g_kind, [_C["farm_resproxy_pool"], _C["farm_virtual_cards"]]))
    g_opdom = np.full((n_groups, 2), -1)
    for gi in op_ring:
        g_opdom[gi] = new_domains(2)
    for style, p_op, p_disp in (("farm_resproxy_pool", 0.3, 0.05), ("farm_virtual_cards", 0.6, 0.05),
                                ("farm_small_prepaid", 0.0, 0.4), ("farm_hydra", 0.0, 0.1)):
        m = np.flatnonzero(cat == _C[style])
        uu = rng.random(len(m))
        op = m[uu < p_op]
        dom[op] = g_opdom[gr[op], rng.integers(0, 2, len(op))]
        dp = m[(uu >= p_op) & (uu < p_op + p_disp)]
        dom[dp] = len(_CONSUMER_DOMAINS) + rng.integers(0, len(_DISPOSABLE), len(dp))
    dom[(~in_grp) & (rng.random(n) < 0.01)] = -1
    w.domain = dom
    w.domains = doms

    # -- templates: public (popular), benchmarks, third-party apps, team/lab/farm private
    caps: list[np.ndarray] = []
    w.pub_n = 600
    caps.append(_choice(rng, [30, 20, 15, 10, 12, 5, 5, 1, 1, 1], w.pub_n))
    rank_w = 1.0 / np.arange(1, w.pub_n + 1) ** 1.05
    w.pub_cdf = np.cumsum(rank_w) / rank_w.sum()
    w.bench_start, w.bench_n = w.pub_n, 32
    caps.append(_choice(rng, [0, 0, 0, 0, 35, 55, 10, 0, 0, 0], w.bench_n))
    w.bench_items = np.round(np.exp(rng.uniform(np.log(50), np.log(1000), w.bench_n))).astype(np.int64)
    bw = 1.0 / np.arange(1, w.bench_n + 1) ** 0.8
    w.bench_cdf = np.cumsum(bw) / bw.sum()
    nxt = w.pub_n + w.bench_n
    n_apps = int(np.clip(round(indiv["app_user"] / 700), 3, 80))
    w.app_count = rng.integers(3, 13, n_apps)
    w.app_start = nxt + np.r_[0, np.cumsum(w.app_count)[:-1]]
    app_main = _choice(rng, [20, 30, 20, 10, 20, 0, 0, 0, 0, 0], n_apps)  # coding assistants among them
    caps.append(np.where(rng.random(w.app_count.sum()) < 0.8, np.repeat(app_main, w.app_count),
                         _choice(rng, [30, 20, 15, 10, 12, 5, 5, 1, 1, 1], w.app_count.sum())))
    nxt += int(w.app_count.sum())
    aw = 1.0 / np.arange(1, n_apps + 1) ** 1.1
    app = np.full(n, -1)
    app[app_u] = _choice(rng, aw, app_u.sum())
    w.app = app
    g_tpl_n = np.zeros(n_groups, np.int64)
    kinds_n = {
        "team": (3, 21), "researcher": (2, 9), "farm_small_prepaid": (6, 21), "farm_company": (15, 61),
    }
    for k, (lo, hi) in kinds_n.items():
        m = g_kind == _C[k]
        g_tpl_n[m] = rng.integers(lo, hi, m.sum())
    for k, frac, lo, hi in (("farm_resproxy_pool", (0.1, 0.3), 15, 250),
                            ("farm_virtual_cards", (0.1, 0.3), 15, 250),
                            ("farm_hydra", (0.05, 0.15), 25, 400)):
        m = g_kind == _C[k]
        g_tpl_n[m] = np.clip(np.round(g_size[m] * rng.uniform(*frac, m.sum())), lo, hi)
    # farm pools first so they form one contiguous id range (for leaks into benign traffic)
    order = np.r_[np.arange(n_ring), np.arange(n_ring, n_groups)]
    g_tpl_start = np.zeros(n_groups, np.int64)
    g_tpl_start[order] = nxt + np.r_[0, np.cumsum(g_tpl_n[order])[:-1]]
    w.farm_tpl = (nxt, nxt + int(g_tpl_n[:n_ring].sum()))
    tot = int(g_tpl_n.sum())
    tcap = np.empty(tot, np.int64)
    owner = np.repeat(np.arange(n_groups), g_tpl_n)
    farm_caps = _choice(rng, [0, 0, 0, 0, 30, 30, 10, 15, 15, 0], tot)
    ai_caps = _choice(rng, [0, 0, 5, 0, 45, 15, 5, 15, 15, 0], tot)
    plain_caps = _choice(rng, [15, 20, 25, 5, 5, 0, 20, 0, 0, 10], tot)
    lab_caps = _choice(rng, [0, 0, 0, 0, 40, 50, 10, 0, 0, 0], tot)
    ok = g_kind[owner]
    tcap[:] = np.where(ok == _C["team"], np.where(g["ai"][owner], ai_caps, plain_caps),
                       np.where(ok == _C["researcher"], lab_caps, farm_caps))
    caps.append(tcap)
    w.tpl_cap = np.concatenate(caps).astype(np.int8)
    g["tpl_start"], g["tpl_n"] = g_tpl_start, g_tpl_n
    # per-ring traffic shape: templates per account, requests per template, its spread
    k_rng = {"farm_small_prepaid": (4, 9), "farm_resproxy_pool": (3, 9), "farm_virtual_cards": (3, 9),
             "farm_hydra": (2, 6), "farm_company": (5, 13)}
    mu_rng = {"farm_small_prepaid": (40, 150), "farm_resproxy_pool": (20, 80),
              "farm_virtual_cards": (30, 100), "farm_hydra": (5, 20), "farm_company": (50, 200)}
    g["k"] = np.zeros(n_groups, np.int64)
    g["mu"] = np.zeros(n_groups)
    for s in FARMS:
        m = g_kind == _C[s]
        g["k"][m] = rng.integers(*k_rng[s], m.sum())
        g["mu"][m] = rng.uniform(*mu_rng[s], m.sum())
    g["k"] = np.minimum(g["k"], np.maximum(g_tpl_n, 1))
    g["cv"] = rng.uniform(0.04, 0.15, n_groups)

    # -- group payment instruments
    g_card_n = np.zeros(n_groups, np.int64)
    g_card_n[np.isin(g_kind, [_C["team"], _C["household"], _C["farm_company"]])] = 1
    sp = g_kind == _C["farm_small_prepaid"]
    g_card_n[sp] = rng.integers(1, 3, sp.sum())
    rp = g_kind == _C["farm_resproxy_pool"]
    g_card_n[rp] = np.ceil(g_size[rp] / rng.uniform(5, 20, rp.sum())).astype(int)
    g["card_start"] = np.r_[0, np.cumsum(g_card_n)[:-1]]
    g["card_n"] = g_card_n
    gi_owner = np.repeat(np.arange(n_groups), g_card_n)
    ngi = len(gi_owner)
    gk = g_kind[gi_owner]
    gc = g_country[gi_owner]
    gi_type = np.full(ngi, _M["card"])
    gi_bin = _BIN["consumer"][gc, rng.integers(0, 3, ngi)]
    hw = (gk == _C["household"]) & (rng.random(ngi) < 0.1)
    gi_type[hw] = _M["wallet"]
    gi_bin[hw] = -1
    cb = (gk == _C["team"]) | (gk == _C["farm_company"])
    corp_bins = _BIN["corporate"]
    corp_c = _BIN["country"][corp_bins]
    for i in np.flatnonzero(cb):  # a corporate BIN of the company's country, else a global one
        cands = corp_bins[corp_c == gc[i]]
        gi_bin[i] = cands[0] if len(cands) and rng.random() < 0.8 else corp_bins[rng.integers(len(corp_bins))]
    pp = (gk == _C["farm_small_prepaid"]) | (gk == _C["farm_resproxy_pool"])
    gi_type[pp] = _M["prepaid_card"]
    ring_prepaid = _BIN["prepaid"][rng.integers(0, len(_BIN["prepaid"]), (n_groups, 2))]
    gi_bin[pp] = ring_prepaid[gi_owner[pp], rng.integers(0, 2, pp.sum())]
    w.gi_type, w.gi_bin = gi_type, gi_bin
    g["virt_bins"] = _BIN["virtual"][rng.integers(0, len(_BIN["virtual"]), (n_groups, 2))]
    g["one_bin"] = rng.random(n_groups) < 0.7  # most virtual-card rings stick to one BIN
    g["hyd_mix"] = rng.dirichlet([3, 2, 1], n_groups)  # hydra: virtual, prepaid, wallet shares
    g["hyd_bins"] = np.concatenate([_BIN["virtual"], _BIN["prepaid"]])[
        rng.integers(0, len(_BIN["virtual"]) + len(_BIN["prepaid"]), (n_groups, 4))]

    # -- shared address pools
    pb = _PoolBuilder(rng)
    cnt_c = np.bincount(country, minlength=len(CC))
    cg_start = np.zeros((len(CC), 2), np.int64)
    cg_n = np.zeros((len(CC), 2), np.int64)
    for c in range(len(CC)):  # carrier-grade NAT: a few addresses for many subscribers
        for j in range(_MOB_N[c]):
            size = max(4, round(cnt_c[c] * 0.004 / _MOB_N[c]))
            cg_start[c, j], cg_n[c, j] = pb.add(np.full(size, _MOB_AS[c, j]), _T["mobile"], -1, 0.0)
    w.pools["cgnat"] = (cg_start, cg_n)
    vpn = []
    for p in range(len(VPN_PROVIDERS)):
        size = max(8, round(n * 0.00002))  # a handful of exits carry every subscriber
        vpn.append(pb.add(_HOST_AS[rng.integers(0, len(_HOST_AS), size)], _T["vpn"], _VPN0 + p, 0.1))
    w.pools["vpn"] = np.array(vpn)
    resp = []
    for p in range(len(RESPROXY_PROVIDERS)):  # residential exits are real home and phone lines
        size = max(300, round(n * 0.01))
        cc_ = _choice(rng, _CW + np.eye(len(CC))[_CI["US"]] * 0.2, size)
        mob = rng.random(size) < 0.15
        isp = _RES_AS[cc_, np.floor(rng.random(size) * _RES_N[cc_]).astype(int)]
        asn = np.where(mob, _MOB_AS[cc_, 0], isp)
        natural = np.where(mob, _T["mobile"], _T["residential"])
        known = rng.random(size) < 0.8  # the intel feed does not know every exit
        typ = np.where(known & (rng.random(size) < 0.3), _T["proxy"], natural)
        resp.append(pb.add(asn, typ, np.where(known, _RES0 + p, -1), 0.1))
    w.pools["resproxy"] = np.array(resp)
    dcp = []
    for p in range(len(DCPROXY_PROVIDERS)):
        size = max(20, round(n * 0.0005))
        dcp.append(pb.add(_HOST_AS[rng.integers(0, len(_HOST_AS), size)], _T["proxy"], _DCP0 + p, 0.0))
    w.pools["dcproxy"] = np.array(dcp)
    w.pools["tor"] = pb.add(_HOST_AS[rng.integers(0, len(_HOST_AS), 30)], _T["tor"], -1, 0.0)

    # group address pools: office NATs, homes, labs, rented subnets
    g_ip_n = np.zeros(n_groups, np.int64)
    g_ip_as = np.zeros(n_groups, np.int64)
    g_ip_type = np.zeros(n_groups, np.int64)
    for k, lo, hi in (("team", 1, 5), ("household", 1, 3), ("researcher", 1, 3), ("farm_small_prepaid", 2, 6),
                      ("farm_company", 1, 4)):
        m = g_kind == _C[k]
        g_ip_n[m] = rng.integers(lo, hi, m.sum())
    vc = g_kind == _C["farm_virtual_cards"]
    g_ip_n[vc] = np.maximum(3, g_size[vc] // rng.integers(4, 10, vc.sum()))
    local_biz = {int(_ASN["country"][a]): a for a in _BIZ_AS}
    for gi in range(n_groups):
        k = CATEGORIES[g_kind[gi]]
        c = g_country[gi]
        if k in ("team", "farm_company"):
            g_ip_as[gi] = local_biz.get(int(c), _BIZ_AS[rng.integers(0, len(_BIZ_AS))])
            g_ip_type[gi] = _T["business"]
        elif k == "household":
            g_ip_as[gi] = _RES_AS[c, rng.integers(0, _RES_N[c])]
            g_ip_type[gi] = _T["residential"]
        elif k == "researcher":
            g_ip_as[gi] = _UNI_AS[g_uni[gi]]
            g_ip_type[gi] = _T["business"]
        else:
            g_ip_as[gi] = _HOST_AS[rng.integers(0, len(_HOST_AS))]
            g_ip_type[gi] = _T["datacenter"]
    g_ip_owner = np.repeat(np.arange(n_groups), g_ip_n)
    v6s = np.where(g_kind[g_ip_owner] == _C["household"], 0.2, 0.05)
    start, _ = pb.add(g_ip_as[g_ip_owner], g_ip_type[g_ip_owner], -1, 0.0)
    pb.v6[-1] = rng.random(len(g_ip_owner)) < v6s
    g["ip_start"] = start + np.r_[0, np.cumsum(g_ip_n)[:-1]]
    g["ip_n"] = g_ip_n
    g["prov"] = rng.integers(0, len(RESPROXY_PROVIDERS), (n_groups, 2))  # proxy services of a ring
    g["dcprov"] = rng.integers(0, len(DCPROXY_PROVIDERS), n_groups)
    pb.finish(w)

    # output order: a shuffle, so no file reveals the structure by row order
    w.perm = rng.permutation(n)
    return w


# ---------------------------------------------------------------------------------------
# one chunk of accounts -> rows of every file


@dataclass
class _Rows:
    """Row parts of one kind (templates or addresses) collected per category."""

    acc: list = field(default_factory=list)
    key: list = field(default_factory=list)
    weight: list = field(default_factory=list)  # share of the account's volume (nan: fixed)
    fixed: list = field(default_factory=list)  # explicit request count
    cap: list = field(default_factory=list)

    def add(self, acc, key, weight=None, fixed=None, cap=None) -> None:
        n = len(acc)
        self.acc.append(np.asarray(acc, np.int64))
        self.key.append(np.asarray(key, np.int64))
        self.weight.append(np.full(n, np.nan) if weight is None else
                           np.broadcast_to(weight, (n,)).astype(float))
        self.fixed.append(np.zeros(n, np.int64) if fixed is None else np.asarray(fixed, np.int64))
        self.cap.append(np.full(n, -2, np.int64) if cap is None else np.asarray(cap, np.int64))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(x) for x in (self.acc, self.key, self.weight, self.fixed, self.cap))


def _pick_window(rng, acc, start, count, k):
    """Each account takes k consecutive items (cyclically, from a random offset) of its pool
    [start, start+count): distinct items, spread evenly over the pool."""
    k = np.minimum(k, count)
    o, j = _expand(k)
    off = np.floor(rng.random(len(acc)) * count).astype(np.int64)
    return acc[o], start[o] + (off[o] + j) % count[o]


def _aggregate(acc, key, req, first, last, extra):
    """Merge rows with equal (account, key): requests add, first/last widen. O(n log n)."""
    order = np.lexsort((key, acc))
    acc, key, req, first, last, extra = (x[order] for x in (acc, key, req, first, last, extra))
    new = np.r_[True, (acc[1:] != acc[:-1]) | (key[1:] != key[:-1])]
    idx = np.flatnonzero(new)
    return (acc[idx], key[idx], np.add.reduceat(req, idx), np.minimum.reduceat(first, idx),
            np.maximum.reduceat(last, idx), extra[idx])


def _times(rng, st, en, req):
    """first_seen/last_seen of a row inside the account's window; one request is one instant."""
    span = (en - st).astype(float)
    first = st + (rng.random(len(st)) ** 1.5 * span).astype(np.int64)
    last = first + ((en - first) * rng.random(len(st)) * np.minimum(1.0, req / 20)).astype(np.int64)
    return first, np.where(req <= 1, first, last)


def _chunk(w: _World, c: int) -> dict[str, pa.Table]:
    """All rows of the accounts at output positions [c*CHUNK, (c+1)*CHUNK)."""
    rng = np.random.default_rng([w.seed, 1, c])
    a = w.perm[c * CHUNK:(c + 1) * CHUNK]
    n = len(a)
    cat, grp, cty = w.cat[a], w.grp[a], w.country[a]
    gr = np.maximum(grp, 0)
    st, en, plan = w.created[a], w.end[a], w.plan[a]
    G = w.g
    sel = {name: np.flatnonzero(cat == code) for name, code in _C.items()}
    ids = _mix64(a.astype(np.uint64) ^ w.key)
    acct = _fixed_str(_hex_matrix([ids], 16), b"acct_")

    # -- accounts and truth
    ring_no = np.where((grp >= 0) & (grp < G["n_ring"]), grp, -1)
    tables = {
        "accounts": pa.table({
            "account_id": acct, "created_at": iso_utc(st), "country": _dict_str(w.country_out[a], CC),
            "email_domain": _dict_str(w.domain[a], w.domains), "plan": _dict_str(plan, PLANS)}),
        "truth/accounts": pa.table({
            "account_id": acct,
            "ring_id": _dict_str(ring_no, [f"ring_{i + 1:04d}" for i in range(G["n_ring"])]),
            "category": _dict_str(cat, list(CATEGORIES))}),
    }

    # -- prompt templates
    T = _Rows()
    pub_k = np.zeros(n, np.int64)
    pers_k = np.zeros(n, np.int64)
    plain = ("normal", "household", "vpn_user", "resproxy_user", "mobile_nat")
    benign_ind = np.flatnonzero(np.isin(cat, [_C[x] for x in plain]))
    pub_k[benign_ind] = 1 + np.minimum(rng.poisson(2.5, len(benign_ind)), 11)
    pers_k[benign_ind] = rng.poisson(2.0, len(benign_ind))
    for name, lam_pub, lam_pers in (("team", 1.5, 1.5), ("app_user", 1.0, 1.0), ("researcher", 1.0, 3.0)):
        m = sel[name]
        pub_k[m] = rng.poisson(lam_pub, len(m))
        pers_k[m] = rng.poisson(lam_pers, len(m))
    farm_m = np.flatnonzero(np.isin(cat, [_C[s] for s in FARMS]))
    pub_k[farm_m] = rng.integers(1, 4, len(farm_m))  # camouflage on popular templates
    pub_k[sel["farm_company"]] = rng.integers(0, 2, len(sel["farm_company"]))
    pers_k[farm_m] = rng.random(len(farm_m)) < 0.2
    benign_m = np.flatnonzero(cat < len(BENIGN))
    # popular public templates (zipf); benign volume share, farm camouflage a few requests
    o, _ = _expand(pub_k)
    pick = np.searchsorted(w.pub_cdf, rng.random(len(o)))
    is_farm = cat[o] >= len(BENIGN)
    T.add(o[~is_farm], pick[~is_farm], weight=rng.exponential(1.0, (~is_farm).sum()))
    T.add(o[is_farm], pick[is_farm], fixed=1 + rng.poisson(2.0, is_farm.sum()))
    # personal one-off templates: unique ids in a namespace of their own
    o, _ = _expand(pers_k)
    pers_id = (np.int64(1) << 40) + (np.int64(c) << 24) + np.arange(len(o))
    pcap = _choice(rng, [30, 20, 15, 10, 12, 5, 5, 1, 1, 1], len(o))
    pcap[rng.random(len(o)) < 0.03] = -1
    of = cat[o] >= len(BENIGN)
    T.add(o[~of], pers_id[~of], weight=rng.exponential(1.0, (~of).sum()), cap=pcap[~of])
    T.add(o[of], pers_id[of], fixed=1 + rng.poisson(1.0, of.sum()), cap=pcap[of])
    # team / lab private templates
    for name, frac in (("team", 0.5), ("researcher", 0.6)):
        m = sel[name]
        m = m[grp[m] >= 0]
        st_, cnt = G["tpl_start"][gr[m]], G["tpl_n"][gr[m]]
        k = 1 + rng.binomial(np.maximum(cnt - 1, 0), frac)
        ao, tid = _pick_window(rng, m, st_, cnt, k)
        T.add(ao, tid, weight=3.0 * rng.exponential(1.0, len(ao)))
    # third-party apps
    m = sel["app_user"]
    app = w.app[a[m]]
    cnt = w.app_count[app]
    k = np.ceil(cnt * rng.uniform(0.6, 1.0, len(m))).astype(np.int64)
    ao, tid = _pick_window(rng, m, w.app_start[app], cnt, k)
    T.add(ao, tid, weight=3.0 * rng.exponential(1.0, len(ao)))
    # public benchmarks: each run is the benchmark's item count, so volumes are uniform too
    m = sel["researcher"]
    o, _ = _expand(rng.integers(5, 26, len(m)))
    b = np.searchsorted(w.bench_cdf, rng.random(len(o)))
    runs = np.array([1, 1, 1, 2, 3, 5])[rng.integers(0, 6, len(m))][o]
    req = w.bench_items[b] * runs
    partial = rng.random(len(o)) < 0.2
    req[partial] = np.maximum(1, np.round(req[partial] * rng.uniform(0.05, 1, partial.sum())))
    T.add(m[o], w.bench_start + b, fixed=req)
    # rare benign use of a template that is mostly a farm's (copied from a shared prompt list)
    lo, hi = w.farm_tpl
    leak = benign_m[rng.random(len(benign_m)) < 0.0015]
    if hi > lo and len(leak):
        T.add(leak, rng.integers(lo, hi, len(leak)), fixed=1 + rng.poisson(3, len(leak)))
    # farms: each account a window of the ring's private pool, uniform volumes
    gk = G["k"][gr[farm_m]]
    k = np.clip(gk + rng.integers(-1, 2, len(farm_m)), 1, None)
    ao, tid = _pick_window(rng, farm_m, G["tpl_start"][gr[farm_m]], G["tpl_n"][gr[farm_m]], k)
    mu, cv = G["mu"][gr[ao]], G["cv"][gr[ao]]
    T.add(ao, tid, fixed=np.maximum(1, np.round(mu * rng.normal(1, cv))))

    tacc, tkey, twt, tfix, tcap = T.arrays()
    # benign volume: heavy-tailed account totals split by the row weights
    vol = rng.lognormal(np.log(40), 1.4, n)
    vol[sel["team"]] *= 3
    vol[sel["app_user"]] *= 2
    vol = np.minimum(vol, 200_000)
    shared = ~np.isnan(twt)
    wsum = np.bincount(tacc[shared], twt[shared], minlength=n)
    treq = tfix.copy()
    treq[shared] = np.maximum(1, np.round(vol[tacc[shared]] * twt[shared] / wsum[tacc[shared]]))
    tcap = np.where(tcap == -2, w.tpl_cap[np.minimum(tkey, len(w.tpl_cap) - 1)], tcap)
    f, l_ = _times(rng, st[tacc], en[tacc], treq)
    tacc, tkey, treq, f, l_, tcap = _aggregate(tacc, tkey, treq, f, l_, tcap)
    order = np.lexsort((f, tacc))
    tacc, tkey, treq, f, l_, tcap = (x[order] for x in (tacc, tkey, treq, f, l_, tcap))
    tk = tkey.astype(np.uint64)
    hx = _hex_matrix([_mix64(tk ^ w.key ^ np.uint64(0x5EED)), _mix64(tk + np.uint64(0x7F4A7C15) ^ w.key)], 32)
    tables["prompt_templates"] = pa.table({
        "account_id": acct.take(pa.array(tacc)), "template_hash": _fixed_str(hx), "requests": pa.array(treq),
        "first_seen": iso_utc(f), "last_seen": iso_utc(l_), "capability": _dict_str(tcap, CAPS)})
    total = np.bincount(tacc, treq, minlength=n)

    # -- addresses: shared pools (index into w.pool_*) and fresh own addresses
    P = _Rows()
    own_acc: list[np.ndarray] = []
    own_as: list[np.ndarray] = []
    own_typ: list[np.ndarray] = []
    own_v6: list[np.ndarray] = []
    own_w: list[np.ndarray] = []

    def own(acc, asn, typ, v6_share, weight):
        own_acc.append(acc)
        own_as.append(np.asarray(asn, np.int64))
        t = np.broadcast_to(np.asarray(typ, np.int64), (len(acc),)).copy()
        t[rng.random(len(acc)) < 0.01] = _T["unknown"]
        own_typ.append(t)
        own_v6.append(rng.random(len(acc)) < v6_share)
        own_w.append(np.broadcast_to(np.asarray(weight, float), (len(acc),)))

    def home(m, k, weight=3.0):  # own residential lines of the account's country
        o, _ = _expand(k)
        ac = m[o]
        c_ = cty[ac]
        own(ac, _RES_AS[c_, np.floor(rng.random(len(ac)) * _RES_N[c_]).astype(int)], _T["residential"], 0.2,
            weight)

    def maybe(m, p):
        return m[rng.random(len(m)) < p]

    def cgnat(m, k):
        o, _ = _expand(k)
        ac = m[o]
        c_ = cty[ac]
        j = np.floor(rng.random(len(ac)) * _MOB_N[c_]).astype(int)
        s_, n_ = w.pools["cgnat"][0][c_, j], w.pools["cgnat"][1][c_, j]
        P.add(ac, s_ + np.floor(rng.random(len(ac)) * n_).astype(np.int64), weight=1.0)

    def mobile_v6(m):
        c_ = cty[m]
        own(m, _MOB_AS[c_, 0], _T["mobile"], 1.0, 1.0)

    def exits(m, pool, prov, k, weight=1.0):
        o, _ = _expand(k)
        ac = m[o]
        s_, n_ = pool[prov[o], 0], pool[prov[o], 1]
        P.add(ac, s_ + np.floor(rng.random(len(ac)) * n_).astype(np.int64), weight=weight)

    def datacenter(m, k):
        o, _ = _expand(k)
        own(m[o], _HOST_AS[rng.integers(0, len(_HOST_AS), len(o))], _T["datacenter"], 0.1, 1.0)

    def group_ips(m, k, weight=3.0):
        ao, pid = _pick_window(rng, m, G["ip_start"][gr[m]], G["ip_n"][gr[m]], k)
        P.add(ao, pid, weight=weight)

    one = lambda m: np.ones(len(m), np.int64)  # noqa: E731
    nvpn, ndcp = len(VPN_PROVIDERS), len(DCPROXY_PROVIDERS)
    # normal users and app users: home lines, sometimes a phone, a VPN, a cloud box, Tor
    for name in ("normal", "app_user"):
        m = sel[name]
        home(m, 1 + rng.binomial(2, 0.35 if name == "normal" else 0.2, len(m)))
        mm = maybe(m, 0.3 if name == "normal" else 0.4)
        cgnat(mm, one(mm))
        mobile_v6(maybe(m, 0.1))
        mm = maybe(m, 0.03)
        exits(mm, w.pools["vpn"], rng.integers(0, nvpn, len(mm)), one(mm))
        api = m[plan[m] == _P["api"]]
        mm = np.r_[maybe(api, 0.25), maybe(m[plan[m] != _P["api"]], 0.01)]
        datacenter(mm, one(mm))
        mm = maybe(m, 0.003)
        P.add(mm, w.pools["tor"][0] + rng.integers(0, w.pools["tor"][1], len(mm)), weight=1.0)
    m = sel["household"]
    group_ips(m, G["ip_n"][gr[m]])
    mm = maybe(m, 0.4)
    cgnat(mm, one(mm))
    mm = maybe(m, 0.1)
    home(mm, one(mm), 1.0)
    m = sel["team"]
    group_ips(m, rng.integers(1, 4, len(m)))
    mm = maybe(m, 0.4)
    home(mm, one(mm), 1.0)
    mm = maybe(m, 0.2)
    cgnat(mm, one(mm))
    m = sel["vpn_user"]
    prov = _choice(rng, [30, 25, 15, 12, 10, 8], len(m))
    k = rng.integers(1, 4, len(m))
    exits(m, w.pools["vpn"], prov, k, weight=3.0)
    mm = maybe(m, 0.1)
    exits(mm, w.pools["vpn"], rng.integers(0, nvpn, len(mm)), one(mm))
    mm = maybe(m, 0.5)
    home(mm, one(mm), 1.0)
    mm = maybe(m, 0.2)
    cgnat(mm, one(mm))
    m = sel["resproxy_user"]
    prov = _choice(rng, [35, 25, 15, 15, 10], len(m))
    exits(m, w.pools["resproxy"], prov, rng.integers(2, 9, len(m)), weight=2.0)
    mm = maybe(m, 0.4)
    home(mm, one(mm), 1.0)
    mm = maybe(m, 0.1)
    exits(mm, w.pools["dcproxy"], rng.integers(0, ndcp, len(mm)), one(mm))
    m = sel["mobile_nat"]
    cgnat(m, rng.integers(1, 4, len(m)))
    mm = maybe(m, 0.3)
    home(mm, one(mm), 1.0)
    mobile_v6(maybe(m, 0.3))
    m = sel["researcher"]
    lab = m[grp[m] >= 0]
    group_ips(lab, G["ip_n"][gr[lab]])
    mm = maybe(lab, 0.5)
    home(mm, one(mm), 1.0)
    solo = m[grp[m] < 0]
    home(solo, rng.integers(1, 3, len(solo)))
    mm = maybe(solo, 0.3)
    datacenter(mm, rng.integers(1, 3, len(mm)))  # eval jobs on cloud machines
    mm = maybe(m, 0.2)
    cgnat(mm, one(mm))
    # farms
    for name in ("farm_small_prepaid", "farm_company"):
        m = sel[name]
        group_ips(m, rng.integers(1, 3, len(m)))
    m = sel["farm_virtual_cards"]
    group_ips(m, rng.integers(1, 3, len(m)))
    mm = maybe(m, 0.3)
    exits(mm, w.pools["dcproxy"], G["dcprov"][gr[mm]], one(mm))
    m = sel["farm_resproxy_pool"]
    exits(m, w.pools["resproxy"], G["prov"][gr[m], 0], rng.integers(2, 7, len(m)))
    m = sel["farm_hydra"]
    o, _ = _expand(rng.integers(1, 4, len(m)))
    ac = m[o]
    exits(ac, w.pools["resproxy"], G["prov"][gr[ac], rng.integers(0, 2, len(ac))], one(ac))

    # fresh own addresses: the next local indices of their AS, keys after the shared pool
    oacc = np.concatenate(own_acc)
    oas = np.concatenate(own_as)
    local = w.asn_next[oas] + _cumcount(oas)
    w.asn_next += np.bincount(oas, minlength=_NA)
    okey = len(w.pool_ip) + w.own_serial + np.arange(len(oacc))
    w.own_serial += len(oacc)
    P.add(oacc, okey, weight=np.concatenate(own_w))
    own_ip = _ip_strings(oas, local, np.concatenate(own_v6), w.key)

    pacc, pkey, pwt, _, _ = P.arrays()
    jitter = pwt * rng.exponential(1.0, len(pacc))
    wsum = np.bincount(pacc, jitter, minlength=n)
    preq = np.maximum(1, np.round(np.maximum(total[pacc], 1) * jitter / wsum[pacc])).astype(np.int64)
    f, l_ = _times(rng, st[pacc], en[pacc], preq)
    pacc, pkey, preq, f, l_, _ = _aggregate(pacc, pkey, preq, f, l_, np.zeros(len(pacc), np.int64))
    order = np.lexsort((f, pacc))
    pacc, pkey, preq, f, l_ = (x[order] for x in (pacc, pkey, preq, f, l_))
    is_pool = pkey < len(w.pool_ip)
    w.pool_used[pkey[is_pool]] = True
    ipstr = np.empty(len(pkey), dtype=object)
    ipstr[is_pool] = w.pool_ip[pkey[is_pool]]
    ipstr[~is_pool] = own_ip[pkey[~is_pool] - len(w.pool_ip) - (w.own_serial - len(oacc))]
    tables["ip_sightings"] = pa.table({
        "account_id": acct.take(pa.array(pacc)), "ip": pa.array(ipstr, pa.string()),
        "first_seen": iso_utc(f), "last_seen": iso_utc(l_), "requests": pa.array(preq)})
    shuffle = rng.permutation(len(oacc))
    otyp = np.concatenate(own_typ)
    tables["ip_intel"] = _intel(own_ip[shuffle], oas[shuffle], otyp[shuffle], np.full(len(oacc), -1))

    # -- payment methods
    pay_acc: list[np.ndarray] = []
    pay_id: list[np.ndarray] = []
    pay_typ: list[np.ndarray] = []
    pay_bin: list[np.ndarray] = []

    def own_cards(m, k, types, bins):  # types, bins: one per new row (owner order)
        o, j = _expand(k)
        pay_acc.append(m[o])
        pay_id.append((np.int64(1) << 50) + a[m[o]] * 4 + j)
        pay_typ.append(types)
        pay_bin.append(bins)

    def group_card(m, j):
        gi = G["card_start"][gr[m]] + j
        pay_acc.append(m)
        pay_id.append((np.int64(2) << 50) + gi)
        pay_typ.append(w.gi_type[gi])
        pay_bin.append(w.gi_bin[gi])

    indiv_m = np.flatnonzero(np.isin(cat, [_C[x] for x in _INDIVIDUAL]))
    free = plan[indiv_m] == _P["free"]
    k = np.where(free, rng.random(len(indiv_m)) < 0.75, 1) + (rng.random(len(indiv_m)) < 0.13)
    hm = sel["household"]
    kh = (rng.random(len(hm)) < 0.2).astype(np.int64)
    bm = np.r_[indiv_m, hm]
    kb = np.r_[k, kh].astype(np.int64)
    o, _ = _expand(kb)
    typ = _choice(rng, [82, 2, 3, 10, 2, 1], len(o))
    c_ = cty[bm[o]]
    bins = np.select([typ == _M["card"], typ == _M["prepaid_card"], typ == _M["virtual_card"]],
                     [_BIN["consumer"][c_, rng.integers(0, 3, len(o))],
                      _BIN["prepaid"][rng.integers(0, len(_BIN["prepaid"]), len(o))],
                      _BIN["virtual"][rng.integers(0, len(_BIN["virtual"]), len(o))]], -1)
    own_cards(bm, kb, typ, bins)
    group_card(hm, np.zeros(len(hm), np.int64))
    for name in ("team", "farm_company"):
        m = sel[name]
        group_card(m, np.zeros(len(m), np.int64))
    m = sel["farm_small_prepaid"]
    group_card(m, np.floor(rng.random(len(m)) * G["card_n"][gr[m]]).astype(np.int64))
    m = sel["farm_resproxy_pool"]
    group_card(m, np.floor(rng.random(len(m)) * G["card_n"][gr[m]]).astype(np.int64))
    mm = maybe(m, 0.1)  # a declined card replaced by another of the pool
    group_card(mm, np.floor(rng.random(len(mm)) * G["card_n"][gr[mm]]).astype(np.int64))
    m = sel["farm_virtual_cards"]
    pick = np.where(G["one_bin"][gr[m]], 0, rng.integers(0, 2, len(m)))
    own_cards(m, one(m), np.full(len(m), _M["virtual_card"]), G["virt_bins"][gr[m], pick])
    m = sel["farm_hydra"]
    mix = G["hyd_mix"][gr[m]]
    u = rng.random(len(m))
    typ = np.where(u < mix[:, 0], _M["virtual_card"], np.where(u < mix[:, 0] + mix[:, 1], _M["prepaid_card"],
                                                               _M["wallet"]))
    bins = G["hyd_bins"][gr[m], rng.integers(0, 4, len(m))]
    bins = np.where(typ == _M["wallet"], -1, bins)
    typ = np.where((typ != _M["wallet"]) & np.isin(bins, _BIN["prepaid"]), _M["prepaid_card"], typ)
    typ = np.where((typ != _M["wallet"]) & np.isin(bins, _BIN["virtual"]), _M["virtual_card"], typ)
    own_cards(m, one(m), typ, bins)

    yacc = np.concatenate(pay_acc)
    yid = np.concatenate(pay_id)
    ytyp = np.concatenate(pay_typ).astype(np.int64)
    ybin = np.concatenate(pay_bin).astype(np.int64)
    # one row per account and instrument (a replacement card can be drawn twice from a pool)
    _, first = np.unique(np.stack([yacc, yid]), axis=1, return_index=True)
    yacc, yid, ytyp, ybin = (x[np.sort(first)] for x in (yacc, yid, ytyp, ybin))
    ycty = np.where(ybin >= 0, _BIN["country"][np.maximum(ybin, 0)],
                    np.where(ytyp == _M["bank"], cty[yacc], -1))
    yfirst = np.minimum(st[yacc] + rng.exponential(DAY, len(yacc)).astype(np.int64), en[yacc])
    order = np.lexsort((yfirst, yacc))
    yacc, yid, ytyp, ybin, ycty, yfirst = (x[order] for x in (yacc, yid, ytyp, ybin, ycty, yfirst))
    yk = yid.astype(np.uint64) ^ w.key
    fp = _hex_matrix([_mix64(yk ^ np.uint64(i * 0x51ED27)) for i in range(1, 4)], 40)
    tables["payment_methods"] = pa.table({
        "account_id": acct.take(pa.array(yacc)), "payment_fingerprint": _fixed_str(fp),
        "method_type": _dict_str(ytyp, METHODS), "bin": _dict_str(ybin, _BIN["bin"]),
        "issuer_country": _dict_str(ycty, CC), "first_seen": iso_utc(yfirst)})
    return tables


def _intel(ip: np.ndarray, asn_idx: np.ndarray, typ: np.ndarray, prov: np.ndarray) -> pa.Table:
    return pa.table({
        "ip": pa.array(ip, pa.string()), "asn": pa.array(_ASN["asn"][asn_idx]),
        "as_org": _dict_str(asn_idx, _ASN["org"]), "ip_type": _dict_str(typ, IP_TYPES),
        "proxy_provider": _dict_str(prov, PROVIDERS)})


# ---------------------------------------------------------------------------------------
# output

SCHEMAS = {
    "accounts": ["account_id", "created_at", "country", "email_domain", "plan"],
    "payment_methods": ["account_id", "payment_fingerprint", "method_type", "bin", "issuer_country",
                        "first_seen"],
    "ip_sightings": ["account_id", "ip", "first_seen", "last_seen", "requests"],
    "ip_intel": ["ip", "asn", "as_org", "ip_type", "proxy_provider"],
    "prompt_templates": ["account_id", "template_hash", "requests", "first_seen", "last_seen", "capability"],
    "truth/accounts": ["account_id", "ring_id", "category"],
    "truth/rings": ["ring_id", "style", "size"],
}
_INT_COLS = {"requests", "asn", "size"}


def schema(name: str) -> pa.Schema:
    """Arrow schema of an output file: its columns in order, counts as int64, all else text."""
    return pa.schema([(c, pa.int64() if c in _INT_COLS else pa.string()) for c in SCHEMAS[name]])


class TableSink:
    """Appends Arrow tables to one output file (CSV, gzip'd CSV or Parquet), chunk by chunk.

    CSV: a plain header, fields unquoted unless a value needs RFC 4180 quoting, nulls as
    empty fields, LF line ends. The same tables always give the same bytes."""

    def __init__(self, path: Path, name: str, fmt: str):
        self.schema = schema(name)
        self.fmt = fmt
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            self.raw = open(path, "wb")  # noqa: SIM115 - closed in close()
            # mtime=0 and no file name: the same rows give the same bytes
            self.out = (gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0, compresslevel=6)
                        if fmt == "csv.gz" else self.raw)
            self.out.write((",".join(self.schema.names) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        self.rows += table.num_rows
        if self.fmt == "parquet":
            self.writer.write_table(table, row_group_size=max(1, table.num_rows))
            return
        buf = pa.BufferOutputStream()
        try:  # plain fields; quote only if a value ever needs it (none of ours do)
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        except pa.ArrowInvalid:
            buf = pa.BufferOutputStream()
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        self.out.write(buf.getvalue())

    def close(self) -> None:
        if self.fmt == "parquet":
            self.writer.close()
        else:
            if self.out is not self.raw:
                self.out.close()
            self.raw.close()


def generate_world(out_dir: Path, accounts: int, seed: int, fmt: str = "csv", progress: bool = False) -> dict:
    """Write a synthetic delivery of `accounts` accounts to `out_dir` and return the row
    count of every file written ("accounts", ..., "truth/accounts", "truth/rings").

    fmt is "csv", "csv.gz" or "parquet" for the five contract files; the truth files are
    always CSV. Deterministic: a seed gives byte-identical files; the rows do not depend
    on fmt. Cost: O(accounts) time (about 40 s per million with csv) and memory bounded by
    one chunk of CHUNK accounts plus ~100 bytes per account of plan."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {sorted(FORMATS)}, not {fmt!r}")
    if accounts < MIN_ACCOUNTS:
        raise ValueError(f"accounts must be at least {MIN_ACCOUNTS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    w = _plan(int(accounts), int(seed))
    ext = FORMATS[fmt]
    sinks = {name: TableSink(out_dir / f"{name}{ext}", name, fmt)
             for name in SCHEMAS if not name.startswith("truth")}
    sinks["truth/accounts"] = TableSink(out_dir / "truth" / "accounts.csv", "truth/accounts", "csv")
    sinks["truth/rings"] = TableSink(out_dir / "truth" / "rings.csv", "truth/rings", "csv")
    n_chunks = -(-w.n // CHUNK)
    try:
        for c in range(n_chunks):
            for name, table in _chunk(w, c).items():
                sinks[name].write(table)
            if progress:
                print(f"generate: chunk {c + 1}/{n_chunks} ({min((c + 1) * CHUNK, w.n)} accounts, "
                      f"{time.time() - t0:.1f} s)", file=sys.stderr, flush=True)
        # shared addresses that somebody used, in a shuffled order
        used = np.flatnonzero(w.pool_used)
        used = used[np.random.default_rng([w.seed, 2]).permutation(len(used))]
        for s in range(0, len(used), 500_000):
            u = used[s:s + 500_000]
            sinks["ip_intel"].write(_intel(w.pool_ip[u], w.pool_asn[u], w.pool_type[u].astype(np.int64),
                                           w.pool_prov[u].astype(np.int64)))
        sinks["truth/rings"].write(pa.table({
            "ring_id": [f"ring_{i + 1:04d}" for i in range(len(w.ring_styles))],
            "style": w.ring_styles, "size": pa.array(w.ring_sizes, pa.int64())}))
    finally:
        for sink in sinks.values():
            sink.close()
    if progress:
        print(f"generate: done in {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
    return {name: sink.rows for name, sink in sinks.items()}


def main(argv: list[str] | None = None) -> None:
    """`python -m ingest.generate OUT_DIR --accounts N --seed S --format csv`."""
    ap = argparse.ArgumentParser(description="Write a synthetic delivery with ground truth.")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--accounts", type=int, default=25_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", dest="fmt", default="csv", choices=sorted(FORMATS))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    counts = generate_world(args.out_dir, args.accounts, args.seed, args.fmt, progress=not args.quiet)
    print(json.dumps(counts, indent=2))


if __name__ == "__main__":
    main()
