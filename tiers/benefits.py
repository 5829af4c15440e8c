"""Whether higher tiers get more (domain.md: "Higher tiers get more; benefits are data staff
edit"): each kind of benefit a tier has, against the same kind at the tiers below it. Warnings
only, shown where staff edit benefits: a tier may well offer a kind the others do not."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Benefit, Tier

# Whether a larger value is better, per kind with a value. A discount is stored as the percent
# of the price paid (95 = 9.5折): less is better.
_LARGER_IS_BETTER = {
    Benefit.Kind.DISCOUNT: False,
    Benefit.Kind.POINTS_MULTIPLIER: True,
    Benefit.Kind.BIRTHDAY_BONUS: True,
    Benefit.Kind.WELCOME_POINTS: True,
}


@dataclass(frozen=True)
class BenefitProblem:
    """``higher`` offers less of a kind than ``lower``, a tier below it."""

    higher: Tier
    lower: Tier
    higher_benefit: Benefit  # the best of the kind at each tier
    lower_benefit: Benefit


def _best(tier: Tier) -> dict[str, Benefit]:
    best: dict[str, Benefit] = {}
    for benefit in tier.benefits.all():
        larger = _LARGER_IS_BETTER.get(benefit.kind)
        if larger is None or benefit.value is None:
            continue
        held = best.get(benefit.kind)
        if held is None or (benefit.value > held.value) == larger and benefit.value != held.value:
            best[benefit.kind] = benefit
    return best


def benefit_ordering_problems(tiers: list[Tier]) -> list[BenefitProblem]:
    """Each tier whose best benefit of a kind is worse than that of a tier below it (benefits
    prefetched; any order). One problem per pair of tiers and kind, highest tier first."""
    ranked = sorted(tiers, key=lambda tier: tier.rank, reverse=True)
    best = {tier.pk: _best(tier) for tier in ranked}
    problems = []
    for index, higher in enumerate(ranked):
        for lower in ranked[index + 1 :]:
            for kind, benefit in best[higher.pk].items():
                below = best[lower.pk].get(kind)
                if below is None or below.value == benefit.value:
                    continue
                if (below.value > benefit.value) == _LARGER_IS_BETTER[kind]:
                    problems.append(BenefitProblem(higher, lower, benefit, below))
    return problems
