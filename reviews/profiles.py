"""Which nomination profiles a member matches (domain.md, "Special review channel"). Pure:
plain data in, plain data out, like ``tiers.engine``; thresholds come from the policy's
``review_settings``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tiers import engine
from tiers.review_settings import BIG_ONE_OFF, LOYAL_VETERAN, REFERRAL_CHAMPION, ReviewSettings


@dataclass(frozen=True)
class Candidate:
    """One member's figures as of the nomination date."""

    metrics: engine.Metrics
    qualified_rank: int
    max_net_purchase: Decimal  # the largest purchase in the window, less its refunds by D
    referrals_all_time: int  # referrals made on or before D


def matching_profiles(
    candidate: Candidate,
    settings: ReviewSettings,
    policy: engine.Policy,
    tier_ranks: dict[str, int],
) -> list[str]:
    """The profiles the member matches, in a fixed order; none when the rules already give the
    top tier (there is nothing to raise them to)."""
    if candidate.qualified_rank >= policy.tiers[0].rank:
        return []
    metrics = candidate.metrics
    matched = []
    veteran = settings.loyal_veteran
    if (
        veteran is not None
        and metrics.tenure_years >= veteran.min_tenure_years
        and candidate.qualified_rank <= tier_ranks[veteran.max_qualified_tier]
    ):
        matched.append(LOYAL_VETERAN)
    one_off = settings.big_one_off
    if (
        one_off is not None
        and candidate.max_net_purchase >= one_off.min_purchase
        and 1 <= metrics.frequency <= one_off.max_frequency
    ):
        matched.append(BIG_ONE_OFF)
    champion = settings.referral_champion
    if (
        champion is not None
        and candidate.referrals_all_time >= champion.min_referrals
        and metrics.spend < champion.spend_below
    ):
        matched.append(REFERRAL_CHAMPION)
    return matched


def uplifted_rank(policy: engine.Policy, qualified_rank: int, uplift: int) -> int:
    """``uplift`` tiers above the qualified tier in the policy's order, never above the top."""
    ranks = sorted(t.rank for t in policy.tiers)
    below_or_at = [i for i, rank in enumerate(ranks) if rank <= qualified_rank]
    position = below_or_at[-1] if below_or_at else 0
    return ranks[min(position + uplift, len(ranks) - 1)]
