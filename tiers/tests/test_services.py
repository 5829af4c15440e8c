"""The recompute and the single evaluation (tiers/services.py) against the real database: the
figures they store, the tier lifecycle over several evaluation dates, the history they write, and
the number of queries they need.

Most members below are the same Gold member: joined 2025-02-01 (so tenure 1, enough for Silver,
from 2026-02-01), Gold from a purchase of 20,000.00 on 2025-03-01, which leaves the rolling window
on 2026-03-01, the day the first tier year ends.
"""

from __future__ import annotations

import copy
import datetime
import importlib
import io
import random
import re
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from loyalty.bulk import analyze
from members.models import (
    ActivityParticipation,
    BlacklistEntry,
    Member,
    Referral,
    Transaction,
)
from members.tests.factories import (
    LOCAL,
    ActivityFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
    RefundFactory,
    local_noon,
)
from notifications.models import Channel, Kind, Notification, NotificationTemplate
from tiers import actions, engine, services
from tiers.metrics import figures_snapshot_drop
from tiers.models import (
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    Tier,
    TierChange,
    TierOverride,
    TierPolicy,
)
from tiers.selectors import export_rows, warning_to_tier
from tiers.services import (
    RecomputeSummary,
    _context,
    member_evaluate,
    tier_override_set,
    tiers_figures_snapshot,
    tiers_range_evaluate,
    tiers_recompute,
)
from tiers.tests.helpers import member_row_locks, refreshed

pytestmark = pytest.mark.django_db

Event = engine.Event
Cause = TierChange.Cause
day = datetime.date

GOLD_FEN = 2_000_000  # 20,000.00, the Gold spend threshold
JOINED = day(2025, 2, 1)
GOLD_PURCHASE_DAY = day(2025, 3, 1)
YEAR_END = day(2026, 3, 1)


# --- Helpers ----------------------------------------------------------------------------------


def recompute(as_of: datetime.date, chunk_size: int | None = None) -> RecomputeSummary:
    return tiers_recompute(as_of=as_of, chunk_size=chunk_size)


def recompute_each(*days: datetime.date) -> list[RecomputeSummary]:
    return [recompute(as_of) for as_of in days]


def tier_of(member: Member) -> str | None:
    member = refreshed(member)
    return member.current_tier.code if member.current_tier else None


def history(member: Member) -> list[tuple]:
    """(from, to, cause, policy version, effective on) of every change, oldest first."""
    return list(
        TierChange.objects.filter(member=member)
        .order_by("effective_on", "id")
        .values_list("from_tier__code", "to_tier__code", "cause", "policy__version", "effective_on")
    )


def gold_member(**kwargs) -> tuple[Member, Transaction]:
    member = MemberFactory(joined_on=JOINED, **kwargs)
    purchase = PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=GOLD_PURCHASE_DAY)
    return member, purchase


def make_gold(member: Member) -> None:
    """Regular at the first evaluation, Gold from the purchase day: tier year 2025-03-01 …"""
    recompute_each(JOINED, GOLD_PURCHASE_DAY)
    assert tier_of(member) == "gold"


def publish_policy(version: int, effective_from: datetime.date, **fields) -> TierPolicy:
    """A new published version with the default rules and the given differences."""
    default = TierPolicy.objects.get(version=1)
    return TierPolicy.objects.create(
        version=version,
        name=f"v{version}",
        status=TierPolicy.Status.PUBLISHED,
        effective_from=effective_from,
        **{"rules": default.rules, **fields},
    )


def exported(member: Member) -> list:
    return next(row for row in export_rows() if row[0] == member.member_no)


def snapshot() -> dict[str, list]:
    """Everything an evaluation writes, keyed by member number (ids differ between runs)."""
    members = Member.objects.order_by("member_no").values_list(
        "member_no",
        "status",
        "tier_state__current_tier__code",
        "tier_state__tier_year_start",
        "tier_state__tier_year_end",
        "tier_state__downgrade_warned_on",
        "tier_state__earned_tier__code",
        "tier_state__earned_until",
        "evaluation__evaluated_on",
        "evaluation__policy__version",
        "evaluation__qualified_tier__code",
        "evaluation__spend_fen",
        "evaluation__frequency",
        "evaluation__tenure_years",
        "evaluation__contribution",
    )
    changes = TierChange.objects.order_by("member__member_no", "effective_on", "id").values_list(
        "member__member_no",
        "from_tier__code",
        "to_tier__code",
        "cause",
        "policy__version",
        "actor",
        "effective_on",
        "spend_fen",
        "frequency",
        "tenure_years",
        "contribution",
        "note",
    )
    warnings = DowngradeWarning.objects.order_by("member__member_no", "warned_on").values_list(
        "member__member_no",
        "tier__code",
        "qualified_tier__code",
        "policy__version",
        "warned_on",
        "tier_year_start",
        "tier_year_end",
        "downgrade_not_before",
        "gaps",
    )
    return {"members": list(members), "changes": list(changes), "warnings": list(warnings)}


def then_wiped(run: Callable[[], object]) -> object:
    """Run, keep the result, and delete every member and everything about them, so several runs
    start from the same data. (Not a rolled-back transaction: each range of the recompute is a
    durable transaction of its own, refused inside another one.)"""
    result = run()
    for model in (
        Notification,
        DowngradeWarning,
        TierChange,
        TierOverride,
        MemberEvaluation,
        MemberTier,
        Referral,
        ActivityParticipation,
        BlacklistEntry,
    ):
        model.objects.all().delete()
    Transaction.objects.filter(refund_of__isnull=False).delete()
    Transaction.objects.all().delete()
    Member.objects.all().delete()
    return result


# --- Figures stored by the recompute ----------------------------------------------------------


def test_the_recompute_counts_purchases_by_their_local_date_at_the_window_edges():
    member = MemberFactory()
    for amount_fen, occurred_at in [
        (1, datetime.datetime(2025, 6, 30, 23, 59, tzinfo=LOCAL)),
        (10, datetime.datetime(2025, 7, 1, 0, 0, tzinfo=LOCAL)),
        (100, datetime.datetime(2026, 6, 30, 23, 59, tzinfo=LOCAL)),
        (1_000, datetime.datetime(2026, 7, 1, 0, 0, tzinfo=LOCAL)),
        (10_000, datetime.datetime(2026, 6, 30, 16, 30, tzinfo=ZoneInfo("UTC"))),
    ]:
        PurchaseFactory(member=member, amount_fen=amount_fen, occurred_at=occurred_at)

    recompute(day(2026, 6, 30))

    member = refreshed(member)
    assert (member.evaluation.spend_fen, member.evaluation.frequency) == (110, 2)
    assert member.evaluation.spend == Decimal("1.10")


