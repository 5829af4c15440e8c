"""Tier evaluation: the only writer of members' tiers, history, downgrade warnings and the
notices they cause.

The recompute works in id ranges of members. Each range is one durable transaction: the range's
member rows are locked first, then read with their window figures (one grouped query joined in
the same statement), evaluated and written. Every evaluation, of a range or of one member, goes
through ``_evaluate_rows``: the pure engine runs on each member in memory, then the writes are
set-based: the narrow evaluation rows are upserted, tier states written only where they changed,
history, warnings and notices inserted in bulk. Memory is bounded by the range size and the
number of queries by the number of ranges, never by the number of members.

Evaluations never go backwards: figures are read only under the member's lock (so a real-time
evaluation committed in between is either seen or waits), and a member whose last evaluation is
dated after the one being made is left alone.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, connections, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty import rows
from loyalty.audit import audit_record
from loyalty.bulk import (
    analyze_grown,
    insert_rows,
    postgres_settings,
    update_rows,
    vacuum_analyze,
)
from loyalty.confirm import fingerprint
from loyalty.exceptions import DomainError
from loyalty.threads import at_once, thread_start
from members.models import Member
from members.services import member_lock, member_lock_row
from notifications.models import Kind, Notification
from notifications.selectors import in_app_delivered
from notifications.services import (
    Deferral,
    Notice,
    deliveries_deferred,
    deliveries_deferred_to,
    notices_queue,
)

from . import engine, notices
from .engine import add_years
from .metrics import NONE as NO_FIGURES
from .metrics import (
    figures_for_members,
    figures_for_range,
    figures_snapshot_create,
    figures_snapshot_drop,
    figures_snapshot_exists,
    range_figures_sql,
    shared_figures_snapshot,
    tenure_sql,
)
from .models import (
    MAX_POINTS,
    MIN_NOTICE_DAYS,
    OVERRIDE_REPLACED,
    OVERRIDE_REVOKED,
    Benefit,
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    Tier,
    TierChange,
    TierOverride,
    TierPolicy,
)
from .policy import (
    PolicyError,
    PolicyInvalid,
    RankFinder,
    ordering_problems,
    policy_errors,
    qualified_tier_sql,
    qualifies_for_sql,
    rule_from_data,
    rule_to_data,
)
from .review_settings import review_settings_from_data
from .selectors import (
    deadline_rules,
    engine_policy,
    metrics_at_deadline,
    open_override,
    policy_in_force,
    policy_latest_published,
)

_STATE_FIELDS = [
    "current_tier", "tier_year_start", "tier_year_end", "downgrade_warned_on", "earned_tier",
    "earned_until",
]  # fmt: skip
_EVALUATION_FIELDS = [
    "evaluated_on",
    "policy",
    "qualified_tier",
    "spend_fen",
    "frequency",
    "tenure_years",
    "contribution",
    "revision",
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
    "override",
    "actor",
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
    # Of those, members whose evaluation changed only its figures and date, written in the
    # database by one statement per range (``_unchanged_condition``).
    evaluated_in_database: int = 0
    events: Counter = field(default_factory=Counter)
    not_yet_joined: int = 0
    not_taking_part: int = 0
    # Members left alone because their last evaluation is dated after as_of.
    evaluated_later_before: int = 0
    notices: int = 0
    seconds: float = 0.0

    @property
    def upgrades(self) -> int:
        return self.events[engine.Event.UPGRADE]

    @property
    def downgrades(self) -> int:
        return self.events[engine.Event.DOWNGRADE]

    @property
    def warnings(self) -> int:
        return self.events[engine.Event.WARNING]


class Scope(models.TextChoices):
    """Which members a run evaluates: everyone (the nightly recompute), or only those whose
    tier year ends within the warning lead or who were warned (the daily lifecycle run)."""

    ALL = "all", gettext_lazy("all members")
    DUE = "due", gettext_lazy("members due for a warning, downgrade or new tier year")


@dataclass(frozen=True)
class _Context:
    as_of: date
    policy_row: TierPolicy
    policy: engine.Policy
    window: engine.Window
    tier_id_by_rank: dict[int, int]
    rank_by_tier_id: dict[int, int]
    tier_by_id: dict[int, Tier]
    now: object
    actor: object = None
    # The member comes back from the blacklist: their entry into a tier is a restoration.
    reinstated: bool = False
    # Memos for the run (a context lives for one run): ranks by the thresholds the figures
    # reach, lifecycle steps by stored state and qualified rank, completed years by join date.
    # A million members share a few thousand of each, so the engine runs that many times.
    finder: RankFinder = None
    steps: dict = field(default_factory=dict)
    tenures: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Rules:
    """The policy in force and the tiers, ready for the engine: the same for every evaluation
    until a version takes effect or a tier is renamed, so each process keeps the last one."""

    policy_row: TierPolicy
    policy: engine.Policy
    tiers: tuple[Tier, ...]
    finder: RankFinder


# (the stored rows the rules were built from, the rules); one entry per process.
_rules_cache: tuple[tuple, _Rules] | None = None


def _stored_rules(as_of: date) -> tuple:
    """Every column of the policy in force on ``as_of`` and of every tier, as stored, in one
    statement without the ORM (on PostgreSQL one row: the policy's id, then its row and the
    tiers' rows as text; elsewhere a row per tier, the policy's columns first); no row when no
    policy is in force. Comparing them with the cached ones is exact, whatever changed them
    (a version taking effect at midnight, a publication, a rename, an edit in SQL)."""
    qn = connection.ops.quote_name
    in_force = (
        f"(SELECT * FROM {qn(TierPolicy._meta.db_table)} "
        "WHERE status = %s AND effective_from <= %s "
        "ORDER BY effective_from DESC, version DESC LIMIT 1) p"
    )
    if connection.vendor == "postgresql":
        # The same columns as text, in one short row: the server writes each row as text
        # (every column), so nothing is decoded here; the JSON rules parsed once per tier row
        # cost the API's evaluation more than running the statement.
        sql = (
            f"SELECT p.id, p::text, (SELECT string_agg(t::text, ',' ORDER BY t.id) "
            f"FROM {qn(Tier._meta.db_table)} t) FROM {in_force}"
        )
    else:
        sql = (
            f"SELECT {rows.columns(TierPolicy, 'p')}, {rows.columns(Tier, 't')} FROM {in_force} "
            f"LEFT JOIN {qn(Tier._meta.db_table)} t ON 1 = 1 ORDER BY t.id"
        )
    with rows.hot_cursor() as cursor:
        cursor.execute(sql, [TierPolicy.Status.PUBLISHED, as_of])
        return tuple(cursor.fetchall())


def _rules(as_of: date) -> _Rules:
    global _rules_cache
    stored = _stored_rules(as_of)
    cached = _rules_cache
    if cached is not None and cached[0] == stored:
        return cached[1]
    policy_row = policy_in_force(as_of)  # raises the usual error when none is in force
    tiers = tuple(Tier.objects.all())
    policy = engine_policy(policy_row, {tier.code: tier for tier in tiers})
    rules = _Rules(policy_row, policy, tiers, RankFinder(policy))
    if stored and stored[0][0] == policy_row.pk:
        _rules_cache = (stored, rules)
    return rules


def _context(as_of: date, actor=None, reinstated: bool = False) -> _Context:
    rules = _rules(as_of)
    tiers, policy = rules.tiers, rules.policy
    return _Context(
        as_of=as_of,
        policy_row=rules.policy_row,
        policy=policy,
        window=engine.window_for(as_of, policy.window),
        tier_id_by_rank={tier.rank: tier.pk for tier in tiers},
        rank_by_tier_id={tier.pk: tier.rank for tier in tiers},
        tier_by_id={tier.pk: tier for tier in tiers},
        now=timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        reinstated=reinstated,
        finder=rules.finder,
    )


def tiers_recompute(
    *,
    as_of: date,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    scope: str = "all",
    workers: int | None = None,
) -> RecomputeSummary:
    """Evaluate every member as of ``as_of`` (that date only; days in between are not replayed)
    with the policy in force on it, and apply the lifecycle, in this process (on PostgreSQL with
    ``workers`` connections at once, default ``RECOMPUTE_WORKERS``). Each range is its own
    durable transaction (so it is refused inside another transaction: a long run never holds
    the database, and a range done is done), and a rerun of the same date changes nothing.
    The jobs app runs the same ranges as separate tasks (``tiers_range_evaluate``)."""
    workers = settings.RECOMPUTE_WORKERS if workers is None else workers
    chunk_size = chunk_size or settings.RECOMPUTE_CHUNK_SIZE
    with deliveries_deferred() as deferral:
        if _in_parallel_possible(workers, scope):
            return _recompute_in_parallel(as_of, chunk_size, progress, workers, deferral)
        return _recompute(as_of, chunk_size=chunk_size, progress=progress, scope=scope)


def _in_parallel_possible(workers: int, scope: str) -> bool:
    """Ranges on several connections at once: PostgreSQL only (SQLite has one writer at a
    time), a full run (its figures snapshot is shared), and outside any transaction, since
    the other connections see only committed rows."""
    return (
        workers > 1
        and scope == Scope.ALL
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


def _recompute_in_parallel(
    as_of: date, chunk_size: int, progress, workers: int, deferral: Deferral
) -> RecomputeSummary:
    """The full recompute with ``workers`` threads, each on its own connection taking the next
    range (``tiers_range_evaluate`` in a durable transaction, the same unit the queued run
    uses) from the run's shared figures snapshot. Reading and writing a range happen in the
    database while Python evaluates another, so both cores work (the evaluation itself holds
    the GIL, so more threads than cores gain nothing). The first error stops the others
    after their current range; ranges done stay done, as in a run on one connection."""
    started = time.monotonic()
    context = _context(as_of)
    summary = RecomputeSummary(as_of=as_of, policy_version=context.policy.version)
    with ExitStack() as snapshot_dropped:
        snapshot = ""
        starts: list[int] = []

        def snapshot_create() -> None:
            nonlocal snapshot
            snapshot = snapshot_dropped.enter_context(shared_figures_snapshot(context.window))

        # The ranges' first ids on the other connection while the snapshot is made (0.3 s at
        # a million members, which the snapshot's single-core joins leave a core for).
        at_once(snapshot_create, lambda: starts.extend(member_range_starts(chunk_size)))
        _ranges_in_parallel(snapshot, starts, as_of, progress, workers, deferral, summary)
        # The snapshot is dropped on its own connection (which holds its lock) while the
        # statistics are refreshed on others: unlinking a million members' table waited up to
        # a second on a disk busy with the run's writes.
        at_once(snapshot_dropped.close, tiers_statistics_refresh)
    summary.seconds = time.monotonic() - started
    return summary


def _ranges_in_parallel(
    snapshot: str,
    starts: list[int],
    as_of: date,
    progress: Callable[[int], None] | None,
    workers: int,
    deferral: Deferral,
    summary: RecomputeSummary,
) -> None:
    """Hand the ranges beginning at ``starts`` to ``workers`` threads, adding what each range
    did to ``summary``; the first error is raised here once every thread has stopped."""
    if not starts:
        return  # no members
    # The last range has no upper bound: members registered meanwhile are evaluated too.
    ranges = iter(zip(starts, [start - 1 for start in starts[1:]] + [None], strict=True))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with deliveries_deferred_to(deferral):
                while not errors:
                    with lock:
                        first_last = next(ranges, None)
                    if first_last is None:
                        return
                    with transaction.atomic(durable=True):
                        done_range = tiers_range_evaluate(
                            first_id=first_last[0], last_id=first_last[1], as_of=as_of,
                            figures=snapshot,
                        )  # fmt: skip
                    with lock:
                        _summary_add(summary, done_range)
                        if progress:
                            progress(_summary_members(summary))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's connections

    finished: list[threading.Event] = []
    try:
        for n in range(workers):
            finished.append(thread_start(work, name=f"recompute-{n}"))
        for done in finished:
            done.wait()
    except BaseException as exc:
        # Interrupted here (Ctrl-C): the workers finish their current range and stop before
        # the caller drops the snapshot they read.
        errors.append(exc)
        for done in finished:
            done.wait()
        raise
    if errors:
        raise errors[0]


def _summary_add(total: RecomputeSummary, part: RecomputeSummary) -> None:
    total.evaluated += part.evaluated
    total.evaluated_in_database += part.evaluated_in_database
    total.events.update(part.events)
    total.not_yet_joined += part.not_yet_joined
    total.not_taking_part += part.not_taking_part
    total.evaluated_later_before += part.evaluated_later_before
    total.notices += part.notices


def _summary_members(summary: RecomputeSummary) -> int:
    """Members a run has been through so far, for progress (those skipped too)."""
    return (
        summary.evaluated
        + summary.not_yet_joined
        + summary.not_taking_part
        + summary.evaluated_later_before
    )


def _recompute(as_of: date, *, chunk_size, progress, scope: str) -> RecomputeSummary:
    started = time.monotonic()
    context = _context(as_of)
    summary = RecomputeSummary(as_of=as_of, policy_version=context.policy.version)
    snapshot = None
    if scope == Scope.ALL:
        snapshot = f"tier_figures_{uuid.uuid4().hex[:12]}"
        with transaction.atomic(durable=True):
            figures_snapshot_create(context.window, snapshot)
    try:
        after_id = 0
        while True:
            with transaction.atomic(durable=True):
                ids = _lock_ids(after_id, None, chunk_size)
                if not ids:
                    break
                _evaluate_range(ids[0], ids[-1], context, summary, scope, snapshot)
            after_id = ids[-1]
            if progress:
                progress(_summary_members(summary))
            if len(ids) < chunk_size:
                break
    finally:
        if snapshot:
            figures_snapshot_drop(snapshot)
    tiers_statistics_refresh()
    summary.seconds = time.monotonic() - started
    return summary


# Below this many pages (8 MB, PostgreSQL's min_parallel_table_scan_size) a table's statistics
# are left to autovacuum: no plan reads it with parallel workers, and any plan is quick.
_ANALYZE_FROM_PAGES = 1024


def tiers_statistics_refresh() -> None:
    """After a run: the evaluations and states were rewritten (``vacuum_analyze``), the history
    and the notices grew, and are analysed when they grew by much (``analyze_grown``: after a
    first evaluation). On PostgreSQL outside a transaction, the two halves on two connections
    at once (after a million members' rows were rewritten: 2.3–3.2 s one after the other,
    1.7–1.9 s at once)."""

    def evaluations() -> None:
        vacuum_analyze(MemberEvaluation)
        analyze_grown(TierChange, least_pages=_ANALYZE_FROM_PAGES)

    def states() -> None:
        vacuum_analyze(MemberTier)
        analyze_grown(Notification, least_pages=_ANALYZE_FROM_PAGES)

    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        at_once(evaluations, states)
    else:
        evaluations()
        states()


def member_range_starts(chunk_size: int) -> list[int]:
    """The first member id of every range of ``chunk_size`` members, in one query."""
    table = connection.ops.quote_name(Member._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM {table}) s "
            "WHERE (n - 1) %% %s = 0 ORDER BY id",
            [chunk_size],
        )
        return [row[0] for row in cursor.fetchall()]


def tiers_figures_snapshot(*, as_of: date, table: str) -> None:
    """Everyone's figures for a full recompute as of ``as_of``, in ``table``, for queued chunks
    to read (``tiers_range_evaluate(figures=table)``); drop it with ``figures_snapshot_drop``."""
    figures_snapshot_create(_context(as_of).window, table, shared=True)


def tiers_range_evaluate(
    *,
    first_id: int,
    last_id: int | None,
    as_of: date,
    scope: str = "all",
    figures: str | None = None,
) -> RecomputeSummary:
    """Evaluate the members with ``first_id <= id <= last_id`` (no upper bound when None), in the
    caller's transaction (a chunk of a queued recompute: the caller records the chunk as done in
    the same transaction, so a retried chunk is never counted twice). ``figures`` names the
    run's figures snapshot (``tiers_figures_snapshot``); without it, or when it is gone, the
    range's figures are computed here."""
    if not connection.in_atomic_block:
        raise RuntimeError("tiers_range_evaluate must run inside the caller's transaction")
    started = time.monotonic()
    context = _context(as_of)
    summary = RecomputeSummary(as_of=as_of, policy_version=context.policy.version)
    ids = _lock_ids(first_id - 1, last_id, None)
    if figures and not figures_snapshot_exists(figures):
        figures = None
    if ids:
        _evaluate_range(ids[0], ids[-1], context, summary, scope, figures)
    summary.seconds = time.monotonic() - started
    return summary


