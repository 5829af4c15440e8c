"""The tier engine: which tier a member's numbers qualify for, why, and how the held tier moves.

Pure on purpose: plain data in, plain data out; no ORM, no settings, no clock. Everything the
rules of ``shared/docs/domain.md`` decide lives here, so it can be read and tested alone.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter

# --- Calendar helpers ---------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later (or earlier); 29 February becomes 28 February."""
    year = day.year + years
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return day.replace(year=year)


def completed_years(start: date, end: date) -> int:
    """Whole years from ``start`` to ``end`` (tenure, 合作年限); 0 when ``end`` precedes it."""
    if end < start:
        return 0
    years = end.year - start.year
    if add_years(start, years) > end:
        years -= 1
    return years


class WindowKind(StrEnum):
    ROLLING_YEAR = "rolling_year"
    CALENDAR_YEAR = "calendar_year"


@dataclass(frozen=True)
class Window:
    """Local dates ``after < day <= until``: what an evaluation as of ``until`` looks at."""

    after: date
    until: date

    def __contains__(self, day: date) -> bool:
        return self.after < day <= self.until


def window_for(as_of: date, kind: WindowKind) -> Window:
    if kind == WindowKind.CALENDAR_YEAR:
        return Window(after=date(as_of.year, 1, 1) - timedelta(days=1), until=as_of)
    return Window(after=add_years(as_of, -1), until=as_of)


# --- Metrics and rules --------------------------------------------------------------------


class Metric(StrEnum):
    SPEND = "spend"
    FREQUENCY = "frequency"
    TENURE = "tenure_years"
    CONTRIBUTION = "contribution"


@dataclass(frozen=True)
class Metrics:
    """One member's four numbers (评定维度) as of one date. Spend is in yuan, exact."""

    spend: Decimal
    frequency: int
    tenure_years: int
    contribution: int

    def value(self, metric: Metric) -> Decimal | int:
        return getattr(self, metric.value)


@dataclass(frozen=True)
class Threshold:
    """``metric >= minimum``; thresholds are inclusive (5,000.00 qualifies, 4,999.99 does not)."""

    metric: Metric
    minimum: Decimal | int


@dataclass(frozen=True)
class AllOf:
    """Every condition holds; with no conditions it always holds (the entry tier)."""

    conditions: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Rule, ...]


@dataclass(frozen=True)
class AtLeast:
    """At least ``count`` of the conditions hold ("at least two of three")."""

    count: int
    conditions: tuple[Rule, ...]


Rule = Threshold | AllOf | AnyOf | AtLeast


def holds(rule: Rule, metrics: Metrics) -> bool:
    match rule:
        case Threshold(metric=metric, minimum=minimum):
            return metrics.value(metric) >= minimum
        case AllOf(conditions=conditions):
            return all(holds(c, metrics) for c in conditions)
        case AnyOf(conditions=conditions):
            return any(holds(c, metrics) for c in conditions)
        case AtLeast(count=count, conditions=conditions):
            return sum(1 for c in conditions if holds(c, metrics)) >= count
    raise TypeError(f"not a rule: {rule!r}")


Predicate = Callable[[Metrics], bool]


def compile_rule(rule: Rule) -> Predicate:
    """The rule as a closure: the same answer as ``holds``, without re-reading the rule's shape
    for each of a million members (about three times faster)."""
    match rule:
        case Threshold(metric=metric, minimum=minimum):
            value = attrgetter(metric.value)
            return lambda metrics: value(metrics) >= minimum
        case AllOf(conditions=conditions):
            parts = tuple(compile_rule(c) for c in conditions)
            return lambda metrics: all(part(metrics) for part in parts)
        case AnyOf(conditions=conditions):
            parts = tuple(compile_rule(c) for c in conditions)
            return lambda metrics: any(part(metrics) for part in parts)
        case AtLeast(count=count, conditions=conditions):
            parts = tuple(compile_rule(c) for c in conditions)
            return lambda metrics: sum(1 for part in parts if part(metrics)) >= count
    raise TypeError(f"not a rule: {rule!r}")


# --- Policy -------------------------------------------------------------------------------


class DowngradeStep(StrEnum):
    TO_QUALIFIED = "to_qualified"
    ONE_TIER = "one_tier"


@dataclass(frozen=True)
class TierRule:
    code: str
    rank: int
    rule: Rule