def test_a_thousand_purchases_of_one_fen_and_ten_fen_are_stored_and_exported_exactly():
    member = MemberFactory(member_no="CENTS")
    at = local_noon(day(2026, 3, 1))
    Transaction.objects.bulk_create(
        Transaction(
            external_id=f"C{i}",
            member=member,
            kind=Transaction.Kind.PURCHASE,
            amount_fen=1 if i % 2 else 10,
            occurred_at=at,
            occurred_on=at.date(),
        )
        for i in range(2_000)
    )

    recompute(day(2026, 6, 30))

    member = refreshed(member)
    assert member.evaluation.spend == Decimal("110.00")
    assert member.evaluation.frequency == 2_000
    assert member.current_tier.code == "gold"  # frequency ≥ 12
    assert exported(member)[4] == Decimal("110.00")


def test_refund_after_the_as_of_date_is_ignored():
    member = MemberFactory(joined_on=day(2026, 1, 1))
    purchase = PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2026, 6, 1))
    RefundFactory(refund_of=purchase, amount_fen=GOLD_FEN, day=day(2026, 7, 1))

    recompute(day(2026, 6, 30))
    assert (refreshed(member).evaluation.spend_fen, refreshed(member).evaluation.frequency) == (
        GOLD_FEN,
        1,
    )
    assert tier_of(member) == "gold"

    recompute(day(2026, 7, 1))
    member = refreshed(member)
    assert (member.evaluation.spend_fen, member.evaluation.frequency) == (0, 0)
    assert member.evaluation.qualified_tier.code == "regular"
    assert member.current_tier.code == "gold"  # a downgrade needs a warning first


def test_a_partial_refund_keeps_the_purchase_in_the_frequency_and_a_full_one_does_not():
    partial, full = MemberFactory.create_batch(2, joined_on=day(2026, 1, 1))
    for member, refunded_fen in [(partial, 1), (full, 10_000)]:
        purchase = PurchaseFactory(member=member, amount_fen=10_000, day=day(2026, 3, 1))
        RefundFactory(refund_of=purchase, amount_fen=refunded_fen, day=day(2026, 3, 2))

    recompute(day(2026, 6, 30))

    assert (refreshed(partial).evaluation.spend_fen, refreshed(partial).evaluation.frequency) == (
        9_999,
        1,
    )
    assert (refreshed(full).evaluation.spend_fen, refreshed(full).evaluation.frequency) == (0, 0)


def test_referrals_and_activities_in_the_window_give_the_referrer_contribution_points():
    referrer = MemberFactory(joined_on=day(2026, 1, 1))
    referred = [
        ReferralFactory(
            referrer=referrer,
            referred=MemberFactory(joined_on=on),
            occurred_on=on,
        ).referred
        for on in [day(2025, 6, 30)]
        + [day(2025, 7, 1) + datetime.timedelta(days=i) for i in range(9)]
    ]
    ActivityFactory(member=referrer, day=day(2025, 6, 30))
    ActivityFactory.create_batch(2, member=referrer, day=day(2026, 6, 30))
    ActivityFactory(member=referrer, day=day(2026, 7, 1))

    recompute(day(2026, 6, 30))

    referrer = refreshed(referrer)
    assert referrer.evaluation.contribution == 9 * 200 + 2 * 100
    assert referrer.current_tier.code == "gold"  # contribution ≥ 2,000
    assert {refreshed(m).evaluation.contribution for m in referred} == {0}


def test_contribution_uses_the_point_values_of_the_policy_in_force():
    publish_policy(2, day(2026, 6, 1), referral_points=1_000, activity_points=1)
    member = MemberFactory(joined_on=day(2026, 1, 1))
    ReferralFactory(referrer=member, occurred_on=day(2026, 2, 1))
    ReferralFactory(referrer=member, occurred_on=day(2026, 2, 2))
    ActivityFactory.create_batch(3, member=member, day=day(2026, 2, 3))

    recompute(day(2026, 5, 31))
    assert refreshed(member).evaluation.contribution == 2 * 200 + 3 * 100

    recompute(day(2026, 6, 1))
    assert refreshed(member).evaluation.contribution == 2 * 1_000 + 3 * 1
    assert tier_of(member) == "gold"


@pytest.mark.parametrize(
    ("joined_on", "as_of", "tenure"),
    [
        (day(2021, 6, 30), day(2026, 6, 30), 5),
        (day(2021, 7, 1), day(2026, 6, 30), 4),
        (day(2026, 6, 30), day(2026, 6, 30), 0),
        (day(2024, 2, 29), day(2025, 2, 27), 0),
        (day(2024, 2, 29), day(2025, 2, 28), 1),
    ],
)
def test_tenure_is_the_completed_years_from_joining_to_the_as_of_date(joined_on, as_of, tenure):
    member = MemberFactory(joined_on=joined_on)

    recompute(as_of)

    assert refreshed(member).evaluation.tenure_years == tenure
    assert tier_of(member) == ("silver" if tenure >= 1 else "regular")


def test_an_edit_of_the_policy_or_a_tier_in_the_database_reaches_the_next_evaluation():
    # Each process keeps the rules it last built and checks them against the stored rows
    # before every evaluation: whatever changed the rows, the next evaluation uses them.
    member = MemberFactory(joined_on=day(2026, 1, 1))
    ReferralFactory.create_batch(2, referrer=member, occurred_on=day(2026, 2, 1))
    as_of = day(2026, 3, 1)
    member_evaluate(member=member, as_of=as_of)
    assert refreshed(member).evaluation.contribution == 2 * 200

    TierPolicy.objects.filter(version=1).update(referral_points=1_000)
    Tier.objects.filter(code="gold").update(name_en="Golden")
    member_evaluate(member=member, as_of=as_of)

    assert refreshed(member).evaluation.contribution == 2 * 1_000
    assert tier_of(member) == "gold"
    assert "Golden" in {tier.name_en for tier in _context(as_of).tier_by_id.values()}


# --- Policy versions --------------------------------------------------------------------------


def test_an_evaluation_uses_the_policy_version_in_force_on_its_date():
    # Version 2 counts the calendar year, from 2026-07-01; the rules are the same.
    publish_policy(2, day(2026, 7, 1), window_kind=engine.WindowKind.CALENDAR_YEAR.value)
    last_year = MemberFactory(joined_on=day(2025, 10, 1))
    PurchaseFactory(
        member=last_year,
        amount_fen=GOLD_FEN,
        occurred_at=datetime.datetime(2025, 12, 31, 23, 59, tzinfo=LOCAL),
    )
    this_year = MemberFactory(joined_on=day(2025, 10, 1))
    PurchaseFactory(
        member=this_year,
        amount_fen=GOLD_FEN,
        occurred_at=datetime.datetime(2026, 1, 1, 0, 0, tzinfo=LOCAL),
    )
    newcomer = MemberFactory(joined_on=day(2025, 10, 1))
    PurchaseFactory(member=newcomer, amount_fen=GOLD_FEN, day=day(2026, 7, 1))

    before = recompute(day(2026, 6, 30))

    assert before.policy_version == 1
    assert {refreshed(m).evaluation.policy.version for m in (last_year, this_year, newcomer)} == {1}
    assert [refreshed(m).evaluation.spend_fen for m in (last_year, this_year, newcomer)] == [
        GOLD_FEN,
        GOLD_FEN,
        0,
    ]
    assert history(newcomer) == [(None, "regular", Cause.QUALIFIED, 1, day(2026, 6, 30))]

    after = recompute(day(2026, 7, 1))

    assert after.policy_version == 2
    assert {refreshed(m).evaluation.policy.version for m in (last_year, this_year, newcomer)} == {2}
    # The calendar year 2026 no longer holds the purchase of 2025-12-31 23:59 local time.
    assert refreshed(last_year).evaluation.spend_fen == 0
    assert refreshed(last_year).evaluation.qualified_tier.code == "regular"
    assert refreshed(last_year).current_tier.code == "gold"
    assert refreshed(this_year).evaluation.spend_fen == GOLD_FEN
    assert history(newcomer)[-1] == ("regular", "gold", Cause.UPGRADE, 2, day(2026, 7, 1))


