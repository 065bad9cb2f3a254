"""The synthetic world's vocabulary and proportions.

Account categories and their shares, ring sizes per farm style, the time span and the
model releases, and the code lists rows are drawn from (plans, payment methods, IP types,
capabilities, proxy providers). Codes are positions in these lists; `*_CODE` maps a name
to its code.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BENIGN",
    "BENIGN_SHARE",
    "CAPS",
    "CATEGORIES",
    "CATEGORY_CODE",
    "CHUNK",
    "DAY",
    "DCPROXY_FIRST",
    "DCPROXY_PROVIDERS",
    "FARMS",
    "FARM_FRACTION",
    "FARM_SHARE",
    "FARM_SIZE",
    "HOUR",
    "INDIVIDUAL",
    "IP_TYPES",
    "IP_TYPE_CODE",
    "METHODS",
    "METHOD_CODE",
    "MIN_ACCOUNTS",
    "PLANS",
    "PLAN_CODE",
    "PROVIDERS",
    "RELEASES",
    "RESPROXY_FIRST",
    "RESPROXY_PROVIDERS",
    "T0",
    "T1",
    "VPN_FIRST",
    "VPN_PROVIDERS",
    "epoch_seconds",
]

CHUNK = 50_000  # accounts per output chunk; fixed so every format holds the same rows

BENIGN = ("normal", "team", "household", "vpn_user", "resproxy_user", "mobile_nat", "researcher", "app_user")
FARMS = ("farm_small_prepaid", "farm_resproxy_pool", "farm_virtual_cards", "farm_hydra", "farm_company")
CATEGORIES = BENIGN + FARMS
CATEGORY_CODE = {name: i for i, name in enumerate(CATEGORIES)}
INDIVIDUAL = ("normal", "vpn_user", "resproxy_user", "mobile_nat", "researcher", "app_user")  # no group

# shares of the benign population (the rest of `normal` absorbs rounding)
BENIGN_SHARE = {
    "normal": 0.50,
    "team": 0.12,
    "household": 0.07,
    "vpn_user": 0.06,
    "resproxy_user": 0.04,
    "mobile_nat": 0.08,
    "researcher": 0.03,
    "app_user": 0.10,
}
FARM_FRACTION = 0.07
FARM_SHARE = {
    "farm_small_prepaid": 0.06,
    "farm_resproxy_pool": 0.21,
    "farm_virtual_cards": 0.19,
    "farm_hydra": 0.45,
    "farm_company": 0.09,
}
# (typical low, typical high, smallest allowed when a small world scales a ring down)
FARM_SIZE = {
    "farm_small_prepaid": (5, 15, 5),
    "farm_resproxy_pool": (100, 400, 12),
    "farm_virtual_cards": (100, 400, 12),
    "farm_hydra": (1000, 5000, 20),
    "farm_company": (20, 80, 8),
}
MIN_ACCOUNTS = 500

DAY = 86_400
HOUR = 3_600


def epoch_seconds(text: str) -> int:
    """Seconds since 1970-01-01 UTC of an ISO-8601 time without zone."""
    return int(np.datetime64(text, "s").astype(np.int64))


T0 = epoch_seconds("2025-06-01T00:00:00")
T1 = epoch_seconds("2026-03-31T23:59:59")
RELEASES = np.array(
    [
        epoch_seconds(release)
        for release in ("2025-07-22T17:00:00", "2025-10-14T17:00:00", "2025-12-09T17:00:00", "2026-02-24T17:00:00")
    ]
)

PLANS = ["free", "pro", "team", "api", "enterprise"]
PLAN_CODE = {p: i for i, p in enumerate(PLANS)}
METHODS = ["card", "prepaid_card", "virtual_card", "wallet", "bank", "crypto"]
METHOD_CODE = {m: i for i, m in enumerate(METHODS)}
IP_TYPES = ["residential", "mobile", "business", "datacenter", "vpn", "proxy", "tor", "unknown"]
IP_TYPE_CODE = {t: i for i, t in enumerate(IP_TYPES)}
CAPS = [
    "chat",
    "writing",
    "summarize",
    "translation",
    "coding",
    "reasoning",
    "extraction",
    "tool_use",
    "agentic",
    "classification",
]

VPN_PROVIDERS = ["SwiftVPN", "AirShield VPN", "HaloTunnel", "CloakWave VPN", "PrivaLink VPN", "BurrowVPN"]
RESPROXY_PROVIDERS = ["LumaProxy", "OxyNet Residential", "PeerHop Residential", "NimbleIP", "GeoMesh Proxy"]
DCPROXY_PROVIDERS = ["StaticHop Proxies", "RackRoute Proxy"]
PROVIDERS = VPN_PROVIDERS + RESPROXY_PROVIDERS + DCPROXY_PROVIDERS
# code of each kind's first provider in PROVIDERS
VPN_FIRST, RESPROXY_FIRST, DCPROXY_FIRST = 0, len(VPN_PROVIDERS), len(VPN_PROVIDERS) + len(RESPROXY_PROVIDERS)