# A row to evaluate: the member, their tier state, the date of their last evaluation, their
# open override, their name and contact, their evaluation's revision, whether they have a
# state, the day their warning gave (no downgrade before it), then the raw window figures.
# _evaluate_range and _locked_row build the same shape.
_EVALUATED_ON = 7
_CONTACT = slice(12, 15)
_REVISION = 15
_HAS_STATE = 16
_NOT_BEFORE = 17
_EARNED = slice(18, 20)
_FIGURES = 20
_ROW_COLUMN_LIST = [
    "m.id", "m.status", "m.joined_on", "t.current_tier_id", "t.tier_year_start",
    "t.tier_year_end", "t.downgrade_warned_on", "e.evaluated_on", "o.id", "o.tier_id",
    "o.starts_on", "o.ends_on", "m.name", "m.phone", "m.email", "COALESCE(e.revision, 0)",
    "t.member_id IS NOT NULL",
    # Looked up for the few warned members only (the warning of this tier year).
    "CASE WHEN t.downgrade_warned_on IS NOT NULL THEN (SELECT w.downgrade_not_before "
    f'FROM "{DowngradeWarning._meta.db_table}" w WHERE w.member_id = m.id '
    "AND w.tier_year_start = t.tier_year_start) END",
    "t.earned_tier_id", "t.earned_until",
]  # fmt: skip
_ROW_COLUMNS = ", ".join(_ROW_COLUMN_LIST)


def _row_joins(bound: str = "") -> str:
    """The joins of a row to evaluate; ``bound`` (a condition on ``{column}``) repeats the range
    of members on each joined table, so that each is read by an index range scan instead of a
    scan of the whole table for every range (the planner does not infer it from ``m.id``)."""
    qn = connection.ops.quote_name

    def on(alias: str) -> str:
        return f" AND {bound.format(column=alias + '.member_id')} " if bound else " "

    return (
        f"FROM {qn(Member._meta.db_table)} m "
        f"LEFT JOIN {qn(MemberTier._meta.db_table)} t ON t.member_id = m.id{on('t')}"
        f"LEFT JOIN {qn(MemberEvaluation._meta.db_table)} e ON e.member_id = m.id{on('e')}"
        f"LEFT JOIN {qn(TierOverride._meta.db_table)} o "
        "ON o.member_id = m.id AND o.ended_on IS NULL "
    )