# --- Who is evaluated -------------------------------------------------------------------------


def test_experience_and_blacklisted_members_are_not_evaluated_and_hold_no_tier():
    experience = MemberFactory(status=Member.Status.EXPERIENCE)
    blacklisted = MemberFactory(status=Member.Status.BLACKLISTED)
    for member in (experience, blacklisted):
        PurchaseFactory(member=member, amount_fen=GOLD_FEN * 10, day=day(2026, 3, 1))

    summary = recompute(day(2026, 6, 30))

    assert (summary.evaluated, summary.not_taking_part) == (0, 2)
    for member in (experience, blacklisted):
        member = refreshed(member)
        assert member.current_tier is None and member.last_evaluation is None
        assert exported(member)[2:] == ["", "", "", "", "", ""]
    assert not TierChange.objects.exists()


def test_a_member_who_held_a_tier_and_was_blacklisted_loses_it_with_one_history_row():
    member, _ = gold_member(member_no="B1")
    make_gold(member)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLACKLISTED)

    summary = recompute(day(2025, 6, 1))

    assert summary.events["revoked"] == 1
    member = refreshed(member)
    assert member.current_tier is None
    assert (member.tier_year_start, member.tier_year_end, member.downgrade_warned_on) == (
        None,
        None,
        None,
    )
    revoked = TierChange.objects.get(member=member, cause=Cause.REVOKED)
    assert (revoked.from_tier.code, revoked.to_tier, revoked.effective_on) == (
        "gold",
        None,
        day(2025, 6, 1),
    )
    assert revoked.policy.version == 1 and revoked.note == Member.Status.BLACKLISTED
    assert exported(member) == ["B1", "blacklisted", "", "", "", "", "", ""]

    again = recompute(day(2025, 6, 2))

    assert not again.events
    assert TierChange.objects.filter(member=member).count() == 3  # qualified, upgrade, revoked


def test_members_who_joined_after_the_as_of_date_are_not_evaluated():
    member = MemberFactory(joined_on=day(2026, 7, 1))
    PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2026, 6, 1))

    summary = recompute(day(2026, 6, 30))

    assert (summary.evaluated, summary.not_yet_joined) == (0, 1)
    assert refreshed(member).last_evaluation is None and tier_of(member) is None
    assert member_evaluate(member=member, as_of=day(2026, 6, 30)) == Event.NONE
    assert refreshed(member).last_evaluation is None

    recompute(day(2026, 7, 1))

    assert tier_of(member) == "gold"


# --- Lifecycle through the recompute, several dates in order ----------------------------------


def test_the_first_evaluation_gives_the_qualified_tier_and_starts_the_tier_year():
    member = MemberFactory(joined_on=day(2024, 1, 1))

    summary = recompute(day(2026, 6, 30))

    assert summary.events == {Event.QUALIFIED: 1}
    member = refreshed(member)
    assert (member.current_tier.code, member.evaluation.qualified_tier.code) == ("silver", "silver")
    assert (member.tier_year_start, member.tier_year_end) == (day(2026, 6, 30), day(2027, 6, 30))
    assert history(member) == [(None, "silver", Cause.QUALIFIED, 1, day(2026, 6, 30))]


@pytest.mark.postgres_only
def test_a_first_evaluation_of_many_members_leaves_their_history_analysed(monkeypatch):
    # Unanalysed, a million rows of history made one member's look like thousands to the
    # planner, and the member page read it with parallel workers.
    monkeypatch.setattr(services, "_ANALYZE_FROM_PAGES", 1)
    MemberFactory.create_batch(25, joined_on=day(2024, 1, 1))
    with connection.cursor() as cursor:
        # No pages (earlier tests' rolled-back rows leave some), in this test's transaction.
        cursor.execute(f"TRUNCATE {TierChange._meta.db_table}")
    analyze(TierChange)

    recompute(day(2026, 6, 30))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [TierChange._meta.db_table]
        )
        assert cursor.fetchone()[0] == 25


def test_an_upgrade_applies_on_the_day_of_the_purchase_and_starts_a_new_tier_year():
    member = MemberFactory(joined_on=day(2024, 1, 1))
    recompute(day(2026, 5, 1))
    PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2026, 5, 20))

    assert recompute(day(2026, 5, 19)).upgrades == 0
    assert tier_of(member) == "silver"
    assert recompute(day(2026, 5, 20)).upgrades == 1

    member = refreshed(member)
    assert member.current_tier.code == "gold"
    assert (member.tier_year_start, member.tier_year_end) == (day(2026, 5, 20), day(2027, 5, 20))
    change = TierChange.objects.get(member=member, cause=Cause.UPGRADE)
    assert (change.from_tier.code, change.to_tier.code, change.effective_on) == (
        "silver",
        "gold",
        day(2026, 5, 20),
    )
    assert (change.spend_fen, change.frequency, change.tenure_years, change.contribution) == (
        GOLD_FEN,
        1,
        2,
        0,
    )


def test_a_member_below_their_tier_is_not_warned_before_the_last_thirty_days_of_the_year():
    member, purchase = gold_member()
    make_gold(member)
    RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 1, 20))

    for as_of in (day(2026, 1, 20), day(2026, 1, 29)):
        assert recompute(as_of).events == {}

    member = refreshed(member)
    assert member.evaluation.qualified_tier.code == "silver" and member.current_tier.code == "gold"
    assert member.downgrade_warned_on is None
    assert not DowngradeWarning.objects.exists()


