"""Reads for the dashboard: what operators measure (domain.md, seed 001). Every figure is one
set-based query (or a fixed few), never a query per member.

A member's tier on a past day comes from the tier history: each history row holds from its
``effective_on`` until the member's next row (SQL window function ``LEAD``, on both
databases), so "the tier on day D" is the row whose span contains D."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils.translation import gettext as _

from members.models import Member, Transaction
from reviews import selectors as review_selectors
from tiers.engine import add_years
from tiers.models import DowngradeWarning, MemberTier, Tier, TierChange

# The high tiers whose share (tier inflation) and retention operators watch.
HIGH_TIERS = ("platinum", "diamond")
DUE_SAMPLE = 20


def _tiers() -> list[Tier]:
    return list(Tier.objects.order_by("-rank"))


# --- Members now --------------------------------------------------------------------------


def members_per_tier() -> list[tuple[Tier | None, int]]:
    """Active members by current tier, highest first; None: not evaluated yet."""
    counts = Counter(
        dict(
            MemberTier.objects.filter(member__status=Member.Status.ACTIVE)
            .values_list("current_tier")
            .annotate(n=Count("pk"))
            .values_list("current_tier", "n")
        )
    )
    active = Member.objects.filter(status=Member.Status.ACTIVE).count()
    rows: list[tuple[Tier | None, int]] = [(t, counts.get(t.pk, 0)) for t in _tiers()]
    untiered = active - sum(n for t, n in rows)
    if untiered:
        rows.append((None, untiered))
    return rows


def members_per_status() -> list[tuple[str, str, int]]:
    counts = dict(Member.objects.values_list("status").annotate(n=Count("pk")))
    return [(value, label, counts.get(value, 0)) for value, label in Member.Status.choices]


# --- Tiers on past days, from the history -------------------------------------------------


def _spans_sql() -> str:
    qn = connection.ops.quote_name
    return (
        "SELECT member_id, to_tier_id, effective_on AS span_start, "
        "LEAD(effective_on) OVER (PARTITION BY member_id ORDER BY effective_on, id) AS span_end "
        f"FROM {qn(TierChange._meta.db_table)}"
    )


_HOLDS_ON = "(span_start <= {day} AND (span_end IS NULL OR span_end > {day}))"


def tier_counts_on(days: list[date]) -> list[Counter]:
    """For each day, members per tier id held that day (from the history), in one query."""
    if not days:
        return []
    values = ", ".join("(%s, %s)" for _day in days)
    params: list = []
    for i, day in enumerate(days):
        params += [i, day]
    sql = (
        f"WITH spans AS ({_spans_sql()}), days (i, day) AS (VALUES {values}) "
        "SELECT days.i, spans.to_tier_id, COUNT(*) FROM days JOIN spans ON "
        + _HOLDS_ON.format(day="days.day")
        + " WHERE spans.to_tier_id IS NOT NULL GROUP BY days.i, spans.to_tier_id"
    )
    result = [Counter() for _day in days]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for i, tier_id, count in cursor.fetchall():
            result[int(i)][tier_id] = count
    return result


def month_ends(today: date, months: int = 12) -> list[date]:
    """The last day of each of the ``months`` months before this one, then today."""
    days = []
    first = today.replace(day=1)
    for _month in range(months):
        last = first - timedelta(days=1)
        days.insert(0, last)
        first = last.replace(day=1)
    return [*days, today]


@dataclass(frozen=True)
class ShareRow:
    day: date
    high: int
    tiered: int

    @property
    def percent(self) -> float:
        return round(100 * self.high / self.tiered, 1) if self.tiered else 0.0


def high_tier_share(today: date, months: int = 12) -> list[ShareRow]:
    """Share of members holding a high tier among those holding a tier, at each month's end."""
    high = set(Tier.objects.filter(code__in=HIGH_TIERS).values_list("pk", flat=True))
    days = month_ends(today, months)
    return [
        ShareRow(day, sum(n for t, n in counts.items() if t in high), sum(counts.values()))
        for day, counts in zip(days, tier_counts_on(days), strict=True)
    ]