@dataclass(frozen=True)
class Policy:
    """A policy version as the engine needs it; ``tiers`` run from the highest rank down."""

    version: int
    tiers: tuple[TierRule, ...]
    window: WindowKind = WindowKind.ROLLING_YEAR
    referral_points: int = 200
    activity_points: int = 100
    warning_lead_days: int = 30
    notice_days: int = 30
    downgrade_step: DowngradeStep = DowngradeStep.TO_QUALIFIED
    _predicates: tuple[tuple[TierRule, Predicate], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.tiers, key=lambda t: t.rank, reverse=True))
        object.__setattr__(self, "tiers", ordered)
        if not ordered:
            raise ValueError("a policy needs at least one tier")
        if not isinstance(ordered[-1].rule, AllOf) or ordered[-1].rule.conditions:
            raise ValueError("the lowest tier must have no conditions: every member qualifies")
        predicates = tuple((t, compile_rule(t.rule)) for t in ordered)
        object.__setattr__(self, "_predicates", predicates)

    def tier(self, rank: int) -> TierRule:
        for tier in self.tiers:
            if tier.rank == rank:
                return tier
        raise KeyError(rank)

    def rank_below(self, rank: int) -> int:
        lower = [t.rank for t in self.tiers if t.rank < rank]
        return max(lower) if lower else rank


def qualify(metrics: Metrics, policy: Policy) -> TierRule:
    """The highest tier whose rule holds; the fast path the recompute uses for every member."""
    for tier, predicate in policy._predicates:
        if predicate(metrics):
            return tier
    return policy.tiers[-1]


# --- Explanation --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    """One node of a rule with the member's numbers: why it held or did not."""

    kind: str  # "threshold", "all", "any" or "at_least"
    held: bool
    metric: Metric | None = None
    minimum: Decimal | int | None = None
    value: Decimal | int | None = None
    count: int | None = None
    children: tuple[RuleResult, ...] = field(default=())

    @property
    def shortfall(self) -> Decimal | int | None:
        """How much is missing for a threshold that does not hold."""
        if self.kind != "threshold" or self.held:
            return None
        return self.minimum - self.value

    def as_data(self) -> dict:
        """JSON-ready form, kept with warnings so the notice says what is missing."""
        data: dict = {"kind": self.kind, "held": self.held}
        if self.kind == "threshold":
            data.update(metric=self.metric.value, minimum=str(self.minimum), value=str(self.value))
            if self.shortfall is not None:
                data["shortfall"] = str(self.shortfall)
        else:
            if self.count is not None:
                data["count"] = self.count
            data["children"] = [c.as_data() for c in self.children]
        return data


def explain(rule: Rule, metrics: Metrics) -> RuleResult:
    match rule:
        case Threshold(metric=metric, minimum=minimum):
            value = metrics.value(metric)
            return RuleResult(
                "threshold", value >= minimum, metric=metric, minimum=minimum, value=value
            )
        case AllOf(conditions=conditions):
            children = tuple(explain(c, metrics) for c in conditions)
            return RuleResult("all", all(c.held for c in children), children=children)
        case AnyOf(conditions=conditions):
            children = tuple(explain(c, metrics) for c in conditions)
            return RuleResult("any", any(c.held for c in children), children=children)
        case AtLeast(count=count, conditions=conditions):
            children = tuple(explain(c, metrics) for c in conditions)
            held = sum(1 for c in children if c.held) >= count
            return RuleResult("at_least", held, count=count, children=children)
    raise TypeError(f"not a rule: {rule!r}")


@dataclass(frozen=True)
class TierCheck:
    tier: TierRule
    result: RuleResult


@dataclass(frozen=True)
class Evaluation:
    """The qualified tier and every tier's rule checked against the member's numbers."""

    metrics: Metrics
    tier: TierRule
    checks: tuple[TierCheck, ...]


def evaluate(metrics: Metrics, policy: Policy) -> Evaluation:
    checks = tuple(TierCheck(t, explain(t.rule, metrics)) for t in policy.tiers)
    qualified = next((c.tier for c in checks if c.result.held), policy.tiers[-1])
    return Evaluation(metrics=metrics, tier=qualified, checks=checks)


# --- Progress: what is missing ------------------------------------------------------------


@dataclass(frozen=True)
class Shortfall:
    """How much more of one metric is needed (exact: yuan to the fen for spend)."""

    metric: Metric
    amount: Decimal | int


@dataclass(frozen=True)
class Way:
    """One way to make a rule hold: every shortfall together. ``progress`` (0 to 1) is how far
    the member already is along the hardest of them, for progress bars."""

    shortfalls: tuple[Shortfall, ...]
    progress: Decimal

    @property
    def reached(self) -> bool:
        return not self.shortfalls


# A way while it is being built: metric -> (amount missing, share of the threshold missing).
_Need = dict[Metric, tuple[Decimal | int, Decimal]]


def _merge(a: _Need, b: _Need) -> _Need:
    merged = dict(a)
    for metric, need in b.items():
        if metric not in merged or need[0] > merged[metric][0]:
            merged[metric] = need
    return merged


def _product(options: list[list[_Need]]) -> list[_Need]:
    ways: list[_Need] = [{}]
    for choices in options:
        ways = [_merge(way, choice) for way in ways for choice in choices]
    return ways