def test_an_early_warning_says_what_is_missing_and_the_downgrade_comes_at_the_year_end():
    member, purchase = gold_member()
    make_gold(member)
    RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 1, 20))

    assert recompute(day(2026, 1, 30)).events == {Event.WARNING: 1}  # year end − 30 days

    warning = DowngradeWarning.objects.get(member=member)
    assert (warning.tier.code, warning.qualified_tier.code, warning.policy.version) == (
        "gold",
        "silver",
        1,
    )
    assert (warning.warned_on, warning.tier_year_start, warning.tier_year_end) == (
        day(2026, 1, 30),
        GOLD_PURCHASE_DAY,
        YEAR_END,
    )
    assert warning.downgrade_not_before == YEAR_END  # max(year end, warned + 30 days)
    # What counts on the deadline: the Gold purchase of 2025-03-01 has left the window of
    # 2026-03-01 (after 2025-03-01), so ¥0.01 more would not keep Gold; ¥20,000 would.
    assert warning.gaps == {
        "kind": "any",
        "held": False,
        "children": [
            {
                "kind": "threshold",
                "held": False,
                "metric": "spend",
                "minimum": "20000.00",
                "value": "0.00",
                "shortfall": "20000.00",
            },
            {
                "kind": "threshold",
                "held": False,
                "metric": "frequency",
                "minimum": "12",
                "value": "0",
                "shortfall": "12",
            },
            {
                "kind": "threshold",
                "held": False,
                "metric": "contribution",
                "minimum": "2000",
                "value": "0",
                "shortfall": "2000",
            },
        ],
    }
    assert refreshed(member).downgrade_warned_on == day(2026, 1, 30)

    for as_of in (day(2026, 2, 15), day(2026, 2, 28)):
        assert recompute(as_of).events == {}
        assert tier_of(member) == "gold"

    assert recompute(YEAR_END).downgrades == 1

    member = refreshed(member)
    assert member.current_tier.code == "silver"  # tenure 1 since 2026-02-01
    assert (member.tier_year_start, member.downgrade_warned_on) == (YEAR_END, None)
    assert DowngradeWarning.objects.filter(member=member).count() == 1


def _spend_gap(member: Member) -> tuple[str, str]:
    """The spend threshold and shortfall the member's warning states."""
    gaps = DowngradeWarning.objects.get(member=member).gaps["children"]
    spend = next(gap for gap in gaps if gap["metric"] == "spend")
    return spend["minimum"], spend["shortfall"]


def test_a_warning_counts_only_purchases_still_in_the_window_on_the_deadline():
    """domain.md: warned "with exactly what they still need". ¥12,000 of 2025-02-15 counts on
    the warning day (2026-01-30) but has left the window by the deadline (2026-03-01)."""
    member, purchase = gold_member()
    PurchaseFactory(member=member, amount_fen=1_200_000, day=day(2025, 2, 15))
    PurchaseFactory(member=member, amount_fen=300_000, day=day(2025, 12, 1))
    make_gold(member)
    RefundFactory(refund_of=purchase, amount_fen=GOLD_FEN, day=day(2025, 4, 1))

    assert recompute(day(2026, 1, 30)).events == {Event.WARNING: 1}  # ¥15,000 counts today

    assert _spend_gap(member) == ("20000.00", "17000.00")  # not 5,000: only ¥3,000 will count
    # Doing exactly what it says keeps Gold.
    PurchaseFactory(member=member, amount_fen=1_700_000, day=day(2026, 2, 10))
    recompute_each(day(2026, 2, 10), YEAR_END)
    assert tier_of(member) == "gold"


def test_a_warning_states_what_the_version_in_force_on_the_deadline_asks():
    """A version published to take effect before the deadline decides the downgrade: the
    warning says what it asks, not what the version that warned asks."""
    member, purchase = gold_member()
    make_gold(member)
    PurchaseFactory(member=member, amount_fen=1_000_000, day=day(2025, 12, 1))
    RefundFactory(refund_of=purchase, amount_fen=GOLD_FEN, day=day(2025, 4, 1))
    higher = copy.deepcopy(TierPolicy.objects.get(version=1).rules)
    higher["gold"]["any"][0]["min"] = "25000"
    publish_policy(2, day(2026, 2, 15), rules=higher)

    assert recompute(day(2026, 1, 30)).events == {Event.WARNING: 1}

    assert _spend_gap(member) == ("25000.00", "15000.00")
    PurchaseFactory(member=member, amount_fen=1_500_000, day=day(2026, 2, 10))
    recompute_each(day(2026, 2, 10), day(2026, 2, 15), YEAR_END)
    assert tier_of(member) == "gold"


def test_a_late_warning_delays_the_downgrade_to_thirty_days_after_it():
    member, _ = gold_member()
    make_gold(member)

    # Not evaluated for a while: the tier year ended on 2026-03-01 without a warning.
    assert recompute(day(2026, 4, 10)).events == {Event.WARNING: 1}

    warning = DowngradeWarning.objects.get(member=member)
    assert (warning.tier_year_end, warning.downgrade_not_before) == (YEAR_END, day(2026, 5, 10))
    assert warning.qualified_tier.code == "silver"

    for as_of in (day(2026, 4, 11), day(2026, 5, 9)):
        assert recompute(as_of).events == {}
        assert tier_of(member) == "gold"
    assert DowngradeWarning.objects.filter(member=member).count() == 1

    assert recompute(day(2026, 5, 10)).downgrades == 1

    assert tier_of(member) == "silver"
    assert history(member)[-1] == ("gold", "silver", Cause.DOWNGRADE, 1, day(2026, 5, 10))


def test_a_later_policy_with_less_notice_keeps_the_day_the_warning_gave():
    """domain.md: a late warning "never shortens the notice". A version published after the
    warning with 5 days' notice does not bring the downgrade forward."""
    member, _ = gold_member()
    make_gold(member)
    assert recompute(day(2026, 3, 10)).events == {Event.WARNING: 1}
    assert DowngradeWarning.objects.get(member=member).downgrade_not_before == day(2026, 4, 9)
    publish_policy(2, day(2026, 3, 15), notice_days=5)

    for as_of in (day(2026, 3, 20), day(2026, 4, 8)):
        assert recompute(as_of).downgrades == 0
        member_evaluate(member=member, as_of=as_of)
        assert tier_of(member) == "gold"
    assert recompute(day(2026, 4, 9)).downgrades == 1
    assert history(member)[-1] == ("gold", "silver", Cause.DOWNGRADE, 2, day(2026, 4, 9))


def test_a_one_tier_at_a_time_warning_names_the_tier_the_downgrade_gives():
    publish_policy(2, day(2025, 1, 1), downgrade_step=engine.DowngradeStep.ONE_TIER)
    member = MemberFactory(joined_on=GOLD_PURCHASE_DAY, phone="13800000000")
    purchase = PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=GOLD_PURCHASE_DAY)
    recompute(GOLD_PURCHASE_DAY)
    RefundFactory(refund_of=purchase, amount_fen=GOLD_FEN, day=day(2026, 1, 20))  # Regular now

    recompute(day(2026, 1, 30))

    message = Notification.objects.get(
        member=member, kind=Kind.DOWNGRADE_WARNING, channel=Channel.IN_APP
    )
    assert "调整为银卡会员" in message.body and "普通会员" not in message.body
    assert recompute(YEAR_END).downgrades == 1
    assert tier_of(member) == "silver"