@dataclass(frozen=True)
class Migration:
    """Members by (tier held on ``start``, tier held on ``end``); None: no tier that day."""

    start: date
    end: date
    tiers: list[Tier]
    counts: Counter

    @property
    def rows(self) -> list[tuple[Tier | None, list[int], int]]:
        columns = [*self.tiers, None]
        rows = []
        for source in columns:
            cells = [
                self.counts[(source.pk if source else None, t.pk if t else None)] for t in columns
            ]
            if source is not None or any(cells):
                rows.append((source, cells, sum(cells)))
        return rows

    def total(self, source_codes, target_codes) -> int:
        by_pk = {t.pk: t.code for t in self.tiers}
        return sum(
            n
            for (a, b), n in self.counts.items()
            if by_pk.get(a) in source_codes and by_pk.get(b) in target_codes
        )


def tier_migration(start: date, end: date) -> Migration:
    """Every member who held a tier on ``start`` or on ``end``, counted by the pair."""
    sql = (
        "SELECT tier_start, tier_end, COUNT(*) FROM ("
        "SELECT member_id, "
        f"MAX(CASE WHEN {_HOLDS_ON.format(day='%s')} THEN to_tier_id END) AS tier_start, "
        f"MAX(CASE WHEN {_HOLDS_ON.format(day='%s')} THEN to_tier_id END) AS tier_end "
        f"FROM ({_spans_sql()}) spans GROUP BY member_id"
        ") pairs WHERE tier_start IS NOT NULL OR tier_end IS NOT NULL "
        "GROUP BY tier_start, tier_end"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, start, end, end])
        counts = Counter({(a, b): n for a, b, n in cursor.fetchall()})
    return Migration(start, end, _tiers(), counts)


@dataclass(frozen=True)
class Retention:
    since: date
    high_then: int
    still_high: int

    @property
    def percent(self) -> float:
        return round(100 * self.still_high / self.high_then, 1) if self.high_then else 0.0


def high_value_retention(today: date) -> Retention:
    """Of the members holding Platinum or Diamond a year ago, how many hold one today."""
    since = add_years(today, -1)
    migration = tier_migration(since, today)
    return Retention(
        since,
        high_then=migration.total(HIGH_TIERS, {*(t.code for t in migration.tiers), None}),
        still_high=migration.total(HIGH_TIERS, HIGH_TIERS),
    )


# --- Movements ----------------------------------------------------------------------------


def _changes_in(today: date, days: int):
    """Tier changes effective in the last ``days`` days up to ``today``."""
    return TierChange.objects.filter(
        effective_on__gt=today - timedelta(days=days), effective_on__lte=today
    )


_MOVED_UP = Q(from_tier__isnull=False, to_tier__rank__gt=F("from_tier__rank"))
# What the dashboard calls an upgrade (晋升), as the job pages do: the tier rules moved the member
# up. The movements and the time to tier count these same rows. A move up by staff, the
# committee or an import is counted apart: no qualifying fact precedes it to time.
_UPGRADE = _MOVED_UP & Q(cause=TierChange.Cause.UPGRADE)


@dataclass(frozen=True)
class Movements:
    days: int
    upgrades: int  # by the rules (``_UPGRADE``)
    raised: int  # moved up otherwise: override, committee decision, carried-over tier
    downgrades: int  # moved down, whatever the cause


def tier_movements(today: date, periods=(30, 90)) -> list[Movements]:
    """Moves between two tiers in the last N days: upgrades by the rules, other moves up, and
    moves down. A first tier, a revocation and a reinstatement (from or to no tier) are none."""
    result = []
    for days in periods:
        counts = (
            _changes_in(today, days)
            .filter(from_tier__isnull=False, to_tier__isnull=False)
            .aggregate(
                up=Count("pk", filter=_UPGRADE),
                raised=Count("pk", filter=_MOVED_UP & ~Q(cause=TierChange.Cause.UPGRADE)),
                down=Count("pk", filter=Q(to_tier__rank__lt=F("from_tier__rank"))),
            )
        )
        result.append(Movements(days, counts["up"], counts["raised"], counts["down"]))
    return result


