"""Tier evaluation: the only writer of members' tiers, history and downgrade warnings.

The recompute computes every member's window figures in one grouped SQL pass into a temporary
table, then reads members with their figures in id ranges. Every evaluation, of a range or of one
member, goes through ``_evaluate_rows``: the pure engine runs on each member in memory, then the
writes are set-based: the narrow evaluation rows are upserted, and member rows are written only
where the tier state changed. Memory is bounded by the range size and the number of queries by
the number of ranges, never by the number of members.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from loyalty.bulk import insert_rows, update_rows, upsert_rows
from loyalty.money import fen_to_yuan
from members.models import Member

from . import engine
from .metrics import figures_for_member, window_figures_table
from .models import DowngradeWarning, MemberEvaluation, Tier, TierChange, TierPolicy
from .selectors import engine_policy, policy_in_force

_STATE_FIELDS = ["current_tier", "tier_year_start", "tier_year_end", "downgrade_warned_on"]
_EVALUATION_FIELDS = [
    "evaluated_on",
    "policy",
    "qualified_tier",
    "spend_fen",
    "frequency",
    "tenure_years",
    "contribution",
]
_HISTORY_FIELDS = [
    "member",
    "from_tier",
    "to_tier",
    "cause",
    "policy",
    "effective_on",
    "created_at",
    "spend_fen",
    "frequency",
    "tenure_years",
    "contribution",
    "note",
]
_CAUSE = {
    engine.Event.QUALIFIED: TierChange.Cause.QUALIFIED,
    engine.Event.UPGRADE: TierChange.Cause.UPGRADE,
    engine.Event.DOWNGRADE: TierChange.Cause.DOWNGRADE,
}


@dataclass
class RecomputeSummary:
    as_of: date
    policy_version: int
    evaluated: int = 0
    events: Counter = field(default_factory=Counter)
    not_yet_joined: int = 0
    not_taking_part: int = 0
    evaluated_later_before: int = 0  # members whose last evaluation was after as_of
    seconds: float = 0.0

    @property
    def upgrades(self) -> int:
        return self.events[engine.Event.UPGRADE]

    @property
    def downgrades(self) -> int:
        return self.events[engine.Event.DOWNGRADE]


@dataclass(frozen=True)
class _Context:
    as_of: date
    policy_row: TierPolicy
    policy: engine.Policy
    window: engine.Window
    tier_id_by_rank: dict[int, int]
    rank_by_tier_id: dict[int, int]
    now: object


def _context(as_of: date) -> _Context:
    policy_row = policy_in_force(as_of)
    policy = engine_policy(policy_row)
    tiers = list(Tier.objects.values_list("id", "rank"))
    return _Context(
        as_of=as_of,
        policy_row=policy_row,
        policy=policy,
        window=engine.window_for(as_of, policy.window),
        tier_id_by_rank={rank: pk for pk, rank in tiers},
        rank_by_tier_id={pk: rank for pk, rank in tiers},
        now=timezone.now(),
    )


def tiers_recompute(
    *,
    as_of: date,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> RecomputeSummary:
    """Evaluate every member as of ``as_of`` (that date only; days in between are not replayed)
    with the policy in force on it, and apply the lifecycle. Each range is its own short
    transaction, so a long run never holds the database and a rerun of the same date is a
    no-op for the ranges already done."""
    started = time.monotonic()
    context = _context(as_of)
    chunk_size = chunk_size or settings.RECOMPUTE_CHUNK_SIZE
    summary = RecomputeSummary(as_of=as_of, policy_version=context.policy.version)
    with window_figures_table(context.window) as figures:
        sql = _range_sql(figures)
        after_id = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                # Locks the range, as member_evaluate locks its member: otherwise a single
                # evaluation committed between this read and the writes below is overwritten
                # with stale state, and both write the same history row or warning.
                cursor.execute(sql, [after_id, chunk_size])
                rows = cursor.fetchall()
                if not rows:
                    break
                summary.evaluated_later_before += sum(
                    1
                    for row in rows
                    if row[_EVALUATED_ON] is not None and row[_EVALUATED_ON] > as_of
                )
                _evaluate_rows(rows, context, summary)
            after_id = rows[-1][0]
            if progress:
                progress(summary.evaluated + summary.not_yet_joined + summary.not_taking_part)
            if len(rows) < chunk_size:
                break
    summary.seconds = time.monotonic() - started
    return summary


# A row to evaluate: the member's state, the date of their last evaluation and raw figures.
_EVALUATED_ON = 6


def _range_sql(figures_table: str) -> str:
    qn = connection.ops.quote_name
    lock = ""
    if connection.features.has_select_for_update_of:
        lock = " FOR UPDATE OF m"
    elif connection.features.has_select_for_update:
        lock = " FOR UPDATE"
    return (
        "SELECT m.id, m.status, m.joined_on, m.current_tier_id, m.tier_year_start, "
        "m.downgrade_warned_on, e.evaluated_on, COALESCE(f.spend_fen, 0), "
        "COALESCE(f.frequency, 0), COALESCE(f.referrals, 0), COALESCE(f.activities, 0) "
        f"FROM {qn(Member._meta.db_table)} m "
        f"LEFT JOIN {qn(figures_table)} f ON f.member_id = m.id "
        f"LEFT JOIN {qn(MemberEvaluation._meta.db_table)} e ON e.member_id = m.id "
        f"WHERE m.id > %s ORDER BY m.id LIMIT %s{lock}"
    )


@transaction.atomic
def member_evaluate(*, member: Member, as_of: date) -> engine.Event:
    """Evaluate one member as of ``as_of``, exactly as the recompute would."""
    context = _context(as_of)
    summary = RecomputeSummary(as_of=as_of, policy_version=context.policy.version)
    state = (
        Member.objects.select_for_update()
        .filter(pk=member.pk)
        .values_list(
            "id", "status", "joined_on", "current_tier_id", "tier_year_start", "downgrade_warned_on"
        )
        .get()
    )
    raw = figures_for_member(member.pk, context.window)
    row = (*state, None, raw.spend_fen, raw.frequency, raw.referrals, raw.activities)
    _evaluate_rows([row], context, summary)
    return next(iter(summary.events), engine.Event.NONE)


def _history_row(
    context: _Context,
    member_id: int,
    from_tier_id: int | None,
    to_tier_id: int | None,
    cause: str,
    *,
    figures: tuple = (None, None, None, None),
    note: str = "",
) -> tuple:
    """A TierChange row in the order of ``_HISTORY_FIELDS``; figures are (spend in fen,
    frequency, tenure, contribution), none for a member who no longer takes part."""
    return (
        member_id, from_tier_id, to_tier_id, cause, context.policy_row.pk, context.as_of,
        context.now, *figures, note,
    )  # fmt: skip


def _evaluate_rows(rows: list[tuple], context: _Context, summary: RecomputeSummary) -> None:
    as_of, policy = context.as_of, context.policy
    state_updates: list[tuple] = []
    evaluations: list[tuple] = []
    history: list[tuple] = []
    warnings: list[DowngradeWarning] = []

    for row in rows:
        member_id, status, joined_on, tier_id, year_start, warned_on = row[:6]
        spend_fen, frequency, referrals, activities = row[7:]
        if joined_on > as_of:
            summary.not_yet_joined += 1
            continue
        if status != Member.Status.ACTIVE:
            # Experience and blacklisted members hold no tier; one that still holds one loses it.
            summary.not_taking_part += 1
            if tier_id is not None:
                state_updates.append((member_id, None, None, None, None))
                history.append(
                    _history_row(
                        context, member_id, tier_id, None, TierChange.Cause.REVOKED, note=status
                    )
                )
                summary.events[engine.Event.REVOKED] += 1
            continue

        metrics = engine.Metrics(
            spend=fen_to_yuan(spend_fen),
            frequency=frequency,
            tenure_years=engine.completed_years(joined_on, as_of),
            contribution=referrals * policy.referral_points + activities * policy.activity_points,
        )
        qualified = engine.qualify(metrics, policy)
        current_rank = None if tier_id is None else context.rank_by_tier_id[tier_id]
        step = engine.advance(
            engine.TierState(current_rank, year_start, warned_on), qualified.rank, as_of, policy
        )
        state = step.state
        new_tier_id = context.tier_id_by_rank[state.rank]
        summary.evaluated += 1
        if step.event != engine.Event.NONE:
            summary.events[step.event] += 1
        qualified_tier_id = context.tier_id_by_rank[qualified.rank]
        evaluations.append(
            (member_id, as_of, context.policy_row.pk, qualified_tier_id, spend_fen,
             metrics.frequency, metrics.tenure_years, metrics.contribution)
        )  # fmt: skip
        if state != engine.TierState(current_rank, year_start, warned_on):
            state_updates.append(
                (member_id, new_tier_id, state.year_start, state.year_end, state.warned_on)
            )
        if step.changes_tier:
            figures = (spend_fen, metrics.frequency, metrics.tenure_years, metrics.contribution)
            history.append(
                _history_row(
                    context, member_id, tier_id, new_tier_id, _CAUSE[step.event], figures=figures
                )
            )
        elif step.event == engine.Event.WARNING:
            at_risk = policy.tier(current_rank)
            warnings.append(
                DowngradeWarning(
                    member_id=member_id,
                    tier_id=tier_id,
                    qualified_tier_id=qualified_tier_id,
                    policy=context.policy_row,
                    warned_on=as_of,
                    tier_year_start=year_start,
                    tier_year_end=state.year_end,
                    downgrade_not_before=max(
                        state.year_end, as_of + timedelta(days=policy.notice_days)
                    ),
                    gaps=engine.explain(at_risk.rule, metrics).as_data(),
                )
            )

    update_rows(Member, _STATE_FIELDS, state_updates)
    upsert_rows(MemberEvaluation, _EVALUATION_FIELDS, evaluations)
    insert_rows(TierChange, _HISTORY_FIELDS, history)
    DowngradeWarning.objects.bulk_create(warnings)
