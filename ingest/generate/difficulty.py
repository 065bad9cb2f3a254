"""How hard a world's farms are to find: one `difficulty` in [0, 1], spelled out as knobs.

Level 0 is the world the generator has always written (byte-identical for a seed); level 1
is the hardest. Every knob moves linearly between its two ends, so a level in between is a
world in between. What each knob does, from easy to hard:

    hydra_exits              exits a hydra account uses: 1-3 -> 1-2
    hydra_templates          private templates a hydra account uses: 2-5 -> 2-4 (then +-1)
    hydra_template_share     a hydra's private templates, as a share of its size: 5-15 % -> 15-30 %
                             (capped at 400 -> 2,000 templates): fewer members per template
    template_scatter         share of farm accounts that draw their templates at random from the
                             pool instead of a window of neighbours: 0 -> 1 (hydras), 0 -> 0.3 (others)
    resproxy_pool_factor     exits per residential-proxy service: 1x -> 3x (every user spread thinner)
    hydra_waves              waves per hydra: 2-3 -> 3; each wave 2-5 -> 6-15 days long,
                             0.5-3 -> 0.5-8 days after a release
    pool_exits               exits a residential-proxy-pool farm account uses: 2-6 -> 1-2
    ring_templates           private templates per account of pool, virtual-card and small
                             prepaid farms: 3-8 / 3-8 / 4-8 -> 2-5 / 2-4 / 3-5
    camouflage               popular templates a farm account uses: 1-3 -> 2-4, with 1 + Poisson(2)
                             -> 1 + Poisson(4) requests each
    company_imitation        how well a farm dressed as a company imitates a real team: 0 -> 1.
                             At 1: member volumes spread out (log-normal sigma 0.4),
                             a fifth of its templates with a team's ordinary mix, 25 % of
                             members signing up over the following weeks, 1-3 popular
                             templates each
    leak                     benign accounts that use a template mostly a farm's: 0.15 % -> 0.3 %

A knob at its level-0 value takes the level-0 code path and draws exactly the same random
numbers, which is what keeps level 0 byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Difficulty"]


def _lerp(easy: float, hard: float, level: float) -> float:
    return easy + (hard - easy) * level


def _span(easy: tuple[int, int], hard: tuple[int, int], level: float) -> tuple[int, int]:
    """An integer range [low, high) between two ranges (high stays above low)."""
    low = round(_lerp(easy[0], hard[0], level))
    return low, max(low + 1, round(_lerp(easy[1], hard[1], level)))


def _fspan(easy: tuple[float, float], hard: tuple[float, float], level: float) -> tuple[float, float]:
    return _lerp(easy[0], hard[0], level), _lerp(easy[1], hard[1], level)


@dataclass(frozen=True)
class Difficulty:
    """The knobs of one difficulty level (see the module docstring); `Difficulty()` is level 0."""

    level: float = 0.0
    hydra_exits: tuple[int, int] = (1, 4)
    hydra_templates: tuple[int, int] = (2, 6)
    hydra_template_share: tuple[float, float] = (0.05, 0.15)
    hydra_template_cap: int = 400
    hydra_scatter: float = 0.0
    ring_scatter: float = 0.0
    resproxy_pool_factor: float = 1.0
    hydra_waves: tuple[int, int] = (2, 4)
    hydra_wave_days: tuple[float, float] = (2.0, 5.0)
    hydra_wave_offset_days: tuple[float, float] = (0.5, 3.0)
    pool_exits: tuple[int, int] = (2, 7)
    pool_templates: tuple[int, int] = (3, 9)
    virtual_templates: tuple[int, int] = (3, 9)
    small_templates: tuple[int, int] = (4, 9)
    camouflage_templates: tuple[int, int] = (1, 4)
    camouflage_requests: float = 2.0
    company_imitation: float = 0.0
    leak: float = 0.0015

    @classmethod
    def at(cls, level: float) -> Difficulty:
        """The knobs of `level` in [0, 1] (0: today's worlds exactly, 1: the hardest)."""
        level = float(level)
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"difficulty must be between 0 and 1, not {level}")
        if level == 0.0:
            return cls()
        return cls(
            level=level,
            hydra_exits=_span((1, 4), (1, 3), level),
            hydra_templates=_span((2, 6), (2, 5), level),
            hydra_template_share=_fspan((0.05, 0.15), (0.15, 0.30), level),
            hydra_template_cap=round(_lerp(400, 2000, level)),
            hydra_scatter=level,
            ring_scatter=0.3 * level,
            resproxy_pool_factor=_lerp(1.0, 3.0, level),
            hydra_waves=_span((2, 4), (3, 4), level),
            hydra_wave_days=_fspan((2.0, 5.0), (6.0, 15.0), level),
            hydra_wave_offset_days=_fspan((0.5, 3.0), (0.5, 8.0), level),
            pool_exits=_span((2, 7), (1, 3), level),
            pool_templates=_span((3, 9), (2, 6), level),
            virtual_templates=_span((3, 9), (2, 5), level),
            small_templates=_span((4, 9), (3, 6), level),
            camouflage_templates=_span((1, 4), (2, 5), level),
            camouflage_requests=_lerp(2.0, 4.0, level),
            company_imitation=level,
            leak=_lerp(0.0015, 0.003, level),
        )

    def templates_per_account(self, style: str, default: tuple[int, int]) -> tuple[int, int]:
        """The range a ring of `style` draws its private templates per account from."""
        return {
            "farm_hydra": self.hydra_templates,
            "farm_resproxy_pool": self.pool_templates,
            "farm_virtual_cards": self.virtual_templates,
            "farm_small_prepaid": self.small_templates,
        }.get(style, default)