def test_a_warning_names_the_floor_of_an_override_below_the_tier_as_the_tier_it_gives():
    member = MemberFactory(joined_on=GOLD_PURCHASE_DAY, phone="13800000000")
    purchase = PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=GOLD_PURCHASE_DAY)
    recompute(GOLD_PURCHASE_DAY)
    RefundFactory(refund_of=purchase, amount_fen=GOLD_FEN, day=day(2026, 1, 20))  # Regular now
    silver = Tier.objects.get(code="silver")
    tier_override_set(
        member=member,
        tier=silver,
        reason="老客户",
        ends_on=None,
        actor=None,
        today=day(2026, 1, 25),
    )

    recompute(day(2026, 1, 30))

    message = Notification.objects.get(
        member=member, kind=Kind.DOWNGRADE_WARNING, channel=Channel.IN_APP
    )
    assert "调整为银卡会员" in message.body
    assert warning_to_tier(DowngradeWarning.objects.get(member=member)) == silver
    assert recompute(YEAR_END).downgrades == 1
    assert tier_of(member) == "silver"


def test_a_warning_in_a_tier_year_an_override_extended_reaches_the_member_again():
    member = below_gold_from_january(phone="13800000000")
    recompute(day(2026, 1, 30))  # warned: the year ends 2026-03-01
    gold = Tier.objects.get(code="gold")
    tier_override_set(
        member=member, tier=gold, reason="门店活动", ends_on=day(2026, 6, 30), actor=None,
        today=day(2026, 2, 1),
    )  # fmt: skip
    assert refreshed(member).tier_state.tier_year_end == day(2026, 6, 30)

    recompute(day(2026, 6, 1))

    warning = DowngradeWarning.objects.get(member=member)
    assert (warning.warned_on, warning.tier_year_end) == (day(2026, 6, 1), day(2026, 6, 30))
    told = Notification.objects.filter(
        member=member, kind=Kind.DOWNGRADE_WARNING, channel=Channel.IN_APP
    ).order_by("pk")
    assert [m.event_on for m in told] == [day(2026, 1, 30), day(2026, 6, 1)]
    assert "2026-06-30" in told.last().body
    assert warning.notified_at == told.last().sent_at


def below_gold_from_january(**kwargs) -> Member:
    """Gold for the tier year 2025-03-01 … 2026-03-01, then 0.01 below it from 2026-01-20."""
    member, purchase = gold_member(**kwargs)
    make_gold(member)
    RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 1, 20))
    return member


def test_a_warning_keeps_when_its_in_app_message_was_delivered():
    member = below_gold_from_january(phone="13800000000", email="m@example.com")

    recompute(day(2026, 1, 30))

    warning = DowngradeWarning.objects.get(member=member)
    told = Notification.objects.filter(member=member, kind=Kind.DOWNGRADE_WARNING)
    in_app = told.get(channel=Channel.IN_APP)
    assert warning.notified_at is not None and warning.notified_at == in_app.sent_at
    # E-mail and SMS go out after the commit, from the delivery task: notified_at is not theirs.
    assert sorted(told.exclude(pk=in_app.pk).values_list("channel", "status")) == [
        ("email", "pending"),
        ("sms", "pending"),
    ]


def test_a_warning_whose_message_could_not_be_written_is_not_marked_notified():
    NotificationTemplate.objects.filter(kind=Kind.DOWNGRADE_WARNING).delete()
    member = below_gold_from_january()

    assert member_evaluate(member=member, as_of=day(2026, 1, 30)) == Event.WARNING

    assert DowngradeWarning.objects.get(member=member).notified_at is None
    assert not Notification.objects.filter(member=member, kind=Kind.DOWNGRADE_WARNING).exists()


def test_the_migration_fills_in_earlier_warnings_from_their_in_app_message():
    migration = importlib.import_module("tiers.migrations.0007_downgrade_warning_notified_at")
    told = below_gold_from_january()
    untold = below_gold_from_january()
    recompute(day(2026, 1, 30))
    message = Notification.objects.get(member=told, kind=Kind.DOWNGRADE_WARNING, channel="in_app")
    # As the evaluation left warnings before it set notified_at, with the event key of the
    # time (without the year's end); one message never written.
    DowngradeWarning.objects.update(notified_at=None)
    Notification.objects.filter(member=told, kind=Kind.DOWNGRADE_WARNING).update(
        dedupe_key=f"warning:gold:{GOLD_PURCHASE_DAY}"
    )
    Notification.objects.filter(member=untold, kind=Kind.DOWNGRADE_WARNING).delete()

    migration.backfill(django_apps, None)

    notified = dict(DowngradeWarning.objects.values_list("member_id", "notified_at"))
    assert notified == {told.pk: message.sent_at, untold.pk: None}


def test_a_warning_on_the_last_day_of_the_year_gives_the_full_thirty_days():
    member, _ = gold_member()
    make_gold(member)

    for as_of in (day(2026, 2, 28), YEAR_END, day(2026, 3, 30), day(2026, 3, 31)):
        recompute(as_of)
        held = tier_of(member)
        assert held == ("silver" if as_of == day(2026, 3, 31) else "gold"), as_of

    warning = DowngradeWarning.objects.get(member=member)
    assert (warning.warned_on, warning.downgrade_not_before) == (YEAR_END, day(2026, 3, 31))


def test_an_early_warning_under_a_longer_lead_still_waits_for_the_year_end():
    # Warned 60 days ahead: 30 days' notice is served long before the tier year ends.
    publish_policy(2, day(2025, 1, 1), warning_lead_days=60)
    member, purchase = gold_member()
    make_gold(member)
    RefundFactory(refund_of=purchase, amount_fen=1, day=day(2025, 12, 20))

    assert recompute(day(2025, 12, 30)).events == {}
    assert recompute(day(2025, 12, 31)).events == {Event.WARNING: 1}  # year end − 60 days

    warning = DowngradeWarning.objects.get(member=member)
    assert warning.downgrade_not_before == YEAR_END
    assert warning.policy.version == 2

    for as_of in (day(2026, 1, 30), day(2026, 2, 28)):
        assert recompute(as_of).events == {}
        assert tier_of(member) == "gold"

    assert recompute(YEAR_END).downgrades == 1
    assert history(member)[-1] == ("gold", "silver", Cause.DOWNGRADE, 2, YEAR_END)


def test_a_member_is_warned_at_most_once_in_a_tier_year():
    member, purchase = gold_member()
    make_gold(member)
    RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 1, 20))
    recompute(day(2026, 1, 30))
    # Back above Gold for a few days, then below again: no second warning.
    recovery = PurchaseFactory(member=member, amount_fen=100, day=day(2026, 2, 5))
    RefundFactory(refund_of=recovery, amount_fen=100, day=day(2026, 2, 10))

    events = [recompute(as_of).events for as_of in (day(2026, 2, 5), day(2026, 2, 10))]

    assert events == [{}, {}]
    assert DowngradeWarning.objects.filter(member=member).count() == 1
    assert refreshed(member).downgrade_warned_on == day(2026, 1, 30)
    assert recompute(YEAR_END).downgrades == 1


