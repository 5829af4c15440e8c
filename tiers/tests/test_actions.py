"""Real-time evaluation and the audited actions (tiers/actions.py, overrides in tiers/services.py):
a fact recorded for a member moves their tier at once, in the same transaction, and every staff
change leaves an audit entry."""

from __future__ import annotations

import datetime
import functools
import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from members.models import Member, Referral, Transaction
from members.privacy import member_data
from members.tests.factories import MemberFactory, PurchaseFactory, RefundFactory, local_noon
from notifications.models import Channel, Kind, Notification
from tiers import actions
from tiers.management.commands import import_csv as import_csv_command
from tiers.models import (
    DowngradeWarning,
    MemberTier,
    Tier,
    TierChange,
    TierOverride,
    TierPolicy,
)
from tiers.selectors import warning_to_tier
from tiers.services import (
    member_evaluate,
    tier_override_end,
    tier_override_set,
    tier_rename,
)
from tiers.tests.helpers import member_row_locks, refreshed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    # Messages are asserted in English whatever language an earlier test left active.
    with translation.override("en"):
        yield


day = datetime.date
Cause = TierChange.Cause


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("ops-test", password="x")


def tier(code: str) -> Tier:
    return Tier.objects.get(code=code)


def tier_of(member: Member) -> str | None:
    current = refreshed(member).current_tier
    return current.code if current else None


