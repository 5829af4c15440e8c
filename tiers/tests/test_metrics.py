"""Window figures computed in SQL (tiers/metrics.py), against the real database.

Every date here is a local date in Asia/Shanghai; the factories derive ``occurred_on`` from
``occurred_at`` the way the importer and the API do, so the edges below test the whole path from
an instant to the window it counts in.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from loyalty.money import fen_to_yuan
from members.models import Member, Transaction
from members.tests.factories import (
    LOCAL,
    ActivityFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
    RefundFactory,
    local_noon,
)
from tiers.engine import WindowKind, completed_years, window_for
from tiers.metrics import (
    NONE,
    WindowFigures,
    figures_for_member,
    figures_for_range,
    tenure_sql,
)

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
AS_OF = datetime.date(2026, 6, 30)
ROLLING = window_for(AS_OF, WindowKind.ROLLING_YEAR)
CALENDAR = window_for(AS_OF, WindowKind.CALENDAR_YEAR)
IN_WINDOW = datetime.date(2026, 3, 1)
BEFORE_WINDOW = datetime.date(2025, 6, 15)


def local(*parts: int) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=LOCAL)


def utc(*parts: int) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=UTC)


def test_the_rolling_window_of_the_thirtieth_of_june_starts_on_the_first_of_july_before():
    assert (ROLLING.after, ROLLING.until) == (datetime.date(2025, 6, 30), AS_OF)
    assert datetime.date(2025, 7, 1) in ROLLING and datetime.date(2025, 6, 30) not in ROLLING


# --- Window edges in local time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "local_day", "counted"),
    [
        (local(2025, 6, 30, 23, 59), datetime.date(2025, 6, 30), False),
        (local(2025, 7, 1, 0, 0), datetime.date(2025, 7, 1), True),
        (utc(2025, 6, 30, 16, 0), datetime.date(2025, 7, 1), True),
        (local(2026, 6, 30, 23, 59), datetime.date(2026, 6, 30), True),
        (utc(2026, 6, 30, 15, 59), datetime.date(2026, 6, 30), True),
        (local(2026, 7, 1, 0, 0), datetime.date(2026, 7, 1), False),
        (utc(2026, 6, 30, 16, 30), datetime.date(2026, 7, 1), False),
    ],
    ids=[
        "local-2025-06-30T23:59-out",
        "local-2025-07-01T00:00-in",
        "utc-2025-06-30T16:00-is-local-07-01-in",
        "local-2026-06-30T23:59-in",
        "utc-2026-06-30T15:59-is-local-23:59-in",
        "local-2026-07-01T00:00-out",
        "utc-2026-06-30T16:30-is-local-07-01-out",
    ],
)
def test_a_purchase_counts_in_the_rolling_window_by_its_local_date(occurred_at, local_day, counted):
    purchase = PurchaseFactory(amount_fen=12_345, occurred_at=occurred_at)

    assert purchase.occurred_on == local_day
    expected = WindowFigures(spend_fen=12_345, frequency=1) if counted else NONE
    assert figures_for_member(purchase.member, ROLLING) == expected


def test_purchases_on_both_sides_of_both_edges_add_up_to_exactly_those_inside():
    member = MemberFactory()
    # Distinct powers of ten, so the sum shows exactly which purchases were counted.
    for amount_fen, occurred_at in [
        (1, local(2025, 6, 30, 23, 59)),
        (10, local(2025, 7, 1, 0, 0)),
        (100, local(2026, 6, 30, 23, 59)),
        (1_000, local(2026, 7, 1, 0, 0)),
        (10_000, utc(2026, 6, 30, 16, 30)),
    ]:
        PurchaseFactory(member=member, amount_fen=amount_fen, occurred_at=occurred_at)

    assert figures_for_member(member, ROLLING) == WindowFigures(spend_fen=110, frequency=2)


@pytest.mark.parametrize(
    ("occurred_at", "counted"),
    [
        (local(2025, 12, 31, 23, 59), False),
        (utc(2025, 12, 31, 15, 59), False),
        (local(2026, 1, 1, 0, 0), True),
        (utc(2025, 12, 31, 16, 0), True),
        (local(2026, 6, 30, 23, 59), True),
        (utc(2026, 6, 30, 16, 30), False),
    ],
)
def test_a_purchase_counts_in_the_calendar_year_window_by_its_local_date(occurred_at, counted):
    purchase = PurchaseFactory(amount_fen=500, occurred_at=occurred_at)

    expected = WindowFigures(spend_fen=500, frequency=1) if counted else NONE
    assert figures_for_member(purchase.member, CALENDAR) == expected


def test_the_same_purchases_give_different_figures_in_the_rolling_and_the_calendar_window():
    member = MemberFactory()
    PurchaseFactory(member=member, amount_fen=700, day=datetime.date(2025, 9, 1))
    PurchaseFactory(member=member, amount_fen=300, day=datetime.date(2026, 2, 1))

    assert figures_for_member(member, ROLLING) == WindowFigures(spend_fen=1_000, frequency=2)
    assert figures_for_member(member, CALENDAR) == WindowFigures(spend_fen=300, frequency=1)


# --- Refunds ----------------------------------------------------------------------------------


def test_a_partial_refund_lowers_spend_and_the_purchase_still_counts():
    purchase = PurchaseFactory(amount_fen=10_000, day=IN_WINDOW)
    RefundFactory(refund_of=purchase, amount_fen=3_001, day=datetime.date(2026, 3, 2))

    assert figures_for_member(purchase.member, ROLLING) == WindowFigures(6_999, 1)


def test_a_full_refund_leaves_no_spend_and_the_purchase_does_not_count():
    purchase = PurchaseFactory(amount_fen=10_000, day=IN_WINDOW)
    RefundFactory(refund_of=purchase, amount_fen=10_000, day=datetime.date(2026, 3, 2))

    assert figures_for_member(purchase.member, ROLLING) == WindowFigures(0, 0)


def test_several_partial_refunds_summing_to_the_whole_count_as_a_full_refund():
    purchase = PurchaseFactory(amount_fen=10_000, day=IN_WINDOW)
    for amount_fen, day in [(3_333, 2), (3_333, 9), (3_334, 20)]:
        RefundFactory(refund_of=purchase, amount_fen=amount_fen, day=datetime.date(2026, 3, day))

    assert figures_for_member(purchase.member, ROLLING) == WindowFigures(0, 0)


def test_partial_refunds_leaving_one_fen_keep_the_purchase_in_the_frequency():
    purchase = PurchaseFactory(amount_fen=10_000, day=IN_WINDOW)
    RefundFactory(refund_of=purchase, amount_fen=5_000, day=datetime.date(2026, 3, 2))
    RefundFactory(refund_of=purchase, amount_fen=4_999, day=datetime.date(2026, 3, 3))

    assert figures_for_member(purchase.member, ROLLING) == WindowFigures(1, 1)


def test_a_refund_after_the_as_of_date_is_ignored():
    purchase = PurchaseFactory(amount_fen=10_000, day=IN_WINDOW)
    RefundFactory(refund_of=purchase, amount_fen=10_000, occurred_at=local(2026, 7, 1, 0, 0))

    assert figures_for_member(purchase.member, ROLLING) == WindowFigures(10_000, 1)


def test_a_refund_late_on_the_as_of_date_counts():
    purchase = PurchaseFactory(amount_fen=10_000, day=IN_WINDOW)
    RefundFactory(refund_of=purchase, amount_fen=10_000, occurred_at=local(2026, 6, 30, 23, 59))

    assert figures_for_member(purchase.member, ROLLING) == WindowFigures(0, 0)


def test_a_refund_counts_from_the_day_it_happened_on():
    purchase = PurchaseFactory(amount_fen=10_000, day=IN_WINDOW)
    RefundFactory(refund_of=purchase, amount_fen=2_500, day=datetime.date(2026, 4, 1))

    before = window_for(datetime.date(2026, 3, 31), WindowKind.ROLLING_YEAR)
    on = window_for(datetime.date(2026, 4, 1), WindowKind.ROLLING_YEAR)
    assert figures_for_member(purchase.member, before) == WindowFigures(10_000, 1)
    assert figures_for_member(purchase.member, on) == WindowFigures(7_500, 1)


def test_a_refund_inside_the_window_of_a_purchase_made_before_the_window_changes_nothing():
    member = MemberFactory()
    old = PurchaseFactory(member=member, amount_fen=50_000, day=BEFORE_WINDOW)
    RefundFactory(refund_of=old, amount_fen=50_000, day=datetime.date(2025, 8, 1))
    PurchaseFactory(member=member, amount_fen=2_000, day=IN_WINDOW)

    assert figures_for_member(member, ROLLING) == WindowFigures(2_000, 1)


def test_a_refund_lowers_only_the_purchase_it_names():
    member = MemberFactory()
    refunded = PurchaseFactory(member=member, amount_fen=1_000, day=IN_WINDOW)
    PurchaseFactory(member=member, amount_fen=4_000, day=IN_WINDOW)
    RefundFactory(refund_of=refunded, amount_fen=1_000, day=datetime.date(2026, 3, 5))

    assert figures_for_member(member, ROLLING) == WindowFigures(4_000, 1)


def _mixed_population() -> dict[int, WindowFigures]:
    """Members with every kind of fact in and around the window, and the figures each must have
    (members without any are left out: they have none)."""
    expected = {}
    partly = PurchaseFactory(amount_fen=10_000, day=IN_WINDOW)
    RefundFactory(refund_of=partly, amount_fen=2_500, day=datetime.date(2026, 3, 2))
    RefundFactory(refund_of=partly, amount_fen=500, day=datetime.date(2026, 3, 3))
    PurchaseFactory(member=partly.member, amount_fen=1_000, day=datetime.date(2025, 7, 1))
    expected[partly.member_id] = WindowFigures(8_000, 2)
    wholly = PurchaseFactory(amount_fen=4_000, day=IN_WINDOW)
    RefundFactory(refund_of=wholly, amount_fen=4_000, day=datetime.date(2026, 3, 5))
    ReferralFactory(referrer=wholly.member, occurred_on=IN_WINDOW)
    expected[wholly.member_id] = WindowFigures(0, 0, referrals=1)
    old = PurchaseFactory(amount_fen=50_000, day=BEFORE_WINDOW)
    RefundFactory(refund_of=old, amount_fen=50_000, day=datetime.date(2025, 8, 1))
    ActivityFactory(member=old.member, day=IN_WINDOW)
    ActivityFactory(member=old.member, day=IN_WINDOW)
    expected[old.member_id] = WindowFigures(0, 0, activities=2)
    later = PurchaseFactory(amount_fen=3_000, day=IN_WINDOW)
    RefundFactory(refund_of=later, amount_fen=3_000, day=datetime.date(2026, 7, 2))
    expected[later.member_id] = WindowFigures(3_000, 1)
    MemberFactory()  # nothing at all
    return expected


def test_the_recompute_snapshot_has_the_figures_a_range_read_gives():
    from tiers.metrics import figures_snapshot_create, figures_snapshot_drop

    expected = _mixed_population()
    ids = list(Member.objects.order_by("id").values_list("id", flat=True))
    first, last = ids[0], ids[-1]
    figures_snapshot_create(ROLLING, "tier_figures_t")
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT member_id, spend_fen, frequency, referrals, activities "
                "FROM tier_figures_t ORDER BY member_id"
            )
            snapshot = {row[0]: WindowFigures(*row[1:]) for row in cursor.fetchall()}
    finally:
        figures_snapshot_drop("tier_figures_t")

    assert figures_for_range(first, last, ROLLING) == expected
    assert snapshot == {member_id: expected.get(member_id, NONE) for member_id in ids}


def test_the_preview_figures_table_has_the_figures_a_range_read_gives():
    from tiers.metrics import window_figures_table

    expected = _mixed_population()
    with window_figures_table(ROLLING) as table, connection.cursor() as cursor:
        cursor.execute(
            f"SELECT member_id, spend_fen, frequency, referrals, activities FROM {table}"
        )
        rows = {row[0]: WindowFigures(*row[1:]) for row in cursor.fetchall()}

    assert rows == expected


# --- Exact cents ------------------------------------------------------------------------------


def _bulk_purchases(member, amount_fen: int, count: int, prefix: str) -> list[Transaction]:
    occurred_at = local_noon(IN_WINDOW)
    return Transaction.objects.bulk_create(
        Transaction(
            external_id=f"{prefix}{i}",
            member=member,
            kind=Transaction.Kind.PURCHASE,
            amount_fen=amount_fen,
            occurred_at=occurred_at,
            occurred_on=IN_WINDOW,
        )
        for i in range(count)
    )


def test_a_thousand_purchases_of_one_fen_and_a_thousand_of_ten_fen_sum_exactly():
    member = MemberFactory()
    _bulk_purchases(member, 1, 1_000, "CENT-")
    _bulk_purchases(member, 10, 1_000, "DIME-")

    figures = figures_for_member(member, ROLLING)

    assert figures == WindowFigures(spend_fen=11_000, frequency=2_000)
    assert fen_to_yuan(figures.spend_fen) == Decimal("110.00")


def test_a_thousand_small_refunds_leave_exact_cents():
    member = MemberFactory()
    purchases = _bulk_purchases(member, 10, 1_000, "P-")
    refund_at = local_noon(datetime.date(2026, 3, 2))
    Transaction.objects.bulk_create(
        Transaction(
            external_id=f"R-{i}",
            member=member,
            kind=Transaction.Kind.REFUND,
            amount_fen=3,
            occurred_at=refund_at,
            occurred_on=refund_at.date(),
            refund_of=purchase,
        )
        for i, purchase in enumerate(purchases)
    )

    figures = figures_for_member(member, ROLLING)

    assert figures == WindowFigures(spend_fen=7_000, frequency=1_000)
    assert fen_to_yuan(figures.spend_fen) == Decimal("70.00")


# --- Contribution: referrals and activities ---------------------------------------------------


def test_referrals_count_for_the_referrer_by_the_referral_date_inside_the_window():
    referrer = MemberFactory()
    referred = [
        ReferralFactory(referrer=referrer, occurred_on=day).referred
        for day in [
            datetime.date(2025, 6, 30),
            datetime.date(2025, 7, 1),
            datetime.date(2026, 6, 30),
            datetime.date(2026, 7, 1),
        ]
    ]

    assert figures_for_member(referrer, ROLLING) == WindowFigures(referrals=2)
    # The referred members earn nothing for having been referred.
    assert all(figures_for_member(m, ROLLING) == NONE for m in referred)


@pytest.mark.parametrize(
    ("occurred_at", "counted"),
    [
        (local(2025, 6, 30, 23, 59), False),
        (local(2025, 7, 1, 0, 0), True),
        (local(2026, 6, 30, 23, 59), True),
        (utc(2026, 6, 30, 16, 30), False),
    ],
)
def test_an_activity_counts_by_its_local_date(occurred_at, counted):
    activity = ActivityFactory(occurred_at=occurred_at)

    expected = WindowFigures(activities=1) if counted else NONE
    assert figures_for_member(activity.member, ROLLING) == expected


def test_all_four_kinds_of_figures_of_one_member_come_back_together():
    member = MemberFactory()
    purchase = PurchaseFactory(member=member, amount_fen=9_900, day=IN_WINDOW)
    RefundFactory(refund_of=purchase, amount_fen=900, day=IN_WINDOW)
    PurchaseFactory(member=member, amount_fen=100, day=BEFORE_WINDOW)
    for day in (2, 3, 4):
        ReferralFactory(referrer=member, occurred_on=datetime.date(2026, 2, day))
    ActivityFactory.create_batch(5, member=member, day=IN_WINDOW)
    ActivityFactory(member=member, day=BEFORE_WINDOW)

    assert figures_for_member(member, ROLLING) == WindowFigures(
        spend_fen=9_000, frequency=1, referrals=3, activities=5
    )


# --- Ranges -----------------------------------------------------------------------------------


def test_figures_for_a_range_hold_every_member_inside_it_with_figures_and_no_one_else():
    first, idle, referrer, last, outside = MemberFactory.create_batch(5)
    PurchaseFactory(member=first, amount_fen=100, day=IN_WINDOW)
    # ``referrer`` refers ``outside``: the referral belongs to the referrer's range only.
    ReferralFactory(referrer=referrer, referred=outside, occurred_on=IN_WINDOW)
    ActivityFactory(member=last, day=IN_WINDOW)
    PurchaseFactory(member=outside, amount_fen=200, day=IN_WINDOW)

    figures = figures_for_range(first.pk, last.pk, ROLLING)

    assert figures == {
        first.pk: WindowFigures(spend_fen=100, frequency=1),
        referrer.pk: WindowFigures(referrals=1),
        last.pk: WindowFigures(activities=1),
    }
    assert idle.pk not in figures


def test_figures_for_a_member_accept_the_member_or_its_id():
    purchase = PurchaseFactory(amount_fen=250, day=IN_WINDOW)

    by_member = figures_for_member(purchase.member, ROLLING)

    assert by_member == figures_for_member(purchase.member_id, ROLLING) == WindowFigures(250, 1)


def test_a_member_with_nothing_in_the_window_has_blank_figures():
    member = MemberFactory()
    PurchaseFactory(member=member, day=BEFORE_WINDOW)

    assert figures_for_member(member, ROLLING) == NONE


@pytest.mark.postgres_only
def test_a_snapshot_leaves_the_callers_transaction_settings_as_they_were():
    # cases_nominate builds its snapshot inside its own transaction and queries on after it.
    from django.db import connection

    from loyalty.bulk import BIG_STATEMENT_SETTINGS
    from tiers.metrics import figures_snapshot_create, figures_snapshot_drop

    MemberFactory()
    read = "SELECT current_setting('work_mem'), current_setting('jit')"
    with connection.cursor() as cursor:
        cursor.execute(read)
        before = cursor.fetchone()
        figures_snapshot_create(ROLLING, "tier_figures_t")
        cursor.execute(read)
        after = cursor.fetchone()
    figures_snapshot_drop("tier_figures_t")

    assert after == before
    assert before[0] != BIG_STATEMENT_SETTINGS["work_mem"]  # the snapshot did change it


# --- Tenure in SQL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of",
    [
        datetime.date(2025, 2, 27),
        datetime.date(2025, 2, 28),  # a common year: who joined on 29 February completes one
        datetime.date(2025, 3, 1),
        datetime.date(2028, 2, 28),
        datetime.date(2028, 2, 29),
        datetime.date(2028, 3, 1),
        datetime.date(2025, 12, 31),
        datetime.date(2026, 1, 1),
        datetime.date(2026, 6, 30),
    ],
)
def test_tenure_in_sql_is_the_engines_completed_years_for_every_join_day_of_two_years(as_of):
    first = datetime.date(2019, 1, 1)
    joined = [first + datetime.timedelta(days=n) for n in range(731)]  # 2019 and leap 2020
    Member.objects.bulk_create(
        Member(member_no=f"T{n:04d}", name="t", joined_on=day) for n, day in enumerate(joined)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.joined_on, {tenure_sql('m.joined_on', as_of)} "
            f"FROM {Member._meta.db_table} m WHERE m.member_no LIKE %s",
            ["T%"],
        )
        in_sql = {
            (day if isinstance(day, datetime.date) else datetime.date.fromisoformat(day)): years
            for day, years in cursor.fetchall()
        }

    assert in_sql == {day: completed_years(day, as_of) for day in joined}