def test_a_member_who_still_qualifies_at_the_year_end_keeps_the_tier_for_another_year():
    member, _ = gold_member()
    make_gold(member)
    PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2026, 2, 15))

    assert recompute(day(2026, 2, 1)).events == {}
    assert recompute(YEAR_END).events == {Event.RETAINED: 1}

    member = refreshed(member)
    assert member.current_tier.code == "gold"
    assert (member.tier_year_start, member.tier_year_end) == (YEAR_END, day(2027, 3, 1))
    assert [cause for _, _, cause, _, _ in history(member)] == [Cause.QUALIFIED, Cause.UPGRADE]
    assert not DowngradeWarning.objects.exists()


def test_a_retained_tier_year_moves_on_by_whole_years_after_a_long_gap():
    member, _ = gold_member()
    make_gold(member)
    PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2028, 4, 1))

    assert recompute(day(2028, 5, 1)).events == {Event.RETAINED: 1}

    member = refreshed(member)
    assert (member.tier_year_start, member.tier_year_end) == (day(2028, 3, 1), day(2029, 3, 1))


def test_a_warned_member_who_recovers_keeps_the_tier_and_the_warning_is_cleared():
    member, purchase = gold_member()
    make_gold(member)
    RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 1, 20))
    recompute(day(2026, 1, 30))
    PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2026, 2, 10))

    assert recompute(day(2026, 2, 10)).events == {}
    assert recompute(YEAR_END).events == {Event.RETAINED: 1}

    member = refreshed(member)
    assert (member.current_tier.code, member.downgrade_warned_on) == ("gold", None)
    assert member.tier_year_start == YEAR_END
    assert DowngradeWarning.objects.filter(member=member).count() == 1


def test_an_upgrade_clears_a_pending_warning():
    member, purchase = gold_member()
    make_gold(member)
    RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 1, 20))
    recompute(day(2026, 1, 30))
    # 18 more purchases: spend ≥ 50,000 and frequency ≥ 18 is Platinum.
    PurchaseFactory.create_batch(18, member=member, amount_fen=300_000, day=day(2026, 2, 3))

    assert recompute(day(2026, 2, 3)).upgrades == 1

    member = refreshed(member)
    assert (member.current_tier.code, member.downgrade_warned_on) == ("platinum", None)
    assert (member.tier_year_start, member.tier_year_end) == (day(2026, 2, 3), day(2027, 2, 3))


def test_every_change_of_current_tier_writes_exactly_one_history_row_with_the_numbers():
    member, purchase = gold_member()
    ReferralFactory(referrer=member, occurred_on=day(2025, 2, 20))
    ActivityFactory(member=member, day=day(2025, 2, 21))
    RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 1, 20))

    for as_of in (
        JOINED,
        day(2025, 2, 21),
        GOLD_PURCHASE_DAY,
        day(2025, 9, 1),
        day(2026, 1, 30),
        day(2026, 2, 15),
        YEAR_END,
        day(2026, 6, 30),
    ):
        recompute(as_of)
        recompute(as_of)  # a rerun of the same date writes nothing more

    rows = TierChange.objects.filter(member=member).order_by("effective_on")
    assert [
        (
            r.from_tier and r.from_tier.code,
            r.to_tier.code,
            r.cause,
            r.policy.version,
            r.actor,
            r.effective_on,
            r.spend_fen,
            r.frequency,
            r.tenure_years,
            r.contribution,
        )
        for r in rows
    ] == [
        (None, "regular", Cause.QUALIFIED, 1, None, JOINED, 0, 0, 0, 0),
        ("regular", "gold", Cause.UPGRADE, 1, None, GOLD_PURCHASE_DAY, GOLD_FEN, 1, 0, 300),
        ("gold", "silver", Cause.DOWNGRADE, 1, None, YEAR_END, 0, 0, 1, 0),
    ]
    assert DowngradeWarning.objects.filter(member=member).count() == 1


# --- Chunks, reruns and the single evaluation -------------------------------------------------

SCENARIO_DATES = (
    day(2025, 2, 1),
    day(2025, 3, 1),
    day(2026, 1, 30),
    day(2026, 3, 1),
    day(2026, 3, 31),
    day(2026, 5, 1),
    day(2026, 6, 30),
)
BLACKLISTED_BEFORE = day(2026, 3, 1)


def build_scenario() -> None:
    """Ten members whose lives cover every event; one referrer's referred members sit in other
    chunks, and the member numbers follow the ids so chunks cut the same way on each run."""
    early, _ = gold_member(member_no="S01")
    RefundFactory(refund_of=early.transactions.get(), amount_fen=1, day=day(2026, 1, 20))
    gold_member(member_no="S02")  # warned late on 2026-03-01, downgraded on 2026-03-31
    experience = MemberFactory(member_no="S03", status=Member.Status.EXPERIENCE)
    PurchaseFactory(member=experience, amount_fen=GOLD_FEN * 10, day=day(2025, 3, 1))
    gold_member(member_no="S04")  # blacklisted before 2026-03-01
    referrer = MemberFactory(member_no="S05", joined_on=JOINED)
    ActivityFactory.create_batch(16, member=referrer, day=day(2026, 1, 10))
    for member_no, joined_on in [
        ("S06", day(2026, 1, 15)),
        ("S07", day(2026, 1, 16)),
        ("S08", day(2026, 5, 1)),
    ]:
        referred = MemberFactory(member_no=member_no, joined_on=joined_on)
        ReferralFactory(referrer=referrer, referred=referred, occurred_on=joined_on)
    retained, _ = gold_member(member_no="S09")
    PurchaseFactory(member=retained, amount_fen=GOLD_FEN, day=day(2026, 2, 15))
    MemberFactory(member_no="S10", joined_on=day(2026, 7, 1))


def live_through_scenario(evaluate: Callable[[datetime.date], None]) -> dict[str, list]:
    build_scenario()
    for as_of in SCENARIO_DATES:
        if as_of == BLACKLISTED_BEFORE:
            Member.objects.filter(member_no="S04").update(status=Member.Status.BLACKLISTED)
        evaluate(as_of)
    return snapshot()


def recompute_scenario(chunk_size: int | None) -> dict[str, list]:
    return then_wiped(lambda: live_through_scenario(lambda as_of: recompute(as_of, chunk_size)))


def test_the_scenario_covers_every_kind_of_event():
    causes = {change[3] for change in recompute_scenario(None)["changes"]}

    assert causes == {Cause.QUALIFIED, Cause.UPGRADE, Cause.DOWNGRADE, Cause.REVOKED}