def now_minus(hours: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(hours=hours)


# --- Real-time evaluation ---------------------------------------------------------------------


def test_a_purchase_recorded_by_staff_upgrades_the_member_at_once(staff):
    member = MemberFactory(joined_on=timezone.localdate())
    member_evaluate(member=member, as_of=timezone.localdate())
    assert tier_of(member) == "regular"

    txn, created = actions.transaction_record(
        member=member,
        external_id="POS-1",
        kind="purchase",
        amount=Decimal("20000.00"),
        occurred_at=now_minus(1),
        actor=staff,
    )

    assert created and txn.amount_fen == 2_000_000
    assert tier_of(member) == "gold"
    change = TierChange.objects.get(member=member, cause=Cause.UPGRADE)
    assert (change.to_tier.code, change.actor, change.spend_fen) == ("gold", staff, 2_000_000)
    assert AuditEntry.objects.filter(action="transaction.purchase", actor=staff).exists()


@pytest.mark.postgres_only
def test_a_purchase_locks_its_member_once_before_anything_is_read_and_a_staff_look_locks_too(staff):
    # The purchase's writer takes the lock and the evaluation after it, in the same
    # transaction, does not take it again; a staff re-evaluation writes nothing first, so it
    # takes the lock itself.
    member = MemberFactory(joined_on=day(2020, 1, 1))
    with CaptureQueriesContext(connection) as recording:
        actions.transaction_record(
            member=member, external_id="P-1", kind="purchase", amount="10", occurred_at=now_minus(1)
        )
    with CaptureQueriesContext(connection) as looking:
        actions.member_reevaluate(member=member, actor=staff)

    assert member_row_locks(recording) == [True, False]
    assert member_row_locks(looking) == [True, False]
    assert tier_of(member) == "silver"  # six years a member: evaluated as usual


def test_a_tier_renamed_between_two_purchases_is_named_anew_in_the_next_notice(staff):
    # The evaluation keeps the tiers per process: a rename must reach the very next notice.
    member = MemberFactory(joined_on=timezone.localdate())
    record = functools.partial(
        actions.transaction_record, member=member, kind="purchase", occurred_at=now_minus(1)
    )
    record(external_id="POS-1", amount=Decimal("5000.00"))
    tier_rename(
        tier=tier("gold"), name_zh="金卡尊享会员", name_en="Gold Plus", reason="改名", actor=staff
    )

    record(external_id="POS-2", amount=Decimal("15000.00"))

    assert tier_of(member) == "gold"
    told = Notification.objects.get(member=member, kind=Kind.UPGRADE, channel=Channel.IN_APP)
    assert "金卡尊享会员" in told.subject


def test_the_same_transaction_sent_twice_is_stored_once_and_evaluates_once(staff):
    member = MemberFactory(joined_on=day(2020, 1, 1))
    moment = now_minus(2)
    first = actions.transaction_record(
        member=member, external_id="E-1", kind="purchase", amount="120.50", occurred_at=moment
    )
    again = actions.transaction_record(
        member=member, external_id="E-1", kind="purchase", amount="120.50", occurred_at=moment
    )

    assert (first[1], again[1]) == (True, False) and first[0].pk == again[0].pk
    assert Transaction.objects.filter(external_id="E-1").count() == 1
    with pytest.raises(DomainError, match="different data"):
        actions.transaction_record(
            member=member, external_id="E-1", kind="purchase", amount="99", occurred_at=moment
        )


def test_a_refund_over_the_purchase_is_refused_and_nothing_is_written():
    member = MemberFactory()
    purchase = PurchaseFactory(
        member=member, external_id="P1", amount_fen=10_000, day=day(2026, 6, 1)
    )

    with pytest.raises(DomainError, match="more than its amount ¥100.00"):
        actions.transaction_record(
            member=member,
            external_id="R1",
            kind="refund",
            amount="100.01",
            occurred_at=local_noon(day(2026, 6, 2)),
            refund_of=purchase.external_id,
        )
    assert not Transaction.objects.filter(external_id="R1").exists()


def test_the_audit_entry_of_a_purchase_and_a_refund_keeps_what_was_recorded(staff):
    member = MemberFactory(member_no="AU-T1", joined_on=day(2020, 1, 1))
    bought, returned = local_noon(day(2026, 6, 1)), local_noon(day(2026, 6, 2))
    actions.transaction_record(
        member=member,
        external_id="POS-7",
        kind="purchase",
        amount="128.50",
        occurred_at=bought,
        actor=staff,
        reason="store entry",
    )
    actions.transaction_record(
        member=member,
        external_id="RF-7",
        kind="refund",
        amount="28.50",
        occurred_at=returned,
        refund_of="POS-7",
        actor=staff,
        reason="returned one item",
    )

    purchase = AuditEntry.objects.get(action="transaction.purchase")
    refund = AuditEntry.objects.get(action="transaction.refund")
    assert purchase.after == {
        "member_no": "AU-T1",
        "external_id": "POS-7",
        "kind": "purchase",
        "amount": "128.50",
        "occurred_at": timezone.localtime(bought).isoformat(),
        "reason": "store entry",
    }
    assert refund.after == {
        "member_no": "AU-T1",
        "external_id": "RF-7",
        "kind": "refund",
        "amount": "28.50",
        "occurred_at": timezone.localtime(returned).isoformat(),
        "refund_of": "POS-7",
        "reason": "returned one item",
    }
    assert datetime.datetime.fromisoformat(refund.after["occurred_at"]) == returned


def test_a_refund_that_drops_the_member_below_the_tier_keeps_the_tier_until_the_lifecycle_says():
    member = MemberFactory(joined_on=timezone.localdate())
    actions.transaction_record(
        member=member, external_id="P", kind="purchase", amount="20000", occurred_at=now_minus(3)
    )
    actions.transaction_record(
        member=member,
        external_id="R",
        kind="refund",
        amount="20000",
        occurred_at=now_minus(2),
        refund_of="P",
    )

    member = refreshed(member)
    assert member.current_tier.code == "gold"  # a downgrade needs a warning and a notice first
    assert member.last_evaluation.spend_fen == 0


def test_a_transaction_dated_in_the_future_is_refused():
    member = MemberFactory()
    with pytest.raises(DomainError, match="later than tomorrow"):
        actions.transaction_record(
            member=member,
            external_id="F",
            kind="purchase",
            amount="10",
            occurred_at=timezone.now() + datetime.timedelta(days=3),
        )


def test_a_referral_and_activities_add_contribution_at_once():
    referrer = MemberFactory(joined_on=day(2026, 1, 1))
    referred = MemberFactory(joined_on=timezone.localdate())
    actions.referral_record(referrer=referrer, referred=referred)
    for n in range(18):
        actions.activity_record(member=referrer, activity=f"直播 {n}", occurred_at=now_minus(n + 1))

    evaluation = refreshed(referrer).last_evaluation
    assert evaluation.contribution == 200 + 18 * 100
    assert tier_of(referrer) == "gold"  # contribution ≥ 2,000


def test_a_referral_of_someone_who_joined_before_the_referrer_is_refused():
    referrer = MemberFactory(joined_on=day(2026, 1, 1))
    referred = MemberFactory(joined_on=day(2025, 1, 1))
    with pytest.raises(DomainError, match="joined before"):
        actions.referral_record(referrer=referrer, referred=referred)


def test_a_referral_that_would_close_a_circle_is_refused_however_long_the_circle():
    # Everyone joined the same day, so the joined dates allow every direction.
    a, b, c = (MemberFactory(member_no=no, joined_on=day(2026, 1, 1)) for no in "ABC")
    actions.referral_record(referrer=a, referred=b)
    with pytest.raises(DomainError, match="Member A already referred member B") as refused:
        actions.referral_record(referrer=b, referred=a)
    assert refused.value.field == "referred_no"

    actions.referral_record(referrer=b, referred=c)
    with pytest.raises(DomainError, match="Member A already referred member C"):
        actions.referral_record(referrer=c, referred=a)
    assert sorted(
        (r.referrer.member_no, r.referred.member_no)
        for r in Referral.objects.select_related("referrer", "referred")
    ) == [("A", "B"), ("B", "C")]


def test_a_new_full_member_starts_at_the_entry_tier_and_an_experience_member_at_none(staff):
    full = actions.member_register(
        member_no="N1", name="新会员", joined_on=timezone.localdate(), actor=staff
    )
    casual = actions.member_register(
        member_no="N2",
        name="体验",
        joined_on=timezone.localdate(),
        status=Member.Status.EXPERIENCE,
        actor=staff,
    )

    assert (tier_of(full), tier_of(casual)) == ("regular", None)
    actions.member_convert(member=casual, actor=staff)
    assert tier_of(casual) == "regular"
    assert AuditEntry.objects.filter(action="member.convert", target_id=str(casual.pk)).exists()


# --- Blacklist --------------------------------------------------------------------------------


def test_blacklisting_revokes_the_tier_at_once_and_lifting_brings_it_back(staff):
    member = MemberFactory(joined_on=day(2020, 1, 1))  # tenure ≥ 1: Silver
    member_evaluate(member=member, as_of=timezone.localdate())
    assert tier_of(member) == "silver"

    actions.member_blacklist(member=member, reason="恶意投诉", evidence="录音", actor=staff)

    member = refreshed(member)
    assert member.status == Member.Status.BLACKLISTED and member.current_tier is None
    revoked = TierChange.objects.get(member=member, cause=Cause.REVOKED)
    assert (revoked.from_tier.code, revoked.actor) == ("silver", staff)
    blacklisted = AuditEntry.objects.get(action="member.blacklist", actor=staff)
    assert (blacklisted.after["reason"], blacklisted.after["evidence"]) == ("恶意投诉", "录音")

    actions.blacklist_lift(member=member, reason="误判", actor=staff)

    member = refreshed(member)
    assert member.status == Member.Status.ACTIVE and member.current_tier.code == "silver"
    assert member.blacklist_entries.get().lift_reason == "误判"
    # A restoration, not a first evaluation; told only where blacklistings are (default off).
    restored = TierChange.objects.filter(member=member).first()  # the newest
    assert (restored.from_tier, restored.to_tier.code) == (None, "silver")
    assert (restored.cause, restored.actor) == (Cause.REINSTATED, staff)
    assert not Notification.objects.filter(member=member, kind=Kind.REINSTATED).exists()


@override_settings(NOTIFY_BLACKLISTED=True)
def test_where_blacklistings_are_told_a_lifted_one_is_told_too(staff):
    member = MemberFactory(joined_on=day(2020, 1, 1))
    member_evaluate(member=member, as_of=timezone.localdate())
    actions.member_blacklist(member=member, reason="恶意投诉", actor=staff)

    actions.blacklist_lift(member=member, reason="误判", actor=staff)

    notice = Notification.objects.get(member=member, kind=Kind.REINSTATED, channel=Channel.IN_APP)
    assert notice.subject == "您的会员资格已恢复" and "当前等级为银卡会员" in notice.body


@override_settings(NOTIFY_BLACKLISTED=True)
def test_an_experience_member_blacklisted_then_lifted_is_an_experience_member_again(staff):
    member = MemberFactory(joined_on=day(2020, 1, 1), status=Member.Status.EXPERIENCE)
    actions.member_blacklist(member=member, reason="恶意投诉", actor=staff)

    actions.blacklist_lift(member=member, reason="误判", actor=staff)

    member = refreshed(member)
    assert member.status == Member.Status.EXPERIENCE and member.current_tier is None
    # No tier, so no "membership restored" in the history or in a notice.
    assert not TierChange.objects.filter(member=member).exists()
    assert not Notification.objects.filter(member=member, kind=Kind.REINSTATED).exists()
    audit = AuditEntry.objects.get(action="member.blacklist_lift")
    assert audit.after["status"] == Member.Status.EXPERIENCE


def test_the_revoked_history_names_the_members_status_in_the_page_language(staff, client):
    member = MemberFactory(joined_on=day(2020, 1, 1))
    member_evaluate(member=member, as_of=timezone.localdate())
    actions.member_blacklist(member=member, reason="恶意投诉", actor=staff)
    revoked = TierChange.objects.get(member=member, cause=Cause.REVOKED)

    with translation.override("zh-hans"):
        assert revoked.note_display == "黑名单"
    assert revoked.note_display == "blacklisted"
    assert TierChange(cause=Cause.OVERRIDE, note="VIP").note_display == "VIP"


def test_blacklisting_ends_an_open_override_and_lifting_gives_the_qualified_tier(staff):
    member = MemberFactory(joined_on=day(2020, 1, 1))  # qualifies for Silver
    member_evaluate(member=member, as_of=timezone.localdate())
    override = tier_override_set(
        member=member, tier=Tier.objects.get(code="platinum"), reason="大客户", ends_on=None,
        actor=staff,
    )  # fmt: skip

    actions.member_blacklist(member=member, reason="欺诈", actor=staff)
    actions.blacklist_lift(member=member, reason="误判", actor=staff)

    override.refresh_from_db()
    assert (override.ended_on, override.ended_by) == (timezone.localdate(), staff)
    with translation.override("zh-hans"):
        assert override.end_reason_display == "随会员资格终止（列入黑名单）"
    ended = AuditEntry.objects.get(action="tier.override.end")
    assert (ended.actor, ended.target_id, ended.after["ended_on"]) == (
        staff, str(member.pk), str(timezone.localdate()),
    )  # fmt: skip
    assert tier_of(member) == "silver"
    assert TierChange.objects.filter(member=member).first().override_id is None


def test_a_blacklist_file_ends_the_members_open_override(tmp_path, staff):
    member = MemberFactory(member_no="BL1", joined_on=day(2020, 1, 1))
    tier_override_set(
        member=member, tier=Tier.objects.get(code="gold"), reason="活动", ends_on=None,
        actor=staff,
    )  # fmt: skip
    path = tmp_path / "blacklist.csv"
    path.write_text("member_no,reason,occurred_at\nBL1,fraud,2026-06-01\n", encoding="utf-8")

    call_command("import_csv", "blacklist", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert not TierOverride.objects.filter(member=member, ended_on__isnull=True).exists()
    assert tier_of(member) is None


def test_blacklisting_needs_a_reason_and_cannot_happen_twice(staff):
    member = MemberFactory()
    with pytest.raises(DomainError):
        actions.member_blacklist(member=member, reason="  ", actor=staff)
    actions.member_blacklist(member=member, reason="fraud", actor=staff)
    with pytest.raises(DomainError, match="already blacklisted"):
        actions.member_blacklist(member=member, reason="fraud", actor=staff)


def test_a_blacklist_file_revokes_tiers_at_once(tmp_path):
    member = MemberFactory(member_no="BL1", joined_on=day(2020, 1, 1))
    member_evaluate(member=member, as_of=timezone.localdate())
    path = tmp_path / "blacklist.csv"
    path.write_text("member_no,reason,occurred_at\nBL1,fraud,2026-06-01\n", encoding="utf-8")

    out = io.StringIO()
    call_command("import_csv", "blacklist", str(path), stdout=out, stderr=io.StringIO())

    assert tier_of(member) is None
    assert TierChange.objects.filter(member=member, cause=Cause.REVOKED).count() == 1
    assert out.getvalue().startswith("Revoked the tier of 1 blacklisted member\n")


def test_the_tiers_revoked_by_a_blacklist_file_are_counted_by_thousands(tmp_path, monkeypatch):
    monkeypatch.setattr(import_csv_command, "tiers_revoke_not_taking_part", lambda as_of: 1_200)
    path = tmp_path / "blacklist.csv"
    path.write_text("member_no,reason,occurred_at\n", encoding="utf-8")

    for language, said in [
        ("en", "Revoked the tiers of 1,200 blacklisted members"),
        ("zh-hans", "已撤销 1,200 名黑名单会员的等级"),
    ]:
        out = io.StringIO()
        with translation.override(language):
            call_command("import_csv", "blacklist", str(path), stdout=out, stderr=io.StringIO())
        assert out.getvalue().splitlines()[0] == said


def test_importing_transactions_evaluates_nobody(tmp_path):
    member = MemberFactory(member_no="M1")
    path = tmp_path / "txns.csv"
    path.write_text(
        "external_id,member_no,kind,amount,occurred_at,refund_of\n"
        "T1,M1,purchase,999999,2026-06-30T10:00:00+08:00,\n",
        encoding="utf-8",
    )

    call_command(
        "import_csv", "transactions", str(path), stdout=io.StringIO(), stderr=io.StringIO()
    )

    assert tier_of(member) is None and refreshed(member).last_evaluation is None
    assert not TierChange.objects.exists()


# --- Overrides ----------------------------------------------------------------------------------

GRANTED = day(2026, 3, 1)
ENDS = day(2026, 9, 1)


@pytest.fixture
def silver_member():
    member = MemberFactory(joined_on=day(2020, 1, 1))
    member_evaluate(member=member, as_of=GRANTED)
    assert tier_of(member) == "silver"
    return member


def test_an_override_raises_the_tier_at_once_with_its_own_tier_year_and_history(
    staff, silver_member
):
    override = tier_override_set(
        member=silver_member,
        tier=tier("gold"),
        reason="VIP of a key account",
        ends_on=ENDS,
        actor=staff,
        today=GRANTED,
    )

    member = refreshed(silver_member)
    assert member.current_tier.code == "gold"
    assert (member.tier_year_start, member.tier_year_end) == (GRANTED, ENDS)
    change = TierChange.objects.get(member=member, cause=Cause.OVERRIDE)
    assert (change.from_tier.code, change.actor, change.override, change.note) == (
        "silver",
        staff,
        override,
        "VIP of a key account",
    )
    audit = AuditEntry.objects.get(action="tier.override.manual")
    assert audit.actor == staff and audit.after["tier"] == "gold"


def test_an_override_is_a_floor_upgrades_above_it_still_apply(staff, silver_member):
    tier_override_set(
        member=silver_member,
        tier=tier("gold"),
        reason="r",
        ends_on=ENDS,
        actor=staff,
        today=GRANTED,
    )
    PurchaseFactory(member=silver_member, amount_fen=10_000_000, day=day(2026, 4, 1))
    for _ in range(24):
        PurchaseFactory(member=silver_member, amount_fen=100, day=day(2026, 4, 2))

    member_evaluate(member=silver_member, as_of=day(2026, 4, 2))

    assert tier_of(silver_member) == "diamond"


def test_no_warning_or_downgrade_while_the_override_holds_then_the_usual_notice(
    staff, silver_member
):
    tier_override_set(
        member=silver_member,
        tier=tier("gold"),
        reason="r",
        ends_on=ENDS,
        actor=staff,
        today=GRANTED,
    )

    member_evaluate(member=silver_member, as_of=day(2026, 6, 1))
    assert not DowngradeWarning.objects.exists()

    # 30 days before the override ends, the member is warned: its end is the tier-year end.
    member_evaluate(member=silver_member, as_of=day(2026, 8, 2))
    warning = DowngradeWarning.objects.get()
    assert (warning.tier.code, warning.tier_year_end, warning.downgrade_not_before) == (
        "gold",
        ENDS,
        ENDS,
    )

    member_evaluate(member=silver_member, as_of=day(2026, 8, 31))
    assert tier_of(silver_member) == "gold"
    member_evaluate(member=silver_member, as_of=ENDS)
    assert tier_of(silver_member) == "silver"


def test_an_override_ended_late_in_warning_terms_still_gives_thirty_days(staff, silver_member):
    override = tier_override_set(
        member=silver_member,
        tier=tier("gold"),
        reason="r",
        ends_on=None,
        actor=staff,
        today=GRANTED,
    )
    member_evaluate(member=silver_member, as_of=day(2026, 5, 1))
    assert not DowngradeWarning.objects.exists()  # open-ended: it holds at the year end

    tier_override_end(
        override=override, reason="contract over", actor=staff, today=day(2026, 5, 10)
    )

    assert DowngradeWarning.objects.get().warned_on == day(2026, 5, 10)
    member_evaluate(member=silver_member, as_of=day(2026, 6, 8))
    assert tier_of(silver_member) == "gold"
    member_evaluate(member=silver_member, as_of=day(2026, 6, 9))
    assert tier_of(silver_member) == "silver"
    assert TierOverride.objects.get().ended_on == day(2026, 5, 10)


@pytest.mark.parametrize(
    ("lead_days", "warned_on", "ended_on", "not_before"),
    [
        # Default policy: warned 30 days before the old end; the 30 days' notice is the later.
        (30, day(2026, 8, 2), day(2026, 8, 10), day(2026, 9, 1)),
        # Warned 60 days ahead: the old end was the later date, now the notice is.
        (60, day(2026, 7, 3), day(2026, 7, 20), day(2026, 8, 2)),
    ],
)
def test_ending_an_override_moves_the_open_warnings_tier_year_end_and_notice_with_it(
    staff, silver_member, lead_days, warned_on, ended_on, not_before
):
    TierPolicy.objects.update(warning_lead_days=lead_days)
    override = tier_override_set(
        member=silver_member, tier=tier("gold"), reason="r", ends_on=ENDS, actor=staff,
        today=GRANTED,
    )  # fmt: skip
    member_evaluate(member=silver_member, as_of=warned_on)
    assert DowngradeWarning.objects.get().tier_year_end == ENDS

    tier_override_end(override=override, reason="contract over", actor=staff, today=ended_on)

    warning = DowngradeWarning.objects.get()  # still the one warning of this tier year
    assert (warning.warned_on, warning.tier_year_end, warning.downgrade_not_before) == (
        warned_on,
        ended_on,
        not_before,
    )
    assert refreshed(silver_member).tier_year_end == ended_on
    # The stored dates are the ones the lifecycle keeps to.
    member_evaluate(member=silver_member, as_of=not_before - datetime.timedelta(days=1))
    assert tier_of(silver_member) == "gold"
    member_evaluate(member=silver_member, as_of=not_before)
    assert tier_of(silver_member) == "silver"


def test_a_new_override_replaces_the_open_one(staff, silver_member):
    first = tier_override_set(
        member=silver_member,
        tier=tier("gold"),
        reason="a",
        ends_on=None,
        actor=staff,
        today=GRANTED,
    )
    tier_override_set(
        member=silver_member,
        tier=tier("platinum"),
        reason="b",
        ends_on=None,
        actor=staff,
        today=day(2026, 3, 2),
    )

    first.refresh_from_db()
    assert first.ended_on == day(2026, 3, 2)
    assert TierOverride.objects.filter(ended_on__isnull=True).get().tier.code == "platinum"
    assert tier_of(silver_member) == "platinum"
    # Why it ended is stored once, in English, and read in each reader's language.
    assert first.end_reason == "replaced by a new override"
    with translation.override("zh-hans"):
        assert first.end_reason_display == "已被新的人工调整取代"


def test_a_lower_floor_replacing_the_one_that_held_the_tier_ends_that_tier_year_with_notice(
    staff, silver_member
):
    # Diamond by an override to 2027-06-30; replaced on 2026-12-08 by a Gold floor to
    # 2027-01-31: the Diamond override ended that day, as if staff had ended it (domain.md).
    tier_override_set(
        member=silver_member, tier=tier("diamond"), reason="key account",
        ends_on=day(2027, 6, 30), actor=staff, today=day(2026, 12, 1),
    )  # fmt: skip
    replaced_on = day(2026, 12, 8)
    tier_override_set(
        member=silver_member, tier=tier("gold"), reason="contract changed",
        ends_on=day(2027, 1, 31), actor=staff, today=replaced_on,
    )  # fmt: skip

    assert tier_of(silver_member) == "diamond"  # kept for the notice period
    assert refreshed(silver_member).tier_year_end == replaced_on
    warning = DowngradeWarning.objects.get(member=silver_member)
    assert (warning.warned_on, warning.downgrade_not_before) == (
        replaced_on,
        replaced_on + datetime.timedelta(days=30),
    )
    member_evaluate(member=silver_member, as_of=day(2027, 1, 6))
    assert tier_of(silver_member) == "diamond"
    member_evaluate(member=silver_member, as_of=day(2027, 1, 7))
    assert tier_of(silver_member) == "gold"  # the new floor, above the qualified Silver


def test_an_override_set_and_ended_twice_in_a_day_leaves_one_warning_for_the_tier_year(
    staff, silver_member
):
    today = day(2026, 5, 10)
    for n in range(2):
        override = tier_override_set(
            member=silver_member, tier=tier("gold"), reason=f"r{n}", ends_on=None, actor=staff,
            today=today,
        )  # fmt: skip
        tier_override_end(override=override, reason="ended", actor=staff, today=today)

    warning = DowngradeWarning.objects.get(member=silver_member)
    assert (warning.tier_year_start, warning.tier_year_end, warning.warned_on) == (
        today, today, today,
    )  # fmt: skip
    assert tier_of(silver_member) == "gold"  # kept for the notice period


def platinum_until_2026_01_10() -> Member:
    """Platinum from 30,000.00 spent on 2025-01-10 with six years' tenure: tier year
    2025-01-10 … 2026-01-10, then Silver on their own (the purchase leaves the window)."""
    member = MemberFactory(joined_on=day(2020, 1, 1))
    PurchaseFactory(member=member, amount_fen=3_000_000, day=day(2025, 1, 10))
    member_evaluate(member=member, as_of=day(2025, 1, 10))
    assert tier_of(member) == "platinum"
    return member


@pytest.mark.parametrize("kind", [TierOverride.Kind.MANUAL, TierOverride.Kind.COMMITTEE])
def test_a_member_dropped_onto_a_floor_holds_it_only_until_the_floor_ends(staff, kind):
    """domain.md: when an override ends, its end date counts as the tier-year end. A member
    downgraded onto the floor gets a tier year that ends with it, not a whole year."""
    member = platinum_until_2026_01_10()
    tier_override_set(
        member=member, tier=tier("gold"), reason="key account", ends_on=day(2026, 6, 1),
        actor=staff, kind=kind, today=day(2025, 6, 1),
    )  # fmt: skip
    assert tier_of(member) == "platinum"  # a floor below the tier held changes nothing yet

    member_evaluate(member=member, as_of=day(2026, 1, 10))  # warned: only Silver on their own
    member_evaluate(member=member, as_of=day(2026, 2, 9))  # the notice is over: onto the floor
    state = refreshed(member)
    assert (state.current_tier.code, state.tier_year_start, state.tier_year_end) == (
        "gold", day(2026, 2, 9), day(2026, 6, 1),
    )  # fmt: skip

    member_evaluate(member=member, as_of=day(2026, 5, 1))
    assert not DowngradeWarning.objects.filter(member=member, tier__code="gold").exists()
    member_evaluate(member=member, as_of=day(2026, 5, 2))  # 30 days before the floor's end
    warning = DowngradeWarning.objects.get(member=member, tier__code="gold")
    assert (warning.tier_year_end, warning.downgrade_not_before) == ((day(2026, 6, 1),) * 2)
    member_evaluate(member=member, as_of=day(2026, 5, 31))
    assert tier_of(member) == "gold"
    member_evaluate(member=member, as_of=day(2026, 6, 1))
    assert tier_of(member) == "silver"


def test_a_tier_kept_by_a_floor_at_the_year_end_is_kept_until_the_floor_ends(staff, silver_member):
    """At the end of a tier year the floor still holds: the tier is kept, for a year that
    ends with the floor when that comes first."""
    tier_override_set(
        member=silver_member, tier=tier("gold"), reason="r", ends_on=day(2026, 6, 1),
        actor=staff, today=GRANTED,
    )  # fmt: skip
    # A tier year of a whole year from the grant (as one set before this rule was kept).
    MemberTier.objects.filter(member=silver_member).update(tier_year_end=day(2026, 5, 1))

    member_evaluate(member=silver_member, as_of=day(2026, 5, 1))

    state = refreshed(silver_member)
    assert (state.current_tier.code, state.tier_year_start, state.tier_year_end) == (
        "gold", day(2026, 5, 1), day(2026, 6, 1),
    )  # fmt: skip


def test_an_override_at_the_tier_held_never_shortens_the_tier_year_earned(staff):
    """A floor at the member's own tier that ends before their tier year changes nothing; one
    that ends after it keeps the tier until its end. Ending the first early leaves the year."""
    member = platinum_until_2026_01_10()
    short = tier_override_set(
        member=member, tier=tier("platinum"), reason="r", ends_on=day(2025, 5, 1),
        actor=staff, today=day(2025, 4, 1),
    )  # fmt: skip
    assert refreshed(member).tier_year_end == day(2026, 1, 10)
    tier_override_end(override=short, reason="ended", actor=staff, today=day(2025, 4, 2))
    assert refreshed(member).tier_year_end == day(2026, 1, 10)
    member_evaluate(member=member, as_of=day(2025, 5, 2))
    assert tier_of(member) == "platinum"
    assert not DowngradeWarning.objects.exists()

    longer = tier_override_set(
        member=member, tier=tier("platinum"), reason="r", ends_on=day(2026, 3, 1),
        actor=staff, today=day(2025, 6, 1),
    )  # fmt: skip
    state = refreshed(member)
    assert (state.tier_year_start, state.tier_year_end) == (day(2025, 1, 10), day(2026, 3, 1))
    # Ended early, the member keeps the year they earned, not a year cut to that day.
    tier_override_end(override=longer, reason="ended", actor=staff, today=day(2025, 7, 1))
    assert refreshed(member).tier_year_end == day(2026, 1, 10)


def test_staff_rewriting_their_override_to_end_sooner_shorten_the_tier_year_it_gave(
    staff, silver_member
):
    tier_override_set(
        member=silver_member, tier=tier("gold"), reason="r", ends_on=ENDS, actor=staff,
        today=GRANTED,
    )  # fmt: skip
    sooner = tier_override_set(
        member=silver_member, tier=tier("gold"), reason="typo", ends_on=day(2026, 4, 30),
        actor=staff, today=day(2026, 3, 15),
    )  # fmt: skip
    state = refreshed(silver_member)
    assert (state.tier_year_start, state.tier_year_end) == (day(2026, 3, 15), day(2026, 4, 30))

    tier_override_end(override=sooner, reason="ended", actor=staff, today=day(2026, 3, 20))
    assert refreshed(silver_member).tier_year_end == day(2026, 3, 20)


def silver_until_2026_06_01() -> Member:
    """Silver from 5,000.00 spent on joining, 2025-06-01 (tier year to 2026-06-01), refunded on
    2025-06-10: Regular on their own from then on."""
    member = MemberFactory(joined_on=day(2025, 6, 1))
    purchase = PurchaseFactory(member=member, amount_fen=500_000, day=day(2025, 6, 1))
    member_evaluate(member=member, as_of=day(2025, 6, 1))
    RefundFactory(refund_of=purchase, amount_fen=500_000, day=day(2025, 6, 10))
    state = refreshed(member)
    assert (state.current_tier.code, state.tier_year_end) == ("silver", day(2026, 6, 1))
    return member


def test_an_override_above_the_tier_held_gives_back_the_year_earned_when_it_ends(staff):
    """domain.md: an override is a floor, never a loss. Gold until it ends, then the Silver
    year the member had earned, warned only before that year's end."""
    member = silver_until_2026_06_01()
    tier_override_set(
        member=member, tier=tier("gold"), reason="campaign", ends_on=day(2025, 8, 1),
        actor=staff, today=day(2025, 7, 1),
    )  # fmt: skip
    member_evaluate(member=member, as_of=day(2025, 7, 2))
    warning = DowngradeWarning.objects.get(member=member)
    assert (warning.tier.code, warning.tier_year_end) == ("gold", day(2025, 8, 1))

    member_evaluate(member=member, as_of=day(2025, 8, 1))

    state = refreshed(member)
    assert (state.current_tier.code, state.tier_year_end) == ("silver", day(2026, 6, 1))
    change = TierChange.objects.filter(member=member).first()  # the newest
    assert (change.from_tier.code, change.to_tier.code, change.cause) == (
        "gold", "silver", Cause.DOWNGRADE,
    )  # fmt: skip
    member_evaluate(member=member, as_of=day(2026, 5, 1))
    assert tier_of(member) == "silver" and refreshed(member).downgrade_warned_on is None
    member_evaluate(member=member, as_of=day(2026, 5, 2))
    assert refreshed(member).downgrade_warned_on == day(2026, 5, 2)
    # A year as a member on 2026-06-01 qualifies for Silver: kept for another tier year.
    member_evaluate(member=member, as_of=day(2026, 6, 1))
    state = refreshed(member)
    assert (state.current_tier.code, state.tier_year_start, state.tier_year_end) == (
        "silver", day(2026, 6, 1), day(2027, 6, 1),
    )  # fmt: skip
    assert MemberTier.objects.get(member=member).earned_tier is None


def test_an_override_above_the_tier_held_ended_early_gives_back_the_year_earned(staff):
    member = silver_until_2026_06_01()
    override = tier_override_set(
        member=member, tier=tier("gold"), reason="campaign", ends_on=day(2025, 8, 1),
        actor=staff, today=day(2025, 7, 1),
    )  # fmt: skip

    tier_override_end(override=override, reason="ended", actor=staff, today=day(2025, 7, 15))
    member_evaluate(member=member, as_of=day(2025, 8, 14))

    state = refreshed(member)
    assert (state.current_tier.code, state.tier_year_end) == ("silver", day(2026, 6, 1))


def test_the_warning_of_an_override_above_the_year_earned_names_that_tier_as_the_next(staff):
    member = silver_until_2026_06_01()
    tier_override_set(
        member=member, tier=tier("platinum"), reason="campaign", ends_on=day(2025, 8, 1),
        actor=staff, today=day(2025, 7, 1),
    )  # fmt: skip

    member_evaluate(member=member, as_of=day(2025, 7, 2))

    warning = DowngradeWarning.objects.get(member=member)
    assert warning_to_tier(warning).code == "silver"
    notice = Notification.objects.get(
        member=member, kind=Kind.DOWNGRADE_WARNING, channel=Channel.IN_APP
    )
    assert "银卡会员" in notice.body


@pytest.fixture
def committee_grant(staff, silver_member) -> TierOverride:
    """The committee's exceptional upgrade of the silver member to Platinum until ENDS."""
    return tier_override_set(
        member=silver_member,
        tier=tier("platinum"),
        reason="committee",
        ends_on=ENDS,
        actor=staff,
        kind=TierOverride.Kind.COMMITTEE,
        today=GRANTED,
    )


def test_a_committee_grant_is_final_and_cannot_be_ended_early(
    staff, silver_member, committee_grant
):
    grant = committee_grant

    with pytest.raises(DomainError, match="its decision is final, and the tier it granted holds"):
        tier_override_end(override=grant, reason="r", actor=staff, today=day(2026, 3, 2))

    grant.refresh_from_db()
    assert grant.ended_on is None
    assert refreshed(silver_member).tier_state.tier_year_end == ENDS
    assert tier_of(silver_member) == "platinum"


def test_a_committee_grant_is_not_ended_by_a_lower_or_shorter_manual_override(
    staff, silver_member, committee_grant
):
    grant = committee_grant
    for lower_or_shorter in ((tier("gold"), None), (tier("diamond"), day(2026, 6, 1))):
        with pytest.raises(DomainError) as refused:
            tier_override_set(
                member=silver_member,
                tier=lower_or_shorter[0],
                reason="staff",
                ends_on=lower_or_shorter[1],
                actor=staff,
                today=day(2026, 3, 2),
            )
        assert str(refused.value).startswith(
            "The member's exceptional upgrade gives them at least Platinum until 2026-09-01."
        )
    grant.refresh_from_db()
    assert grant.ended_on is None
    assert tier_of(silver_member) == "platinum"
    # A floor that gives at least as much on both counts replaces it, and the audit says what
    # the member held before.
    tier_override_set(
        member=silver_member,
        tier=tier("diamond"),
        reason="staff",
        ends_on=None,
        actor=staff,
        today=day(2026, 3, 2),
    )
    grant.refresh_from_db()
    assert grant.ended_on == day(2026, 3, 2)
    replaced = AuditEntry.objects.filter(action="tier.override.manual").latest("pk").before
    assert replaced["replaced_override"] == {
        "id": grant.pk,
        "kind": "committee",
        "tier": "platinum",
        "ends_on": "2026-09-01",
    }


def test_a_committee_grant_does_not_replace_a_higher_or_longer_manual_override(
    staff, silver_member
):
    manual = tier_override_set(
        member=silver_member,
        tier=tier("diamond"),
        reason="VIP",
        ends_on=None,
        actor=staff,
        today=GRANTED,
    )
    with pytest.raises(
        DomainError, match="manual override gives them at least Diamond with no end"
    ):
        tier_override_set(
            member=silver_member,
            tier=tier("gold"),
            reason="committee",
            ends_on=ENDS,
            actor=staff,
            kind=TierOverride.Kind.COMMITTEE,
            today=day(2026, 3, 2),
        )
    manual.refresh_from_db()
    assert manual.ended_on is None
    assert tier_of(silver_member) == "diamond"


def test_an_override_needs_a_reason_an_active_member_and_a_future_end(staff, silver_member):
    with pytest.raises(DomainError):
        tier_override_set(
            member=silver_member, tier=tier("gold"), reason="", ends_on=None, actor=staff
        )
    with pytest.raises(DomainError):
        tier_override_set(
            member=silver_member,
            tier=tier("gold"),
            reason="r",
            ends_on=day(2026, 1, 1),
            actor=staff,
            today=GRANTED,
        )
    blocked = MemberFactory(status=Member.Status.BLACKLISTED)
    with pytest.raises(DomainError):
        tier_override_set(member=blocked, tier=tier("gold"), reason="r", ends_on=None, actor=staff)
    assert not TierOverride.objects.exists()


def test_a_manual_override_with_a_message_tells_the_member_and_one_without_stays_silent(
    staff, silver_member
):
    """Told only with a message, and only when the override gives the tier: a floor under a
    higher tier changes nothing for the member."""
    silver_member.email, silver_member.phone = "m@example.com", ""
    silver_member.save(update_fields=["email", "phone"])
    quiet, above_the_floor = (MemberFactory(joined_on=day(2020, 1, 1)) for _ in range(2))
    for member in (quiet, above_the_floor):
        member_evaluate(member=member, as_of=GRANTED)

    for member, code, message in (
        (silver_member, "gold", "感谢您多年来的支持。"),
        (quiet, "gold", ""),
        (above_the_floor, "regular", "感谢您的支持。"),
    ):
        tier_override_set(
            member=member,
            tier=tier(code),
            reason="key account",
            ends_on=ENDS,
            actor=staff,
            message=message,
            today=GRANTED,
        )

    sent = Notification.objects.filter(kind=Kind.EXCEPTIONAL_UPGRADE)
    assert {(n.member, n.channel) for n in sent} == {
        (silver_member, Channel.IN_APP),
        (silver_member, Channel.EMAIL),
    }
    assert all("感谢您多年来的支持。" in n.body for n in sent)
    assert tier_of(above_the_floor) == "silver"


def test_the_override_audit_entry_keeps_the_message_and_whether_the_member_was_told(
    staff, silver_member
):
    above_the_floor = MemberFactory(joined_on=day(2020, 1, 1))
    member_evaluate(member=above_the_floor, as_of=GRANTED)
    for member, code in ((silver_member, "gold"), (above_the_floor, "regular")):
        tier_override_set(
            member=member,
            tier=tier(code),
            reason="key account",
            ends_on=ENDS,
            actor=staff,
            message="  感谢您多年来的支持。 ",
            today=GRANTED,
        )

    told, floor = (
        AuditEntry.objects.get(action="tier.override.manual", target_id=str(m.pk)).after
        for m in (silver_member, above_the_floor)
    )
    assert told["message"] == "感谢您多年来的支持。" and told["member_told"] is True
    assert told["tier"] == "gold" and told["reason"] == "key account"
    assert floor["message"] == "感谢您多年来的支持。" and floor["member_told"] is False


@pytest.mark.parametrize(
    ("language", "message", "body"),
    [
        ("zh-hans", "恭喜升级", "恭喜升级。我们很高兴授予您金卡会员资格，有效期至 2026-09-01。"),
        ("zh-hans", "恭喜升级！", "恭喜升级！我们很高兴授予您金卡会员资格，有效期至 2026-09-01。"),
        (
            "zh-hans",
            "感谢“老朋友”",
            "感谢“老朋友”。我们很高兴授予您金卡会员资格，有效期至 2026-09-01。",
        ),
        ("zh-hans", "您说：“好！”", "您说：“好！”我们很高兴授予您金卡会员资格"),
        ("en", "Congratulations", "Congratulations. We are pleased to grant you Gold membership"),
        ("en", "Thank you!", "Thank you! We are pleased to grant you Gold membership"),
    ],
)
def test_the_upgrade_notice_ends_the_staff_message_as_a_sentence(
    staff, silver_member, settings, language, message, body
):
    settings.LANGUAGE_CODE = language

    tier_override_set(
        member=silver_member,
        tier=tier("gold"),
        reason="key account",
        ends_on=ENDS,
        actor=staff,
        message=message,
        today=GRANTED,
    )

    notice = Notification.objects.get(kind=Kind.EXCEPTIONAL_UPGRADE, channel=Channel.IN_APP)
    assert body in notice.body


def test_a_staff_message_reaches_every_channel_as_written_not_as_html(staff, settings):
    settings.LANGUAGE_CODE = "en"
    member = MemberFactory(name="O'Brien & Co", phone="13800000009", email="ob@example.com")
    message = 'Thanks for <b>10</b> years & your "feedback"'

    tier_override_set(
        member=member, tier=tier("gold"), reason="key account", ends_on=ENDS,
        actor=staff, message=message, today=GRANTED,
    )  # fmt: skip

    bodies = set(
        Notification.objects.filter(kind=Kind.EXCEPTIONAL_UPGRADE).values_list("body", flat=True)
    )
    assert len(bodies) == 1  # in-app, e-mail and SMS alike
    [body] = bodies
    assert body.startswith("Dear O'Brien & Co, " + message + ".") and "&amp;" not in body


def test_a_privacy_export_names_an_override_in_the_history_by_its_tier_and_dates(staff):
    member = MemberFactory(joined_on=day(2020, 1, 1))
    tier_override_set(
        member=member, tier=tier("gold"), reason="VIP", ends_on=day(2027, 6, 30), actor=staff,
        today=day(2026, 12, 1),
    )  # fmt: skip

    with translation.override("en"):
        history = member_data(member)["records"]["tiers.tierchange.member"]

    assert [row["override"] for row in history if row["override"]] == [
        "Gold 2026-12-01 – 2027-06-30"
    ]