def _lock_clause() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _lock_ids(after_id: int, last_id: int | None, limit: int | None) -> list[int]:
    """Lock the member rows of a range and return their ids, in order.

    The lock is its own statement, before anything is read: PostgreSQL re-reads only the locked
    row after waiting for a lock, not the rows joined to it, so state read in the same statement
    could predate a real-time evaluation that held the lock (SQLite's write transactions are
    serialised anyway)."""
    sql = f"SELECT id FROM {connection.ops.quote_name(Member._meta.db_table)} WHERE id > %s"
    params: list = [after_id]
    if last_id is not None:
        sql += " AND id <= %s"
        params.append(last_id)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql + _lock_clause(), params)
        return [row[0] for row in cursor.fetchall()]


def _due_condition(context: _Context) -> tuple[str, list]:
    """Members whose tier year ends within the warning lead, or who have been warned: the only
    ones a day's lifecycle can change without new facts."""
    state = connection.ops.quote_name(MemberTier._meta.db_table)
    horizon = context.as_of + timedelta(days=context.policy.warning_lead_days)
    return (
        f"{{column}} IN (SELECT member_id FROM {state} WHERE current_tier_id IS NOT NULL AND "
        "(tier_year_end <= %s OR downgrade_warned_on IS NOT NULL))",
        [horizon],
    )


def _evaluate_range(
    first_id: int,
    last_id: int,
    context: _Context,
    summary: RecomputeSummary,
    scope: str,
    snapshot: str | None = None,
) -> None:
    """Read the locked range with its figures (one statement) and evaluate it: from the run's
    figures snapshot when there is one, else from the range's own grouped figures query.

    With the snapshot, two kinds of members are evaluated by statements in the database
    instead of being read into Python and taken through the engine (``_range_in_database``):
    those whose evaluation can change nothing but its figures and date
    (``_unchanged_condition``: most of them, night after night) and those who enter their
    first tier (``_entering_condition``: everyone, the first time). On PostgreSQL only:
    SQLite's planner ran these statements by nested loops that took a first evaluation of
    100,000 members from 13 s to over 300 s."""
    if snapshot and scope == Scope.ALL and connection.vendor == "postgresql":
        # These join four tables over the range, all in member order. Not knowing how many
        # rows the bounds leave, the planner picked nested loops of index lookups: 113 ms for
        # a range of 20,000 where merging the four in order takes 45 ms.
        with postgres_settings({"enable_nestloop": "off"}):
            rows, written, entered = _range_in_database(first_id, last_id, context, snapshot)
        summary.evaluated += written + entered
        summary.evaluated_in_database += written + entered
        if entered:
            summary.events[engine.Event.QUALIFIED] += entered
    elif snapshot and scope == Scope.ALL:
        rows = _read_range_from_snapshot(first_id, last_id, context, snapshot)
    else:
        rows = _read_range(first_id, last_id, context, scope)
    _evaluate_rows(rows, context, summary)


def _unchanged_condition(context: _Context) -> tuple[str, list]:
    """An SQL condition on a member (alias ``m``), their tier state (``t``), evaluation
    (``e``), open override (``o``, joined outer) and snapshot figures (``f``): their evaluation
    changes neither their tier state nor anything but the evaluation row itself.

    Such a member takes part, has joined, holds a tier with a state and an evaluation (not one
    dated after ``as_of``), has no open override and no pending warning, is inside their tier
    year, has snapshot figures of their evaluation's revision, and qualifies for exactly the
    tier held. ``engine.advance`` then gives no event and the same state (no upgrade: the
    qualified tier is the one held; no warning or downgrade: it is not below it; no new tier
    year before its end). The rank comes from the policy's rules in SQL
    (``qualifies_for_sql``) on the figures ``_figures_sql`` computes."""
    kept, kept_params = [], []
    columns = _figure_columns(context)
    for tier_id, rank in context.rank_by_tier_id.items():
        qualifies, params = qualifies_for_sql(context.policy, rank, columns)
        kept.append(f"(t.current_tier_id = %s AND {qualifies})")
        kept_params += [tier_id, *params]
    sql = (
        "m.status = %s AND m.joined_on <= %s AND e.evaluated_on <= %s "
        "AND e.revision = f.revision AND t.current_tier_id IS NOT NULL "
        "AND t.downgrade_warned_on IS NULL AND t.tier_year_end > %s AND o.id IS NULL "
        f"AND ({' OR '.join(kept) or '1 = 0'})"
    )
    as_of = context.as_of
    return sql, [Member.Status.ACTIVE, as_of, as_of, as_of, *kept_params]


def _entering_condition(context: _Context) -> tuple[str, list]:
    """An SQL condition on the aliases of ``_unchanged_condition`` (``t`` and ``e`` joined
    outer too): the member enters their first tier. They take part, have joined, have neither a
    tier state nor an evaluation, no open override, and snapshot figures read with no
    evaluation (revision 0). ``engine.advance`` from no tier gives the tier qualified for, from
    ``as_of`` for a year (event "qualified", a history row, no notice)."""
    sql = (
        "m.status = %s AND m.joined_on <= %s AND t.member_id IS NULL "
        "AND e.member_id IS NULL AND f.revision = 0 AND o.id IS NULL"
    )
    return sql, [Member.Status.ACTIVE, context.as_of]


# The figure of ``_figures_sql`` each metric of the rules reads.
_FIGURE_OF_METRIC = {
    engine.Metric.SPEND: "spend_fen",
    engine.Metric.FREQUENCY: "frequency",
    engine.Metric.TENURE: "tenure_years",
    engine.Metric.CONTRIBUTION: "contribution",
}


def _figure_columns(context: _Context) -> dict[engine.Metric, str]:
    """``_figures_sql`` by the metric the rules name."""
    figures = _figures_sql(context)
    return {metric: figures[name] for metric, name in _FIGURE_OF_METRIC.items()}


def _figures_sql(context: _Context) -> dict[str, str]:
    """The evaluation's figures in SQL from the snapshot (``f``) and the member (``m``), as
    ``_evaluate_rows`` computes them: tenure as ``engine.completed_years``, contribution with
    the policy's points (integers, written in place like the tenure's)."""
    policy = context.policy
    return {
        "spend_fen": "f.spend_fen",
        "frequency": "f.frequency",
        "tenure_years": tenure_sql("m.joined_on", context.as_of),
        "contribution": f"(f.referrals * {int(policy.referral_points)} "
        f"+ f.activities * {int(policy.activity_points)})",
    }


# How _range_in_database classifies a range's members.
_TO_ENGINE, _KEEPS, _ENTERS = 0, 1, 2


def _aliased(columns: dict[str, str]) -> str:
    return ", ".join(f"{sql} AS {name}" for name, sql in columns.items())