def _needs(rule: Rule, metrics: Metrics) -> list[_Need]:
    match rule:
        case Threshold(metric=metric, minimum=minimum):
            value = metrics.value(metric)
            if value >= minimum:
                return [{}]
            share = Decimal(minimum - value) / Decimal(minimum) if minimum else Decimal(1)
            return [{metric: (minimum - value, share)}]
        case AllOf(conditions=conditions):
            return _product([_needs(c, metrics) for c in conditions])
        case AnyOf(conditions=conditions):
            return [need for c in conditions for need in _needs(c, metrics)]
        case AtLeast(count=count, conditions=conditions):
            children = [_needs(c, metrics) for c in conditions]
            return [
                need
                for chosen in itertools.combinations(children, count)
                for need in _product(list(chosen))
            ]
    raise TypeError(f"not a rule: {rule!r}")


def _dominates(a: _Need, b: _Need) -> bool:
    """``a`` asks for nothing more than ``b`` does."""
    return all(metric in b and need[0] <= b[metric][0] for metric, need in a.items())


def ways_to_reach(
    rule: Rule, metrics: Metrics, limit: int = 3, *, tenure_at_deadline: int | None = None
) -> tuple[Way, ...]:
    """The cheapest ways to make ``rule`` hold from ``metrics``: minimal sets of increases
    ("spend ¥3,200.50 more, or make 2 more purchases"), those that need fewer metrics and a
    smaller share of their thresholds first, and ways that need more years of tenure (which
    cannot be bought) last. A rule that holds gives one empty way.

    With a deadline, ``tenure_at_deadline`` is the tenure the member will have completed on
    it: a way that needs more years than that cannot be met in time (years cannot be hurried)
    and is left out, so the result is empty when no way can."""
    needs = _needs(rule, metrics)
    if any(not need for need in needs):
        return (Way((), Decimal(1)),)
    minimal = []
    for need in needs:
        if any(_dominates(other, need) and other != need for other in needs):
            continue
        if need not in minimal:
            minimal.append(need)
    if tenure_at_deadline is not None:
        years_left = tenure_at_deadline - metrics.tenure_years
        # Pruned before or after the dominance check alike: a way dominated by one left out
        # needs at least as many years, so it is left out too.
        minimal = [need for need in minimal if need.get(Metric.TENURE, (0,))[0] <= years_left]

    def cost(need: _Need):
        hardest = max(share for _amount, share in need.values())
        return (Metric.TENURE in need, len(need), hardest)

    ways = []
    for need in sorted(minimal, key=cost)[:limit]:
        hardest = max(share for _amount, share in need.values())
        shortfalls = tuple(
            Shortfall(metric, need[metric][0]) for metric in Metric if metric in need
        )
        ways.append(Way(shortfalls, max(Decimal(0), 1 - hardest)))
    return tuple(ways)


# --- Lifecycle ----------------------------------------------------------------------------


class Event(StrEnum):
    NONE = "none"
    QUALIFIED = "qualified"  # first tier a member holds
    UPGRADE = "upgrade"
    WARNING = "warning"
    DOWNGRADE = "downgrade"
    RETAINED = "retained"
    REVOKED = "revoked"  # the member no longer takes part (experience, blacklisted)


@dataclass(frozen=True)
class Floor:
    """An override or exceptional upgrade: the member holds at least ``rank`` until ``until``
    (exclusive; None is open-ended)."""

    rank: int
    until: date | None = None

    def holds_on(self, day: date) -> bool:
        return self.until is None or day < self.until


@dataclass(frozen=True)
class TierState:
    """What a member holds: the tier's rank, the tier year's start, the warning of this year.

    The tier year ends one year after its start, unless ``end`` says otherwise: an override or
    an exceptional upgrade ends it on its own end date.

    ``earned``: the lower tier and the end of the tier year the member had earned when an
    override lifted them above it. It is theirs: when the override's tier year ends they go
    back to it until that end, not below (a floor of their own). Any new tier year drops it."""

    rank: int | None = None
    year_start: date | None = None
    warned_on: date | None = None
    end: date | None = None
    # The day the warning told the member there would be no downgrade before: kept to even if
    # a later policy version gives less notice (None: the warning plus the policy's notice).
    downgrade_not_before: date | None = None
    earned: Floor | None = None

    @property
    def year_end(self) -> date | None:
        if self.end is not None:
            return self.end
        return add_years(self.year_start, 1) if self.year_start else None


Floors = Floor | tuple[Floor | None, ...] | None


def _floors(floor: Floors) -> tuple[Floor, ...]:
    """One floor, none, or several (an override and the year earned below it) as a tuple."""
    if isinstance(floor, tuple):
        return tuple(f for f in floor if f is not None)
    return () if floor is None else (floor,)


