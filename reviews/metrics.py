"""The figures nomination needs beyond the tier figures, in SQL and set-based: per member, the
largest net purchase in the window (its amount less its refunds made by D, as in
``tiers.metrics``) and the referrals made in all time up to D. Joined with the tier window
figures (``tiers.metrics.window_figures_table``), so one grouped pass serves every member."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from django.db import connection

from members.models import ERASED_NAME, ERASED_PREFIX, Member, Referral, Transaction
from tiers.engine import Window
from tiers.metrics import window_figures_table

_BATCH = 10_000


def _extras_sql(member_condition: str) -> str:
    transactions = Transaction._meta.db_table
    referrals = Referral._meta.db_table
    return f"""
        SELECT member_id, MAX(max_net_fen) AS max_net_fen, MAX(referrals) AS referrals
        FROM (
            SELECT p.member_id AS member_id,
                   MAX(p.amount_fen - COALESCE(r.refunded_fen, 0)) AS max_net_fen,
                   0 AS referrals
            FROM {transactions} p
            LEFT JOIN (
                SELECT refund_of_id, SUM(amount_fen) AS refunded_fen
                FROM {transactions}
                WHERE kind = 'refund' AND occurred_on > %s AND occurred_on <= %s
                  AND {member_condition.format(column="member_id")}
                GROUP BY refund_of_id
            ) r ON r.refund_of_id = p.id
            WHERE p.kind = 'purchase' AND p.occurred_on > %s AND p.occurred_on <= %s
              AND {member_condition.format(column="p.member_id")}
            GROUP BY p.member_id
            UNION ALL
            SELECT referrer_id, 0, COUNT(*)
            FROM {referrals}
            WHERE occurred_on <= %s AND {member_condition.format(column="referrer_id")}
            GROUP BY referrer_id
        ) extras
        GROUP BY member_id
    """


def _extras_params(window: Window, member_params: tuple) -> list:
    return [
        window.after, window.until, *member_params,
        window.after, window.until, *member_params,
        window.until, *member_params,
    ]  # fmt: skip


# (member id, joined on, spend fen, frequency, window referrals, activities, max net purchase
# fen, referrals in all time)
CandidateRow = tuple[int, date, int, int, int, int, int, int]


def candidate_rows(window: Window) -> Iterator[CandidateRow]:
    """Every active member who had joined by the window's end, but those whose personal data
    was erased (``members.privacy.member_is_erased``), with their figures; read in batches
    from one query."""
    qn = connection.ops.quote_name
    with window_figures_table(window) as figures:
        sql = f"""
            SELECT m.id, m.joined_on, COALESCE(f.spend_fen, 0), COALESCE(f.frequency, 0),
                   COALESCE(f.referrals, 0), COALESCE(f.activities, 0),
                   COALESCE(x.max_net_fen, 0), COALESCE(x.referrals, 0)
            FROM {qn(Member._meta.db_table)} m
            LEFT JOIN {qn(figures)} f ON f.member_id = m.id
            LEFT JOIN ({_extras_sql("{column} > %s")}) x ON x.member_id = m.id
            WHERE m.status = %s AND m.joined_on <= %s
              AND NOT (m.member_no LIKE %s AND m.name = %s)
            ORDER BY m.id
        """
        params = [
            *_extras_params(window, (0,)), Member.Status.ACTIVE, window.until,
            f"{ERASED_PREFIX}%", ERASED_NAME,
        ]  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(_BATCH):
                for row in batch:
                    member_id, joined_on, *numbers = row
                    yield (member_id, joined_on, *(int(n) for n in numbers))


def extras_for_member(member_id: int, window: Window) -> tuple[int, int]:
    """(largest net purchase in fen, referrals in all time) of one member, from the same SQL."""
    with connection.cursor() as cursor:
        cursor.execute(_extras_sql("{column} = %s"), _extras_params(window, (member_id,)))
        row = cursor.fetchone()
    return (int(row[1]), int(row[2])) if row else (0, 0)