@dataclass(frozen=True)
class DowngradesDue:
    until: date
    per_tier: list[tuple[Tier, int]]
    sample: list[DowngradeWarning]

    @property
    def total(self) -> int:
        return sum(n for _tier, n in self.per_tier)


def downgrades_due(today: date, days: int = 30) -> DowngradesDue:
    """Members warned this tier year, still below their tier, whose downgrade may apply within
    ``days`` (overdue ones included: they apply at the next evaluation)."""
    until = today + timedelta(days=days)
    warnings = DowngradeWarning.objects.filter(
        downgrade_not_before__lte=until,
        member__status=Member.Status.ACTIVE,
        member__tier_state__downgrade_warned_on__isnull=False,
        member__tier_state__tier_year_start=F("tier_year_start"),
        member__tier_state__current_tier=F("tier"),
        member__evaluation__qualified_tier__rank__lt=F("tier__rank"),
    )
    counts = dict(warnings.values_list("tier").annotate(n=Count("pk")))
    per_tier = [(t, counts[t.pk]) for t in _tiers() if counts.get(t.pk)]
    # The tier they qualify for now (their last evaluation), as the member page and the list
    # show it: the warning's own is the one of the day it was given.
    sample = list(
        warnings.select_related("member", "tier", "member__evaluation__qualified_tier").order_by(
            "downgrade_not_before", "member__member_no"
        )[:DUE_SAMPLE]
    )
    return DowngradesDue(until, per_tier, sample)


@dataclass(frozen=True)
class TimeToTier:
    """Upgrades by the rules in the period (the movements' upgrades) by days from the member's
    latest purchase on or before the upgrade (the fact that most likely made them qualify) to
    the upgrade."""

    days: int
    upgrades: int
    buckets: list[tuple[str, int]]
    same_day: int

    @property
    def same_day_percent(self) -> float:
        return round(100 * self.same_day / self.upgrades, 1) if self.upgrades else 0.0


def time_to_tier(today: date, days: int = 90) -> TimeToTier:
    last_purchase = (
        Transaction.objects.filter(
            member=OuterRef("member"),
            kind=Transaction.Kind.PURCHASE,
            occurred_on__lte=OuterRef("effective_on"),
        )
        .order_by("-occurred_on")
        .values("occurred_on")[:1]
    )
    rows = (
        _changes_in(today, days)
        .filter(_UPGRADE)
        .values_list("effective_on", Subquery(last_purchase))
    )
    labels = [
        ("0", _("same day")),
        ("1-7", _("1–7 days")),
        ("8-30", _("8–30 days")),
        ("31+", _("more than 30 days")),
        ("none", _("no purchase (tenure or contribution)")),
    ]
    counts = Counter()
    for upgraded_on, purchased_on in rows:
        if purchased_on is None:
            counts["none"] += 1
            continue
        lag = (upgraded_on - purchased_on).days
        key = "0" if lag == 0 else "1-7" if lag <= 7 else "8-30" if lag <= 30 else "31+"
        counts[key] += 1
    return TimeToTier(
        days,
        sum(counts.values()),
        [(label, counts[key]) for key, label in labels],
        counts["0"],
    )


# --- Open review cases (the committee app) ------------------------------------------------


@dataclass(frozen=True)
class ReviewCases:
    open: int
    overdue: int
    most_urgent: list


def open_review_cases(today: date | None = None) -> ReviewCases:
    """The committee's open cases: how many, how many are still open after their quarter
    (flagged), and the most urgent few."""
    cases = review_selectors.open_cases()
    return ReviewCases(
        open=cases.count(),
        overdue=review_selectors.overdue_cases(today).count(),
        most_urgent=list(cases[:5]),
    )