@dataclass(frozen=True)
class Step:
    state: TierState
    event: Event

    @property
    def changes_tier(self) -> bool:
        return self.event in (Event.QUALIFIED, Event.UPGRADE, Event.DOWNGRADE)


def _kept_by_floor_until(rank: int, start: date, qualified_rank: int, floor: Floors):
    """The end of the floors when they alone keep the member at ``rank`` (above their qualified
    tier) from ``start``: that end counts as the tier-year end (domain.md). Else None (none
    keeps them there, or one does with no end)."""
    if rank <= qualified_rank:
        return None
    keeping = [f for f in _floors(floor) if f.holds_on(start) and f.rank >= rank]
    if not keeping or any(f.until is None for f in keeping):
        return None
    return max(f.until for f in keeping)


def _new_year(rank: int, start: date, qualified_rank: int, floor: Floors) -> TierState:
    """A tier year at ``rank`` from ``start``: a whole year, or until the end of the floor that
    alone keeps the member there, when that comes first."""
    until = _kept_by_floor_until(rank, start, qualified_rank, floor)
    end = until if until is not None and until < add_years(start, 1) else None
    return TierState(rank, start, None, end)


def held_on(day: date, qualified_rank: int, floor: Floors) -> int:
    """The rank the rules and the floors still holding on ``day`` give together."""
    return max([qualified_rank, *(f.rank for f in _floors(floor) if f.holds_on(day))])


def warned_downgrade_rank(
    rank: int, year_end: date, qualified_rank: int, policy: Policy, floor: Floors = None
) -> int:
    """The tier a downgrade would give a member at ``rank`` warned for the tier year ending
    ``year_end`` (the warning's notice and the API name it): what they hold at the year end,
    floor included, or one tier down."""
    return downgrade_rank(rank, held_on(year_end, qualified_rank, floor), policy)


def downgrade_rank(rank: int, held_rank: int, policy: Policy) -> int:
    """The tier a member at ``rank`` who holds only ``held_rank`` is moved to by a downgrade:
    straight to it, or one tier down when the policy drops one tier at a time."""
    if policy.downgrade_step == DowngradeStep.ONE_TIER:
        return max(held_rank, policy.rank_below(rank))
    return held_rank


def advance(
    state: TierState,
    qualified_rank: int,
    as_of: date,
    policy: Policy,
    floor: Floor | None = None,
) -> Step:
    """One evaluation as of ``as_of`` (domain.md, "Tier lifecycle"); days in between are not
    replayed. Upgrades apply at once; a downgrade comes only after a warning, and no sooner than
    the tier year's end, ``notice_days`` after that warning and the day the warning gave.

    A floor (override, exceptional upgrade) counts as a qualified tier while it holds: the
    member is neither warned nor downgraded below it, and still moves up past it. A tier year
    that only the floor gives the member ends when the floor does, if that comes first. The
    year the member had earned below an override (``TierState.earned``) is a floor too: a
    downgrade at the end of the override's year goes back to it, for what is left of it."""
    floors = (floor, state.earned)
    held_rank = held_on(as_of, qualified_rank, floors)
    if state.rank is None or held_rank > state.rank:
        event = Event.QUALIFIED if state.rank is None else Event.UPGRADE
        return Step(_new_year(held_rank, as_of, qualified_rank, floors), event)

    end = state.year_end
    # What the member would hold at the tier-year end: a floor still holding then protects the
    # tier, so there is nothing to warn about.
    rank_at_end = held_on(end, qualified_rank, floors)
    if rank_at_end < state.rank:
        warned_on = state.warned_on
        if warned_on is None and as_of >= end - timedelta(days=policy.warning_lead_days):
            return Step(replace(state, warned_on=as_of), Event.WARNING)
        if (
            warned_on is not None
            and as_of >= end
            and as_of >= warned_on + timedelta(days=policy.notice_days)
            and (state.downgrade_not_before is None or as_of >= state.downgrade_not_before)
        ):
            new_rank = downgrade_rank(state.rank, held_rank, policy)
            if new_rank < state.rank:
                return Step(_new_year(new_rank, as_of, qualified_rank, floors), Event.DOWNGRADE)
        else:
            return Step(state, Event.NONE)

    if as_of >= end:
        # Whole years until as_of is inside one, but not past the end of a floor that alone
        # keeps the member at their tier (its end is then the new year's).
        until = _kept_by_floor_until(state.rank, end, qualified_rank, floors)
        start = end
        while add_years(start, 1) <= as_of and (until is None or add_years(start, 1) < until):
            start = add_years(start, 1)
        return Step(_new_year(state.rank, start, qualified_rank, floors), Event.RETAINED)
    return Step(state, Event.NONE)
