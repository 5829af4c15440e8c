"""Members' window figures computed in SQL, set-based: one grouped query for a range of members
(the recompute joins it into the statement that reads a locked range) or for one member (served
by the (member, occurred_on) indexes).

Figures are computed only after the members' rows are locked, never before: a figure computed
earlier could miss a purchase whose real-time evaluation commits in between, and writing it
would take that member back to an older evaluation.

Spend and frequency follow domain.md: a purchase in the window counts its amount less the refunds
of that purchase made on or before the as-of date; it counts towards frequency while that net
stays above zero. A refund always belongs to its purchase, so a refund of an older purchase
changes nothing in this window. Amounts are integer fen, so SUM is exact on both databases; the
sums are cast back to BIGINT because PostgreSQL returns SUM(bigint) as numeric, and arithmetic
on numeric per row made the figures pass four times slower than the bare GROUP BY.

Refunds are filtered on ``occurred_on > window.after`` too: the importer and the API refuse a
refund dated before its purchase, so a refund of an in-window purchase is always in that range,
and the filter lets the index on (member, occurred_on) serve the refund subquery as well.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction

from loyalty.bulk import BIG_STATEMENT_SETTINGS, postgres_settings
from members.models import ActivityParticipation, Member, Referral, Transaction

from .engine import Window
from .models import MemberEvaluation


@dataclass(frozen=True)
class WindowFigures:
    """Raw figures of one member in one window, before policy points are applied."""

    spend_fen: int = 0
    frequency: int = 0
    referrals: int = 0
    activities: int = 0


NONE = WindowFigures()


# Each figure's query repeats the window and the member condition in this many places; a
# query's parameters are ``(window.after, window.until, *bounds) * _PARTS``.
_PARTS = 5


def _purchases_sql(member_condition: str) -> str:
    """One row per purchase in the window (its amount, counting 1 towards frequency), and one
    per purchase in the window with refunds in it: minus what they took back, and -1 when they
    took it all (domain.md: a purchase counts while its net stays above zero). Summed by
    member, these give spend and frequency.

    Refunds are adjustments of their purchases rather than a join of every purchase to its
    refunds: the purchases are then scanned and summed by member like the bare GROUP BY, on
    PostgreSQL's parallel workers, and the join touches only the purchases that have refunds
    (looked up by primary key). Joined to all purchases, the refunds kept the whole pass on one
    core: the recompute's figures took 4.8 times the bare GROUP BY instead of 2.6 times."""
    transactions = Transaction._meta.db_table
    return f"""
        SELECT member_id, amount_fen AS spend_fen, 1 AS purchases
        FROM {transactions}
        WHERE kind = 'purchase' AND occurred_on > %s AND occurred_on <= %s
          AND {member_condition.format(column="member_id")}
        UNION ALL
        SELECT p.member_id, -r.refunded_fen,
               CASE WHEN p.amount_fen <= r.refunded_fen THEN -1 ELSE 0 END
        FROM (
            SELECT refund_of_id, CAST(SUM(amount_fen) AS BIGINT) AS refunded_fen
            FROM {transactions}
            WHERE kind = 'refund' AND refund_of_id IS NOT NULL
              AND occurred_on > %s AND occurred_on <= %s
              AND {member_condition.format(column="member_id")}
            GROUP BY refund_of_id
        ) r
        JOIN {transactions} p ON p.id = r.refund_of_id
        WHERE p.kind = 'purchase' AND p.occurred_on > %s AND p.occurred_on <= %s
          AND {member_condition.format(column="p.member_id")}
    """


def _referrals_sql(member_condition: str) -> str:
    return (
        f"SELECT referrer_id AS member_id FROM {Referral._meta.db_table} "
        "WHERE occurred_on > %s AND occurred_on <= %s "
        f"AND {member_condition.format(column='referrer_id')}"
    )


def _activities_sql(member_condition: str) -> str:
    return (
        f"SELECT member_id FROM {ActivityParticipation._meta.db_table} "
        "WHERE occurred_on > %s AND occurred_on <= %s "
        f"AND {member_condition.format(column='member_id')}"
    )


def _sql(member_condition: str) -> str:
    """Each member's figures who has any in the window, one grouped pass over the rows of
    ``_purchases_sql``, the referrals made and the activities taken part in."""
    return f"""
        SELECT member_id, CAST(SUM(spend_fen) AS BIGINT) AS spend_fen, SUM(purchases) AS frequency,
               SUM(referrals) AS referrals, SUM(activities) AS activities
        FROM (
            SELECT member_id, spend_fen, purchases, 0 AS referrals, 0 AS activities
            FROM ({_purchases_sql(member_condition)}) p
            UNION ALL
            SELECT member_id, 0, 0, 1, 0 FROM ({_referrals_sql(member_condition)}) r
            UNION ALL
            SELECT member_id, 0, 0, 0, 1 FROM ({_activities_sql(member_condition)}) a
        ) figures
        GROUP BY member_id
    """