def _range_in_database(
    first_id: int, last_id: int, context: _Context, snapshot: str
) -> tuple[list[tuple], int, int]:
    """The locked range, classified once: its members that ``_unchanged_condition`` selects
    get their evaluation written by one ``UPDATE``, those that ``_entering_condition`` selects
    their first tier (the state, the evaluation and the history row ``_evaluate_rows`` would
    write); the rest are returned as ``_read_range_from_snapshot`` reads them, for the engine.
    Returns (those rows, how many evaluations were written, how many members entered a tier).

    The classification joins the range's members, states, evaluations, open overrides and
    snapshot figures once, into a temporary table the writes and the read then take their
    members from (joining the four tables for each of them, and testing the tier rules in
    each, took a quarter longer a month after a first evaluation: 5.2 s against 4.1 s for a
    million members on one connection)."""
    qn = connection.ops.quote_name
    as_of = context.as_of
    unchanged, unchanged_params = _unchanged_condition(context)
    entering, entering_params = _entering_condition(context)
    new_figures = {f"new_{name}": sql for name, sql in _figures_sql(context).items()}
    # The entering members' tier, from the figures the subquery computed.
    tier, tier_params = qualified_tier_sql(
        context.policy,
        context.tier_id_by_rank,
        {metric: f"new_{name}" for metric, name in _FIGURE_OF_METRIC.items()},
    )
    # The row's columns under names of their own (a table's columns must differ: m.id, o.id).
    named = {f"c{n}": column for n, column in enumerate(_ROW_COLUMN_LIST + _SNAPSHOT_COLUMNS)}
    # The whole row only for the members the engine takes: the others' rows stay narrow (the
    # writes then read about a third of the bytes); they need the member (c0) and tier (c3).
    kept_for_engine = ", ".join(
        f"CASE WHEN kind = {_TO_ENGINE} THEN {name} END AS {name}"
        for name in named
        if name not in ("c0", "c3")
    )
    classified = qn(f"tier_range_{uuid.uuid4().hex[:12]}")

    def column(model, name: str) -> str:
        return qn(model._meta.get_field(name).column)

    history = ", ".join(column(TierChange, name) for name in _HISTORY_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {classified} AS SELECT kind, "
            f"CASE WHEN kind = {_ENTERS} THEN {tier} END AS entering_tier_id, c0, c3, "
            f"{', '.join(new_figures)}, {kept_for_engine} "
            f"FROM (SELECT {_aliased(named)}, {_aliased(new_figures)}, "
            f"CASE WHEN COALESCE({unchanged}, FALSE) THEN {_KEEPS} "
            f"WHEN COALESCE({entering}, FALSE) THEN {_ENTERS} ELSE {_TO_ENGINE} END AS kind "
            # OFFSET 0 keeps the subquery whole: pulled up, each use of "kind" above would
            # repeat its conditions.
            f"{_snapshot_range_sql(snapshot)} OFFSET 0) c",
            [*tier_params, *unchanged_params, *entering_params, *[first_id, last_id] * 4],
        )
        cursor.execute(
            f"UPDATE {qn(MemberEvaluation._meta.db_table)} AS e SET evaluated_on = %s, "
            "policy_id = %s, qualified_tier_id = x.c3, spend_fen = x.new_spend_fen, "
            "frequency = x.new_frequency, tenure_years = x.new_tenure_years, "
            "contribution = x.new_contribution, revision = e.revision + 1 "
            f"FROM {classified} x WHERE x.kind = {_KEEPS} AND e.member_id = x.c0 "
            "AND e.member_id BETWEEN %s AND %s",
            [as_of, context.policy_row.pk, first_id, last_id],
        )
        written = cursor.rowcount
        entering_rows = f"FROM {classified} WHERE kind = {_ENTERS}"
        cursor.execute(
            f"INSERT INTO {qn(MemberTier._meta.db_table)} (member_id, "
            f"{', '.join(column(MemberTier, name) for name in _STATE_FIELDS)}) "
            f"SELECT c0, entering_tier_id, %s, %s, NULL, NULL, NULL {entering_rows}",
            [as_of, engine.add_years(as_of, 1)],
        )
        entered = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {qn(MemberEvaluation._meta.db_table)} (member_id, "
            f"{', '.join(column(MemberEvaluation, name) for name in _EVALUATION_FIELDS)}) "
            "SELECT c0, %s, %s, entering_tier_id, new_spend_fen, new_frequency, "
            f"new_tenure_years, new_contribution, 1 {entering_rows}",
            [as_of, context.policy_row.pk],
        )
        cursor.execute(
            f"INSERT INTO {qn(TierChange._meta.db_table)} ({history}) "
            "SELECT c0, NULL, entering_tier_id, %s, %s, %s, %s, new_spend_fen, new_frequency, "
            f"new_tenure_years, new_contribution, '', NULL, NULL {entering_rows}",
            [TierChange.Cause.QUALIFIED, context.policy_row.pk, as_of, context.now],
        )
        cursor.execute(
            f"SELECT {', '.join(named)} FROM {classified} WHERE kind = {_TO_ENGINE} ORDER BY c0"
        )
        rows = cursor.fetchall()
        cursor.execute(f"DROP TABLE {classified}")
    return _with_figures_now(rows, context), written, entered


def _read_range(first_id: int, last_id: int, context: _Context, scope: str) -> list[tuple]:
    only, only_params = _due_condition(context) if scope == Scope.DUE else ("", [])
    figures_sql, params = range_figures_sql(
        context.window, first_id, last_id, only=only, only_params=only_params
    )
    sql = (
        f"SELECT {_ROW_COLUMNS}, COALESCE(f.spend_fen, 0), COALESCE(f.frequency, 0), "
        "COALESCE(f.referrals, 0), COALESCE(f.activities, 0) "
        f"{_row_joins('{column} BETWEEN %s AND %s')}LEFT JOIN ({figures_sql}) f "
        "ON f.member_id = m.id WHERE m.id >= %s AND m.id <= %s"
    )
    params = [first_id, last_id, first_id, last_id, *params, first_id, last_id]
    if only:
        sql += " AND " + only.format(column="m.id")
        params += only_params
    if first_id == last_id:
        # One member, in real time: the same statement every time, prepared.
        with rows.hot_cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The range's grouped figures hash one entry per member: with the default 4 MB
            # they spill to disk at about 20,000 members and take twice as long.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql + " ORDER BY m.id", params)
        return cursor.fetchall()


# A row with its snapshot figures: the row's columns, then these (the revision last, for
# _with_figures_now), from _snapshot_range_sql.
_SNAPSHOT_COLUMNS = ["f.spend_fen", "f.frequency", "f.referrals", "f.activities", "f.revision"]


def _snapshot_range_sql(snapshot: str) -> str:
    """FROM and WHERE of a locked range's rows joined to the snapshot's figures (``f``); its
    parameters are ``[first_id, last_id] * 4``."""
    bound = "{column} BETWEEN %s AND %s"
    return (
        f"{_row_joins(bound)}LEFT JOIN {connection.ops.quote_name(snapshot)} f "
        f"ON f.member_id = m.id AND {bound.format(column='f.member_id')} "
        "WHERE m.id >= %s AND m.id <= %s"
    )


def _read_range_from_snapshot(
    first_id: int, last_id: int, context: _Context, snapshot: str
) -> list[tuple]:
    """The range's rows with the snapshot's figures (``_with_figures_now``)."""
    columns = ", ".join([_ROW_COLUMNS, *_SNAPSHOT_COLUMNS])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} {_snapshot_range_sql(snapshot)} ORDER BY m.id",
            [first_id, last_id] * 4,
        )
        return _with_figures_now(cursor.fetchall(), context)


def _with_figures_now(rows: list[tuple], context: _Context) -> list[tuple]:
    """Rows read with their snapshot figures and the snapshot's revision last, in id order,
    as rows to evaluate. Members whose evaluation was written after the snapshot (another
    revision), or who are not in it, have their figures read again now, under the lock, in one
    grouped statement: they may have been evaluated from facts the snapshot does not have (a
    real-time write, or another run over the same members)."""
    stale = [row[0] for row in rows if row[-1] != row[_REVISION]]
    if not stale:
        return [row[:-1] for row in rows]
    # The rows come in id order: one grouped read from the first stale member to the last.
    figures_now = figures_for_range(stale[0], stale[-1], context.window)

    def with_figures_now(row: tuple) -> tuple:
        raw = figures_now.get(row[0], NO_FIGURES)
        return (*row[:_FIGURES], raw.spend_fen, raw.frequency, raw.referrals, raw.activities)

    return [row[:-1] if row[-1] == row[_REVISION] else with_figures_now(row) for row in rows]


def _locked_row(member_id: int, context: _Context, *, locked: bool = False) -> tuple:
    """One member's row to evaluate, read after taking the member's row lock (the same lock
    every writer of that member's facts and tier takes) unless the caller holds it already:
    the range read of a range of one, its figures served by the (member, occurred_on) indexes."""
    if not locked:
        member_lock_row(member_id)
    return _read_range(member_id, member_id, context, Scope.ALL)[0]


# No savepoint of its own: inside a caller's transaction (every action records a fact, then
# evaluates) it would cost two statements, and an error here ends the caller's work anyway.
@transaction.atomic(savepoint=False)
def member_evaluate(
    *, member: Member, as_of: date, actor=None, locked: bool = False, reinstated: bool = False
) -> engine.Event:
    """Evaluate one member as of ``as_of``, exactly as the recompute would (real time: after
    each fact recorded for them, and on staff request). ``locked``: this transaction already
    holds the member's row lock (it has just written one of their facts), so the statement
    that takes it is saved. ``reinstated``: a blacklist entry was just lifted, so the tier
    the member enters is recorded and announced as their membership restored."""
    context = _context(as_of, actor=actor, reinstated=reinstated)
    summary = RecomputeSummary(as_of=as_of, policy_version=context.policy.version)
    _evaluate_rows([_locked_row(member.pk, context, locked=locked)], context, summary)
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
    override_id: int | None = None,
) -> tuple:
    """A TierChange row in the order of ``_HISTORY_FIELDS``; figures are (spend in fen,
    frequency, tenure, contribution), none for a member who no longer takes part."""
    return (
        member_id, from_tier_id, to_tier_id, cause, context.policy_row.pk, context.as_of,
        context.now, *figures, note, override_id, getattr(context.actor, "pk", None),
    )  # fmt: skip


def _stored_state(
    rank: int | None,
    start: date | None,
    end: date | None,
    warned: date | None,
    not_before: date | None = None,
    earned: engine.Floor | None = None,
) -> engine.TierState:
    """The engine's state from the stored columns; an end one year after the start is implied."""
    if start is not None and end == engine.add_years(start, 1):
        end = None
    return engine.TierState(rank, start, warned, end, not_before, earned)


_WARNING_FIELDS = [
    "tier", "qualified_tier", "policy", "warned_on", "tier_year_end", "downgrade_not_before",
    "gaps", "created_at", "notified_at",
]  # fmt: skip


def _override_end_audit(override: TierOverride, member: Member, actor) -> None:
    """The audit entry of an override ended before its end date (its end fields set)."""
    audit_record(
        actor=actor,
        action="tier.override.end",
        target=member,
        before={
            "override": override.pk,
            "ends_on": str(override.ends_on) if override.ends_on else None,
        },
        after={"ended_on": str(override.ended_on), "reason": override.end_reason},
    )


def _overrides_end_revoked(revoked: list[tuple[int, int]], context: _Context) -> None:
    """The open overrides of members who no longer take part end with their tier (domain.md: a
    blacklisted member's membership is revoked, no tier, no benefits): lifting the entry later
    gives the tier they qualify for, not the override's. Audited like an override ended by
    hand, by the actor of the evaluation (the blacklisting's)."""
    if not revoked:
        return
    member_of = {override_id: member_id for member_id, override_id in revoked}
    overrides = list(TierOverride.objects.filter(pk__in=member_of, ended_on__isnull=True))
    for override in overrides:
        override.ended_on = max(context.as_of, override.starts_on)
        override.ended_by = context.actor
        override.end_reason = OVERRIDE_REVOKED  # in English: translated when shown
        _override_end_audit(override, Member(pk=member_of[override.pk]), context.actor)
    TierOverride.objects.bulk_update(overrides, ["ended_on", "ended_by", "end_reason"])