@pytest.mark.parametrize("chunk_size", [1, 2, 3])
def test_the_recompute_gives_the_same_results_whatever_the_chunk_size(chunk_size):
    assert recompute_scenario(chunk_size) == recompute_scenario(None)


def test_rerunning_the_same_date_changes_nothing():
    def evaluate_twice(as_of: datetime.date) -> None:
        recompute(as_of, chunk_size=3)
        before = snapshot()
        rerun = recompute(as_of, chunk_size=3)
        assert not rerun.events, as_of
        assert snapshot() == before, as_of

    live_through_scenario(evaluate_twice)


def test_member_evaluate_gives_each_member_the_same_state_as_the_recompute():
    def evaluate_one_by_one(as_of: datetime.date) -> None:
        for member in Member.objects.order_by("id"):
            member_evaluate(member=member, as_of=as_of)

    by_member = then_wiped(lambda: live_through_scenario(evaluate_one_by_one))

    assert by_member == recompute_scenario(None)


def build_population() -> None:
    """Sixty members joined on days around 29 February, with purchases near the Silver, Gold
    and Platinum spend thresholds, refunds, referrals and activities, spread over two years."""
    rng = random.Random(7)
    joined_days = [day(2024, 2, 28), day(2024, 2, 29), day(2024, 3, 1), day(2023, 2, 28)]
    for n in range(60):
        member = MemberFactory(member_no=f"P{n:02d}", joined_on=rng.choice(joined_days))
        for _ in range(rng.randrange(4)):
            bought = PurchaseFactory(
                member=member,
                amount_fen=rng.choice([GOLD_FEN - 1, GOLD_FEN, 500_000, 5_000_000, 12_345]),
                day=day(2024, 3, 1) + datetime.timedelta(days=rng.randrange(700)),
            )
            if rng.random() < 0.2:
                RefundFactory(refund_of=bought, amount_fen=1, day=bought.occurred_on)
        if rng.random() < 0.2:
            ActivityFactory.create_batch(3, member=member, day=day(2025, 1, 10))
    # Lifted to Platinum by an override to 2025-03-01 above the Gold year they had earned to
    # 2025-10-01 (as tier_override_set leaves them): back to Gold for the rest of that year.
    lifted = MemberFactory(member_no="P60", joined_on=day(2024, 3, 1))
    tiers = {tier.code: tier for tier in Tier.objects.all()}
    TierOverride.objects.create(
        member=lifted, tier=tiers["platinum"], reason="r", starts_on=day(2025, 2, 1),
        ends_on=day(2025, 3, 1),
    )  # fmt: skip
    MemberTier.objects.create(
        member=lifted, current_tier=tiers["platinum"], tier_year_start=day(2025, 2, 1),
        tier_year_end=day(2025, 3, 1), earned_tier=tiers["gold"], earned_until=day(2025, 10, 1),
    )  # fmt: skip


def test_the_recompute_writes_entering_and_unchanged_members_in_sql_as_the_engine_would():
    dates = [day(2025, 2, 27), day(2025, 2, 28), day(2025, 3, 1), day(2025, 9, 1),
             day(2026, 2, 27), day(2026, 2, 28), day(2026, 3, 2), day(2026, 3, 31)]  # fmt: skip
    in_database = []

    def recompute_counting(as_of: datetime.date) -> None:
        in_database.append(recompute(as_of, chunk_size=7).evaluated_in_database)

    def evaluate_one_by_one(as_of: datetime.date) -> None:
        for member in Member.objects.order_by("id"):
            member_evaluate(member=member, as_of=as_of)

    def live(evaluate: Callable[[datetime.date], None]) -> dict[str, list]:
        build_population()
        for as_of in dates:
            evaluate(as_of)
        return snapshot()

    by_recompute = then_wiped(lambda: live(recompute_counting))

    assert by_recompute == then_wiped(lambda: live(evaluate_one_by_one))
    lifted = next(row for row in by_recompute["changes"] if row[0] == "P60")
    assert lifted[1:4] == ("platinum", "gold", Cause.DOWNGRADE)
    if connection.vendor == "postgresql":
        assert in_database[0] == 60  # the first evaluation: everyone enters a tier
        assert sum(in_database[1:]) > 200
    else:  # SQLite evaluates everyone in Python (its plans for these statements were slow)
        assert in_database == [0] * len(dates)


def test_member_evaluate_returns_what_happened():
    member = MemberFactory(joined_on=day(2024, 1, 1))

    assert member_evaluate(member=member, as_of=day(2026, 5, 1)) == Event.QUALIFIED
    assert member_evaluate(member=member, as_of=day(2026, 5, 2)) == Event.NONE
    PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2026, 5, 3))
    assert member_evaluate(member=member, as_of=day(2026, 5, 3)) == Event.UPGRADE
    assert history(member)[-1] == ("silver", "gold", Cause.UPGRADE, 1, day(2026, 5, 3))


def test_member_evaluate_revokes_the_tier_of_a_blacklisted_member_once():
    member, _ = gold_member()
    make_gold(member)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLACKLISTED)

    assert member_evaluate(member=member, as_of=day(2025, 6, 1)) == "revoked"
    assert member_evaluate(member=member, as_of=day(2025, 6, 2)) == Event.NONE

    assert tier_of(member) is None
    assert history(member)[-1] == ("gold", None, Cause.REVOKED, 1, day(2025, 6, 1))
    assert TierChange.objects.filter(member=member).count() == 3


# --- Queries ----------------------------------------------------------------------------------

MEMBER_EVALUATE_MAX_QUERIES = 12


def test_member_evaluate_needs_a_few_queries_however_many_transactions_the_member_has(
    django_assert_max_num_queries,
):
    quiet, busy = MemberFactory.create_batch(2, joined_on=day(2025, 1, 1))
    PurchaseFactory(member=quiet, day=day(2026, 3, 1))
    for purchase in PurchaseFactory.create_batch(100, member=busy, day=day(2026, 3, 1)):
        RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 3, 2))
    ReferralFactory.create_batch(5, referrer=busy, occurred_on=day(2026, 3, 3))
    ActivityFactory.create_batch(20, member=busy, day=day(2026, 3, 4))

    counts = []
    for member in (quiet, busy):
        with (
            django_assert_max_num_queries(MEMBER_EVALUATE_MAX_QUERIES),
            CaptureQueriesContext(connection) as queries,
        ):
            member_evaluate(member=member, as_of=day(2026, 6, 30))
        counts.append(len(queries))

    assert counts[0] == counts[1]
    assert tier_of(busy) == "gold" and tier_of(quiet) == "silver"


def _recompute_queries_for(members: int) -> int:
    """Queries of a first evaluation, a warning and a downgrade for ``members`` alike members."""

    def run() -> int:
        for _ in range(members):
            member, purchase = gold_member()
            RefundFactory(refund_of=purchase, amount_fen=1, day=day(2026, 1, 20))
            ActivityFactory(member=member, day=day(2025, 5, 1))
        with CaptureQueriesContext(connection) as queries:
            for as_of in (GOLD_PURCHASE_DAY, day(2026, 1, 30), YEAR_END):
                recompute(as_of, chunk_size=100)
        assert TierChange.objects.count() == 2 * members
        assert DowngradeWarning.objects.count() == members
        return len(queries)

    return then_wiped(run)