def _params(window: Window, bounds: tuple) -> list:
    return list((window.after, window.until, *bounds) * _PARTS)


def _by_member(rows) -> dict[int, WindowFigures]:
    return {
        member_id: WindowFigures(int(spend), int(frequency), int(referrals), int(activities))
        for member_id, spend, frequency, referrals, activities in rows
    }


def figures_for_range(first_id: int, last_id: int, window: Window) -> dict[int, WindowFigures]:
    """Figures of every member with ``first_id <= id <= last_id`` who has any in the window;
    members missing from the result have none (``NONE``)."""
    with connection.cursor() as cursor:
        cursor.execute(_sql("{column} BETWEEN %s AND %s"), _params(window, (first_id, last_id)))
        return _by_member(cursor.fetchall())


# Members' ids a statement of ``figures_for_members`` names: the figures' parts repeat them.
_IDS_PER_STATEMENT = 100


def figures_for_members(member_ids, window: Window) -> dict[int, WindowFigures]:
    """``figures_for_range`` for the members listed (a few: a run's warned members)."""
    ids = sorted(set(member_ids))
    found: dict[int, WindowFigures] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _IDS_PER_STATEMENT):
            chunk = tuple(ids[start : start + _IDS_PER_STATEMENT])
            condition = "{column} IN (" + ", ".join(["%s"] * len(chunk)) + ")"
            cursor.execute(_sql(condition), _params(window, chunk))
            found.update(_by_member(cursor.fetchall()))
    return found


def range_figures_sql(
    window: Window, first_id: int, last_id: int | None, *, only: str = "", only_params=()
) -> tuple[str, list]:
    """The grouped figures query for members ``first_id <= id <= last_id`` (no upper bound when
    ``last_id`` is None), to join in the statement that reads a locked range; ``only`` narrows
    it further with a condition on ``{column}`` (the member id) and its parameters."""
    condition = "{column} >= %s"
    bounds: tuple = (first_id,)
    if last_id is not None:
        condition += " AND {column} <= %s"
        bounds += (last_id,)
    if only:
        condition += f" AND {only}"
        bounds += tuple(only_params)
    return _sql(condition), _params(window, bounds)


def figures_for_member(member: Member | int, window: Window) -> WindowFigures:
    member_id = member if isinstance(member, int) else member.pk
    return figures_for_range(member_id, member_id, window).get(member_id, NONE)


def tenure_sql(column: str, as_of: date) -> str:
    """Completed years from the join date in ``column`` (on or before ``as_of``) to ``as_of``,
    in SQL: ``engine.completed_years``, where the anniversary of 29 February is 28 February in
    a common year. The year is done when the join date's month and day are not after
    ``as_of``'s. (No parameters: the two numbers are integers made here, written in place, so
    the expression can be repeated anywhere in a statement.)"""
    done_by = as_of.month * 100 + as_of.day
    if (as_of.month, as_of.day) == (2, 28) and not calendar.isleap(as_of.year):
        done_by = 229
    if connection.vendor == "postgresql":
        year = f"CAST(EXTRACT(YEAR FROM {column}) AS INTEGER)"
        month_day = f"CAST(TO_CHAR({column}, 'MMDD') AS INTEGER)"
    else:
        year = f"CAST(strftime('%%Y', {column}) AS INTEGER)"
        month_day = f"CAST(strftime('%%m%%d', {column}) AS INTEGER)"
    return (
        f"({int(as_of.year)} - {year} - CASE WHEN {month_day} > {int(done_by)} THEN 1 ELSE 0 END)"
    )


FIGURES_TABLE = "tier_window_figures"