@dataclass(frozen=True)
class _Warned:
    """A member an evaluation warns, until what they need is known (``_warnings``)."""

    contact: tuple
    joined_on: date
    rank: int
    tier_id: int
    qualified_tier_id: int
    to_tier_id: int
    year_start: date
    year_end: date
    not_before: date  # the deadline: the downgrade takes effect no sooner


def _warnings(warned: list[_Warned], context: _Context):
    """Each warned member's ``DowngradeWarning`` and notice, saying exactly what they still
    need: against the rules in force on their deadline and the figures that will still count
    then (``selectors.deadline_rules``), read for all of them at once per deadline."""
    by_deadline: dict[date, list[_Warned]] = {}
    for member in warned:
        by_deadline.setdefault(member.not_before, []).append(member)
    tier_by_id = context.tier_by_id
    tiers = {tier.code: tier for tier in tier_by_id.values()}
    for deadline, members in by_deadline.items():
        policy, window = deadline_rules(deadline, as_of=context.as_of, tiers=tiers)
        figures = figures_for_members((m.contact[0] for m in members), window)
        for member in members:
            member_id = member.contact[0]
            metrics = metrics_at_deadline(
                figures.get(member_id, NO_FIGURES),
                joined_on=member.joined_on,
                deadline=deadline,
                policy=policy,
            )
            gaps = engine.explain(policy.tier(member.rank).rule, metrics).as_data()
            warning = DowngradeWarning(
                member_id=member_id,
                tier_id=member.tier_id,
                qualified_tier_id=member.qualified_tier_id,
                policy=context.policy_row,
                warned_on=context.as_of,
                tier_year_start=member.year_start,
                tier_year_end=member.year_end,
                downgrade_not_before=deadline,
                gaps=gaps,
            )
            notice = notices.downgrade_warning(
                member.contact, context.as_of, tier_by_id[member.tier_id],
                tier_by_id[member.qualified_tier_id], tier_by_id[member.to_tier_id],
                member.year_start, member.year_end, deadline, gaps,
            )  # fmt: skip
            yield warning, notice


def _evaluate_rows(rows: list[tuple], context: _Context, summary: RecomputeSummary) -> None:
    as_of, policy, policy_id = context.as_of, context.policy, context.policy_row.pk
    # New rows are inserted, existing ones updated: the row says which (the member is locked),
    # so neither needs an upsert's staging table and anti-join.
    state_updates: list[tuple] = []
    state_inserts: list[tuple] = []
    evaluation_updates: list[tuple] = []
    evaluation_inserts: list[tuple] = []
    history: list[tuple] = []
    warned: list[_Warned] = []
    revoked_overrides: list[tuple[int, int]] = []  # (member, open override) no longer taking part
    to_notify: list[Notice] = []
    tier_by_id = context.tier_by_id

    for row in rows:
        member_id, status, joined_on, tier_id, year_start, year_end, warned_on = row[:7]
        override_id, override_tier_id, override_starts, override_ends = row[8:12]
        contact = (member_id, *row[_CONTACT])
        spend_fen, frequency, referrals, activities = row[_FIGURES:]
        if joined_on > as_of:
            summary.not_yet_joined += 1
            continue
        if row[_EVALUATED_ON] is not None and row[_EVALUATED_ON] > as_of:
            # Evaluations never go backwards: an evaluation as of an earlier date than the last
            # one would replace newer figures and a newer tier state with older ones.
            summary.evaluated_later_before += 1
            continue
        if status != Member.Status.ACTIVE:
            # Experience and blacklisted members hold no tier; one that still holds one loses it.
            summary.not_taking_part += 1
            if override_id is not None:
                revoked_overrides.append((member_id, override_id))
            if tier_id is not None:
                # A tier is held, so the state row exists.
                state_updates.append((member_id, None, None, None, None, None, None))
                history.append(
                    _history_row(
                        context, member_id, tier_id, None, TierChange.Cause.REVOKED, note=status
                    )
                )
                summary.events[engine.Event.REVOKED] += 1
                if status == Member.Status.BLACKLISTED and settings.NOTIFY_BLACKLISTED:
                    to_notify.append(notices.blacklist(contact, as_of))
            continue

        tenure = context.tenures.get(joined_on)
        if tenure is None:
            tenure = context.tenures[joined_on] = engine.completed_years(joined_on, as_of)
        contribution = referrals * policy.referral_points + activities * policy.activity_points
        qualified_rank = context.finder.rank(spend_fen, frequency, tenure, referrals, activities)
        current_rank = None if tier_id is None else context.rank_by_tier_id[tier_id]
        floor = None
        if override_tier_id is not None and override_starts <= as_of:
            floor = engine.Floor(context.rank_by_tier_id[override_tier_id], override_ends)
        promised = row[_NOT_BEFORE]
        if isinstance(promised, str):  # SQLite gives a subquery's date as text
            promised = date.fromisoformat(promised)
        earned_tier_id, earned_until = row[_EARNED]
        earned = None
        if earned_tier_id is not None:
            earned = engine.Floor(context.rank_by_tier_id[earned_tier_id], earned_until)
        key = (
            current_rank, year_start, year_end, warned_on, promised, qualified_rank, floor, earned,
        )  # fmt: skip
        known = context.steps.get(key)
        if known is None:
            before = _stored_state(current_rank, year_start, year_end, warned_on, promised, earned)
            step = engine.advance(before, qualified_rank, as_of, policy, floor)
            known = context.steps[key] = (step, step.state != before, step.changes_tier)
        step, state_changed, changes_tier = known
        state = step.state
        new_tier_id = context.tier_id_by_rank[state.rank]
        summary.evaluated += 1
        if step.event != engine.Event.NONE:
            summary.events[step.event] += 1
        qualified_tier_id = context.tier_id_by_rank[qualified_rank]
        (evaluation_inserts if row[_EVALUATED_ON] is None else evaluation_updates).append(
            (member_id, as_of, policy_id, qualified_tier_id, spend_fen,
             frequency, tenure, contribution, row[_REVISION] + 1)
        )  # fmt: skip
        if state_changed:
            earned_after = state.earned
            (state_updates if row[_HAS_STATE] else state_inserts).append(
                (
                    member_id, new_tier_id, state.year_start, state.year_end, state.warned_on,
                    context.tier_id_by_rank[earned_after.rank] if earned_after else None,
                    earned_after.until if earned_after else None,
                )
            )  # fmt: skip
        if changes_tier:
            figures = (spend_fen, frequency, tenure, contribution)
            # An upgrade that only the floor gives is the override's doing.
            by_floor = floor is not None and state.rank == floor.rank > qualified_rank
            restored = context.reinstated and step.event == engine.Event.QUALIFIED
            cause = TierChange.Cause.REINSTATED if restored else _CAUSE[step.event]
            history.append(
                _history_row(
                    context, member_id, tier_id, new_tier_id, cause,
                    figures=figures, override_id=override_id if by_floor else None,
                )
            )  # fmt: skip
            new_tier = tier_by_id[new_tier_id]
            if restored:
                # Told only where a blacklisting is told: else it would reveal one the member
                # never heard of.
                if settings.NOTIFY_BLACKLISTED:
                    to_notify.append(notices.reinstated(contact, as_of, new_tier, state.year_end))
            elif step.event == engine.Event.UPGRADE:
                to_notify.append(notices.upgrade(contact, as_of, new_tier, state.year_end))
            elif step.event == engine.Event.DOWNGRADE:
                to_notify.append(notices.downgrade(contact, as_of, tier_by_id[tier_id], new_tier))
        elif step.event == engine.Event.WARNING:
            # The tier the downgrade would give: not the qualified tier when a floor holds at
            # the year end or the policy drops one tier at a time.
            to_tier_id = context.tier_id_by_rank[
                engine.warned_downgrade_rank(
                    state.rank, state.year_end, qualified_rank, policy, (floor, state.earned)
                )
            ]
            warned.append(
                _Warned(
                    contact, joined_on, current_rank, tier_id, qualified_tier_id, to_tier_id,
                    year_start, state.year_end,
                    max(state.year_end, as_of + timedelta(days=policy.notice_days)),
                )
            )  # fmt: skip
        elif step.event == engine.Event.RETAINED:
            to_notify.append(
                notices.tier_kept(
                    contact, as_of, tier_by_id[tier_id], state.year_start, state.year_end
                )
            )

    _overrides_end_revoked(revoked_overrides, context)
    warnings, warning_keys = [], []  # each warning and the event key of its notice
    for warning, notice in _warnings(warned, context):
        warnings.append(warning)
        warning_keys.append(notice.dedupe_key)
        to_notify.append(notice)
    insert_rows(MemberTier, ["member", *_STATE_FIELDS], state_inserts)
    update_rows(MemberTier, _STATE_FIELDS, state_updates)
    insert_rows(MemberEvaluation, ["member", *_EVALUATION_FIELDS], evaluation_inserts)
    update_rows(MemberEvaluation, _EVALUATION_FIELDS, evaluation_updates)
    insert_rows(TierChange, _HISTORY_FIELDS, history)
    summary.notices += notices_queue(to_notify, now=context.now)
    if warnings:
        # The in-app message is delivered by being stored, just now in this transaction (or
        # earlier, when the event's notice existed already): the warning keeps when the member
        # was told, read back from the outbox, so it stays empty when no message was written.
        delivered = in_app_delivered(Kind.DOWNGRADE_WARNING, (w.member_id for w in warnings))
        for warning, key in zip(warnings, warning_keys, strict=True):
            warning.notified_at = delivered.get((warning.member_id, key))
    # One warning per tier year, known by its start. An override that takes hold starts a new
    # tier year, which on the day the last one started has the same start: that year's warning
    # is then replaced by the new year's (the member's notice of the first stays in the outbox).
    DowngradeWarning.objects.bulk_create(
        warnings,
        update_conflicts=True,
        unique_fields=["member", "tier_year_start"],
        update_fields=_WARNING_FIELDS,
    )