def test_the_recompute_needs_as_many_queries_for_fifty_members_as_for_five():
    assert _recompute_queries_for(5) == _recompute_queries_for(50)


@pytest.mark.postgres_only
def test_the_recompute_locks_each_range_of_members_before_reading_their_state_and_figures():
    MemberFactory.create_batch(3)

    with CaptureQueriesContext(connection) as queries:
        recompute(day(2026, 6, 30), chunk_size=2)

    # The figures snapshot before the ranges reads members without locks; a member evaluated
    # after it is caught by the revision check (the next test).
    snapshot, *ranges = member_row_locks(queries)
    assert snapshot is False
    # Two ranges: lock, then read (a read in the lock's own statement could see state that
    # predates a real-time evaluation the lock waited for).
    assert ranges == [True, False, True, False]


def test_a_member_evaluated_in_real_time_after_the_figures_snapshot_keeps_the_newer_figures():
    """The full recompute reads everyone's figures in one pass before it locks any range; a
    purchase evaluated in real time in between must not be undone by the older figures."""
    today = timezone.localdate()
    member = MemberFactory(joined_on=today - datetime.timedelta(days=100))
    other = MemberFactory(joined_on=today - datetime.timedelta(days=100))
    tiers_figures_snapshot(as_of=today, table="tier_figures_test")
    try:
        actions.transaction_record(
            member=member,
            external_id="AFTER-SNAPSHOT",
            kind="purchase",
            amount="20000.00",
            occurred_at=timezone.now(),
        )
        assert refreshed(member).tier_state.current_tier.code == "gold"
        with transaction.atomic():
            summary = tiers_range_evaluate(
                first_id=member.pk, last_id=other.pk, as_of=today, figures="tier_figures_test"
            )
    finally:
        figures_snapshot_drop("tier_figures_test")

    assert summary.evaluated == 2
    evaluation = MemberEvaluation.objects.get(member=member)
    assert (evaluation.spend_fen, evaluation.frequency) == (2_000_000, 1)
    assert evaluation.revision == 2  # the real-time evaluation, then the recompute's
    assert refreshed(member).tier_state.current_tier.code == "gold"
    assert MemberEvaluation.objects.get(member=other).spend_fen == 0


def _range_statements_with_stale_members(stale: int) -> int:
    """Statements of a range of ten members from a snapshot after ``stale`` of them bought
    something in real time; checks that each kept their newer figures."""
    today = timezone.localdate()
    members = MemberFactory.create_batch(10, joined_on=today - datetime.timedelta(days=100))
    tiers_figures_snapshot(as_of=today, table="tier_figures_test")
    try:
        for member in members[1 : 1 + stale]:
            actions.transaction_record(
                member=member,
                external_id=f"AFTER-{member.pk}",
                kind="purchase",
                amount="20000.00",
                occurred_at=timezone.now(),
            )
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            summary = tiers_range_evaluate(
                first_id=members[0].pk, last_id=members[-1].pk, as_of=today,
                figures="tier_figures_test",
            )  # fmt: skip
    finally:
        figures_snapshot_drop("tier_figures_test")
    assert summary.evaluated == 10
    spends = MemberEvaluation.objects.filter(member__in=members).order_by("member_id")
    assert list(spends.values_list("spend_fen", flat=True)) == (
        [0] + [2_000_000] * stale + [0] * (9 - stale)
    )
    return len(queries)


def test_a_range_rereads_the_figures_of_members_evaluated_after_the_snapshot_in_one_statement():
    # Another run over the same members (or a busy till) can make most of a range stale: a
    # statement per member there turned a minute's recompute into hours.
    one = then_wiped(lambda: _range_statements_with_stale_members(1))
    assert _range_statements_with_stale_members(8) == one


# --- The command ------------------------------------------------------------------------------


COUNTED = ("first tiers", "upgrades", "downgrade warnings", "downgrades")


def _command_counts(as_of: datetime.date) -> tuple[int, ...]:
    """The command's counts, in the order of ``COUNTED``."""
    out = io.StringIO()
    with translation.override("en"):
        call_command(
            "recompute_tiers", "--as-of", as_of.isoformat(), stdout=out, stderr=io.StringIO()
        )
    text = out.getvalue()
    return tuple(
        int(re.search(rf"{name}:\s+([\d,]+)", text).group(1).replace(",", "")) for name in COUNTED
    )


def test_the_command_summary_counts_the_upgrades_and_downgrades_that_happened():
    build_scenario()
    # as of: (first tiers, upgrades, downgrade warnings, downgrades)
    expected = {
        day(2025, 2, 1): (5, 0, 0, 0),  # S01, S02, S04, S05 and S09 joined that day
        day(2025, 3, 1): (0, 4, 0, 0),  # S01, S02, S04 and S09 buy for Gold
        day(2026, 1, 30): (2, 1, 1, 0),  # S06, S07 join; S05 Gold by contribution; S01 warned
        day(2026, 3, 1): (0, 0, 1, 1),  # S01 downgraded; S02 warned late; S09 retained
        day(2026, 3, 31): (0, 0, 0, 1),  # S02 downgraded
    }
    for as_of, counts in expected.items():
        if as_of == BLACKLISTED_BEFORE:
            Member.objects.filter(member_no="S04").update(status=Member.Status.BLACKLISTED)

        assert _command_counts(as_of) == counts, as_of

        _, upgrades, warnings, downgrades = counts
        on_day = TierChange.objects.filter(effective_on=as_of)
        assert on_day.filter(cause=Cause.UPGRADE).count() == upgrades
        assert on_day.filter(cause=Cause.DOWNGRADE).count() == downgrades
        assert DowngradeWarning.objects.filter(warned_on=as_of).count() == warnings


def test_a_recompute_as_of_a_date_before_the_last_evaluation_leaves_those_members_alone():
    build_scenario()
    recompute_each(day(2025, 2, 1), day(2026, 1, 30))
    before = snapshot()
    late_joiner = MemberFactory(member_no="S11", joined_on=day(2025, 1, 1))

    err = io.StringIO()
    with translation.override("zh-hans"):
        call_command("recompute_tiers", "--as-of", "2025-03-01", stdout=io.StringIO(), stderr=err)

    assert "名会员保持原状：其上次评定日期晚于 2025-03-01，而评定不会倒退。" in err.getvalue()
    after = snapshot()
    assert [m for m in after["members"] if m[0] != "S11"] == before["members"]
    assert after["changes"][: len(before["changes"])] == before["changes"]
    assert tier_of(late_joiner) == "regular"  # not evaluated before: evaluated as of that date