def _figures_table_create(table: str, kind: str, select: str, params) -> None:
    """A new table ``table`` (``kind``: TEMPORARY, UNLOGGED or plain) of one row per member
    from the grouped ``select`` (its columns named and cast to their types), then a unique
    index on the member (one sorted build instead of a million inserts) and fresh statistics.

    CREATE TABLE … AS, not INSERT … SELECT: PostgreSQL can run the former's grouped pass on its
    parallel workers, never the latter's (about 30% less time at a million members)."""
    qn = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    name = qn(table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        # The grouped pass hashes one entry per member; with PostgreSQL's default 4 MB of
        # work_mem it spills to disk from about 20,000 members and runs twice as long.
        with transaction.atomic(), postgres_settings(BIG_STATEMENT_SETTINGS):
            cursor.execute(f"CREATE {kind}TABLE {name} AS {select}", params)
        cursor.execute(f"CREATE UNIQUE INDEX {qn(table + '_member')} ON {name} (member_id)")
        if postgres:
            cursor.execute(f"ANALYZE {name}")


def figures_snapshot_drop(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}")


@contextmanager
def window_figures_table(window: Window) -> Iterator[str]:
    """Compute every member's figures in one grouped pass into a temporary table (one row per
    member with any figure in the window) and yield its name; dropped on exit.

    For whole-population reads that write nothing (the policy impact preview, the quarterly
    nomination); the recompute reads ``figures_snapshot_create``'s table, which also carries
    each member's evaluation revision."""
    _figures_table_create(
        FIGURES_TABLE,
        "TEMPORARY ",
        "SELECT CAST(member_id AS BIGINT) AS member_id, CAST(spend_fen AS BIGINT) AS spend_fen, "
        "CAST(frequency AS INTEGER) AS frequency, CAST(referrals AS INTEGER) AS referrals, "
        f"CAST(activities AS INTEGER) AS activities FROM ({_sql('{column} > %s')}) f",
        _params(window, (0,)),
    )
    try:
        yield FIGURES_TABLE
    finally:
        figures_snapshot_drop(FIGURES_TABLE)


def figures_snapshot_create(window: Window, table: str, *, shared: bool = False) -> None:
    """Every member's figures and evaluation revision into a new table ``table``, from one
    statement: one snapshot of the facts and the revisions together.

    The full recompute reads this instead of computing each range's figures under the range's
    lock: one grouped pass costs about what one bare GROUP BY does, while the ranges' figures
    each visit the index pages of every member in the range, a range at a time. What the lock
    protected is kept: a member evaluated in real time after this pass has a newer revision by
    the time their range is locked, and the recompute reads their figures again (see
    ``MemberEvaluation.revision``).

    A temporary table, which goes with the connection however the run ends (a killed run leaves
    nothing behind), unless ``shared``: queued chunks on other workers read the run's table,
    unlogged on PostgreSQL (it is rebuilt, never recovered), dropped when the run finishes."""
    qn = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    everyone = "{column} > %s"
    _figures_table_create(
        table,
        "TEMPORARY " if not shared else "UNLOGGED " if postgres else "",
        "SELECT m.id AS member_id, CAST(COALESCE(e.revision, 0) AS BIGINT) AS revision, "
        "CAST(COALESCE(p.spend_fen, 0) AS BIGINT) AS spend_fen, "
        "CAST(COALESCE(p.frequency, 0) AS INTEGER) AS frequency, "
        "CAST(COALESCE(r.referrals, 0) AS INTEGER) AS referrals, "
        "CAST(COALESCE(a.activities, 0) AS INTEGER) AS activities "
        f"FROM {qn(Member._meta.db_table)} m "
        f"LEFT JOIN {qn(MemberEvaluation._meta.db_table)} e ON e.member_id = m.id "
        # Each kind of fact grouped on its own and joined to the members (rather than grouped
        # together, as in _sql): the purchases' grouping then runs on the parallel workers like
        # the bare GROUP BY, and no second grouping of a million rows spills to disk.
        "LEFT JOIN (SELECT member_id, CAST(SUM(spend_fen) AS BIGINT) AS spend_fen, "
        f"SUM(purchases) AS frequency FROM ({_purchases_sql(everyone)}) x GROUP BY member_id) p "
        "ON p.member_id = m.id "
        f"LEFT JOIN (SELECT member_id, COUNT(*) AS referrals FROM ({_referrals_sql(everyone)}) x "
        "GROUP BY member_id) r ON r.member_id = m.id "
        "LEFT JOIN (SELECT member_id, COUNT(*) AS activities "
        f"FROM ({_activities_sql(everyone)}) x GROUP BY member_id) a ON a.member_id = m.id",
        _params(window, (0,)),
    )


# Shared snapshots of runs in one process (``shared_figures_snapshot``): each held by a session
# advisory lock of this class, keyed by the table's name, while its run goes.
_SHARED_PREFIX = "tier_figures_shared_"
_SHARED_LOCK_CLASS = 7469


@contextmanager
def shared_figures_snapshot(window: Window) -> Iterator[str]:
    """A figures snapshot (``figures_snapshot_create``) that the run's other connections can
    read, for a run in this process on several connections (PostgreSQL): an unlogged table,
    dropped on exit. A killed process cannot drop it, so the run holds a session advisory lock
    on it meanwhile, which goes with its connection: the next run drops any such table whose
    lock it can take."""
    _abandoned_shared_snapshots_drop()
    table = f"{_SHARED_PREFIX}{uuid.uuid4().hex[:12]}"
    lock = [_SHARED_LOCK_CLASS, table]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", lock)
    try:
        with transaction.atomic(durable=True):
            figures_snapshot_create(window, table, shared=True)
        yield table
    finally:
        try:
            figures_snapshot_drop(table)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", lock)


def _abandoned_shared_snapshots_drop() -> None:
    with connection.cursor() as cursor:
        names = connection.introspection.table_names(cursor)
        for table in (name for name in names if name.startswith(_SHARED_PREFIX)):
            lock = [_SHARED_LOCK_CLASS, table]
            cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", lock)
            if cursor.fetchone()[0]:
                # Its run is gone (a run drops its table before it lets go of the lock).
                figures_snapshot_drop(table)
                cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", lock)


def figures_snapshot_exists(table: str) -> bool:
    with connection.cursor() as cursor:
        return table in connection.introspection.table_names(cursor)