# --- Overrides and exceptional upgrades ---------------------------------------------------


def _tier_state(member: Member) -> MemberTier:
    state, _created = MemberTier.objects.get_or_create(member=member)
    return state


def override_replacement_refusal(
    current: TierOverride | None, *, tier: Tier, ends_on: date | None, kind: str
) -> str:
    """Why a new override (``tier`` until ``ends_on``, of ``kind``) may not replace the member's
    open one ``current``; "" when it may. A member holds one override at a time, so a new one
    ends the old: staff may rewrite their own manual override, but neither staff nor the
    committee silently takes away a floor the other set (or an earlier committee grant), by a
    lower tier or an earlier end. Whoever means it ends a manual override first, on the
    record; a committee grant is final."""
    if current is None or (current.kind == kind == TierOverride.Kind.MANUAL):
        return ""
    lower = tier.rank < current.tier.rank
    earlier = current.ends_on is None and ends_on is not None
    earlier = earlier or (None not in (current.ends_on, ends_on) and ends_on < current.ends_on)
    if not (lower or earlier):
        return ""
    if current.kind == TierOverride.Kind.COMMITTEE:
        # Final (override_end_refusal): not to be ended, so not to be lessened either.
        template = _(
            "The member's %(kind)s gives them at least %(tier)s %(until)s. This would replace "
            "it with less: at least %(new_tier)s %(new_until)s. The committee's decision is "
            "final."
        )
    elif kind == TierOverride.Kind.COMMITTEE:
        # The committee cannot end a manual override itself: customer operations can.
        template = _(
            "The member's %(kind)s gives them at least %(tier)s %(until)s. This would replace "
            "it with less: at least %(new_tier)s %(new_until)s. If that is intended, ask "
            "customer operations to end that override first."
        )
    else:
        template = _(
            "The member's %(kind)s gives them at least %(tier)s %(until)s. This would replace "
            "it with less: at least %(new_tier)s %(new_until)s. End that override first if "
            "that is intended."
        )
    return template % {
        "kind": current.get_kind_display(),
        "tier": current.tier.name,
        "until": override_until(current.ends_on),
        "new_tier": tier.name,
        "new_until": override_until(ends_on),
    }


def override_holder_check(member: Member) -> None:
    """Only a member who takes part holds a tier, so only they get an override
    (``tier_override_set``, and the staff form before its confirmation page)."""
    if not member.takes_part:
        raise DomainError(_("Only an active member can hold a tier."))


def override_end_refusal(override: TierOverride | None) -> str:
    """Why staff may not end ``override`` (the member's open one) early; "" when they may. A
    committee's exceptional upgrade is final (domain.md): it runs to its own end date."""
    if override is None:
        return _("This member has no open override.")
    if override.ended_on is not None:
        return _("This override has already ended.")
    if override.kind == TierOverride.Kind.COMMITTEE:
        return _(
            "This is the committee's exceptional upgrade: its decision is final, and the tier "
            "it granted holds %(until)s."
        ) % {"until": override_until(override.ends_on)}
    return ""


def override_until(day: date | None) -> str:
    """How long an override lasts, in words ("until 2027-06-30")."""
    return _("until %(date)s") % {"date": day.isoformat()} if day else _("with no end date")


@transaction.atomic
def tier_override_set(
    *,
    member: Member,
    tier: Tier,
    reason: str,
    ends_on: date | None,
    actor,
    kind: str = TierOverride.Kind.MANUAL,
    message: str = "",
    today: date | None = None,
) -> TierOverride:
    """Put a floor under a member's tier (a manual override, or the committee's exceptional
    upgrade): the member holds at least ``tier`` until ``ends_on``, still moves up when the
    rules give more, and when it ends the end date counts as the tier-year end (warning and
    notice included). A new override replaces the member's open one, unless that would take
    away a floor someone else set (``override_replacement_refusal``)."""
    today = today or timezone.localdate()
    member = member_lock(member)
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    override_holder_check(member)
    if ends_on is not None and ends_on <= today:
        raise DomainError(_("The end date must be after today."))
    replaced = open_override(member)
    refusal = override_replacement_refusal(replaced, tier=tier, ends_on=ends_on, kind=kind)
    if refusal:
        raise DomainError(refusal)
    if replaced is not None:
        replaced.ended_on = today
        replaced.ended_by = actor if getattr(actor, "pk", None) else None
        replaced.end_reason = OVERRIDE_REPLACED  # in English: translated when shown
        replaced.save(update_fields=["ended_on", "ended_by", "end_reason"])
    override = TierOverride.objects.create(
        member=member,
        kind=kind,
        tier=tier,
        reason=reason,
        message=message.strip(),
        starts_on=today,
        ends_on=ends_on,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    state = _tier_state(member)
    before = {
        "tier": state.current_tier.code if state.current_tier else None,
        "tier_year_end": str(state.tier_year_end) if state.tier_year_end else None,
        # The override this one ended, so the audit says what the member held before.
        "replaced_override": {
            "id": replaced.pk,
            "kind": replaced.kind,
            "tier": replaced.tier.code,
            "ends_on": str(replaced.ends_on) if replaced.ends_on else None,
        }
        if replaced is not None
        else None,
    }
    current_rank = state.current_tier.rank if state.current_tier else None
    year_end_before = state.tier_year_end
    year_end = ends_on or add_years(today, 1)
    takes_hold = current_rank is None or tier.rank >= current_rank
    # The member holds a tier below the one granted (or none): the override gives it to them.
    gives_tier = current_rank is None or tier.rank > current_rank
    own_year = (
        takes_hold and not gives_tier and replaced is None and state.tier_year_end is not None
    )
    if own_year:
        # At the tier held, with no override before it, the tier year is the member's own: a
        # floor never shortens it. One ending later keeps the tier to its end (the year keeps
        # its start, so ending the override early gives back the year earned); an open-ended
        # one holds at the year end anyway (engine.advance).
        if ends_on is None or ends_on > state.tier_year_end:
            # Held at the year end: a warning of this year no longer stands.
            if ends_on is not None:
                state.tier_year_end = ends_on
            state.downgrade_warned_on = None
            state.save(update_fields=["tier_year_end", "downgrade_warned_on"])
    elif replaced is not None and not takes_hold:
        # A lower floor replaces the one that held the tier: that one ended today, as if staff
        # had ended it (the member keeps the tier for the notice, then may go down to the new
        # floor).
        _tier_year_ended_with(member, replaced, today)
    elif takes_hold:
        # The override holds the tier: a tier year that ends with it (domain.md).
        from_tier = state.current_tier
        if gives_tier and from_tier is not None:
            # A floor never takes away what the member has: the year they earned at the tier
            # below outlasting this one is where the end of the override's year brings them
            # back (engine.TierState.earned). Else an earlier such year stays as it was.
            earned_until = _own_year_end(state, replaced)
            if earned_until is not None and earned_until > year_end:
                state.earned_tier, state.earned_until = from_tier, earned_until
        state.current_tier = tier
        state.tier_year_start = today
        state.tier_year_end = year_end
        state.downgrade_warned_on = None
        state.save()
        if from_tier != tier:
            context = _context(today, actor=actor)
            cause = (
                TierChange.Cause.COMMITTEE
                if kind == TierOverride.Kind.COMMITTEE
                else TierChange.Cause.OVERRIDE
            )
            insert_rows(
                TierChange,
                _HISTORY_FIELDS,
                [
                    _history_row(
                        context,
                        member.pk,
                        from_tier.pk if from_tier else None,
                        tier.pk,
                        cause,
                        note=reason,
                        override_id=override.pk,
                    )
                ],
            )
    # The member is told why (domain.md: "the member is told the reason"), in this transaction:
    # the committee's notice exists exactly when the exceptional upgrade gives them a higher
    # tier or keeps their tier past the end of their tier year ("we are pleased to grant you
    # Gold" to a Platinum member would be false). A manual override tells the member only when
    # staff wrote them a message and it gives them the tier (a floor below their tier changes
    # nothing they would notice).
    if kind == TierOverride.Kind.COMMITTEE:
        extends_year = (
            takes_hold
            and year_end_before is not None
            and state.tier_year_end is not None
            and state.tier_year_end > year_end_before
        )
        tell = gives_tier or extends_year
    else:
        tell = bool(override.message) and takes_hold
    if tell:
        notices_queue(
            [
                notices.exceptional_upgrade(
                    (member.pk, member.name, member.phone, member.email), today, override
                )
            ]
        )
    audit_record(
        actor=actor,
        action=f"tier.override.{kind}",
        target=member,
        before=before,
        after={
            "tier": tier.code,
            "ends_on": str(ends_on) if ends_on else None,
            "reason": reason,
            # What the member was told, and whether they were (see ``tell`` above).
            "message": override.message,
            "member_told": tell,
        },
    )
    member_evaluate(member=member, as_of=today, actor=actor)
    return override


def _own_year_end(state: MemberTier, replaced: TierOverride | None) -> date | None:
    """The end of the tier year the member holds their present tier for on their own, when a
    new override is set: the stored one, unless an override held that tier (then the year
    they had begun before it, which it only extended, or none)."""
    if state.current_tier is None or state.tier_year_end is None:
        return None
    if replaced is None or replaced.tier.rank < state.current_tier.rank:
        return state.tier_year_end
    if state.tier_year_start is not None and state.tier_year_start < replaced.starts_on:
        return add_years(state.tier_year_start, 1)
    return None


def _tier_year_ended_with(member: Member, override: TierOverride, today: date) -> None:
    """``override`` ended today (ended by staff, or replaced by a lower floor): its end counts as
    the tier-year end of the tier it held (domain.md), so a member below that tier is warned
    now and keeps it for the notice period. A warning already given this tier year takes the
    new end too, and its "no downgrade before" is counted again from it (the later of the new
    end and the notice after the warning)."""
    state = MemberTier.objects.filter(member=member).select_related("current_tier").first()
    # The end of the tier year without the override: today, or for a year the member began
    # before it (extended by it at their own tier), the end they had earned, if still to come.
    year_end = today
    if state is not None and state.tier_year_start and state.tier_year_start < override.starts_on:
        year_end = max(today, add_years(state.tier_year_start, 1))
    if (
        state is not None
        and state.current_tier is not None
        and state.current_tier.rank <= override.tier.rank
        and state.tier_year_end is not None
        and state.tier_year_end > year_end
        # A tier year that outlasts the override is the member's own, not the override's.
        and (override.ends_on is None or state.tier_year_end <= override.ends_on)
    ):
        state.tier_year_end = year_end
        state.save(update_fields=["tier_year_end"])
        if state.downgrade_warned_on is not None:
            warning = DowngradeWarning.objects.select_related("policy").get(
                member=member, tier_year_start=state.tier_year_start
            )
            # The notice the member was given under the warning's policy still runs in full.
            warning.tier_year_end = year_end
            warning.downgrade_not_before = max(
                year_end, warning.warned_on + timedelta(days=warning.policy.notice_days)
            )
            warning.save(update_fields=["tier_year_end", "downgrade_not_before"])


@transaction.atomic
def tier_override_end(
    *, override: TierOverride, reason: str, actor, today: date | None = None
) -> TierOverride:
    """End a manual override early (``override_end_refusal``). Its end date (today) counts as
    the tier-year end of the tier it held (``_tier_year_ended_with``), so the member and staff
    read the dates the lifecycle keeps to."""
    today = today or timezone.localdate()
    member = member_lock(override.member)
    override = TierOverride.objects.select_for_update().get(pk=override.pk)
    if refusal := override_end_refusal(override):
        raise DomainError(refusal)
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    override.ended_on = today
    override.ended_by = actor if getattr(actor, "pk", None) else None
    override.end_reason = reason
    override.save(update_fields=["ended_on", "ended_by", "end_reason"])
    _tier_year_ended_with(member, override, today)
    _override_end_audit(override, member, actor)
    member_evaluate(member=member, as_of=today, actor=actor)
    return override


def tier_overrides_expire(*, as_of: date) -> int:
    """Close the overrides whose end date has come (the daily job). The end date was already the
    tier-year end, so the lifecycle (warning, notice) needs nothing more from here."""
    return TierOverride.objects.filter(ended_on__isnull=True, ends_on__lte=as_of).update(
        ended_on=F("ends_on")
    )


def tiers_revoke_not_taking_part(*, as_of: date) -> int:
    """Revoke at once the tiers of members who no longer take part (a blacklist import): the
    same evaluation as the recompute, for just those members, in one transaction."""
    ids = list(
        MemberTier.objects.filter(current_tier__isnull=False)
        .exclude(member__status=Member.Status.ACTIVE)
        .values_list("member_id", flat=True)
    )
    context = _context(as_of)
    summary = RecomputeSummary(as_of=as_of, policy_version=context.policy.version)
    with transaction.atomic():
        for member_id in ids:
            _evaluate_rows([_locked_row(member_id, context)], context, summary)
    return summary.events[engine.Event.REVOKED]


# --- Policy versions: drafts and publication ----------------------------------------------

# What a policy owner edits on a draft; everything else (version, status, dates) is the
# services' to set. The back office's policy page edits all but the special review settings,
# which are edited in the admin (through policy_draft_update too).
POLICY_DRAFT_FIELDS = (
    "name",
    "notes",
    "window_kind",
    "referral_points",
    "activity_points",
    "warning_lead_days",
    "notice_days",
    "downgrade_step",
    "rules",
    "review_settings",
)


def _policy_record(policy: TierPolicy, fields=POLICY_DRAFT_FIELDS) -> dict:
    return {name: getattr(policy, name) for name in fields}


class StaleEdit(DomainError):
    """An edit page saved after someone else saved the same thing: saving it would silently
    undo the other's changes (and the audit log would show them as this actor's)."""

    def __init__(self):
        super().__init__(
            _(
                "Someone else saved changes here since you opened this page, so nothing was "
                "saved (yours would have undone theirs). Open the page again to see the current "
                "version, then make your changes there."
            )
        )


def policy_draft_stamp(policy: TierPolicy) -> str:
    """The draft's fingerprint for ``policy_draft_update(loaded=...)``."""
    return fingerprint(_policy_record(policy))


def tier_page_stamp(tier: Tier) -> str:
    """The tier's names and benefits' fingerprint for ``tier_page_lock``."""
    benefits = [_benefit_record(benefit) for benefit in tier.benefits.order_by("pk")]
    return fingerprint({"names": [tier.name_zh, tier.name_en], "benefits": benefits})


def _tiers_lock() -> None:
    # Every tier's row (five), in one order: renames, benefit changes and page saves take them
    # first, so they wait for each other.
    list(Tier.objects.select_for_update().order_by("pk"))


def tier_page_lock(tier: Tier, *, loaded: str) -> None:
    """Before saving a tier's page (names and benefits), in the caller's transaction: lock the
    tiers and refuse when the page was loaded before someone else's change (``loaded`` is the
    ``tier_page_stamp`` the page was drawn with)."""
    _tiers_lock()
    if loaded != tier_page_stamp(Tier.objects.get(pk=tier.pk)):
        raise StaleEdit()


def _tier_ranks() -> dict[str, int]:
    return dict(Tier.objects.values_list("code", "rank"))


def _check_policy_data(policy: TierPolicy) -> None:
    tier_ranks = _tier_ranks()
    errors = policy_errors(
        rules=policy.rules,
        tier_ranks=tier_ranks,
        window_kind=policy.window_kind,
        downgrade_step=policy.downgrade_step,
    )
    try:
        review_settings_from_data(policy.review_settings, set(tier_ranks))
    except PolicyError as error:
        errors.append(error)
    if errors:
        raise PolicyInvalid(errors)


@transaction.atomic
def policy_draft_create(*, actor, today: date | None = None) -> TierPolicy:
    """A new draft, numbered after every version, a copy of the latest published version: the
    scheduled one when there is one, else the one in force. A copy of the one in force while
    another is scheduled would, published after it, bring the old rules back."""
    today = today or timezone.localdate()
    # None published at all: policy_in_force raises the usual error.
    source = policy_latest_published() or policy_in_force(today)
    # The last version's row lock serialises two owners drafting at once (unique version).
    last = TierPolicy.objects.select_for_update().order_by("-version").first()
    draft = TierPolicy(
        version=last.version + 1,
        status=TierPolicy.Status.DRAFT,
        based_on=source,
        **{
            **_policy_record(source),
            "name": _("Draft based on v%(version)d") % {"version": source.version},
            "notes": "",
            # A version published before the 30 days' minimum may give less: the draft that
            # corrects it must be made.
            "notice_days": max(source.notice_days, MIN_NOTICE_DAYS),
        },
    )
    draft.full_clean(exclude=["rules"])
    draft.save()
    audit_record(
        actor=actor,
        action="policy.draft.create",
        target=draft,
        before={"based_on": source.version},
        after={"version": draft.version, **_policy_record(draft)},
    )
    return draft


@transaction.atomic
def policy_draft_update(
    *, policy: TierPolicy, actor, loaded: str | None = None, **changes
) -> TierPolicy:
    """Change a draft's settings and rules. A published version is never edited; the whole
    version is validated and every problem reported at once (``PolicyInvalid``). ``loaded``,
    the ``policy_draft_stamp`` of the page the changes were made on, refuses them when the
    draft changed since."""
    unknown = set(changes) - set(POLICY_DRAFT_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
    policy = TierPolicy.objects.select_for_update().get(pk=policy.pk)
    if policy.status != TierPolicy.Status.DRAFT:
        raise DomainError(
            _("Version %(version)d is published: a published version is never edited.")
            % {"version": policy.version}
        )
    if loaded is not None and loaded != policy_draft_stamp(policy):
        raise StaleEdit()
    before = _policy_record(policy)
    for name, value in changes.items():
        setattr(policy, name, value)
    _check_policy_data(policy)
    # Stored in the one canonical form (spend "20000.00"), so diffs and audits compare alike.
    policy.rules = {code: rule_to_data(rule_from_data(r, code)) for code, r in policy.rules.items()}
    policy.full_clean(exclude=["rules"])
    changed = [name for name in POLICY_DRAFT_FIELDS if before[name] != getattr(policy, name)]
    if not changed:
        return policy
    policy.save(update_fields=changed)
    audit_record(
        actor=actor,
        action="policy.draft.update",
        target=policy,
        before={name: before[name] for name in changed},
        after={name: getattr(policy, name) for name in changed},
    )
    return policy


# How far beyond the earliest possible date a version may be published to take effect.
POLICY_PUBLISH_AHEAD = timedelta(days=366)


def policy_earliest_effective_date(today: date | None = None) -> date:
    """The earliest effective date a version published today may have: members are told
    ``POLICY_NOTICE_DAYS`` ahead (公示期), and versions take effect one after another."""
    today = today or timezone.localdate()
    earliest = today + timedelta(days=settings.POLICY_NOTICE_DAYS)
    latest = (
        TierPolicy.objects.filter(status=TierPolicy.Status.PUBLISHED)
        .order_by("-effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )
    if latest is not None and latest >= earliest:
        earliest = latest + timedelta(days=1)
    return earliest


def policy_effective_date_refusal(effective_from: date, today: date) -> str:
    """Why a version cannot be published in force from ``effective_from`` ("" when it can):
    ``policy_publish``, and the publish form before it."""
    earliest = policy_earliest_effective_date(today)
    if effective_from < earliest:
        return _(
            "The effective date must be on or after %(date)s: members are told %(days)d "
            "days ahead, and a new version takes effect after every published one."
        ) % {"date": earliest.isoformat(), "days": settings.POLICY_NOTICE_DAYS}
    # A published version is never withdrawn and every later one must start after it: a date
    # mistyped years ahead would block every new version until then.
    latest = earliest + POLICY_PUBLISH_AHEAD
    if effective_from > latest:
        return _(
            "The effective date must be on or before %(date)s: a published version cannot "
            "be withdrawn, and every later version must take effect after it."
        ) % {"date": latest.isoformat()}
    return ""


@transaction.atomic
def policy_publish(
    *,
    policy: TierPolicy,
    effective_from: date,
    actor,
    accept_warnings: bool = False,
    today: date | None = None,
) -> TierPolicy:
    """Publish a draft, in force from ``effective_from``: no sooner than ``POLICY_NOTICE_DAYS``
    after today (the coming change is announced to members meanwhile) and after every version
    already published. Only policy owners publish (``tiers.publish_tierpolicy``). A version
    whose higher tiers are easier to reach than lower ones in some way is published only when
    the owner accepts those warnings. Published, it is never edited again."""
    today = today or timezone.localdate()
    if not (actor is not None and actor.has_perm("tiers.publish_tierpolicy")):
        raise PermissionDenied(_("Only policy owners publish a policy version."))
    policy = TierPolicy.objects.select_for_update().get(pk=policy.pk)
    if policy.status != TierPolicy.Status.DRAFT:
        raise DomainError(
            _("Version %(version)d is already published: a published version is never edited.")
            % {"version": policy.version}
        )
    # Every published version's row, locked: two owners publishing at once cannot both pass
    # the "after every published version" check.
    list(TierPolicy.objects.select_for_update().filter(status=TierPolicy.Status.PUBLISHED))
    refusal = policy_effective_date_refusal(effective_from, today)
    if refusal:
        raise DomainError(refusal)
    _check_policy_data(policy)
    problems = ordering_problems(engine_policy(policy))
    if problems and not accept_warnings:
        raise DomainError(
            _("Some higher tiers are easier to reach than lower ones; confirm to publish anyway.")
        )
    before = {"status": policy.status, "effective_from": None}
    policy.status = TierPolicy.Status.PUBLISHED
    policy.effective_from = effective_from
    policy.published_at = timezone.now()
    policy.published_by = actor
    policy.save(update_fields=["status", "effective_from", "published_at", "published_by"])
    audit_record(
        actor=actor,
        action="policy.publish",
        target=policy,
        before=before,
        after={
            "status": policy.status,
            "effective_from": effective_from.isoformat(),
            "accepted_warnings": [f"{p.higher}>{p.lower}" for p in problems],
            **_policy_record(policy),
        },
    )
    return policy


# --- Tier names and benefits (global: they apply to every version, at once) ---------------

_BENEFIT_FIELDS = ("kind", "value", "title_zh", "title_en", "position")


def _benefit_record(benefit: Benefit) -> dict:
    record = {name: getattr(benefit, name) for name in _BENEFIT_FIELDS}
    record["value"] = None if benefit.value is None else str(benefit.value)
    record["tier"] = benefit.tier.code
    return record


def tier_name_taken(*, tier: Tier, field: str, name: str) -> str:
    """Why ``name`` cannot be ``tier``'s ``field`` (``name_zh`` or ``name_en``): the message
    when another tier already has it (English compared without case), else "". Members tell
    tiers apart by name only, on every page and notice."""
    lookup = "name_en__iexact" if field == "name_en" else "name_zh"
    other = Tier.objects.exclude(pk=tier.pk).filter(**{lookup: name.strip()}).first()
    if other is None:
        return ""
    return _("“%(name)s” is already the name of another tier (%(tier)s).") % {
        "name": name.strip(),
        "tier": other.name,
    }


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    return reason


@transaction.atomic
def tier_rename(*, tier: Tier, name_zh: str, name_en: str, reason: str, actor) -> Tier:
    """Rename a tier in both languages (its code and rank never change: rules are keyed by
    code and ordered by rank), with a reason kept in the audit entry. No two tiers share a
    name in either language."""
    reason = _reason(reason)
    _tiers_lock()  # two renames at once cannot both take one free name
    tier = Tier.objects.get(pk=tier.pk)
    name_zh, name_en = name_zh.strip(), name_en.strip()
    if not name_zh or not name_en:
        raise DomainError(_("A tier needs a Chinese and an English name."))
    for language_field, name in (("name_zh", name_zh), ("name_en", name_en)):
        taken = tier_name_taken(tier=tier, field=language_field, name=name)
        if taken:
            raise DomainError(taken)
    before = {"name_zh": tier.name_zh, "name_en": tier.name_en}
    if before == {"name_zh": name_zh, "name_en": name_en}:
        return tier
    tier.name_zh, tier.name_en = name_zh, name_en
    tier.save(update_fields=["name_zh", "name_en"])
    audit_record(
        actor=actor,
        action="tier.rename",
        target=tier,
        before=before,
        after={"name_zh": name_zh, "name_en": name_en, "reason": reason},
    )
    return tier


_POINTS_KINDS = (Benefit.Kind.BIRTHDAY_BONUS, Benefit.Kind.WELCOME_POINTS)


def benefit_value_refusal(kind: str, value: Decimal | None) -> str:
    """Why ``value`` cannot be a benefit of ``kind`` that is not a discount (the back office
    converts a discount from 折 and checks it there), or "": members would be shown it."""
    if kind == Benefit.Kind.POINTS_MULTIPLIER and (value is None or value <= 0):
        return _("A points multiplier is more than 0, e.g. 1.5 for 1.5×.")
    if kind in _POINTS_KINDS and (
        value is None or value != value.to_integral_value() or not 1 <= value <= MAX_POINTS
    ):
        return _("Points are a whole number from 1 to %(max)s.") % {"max": f"{MAX_POINTS:,}"}
    return ""


@transaction.atomic
def benefit_save(
    *, tier: Tier, reason: str, actor, benefit: Benefit | None = None, **fields
) -> Benefit:
    """Add a benefit to a tier, or change one (``benefit``), with a reason kept in the audit
    entry. A discount's value is the percent of the price paid (92 = 9.2折)."""
    unknown = set(fields) - set(_BENEFIT_FIELDS)
    if unknown:
        raise TypeError(f"not a benefit field: {', '.join(sorted(unknown))}")
    reason = _reason(reason)
    _tiers_lock()
    if benefit is None:
        before = None
        benefit = Benefit(tier=tier)
    else:
        benefit = Benefit.objects.select_for_update().select_related("tier").get(pk=benefit.pk)
        before = _benefit_record(benefit)
    for name, value in fields.items():
        setattr(benefit, name, value)
    if benefit.kind == Benefit.Kind.DISCOUNT and not (
        benefit.value is not None and 0 < benefit.value < 100
    ):
        raise DomainError(_("A discount is between 0.1折 and 9.99折."))
    if refusal := benefit_value_refusal(benefit.kind, benefit.value):
        raise DomainError(refusal)
    benefit.full_clean()
    after = _benefit_record(benefit)
    if before == after:
        return benefit
    benefit.save()
    audit_record(
        actor=actor,
        action="benefit.create" if before is None else "benefit.update",
        target=benefit,
        before=before,
        after={**after, "reason": reason},
    )
    return benefit


@transaction.atomic
def benefit_delete(*, benefit: Benefit, reason: str, actor) -> None:
    reason = _reason(reason)
    _tiers_lock()
    benefit = Benefit.objects.select_for_update().select_related("tier").get(pk=benefit.pk)
    audit_record(
        actor=actor,
        action="benefit.delete",
        target=benefit,
        before=_benefit_record(benefit),
        after={"reason": reason},
    )
    benefit.delete()
