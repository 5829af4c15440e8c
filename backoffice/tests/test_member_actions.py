"""Actions on one member: a form, a confirmation page with a signed token, then the service;
nothing changes on GET or before the confirmation, and every change is audited."""

from __future__ import annotations

import datetime
import os
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from loyalty.models import AuditEntry, UsedConfirmation
from members.importers import import_csv
from members.models import (
    ActivityParticipation,
    BlacklistEntry,
    Member,
    Referral,
    Transaction,
)
from members.tests.factories import MemberFactory, PurchaseFactory, RefundFactory
from notifications.models import Notification
from tiers.models import Tier, TierChange, TierOverride
from tiers.services import tier_override_end, tier_override_set, tiers_recompute

pytestmark = pytest.mark.django_db


def url(name: str, member_no: str) -> str:
    return reverse(f"backoffice:member_{name}", args=[member_no])


def token_of(response) -> str:
    match = re.search(r'name="confirm_token" value="([^"]+)"', response.content.decode())
    assert match, "no confirmation step"
    return match.group(1)


@pytest.fixture
def silver_member():
    member = MemberFactory(member_no="S001", name="孙丽", joined_on=datetime.date(2020, 1, 1))
    PurchaseFactory(member=member, amount_fen=600_000, day=timezone.localdate())
    tiers_recompute(as_of=timezone.localdate())
    return member


def test_an_override_needs_a_confirmation_then_shows_in_history_and_audit(as_role, silver_member):
    client = as_role("ops")
    ends = timezone.localdate() + datetime.timedelta(days=90)
    data = {"tier": "gold", "ends_on": ends.isoformat(), "reason": "VIP 客户投诉补偿"}

    form_page = client.get(url("override", "S001"))
    preview = client.post(url("override", "S001"), data)

    assert form_page.status_code == 200 and preview.status_code == 200
    assert "Please confirm" in preview.content.decode()
    assert not TierOverride.objects.exists()  # nothing yet

    done = client.post(url("override", "S001"), {"confirm_token": token_of(preview)})

    assert done.status_code == 302
    override = TierOverride.objects.get(member=silver_member)
    assert override.tier.code == "gold" and override.ends_on == ends
    change = TierChange.objects.filter(member=silver_member).first()
    assert change.cause == TierChange.Cause.OVERRIDE and change.note == "VIP 客户投诉补偿"
    entry = AuditEntry.objects.get(action="tier.override.manual")
    assert entry.actor == client.user and entry.after["reason"] == "VIP 客户投诉补偿"
    page = client.get(reverse("backoffice:member_detail", args=["S001"])).content.decode()
    assert "manual override" in page and "VIP 客户投诉补偿" in page
    assert "End override" in page


def test_an_override_ending_after_2999_is_refused_before_confirming(as_role, silver_member):
    page = as_role("ops").post(
        url("override", "S001"), {"tier": "gold", "ends_on": "9999-12-31", "reason": "长期"}
    )

    _refused_at_field_before_confirmation(
        page, "ends_on", 'Ends on (optional) "9999-12-31" is after 2999'
    )
    assert not TierOverride.objects.exists()


def test_an_override_that_would_take_away_a_committee_grant_is_refused_before_confirming(
    as_role, silver_member
):
    ends = timezone.localdate() + datetime.timedelta(days=365)
    grant = tier_override_set(
        member=silver_member,
        tier=Tier.objects.get(code="platinum"),
        reason="committee",
        ends_on=ends,
        actor=None,
        kind=TierOverride.Kind.COMMITTEE,
    )
    client = as_role("ops")

    page = client.post(url("override", "S001"), {"tier": "gold", "reason": "降级补偿"})

    body = page.content.decode()
    assert "confirm_token" not in body
    assert (
        "The member&#x27;s exceptional upgrade gives them at least Platinum until "
        f"{ends.isoformat()}. This would replace it with less: at least Gold with no end date. "
        "The committee&#x27;s decision is final."
    ) in body
    grant.refresh_from_db()
    assert grant.ended_on is None


def test_a_committee_grant_cannot_be_ended_early(as_role, silver_member):
    ends = timezone.localdate() + datetime.timedelta(days=365)
    grant = tier_override_set(
        member=silver_member,
        tier=Tier.objects.get(code="platinum"),
        reason="committee",
        ends_on=ends,
        actor=None,
        kind=TierOverride.Kind.COMMITTEE,
    )
    client = as_role("ops")
    member_page = client.get(reverse("backoffice:member_detail", args=["S001"])).content.decode()

    refused = client.post(url("override_end", "S001"), {"reason": "误操作"})

    assert "End override" not in member_page
    body = refused.content.decode()
    assert "confirm_token" not in body
    assert (
        "This is the committee&#x27;s exceptional upgrade: its decision is final, and the tier "
        f"it granted holds until {ends.isoformat()}."
    ) in body
    grant.refresh_from_db()
    assert grant.ended_on is None
    assert silver_member.tier_state.current_tier.code == "platinum"


def test_an_override_can_be_ended_early_with_a_reason(as_role, silver_member):
    client = as_role("ops")
    data = {"tier": "gold", "reason": "活动"}
    client.post(
        url("override", "S001"),
        {"confirm_token": token_of(client.post(url("override", "S001"), data))},
    )

    preview = client.post(url("override_end", "S001"), {"reason": "活动结束"})
    client.post(url("override_end", "S001"), {"confirm_token": token_of(preview)})

    override = TierOverride.objects.get(member=silver_member)
    assert override.ended_on == timezone.localdate() and override.end_reason == "活动结束"
    assert AuditEntry.objects.filter(action="tier.override.end").exists()


def test_a_reason_is_required(as_role, silver_member):
    response = as_role("ops").post(url("override", "S001"), {"tier": "gold", "reason": "  "})

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert "confirm_token" not in response.content.decode()


def test_a_get_changes_nothing_and_a_forged_token_is_refused(as_role, silver_member):
    client = as_role("ops")
    client.get(url("blacklist", "S001"), {"reason": "x", "confirm_token": "forged"})
    client.post(url("blacklist", "S001"), {"confirm_token": "forged"})

    silver_member.refresh_from_db()
    assert silver_member.status == Member.Status.ACTIVE
    assert not BlacklistEntry.objects.exists()


def test_a_token_is_bound_to_its_action_and_member(as_role, silver_member):
    client = as_role("ops")
    MemberFactory(member_no="S002")
    preview = client.post(url("reevaluate", "S001"), {"reason": "客户来电"})

    response = client.post(url("reevaluate", "S002"), {"confirm_token": token_of(preview)})

    assert response.status_code == 403


def test_blacklisting_stores_the_evidence_file_and_lifting_brings_the_member_back(
    as_role, silver_member, media, django_user_model
):
    ops = as_role("ops")
    upload = SimpleUploadedFile("工单截图.png", b"\x89PNG fake", content_type="image/png")
    preview = ops.post(
        url("blacklist", "S001"),
        {"reason": "恶意投诉", "evidence": "工单 #42", "evidence_file": upload},
    )
    ops.post(url("blacklist", "S001"), {"confirm_token": token_of(preview)})

    silver_member.refresh_from_db()
    entry = BlacklistEntry.objects.get(member=silver_member)
    assert silver_member.status == Member.Status.BLACKLISTED
    assert entry.evidence_file.name.startswith("blacklist-evidence/")
    assert (media / entry.evidence_file.name).read_bytes() == b"\x89PNG fake"
    audit = AuditEntry.objects.get(action="member.blacklist")
    assert audit.after["evidence_file"] == entry.evidence_file.name
    assert TierChange.objects.filter(member=silver_member, cause="revoked").exists()
    download = ops.get(reverse("backoffice:blacklist_evidence", args=[entry.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"\x89PNG fake"

    # Ops may not lift: no button, and 403 if tried.
    page = ops.get(reverse("backoffice:member_detail", args=["S001"])).content.decode()
    assert "Lift blacklist" not in page
    assert ops.get(url("blacklist_lift", "S001")).status_code == 403

    ops.logout()
    lead = as_role("ops_lead")
    assert (
        "Lift blacklist"
        in lead.get(reverse("backoffice:member_detail", args=["S001"])).content.decode()
    )
    preview = lead.post(url("blacklist_lift", "S001"), {"reason": "申诉成立"})
    lead.post(url("blacklist_lift", "S001"), {"confirm_token": token_of(preview)})

    silver_member.refresh_from_db()
    assert silver_member.status == Member.Status.ACTIVE
    assert silver_member.tier_state.current_tier.code == "silver"  # evaluated again
    assert BlacklistEntry.objects.get().lift_reason == "申诉成立"


def test_an_evidence_file_of_a_refused_kind_is_a_form_error(as_role, silver_member, media):
    upload = SimpleUploadedFile("run.exe", b"MZ", content_type="application/octet-stream")

    response = as_role("ops").post(
        url("blacklist", "S001"), {"reason": "恶意投诉", "evidence_file": upload}
    )

    assert "evidence_file" in response.context["form"].errors


def test_recording_a_purchase_evaluates_at_once(as_role):
    MemberFactory(member_no="P001", joined_on=datetime.date(2025, 1, 1))
    client = as_role("ops")
    moment = timezone.localtime().replace(second=0, microsecond=0) - datetime.timedelta(hours=1)
    data = {
        "kind": "purchase",
        "external_id": "POS-9",
        "amount": "￥20000.5",
        "occurred_at": moment.strftime("%Y-%m-%dT%H:%M"),
        "reason": "门店补录",
    }

    preview = client.post(url("transaction", "P001"), data)
    assert ("Amount (¥)", "¥20,000.50") in preview.context["summary"]
    client.post(url("transaction", "P001"), {"confirm_token": token_of(preview)})

    member = Member.objects.get(member_no="P001")
    assert Transaction.objects.get(external_id="POS-9").amount_fen == 2_000_050
    assert member.tier_state.current_tier.code == "gold"
    assert AuditEntry.objects.get(action="transaction.purchase").after["reason"] == "门店补录"


def transaction_form(**fields) -> dict:
    """The transaction form's fields: a refund of an unknown purchase unless told otherwise."""
    return {
        "kind": "refund",
        "external_id": "R-1",
        "amount": "10",
        "occurred_at": "2026-01-01T10:00",
        "refund_of": "NOPE",
        "reason": "补录",
        **fields,
    }


def _refused_at_field_before_confirmation(response, field: str, message: str) -> None:
    assert response.status_code == 200
    assert "confirm_token" not in response.content.decode()
    assert message in " ".join(response.context["form"].errors[field])


def _tomorrow_but_one() -> str:
    return (timezone.localtime() + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "refund_of", "Refund of unknown purchase NOPE."),
        (
            {"kind": "purchase", "refund_of": "", "occurred_at": "future"},
            "occurred_at",
            "A transaction cannot be dated later than tomorrow.",
        ),
        (
            {"refund_of": "POS-1", "amount": "80.01"},
            "amount",
            "Refunds of POS-1 would total ¥100.01, more than its amount ¥100.00.",
        ),
        (
            {"kind": "purchase", "external_id": "POS-1", "refund_of": ""},
            "external_id",
            "A transaction with external id POS-1 is already recorded.",
        ),
        (
            {"kind": "purchase", "refund_of": "POS-1"},
            "refund_of",
            "Only a refund names a purchase.",
        ),
        (
            # The import's and the API's years (loyalty.dates).
            {"kind": "purchase", "refund_of": "", "occurred_at": "1800-01-01T10:00"},
            "occurred_at",
            'Date and time "1800-01-01" is before 1900',
        ),
    ],
)
def test_a_refused_transaction_is_named_at_its_field_before_the_confirmation_page(
    as_role, fields, field, message
):
    member = MemberFactory(member_no="P002")
    purchase = PurchaseFactory(member=member, external_id="POS-1", amount_fen=10_000)
    RefundFactory(refund_of=purchase, amount_fen=2_000)
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    data = transaction_form(**{"occurred_at": now, **fields})
    if data["occurred_at"] == "future":
        data["occurred_at"] = _tomorrow_but_one()

    response = as_role("ops").post(url("transaction", "P002"), data)

    _refused_at_field_before_confirmation(response, field, message)
    assert Transaction.objects.count() == 2


def test_a_refund_of_a_refund_is_named_at_refund_of_before_the_confirmation_page(as_role):
    member = MemberFactory(member_no="P002")
    purchase = PurchaseFactory(member=member, external_id="POS-1", amount_fen=10_000)
    RefundFactory(refund_of=purchase, external_id="RF-1", amount_fen=2_000)
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")

    response = as_role("ops").post(
        url("transaction", "P002"), transaction_form(occurred_at=now, refund_of="RF-1")
    )

    _refused_at_field_before_confirmation(
        response, "refund_of", "RF-1 is a refund, not a purchase: a refund cannot be refunded"
    )
    assert Transaction.objects.count() == 2


@pytest.mark.parametrize("amount", ["-100", "12.345", "abc", "0"])
def test_a_bad_amount_is_named_at_its_field_before_the_confirmation_page(as_role, amount):
    MemberFactory(member_no="P003")
    client = as_role("ops")
    data = transaction_form(kind="purchase", amount=amount, refund_of="")

    response = client.post(url("transaction", "P003"), data)

    assert response.status_code == 200
    assert "confirm_token" not in response.content.decode()
    assert response.context["form"].errors["amount"]
    assert not Transaction.objects.exists()


def test_the_confirmation_page_shows_the_kind_by_its_label(as_role):
    purchase = PurchaseFactory(member=MemberFactory(member_no="P004"))
    client = as_role("ops")

    client.cookies["django_language"] = "zh-hans"
    data = transaction_form(refund_of=purchase.external_id, occurred_at="2026-02-01T10:00")
    preview = client.post(url("transaction", "P004"), data).content.decode()

    assert "<dd>退款</dd>" in preview and "<dd>refund</dd>" not in preview


def test_converting_an_experience_member_and_recording_referral_and_activity(as_role):
    trial = MemberFactory(member_no="E001", status=Member.Status.EXPERIENCE)
    friend = MemberFactory(member_no="E002", joined_on=datetime.date(2025, 3, 1))
    client = as_role("ops")

    page = client.get(reverse("backoffice:member_detail", args=["E001"])).content.decode()
    assert "Convert to full member" in page
    preview = client.post(url("convert", "E001"), {"reason": "已付费"})
    client.post(url("convert", "E001"), {"confirm_token": token_of(preview)})
    preview = client.post(url("referral", "E001"), {"referred_no": "E002", "reason": "老带新"})
    client.post(url("referral", "E001"), {"confirm_token": token_of(preview)})
    preview = client.post(
        url("activity", "E001"),
        {"activity": "线下沙龙", "occurred_at": "2026-01-10T15:00", "reason": "签到表"},
    )
    client.post(url("activity", "E001"), {"confirm_token": token_of(preview)})

    trial.refresh_from_db()
    assert trial.status == Member.Status.ACTIVE
    assert trial.referrals.get().referred == friend
    assert trial.activities.get().activity == "线下沙龙"
    assert AuditEntry.objects.get(action="member.convert").after["reason"] == "已付费"
    page = client.get(reverse("backoffice:member_detail", args=["E001"])).content.decode()
    assert "线下沙龙" in page and "E002" in page


def test_the_referred_member_is_found_in_lower_case_or_full_width_as_the_search_finds_them(
    as_role,
):
    MemberFactory(member_no="E001")
    friend = MemberFactory(member_no="E002", joined_on=datetime.date(2025, 3, 1))
    client = as_role("ops")

    preview = client.post(url("referral", "E001"), {"referred_no": " ｅ００２ ", "reason": "r"})
    client.post(url("referral", "E001"), {"confirm_token": token_of(preview)})

    assert Referral.objects.get().referred == friend


def test_a_referral_that_closes_a_circle_since_its_confirmation_page_is_refused_with_the_reason(
    as_role,
):
    for no in ("R001", "R002"):
        MemberFactory(member_no=no, joined_on=datetime.date(2025, 3, 1))
    client = as_role("ops")
    later = client.post(url("referral", "R002"), {"referred_no": "R001", "reason": "r"})
    preview = client.post(url("referral", "R001"), {"referred_no": "R002", "reason": "r"})
    client.post(url("referral", "R001"), {"confirm_token": token_of(preview)})

    response = client.post(url("referral", "R002"), {"confirm_token": token_of(later)})

    assert response.status_code == 200
    assert (
        "Member R001 already referred member R002, directly or through other members: "
        "referrals cannot go round in a circle." in response.content.decode()
    )
    assert Referral.objects.count() == 1
    # Refused by the service, the confirmation stays unused (only the first one is used).
    assert UsedConfirmation.objects.count() == 1


def test_a_role_without_the_permission_sees_no_button_and_gets_403(as_role, silver_member):
    client = as_role("committee")

    page = client.get(reverse("backoffice:member_detail", args=["S001"])).content.decode()

    assert 'class="action-bar"' in page
    for name in ("override", "blacklist", "transaction", "reevaluate", "convert"):
        assert url(name, "S001") not in page
    for name in ("override", "blacklist", "transaction", "reevaluate", "convert"):
        assert client.get(url(name, "S001")).status_code == 403
        assert client.post(url(name, "S001"), {"reason": "x"}).status_code == 403


def test_confirming_the_same_page_twice_overrides_once_and_says_it_was_used(as_role, silver_member):
    client = as_role("ops")
    data = {"tier": "gold", "message": "感谢您的支持", "reason": "VIP 客户投诉补偿"}
    token = token_of(client.post(url("override", "S001"), data))
    client.post(url("override", "S001"), {"confirm_token": token})
    notices = Notification.objects.filter(member=silver_member).count()

    again = client.post(url("override", "S001"), {"confirm_token": token}, follow=True)

    assert "This confirmation was already used" in again.content.decode()
    assert TierOverride.objects.filter(member=silver_member).count() == 1
    assert notices > 0 and Notification.objects.filter(member=silver_member).count() == notices
    assert AuditEntry.objects.filter(action="tier.override.manual").count() == 1


def test_a_confirmation_refused_as_the_member_changed_stays_unused(as_role, silver_member):
    client = as_role("ops")
    gold = Tier.objects.get(code="gold")
    first = tier_override_set(
        member=silver_member, tier=gold, reason="活动", ends_on=None, actor=client.user
    )
    token = token_of(client.post(url("override_end", "S001"), {"reason": "活动结束"}))
    # Someone else ends it meanwhile.
    tier_override_end(override=first, reason="提前结束", actor=client.user)

    refused = client.post(url("override_end", "S001"), {"confirm_token": token})
    assert "Someone else changed this member" in refused.content.decode()
    # Not used up: confirmed again, it is refused for the same reason, not as used.
    second = tier_override_set(
        member=silver_member, tier=gold, reason="活动", ends_on=None, actor=client.user
    )
    again = client.post(url("override_end", "S001"), {"confirm_token": token}).content.decode()

    assert "Someone else changed this member" in again and "already used" not in again
    assert not UsedConfirmation.objects.exists()
    second.refresh_from_db()
    assert second.ended_on is None  # the page showed the first override, not this one


@pytest.mark.parametrize(
    ("referred", "message"),
    [("R001", "A member cannot refer themselves."), ("R002", "Member R002 was already referred.")],
)
def test_a_refused_referral_is_named_at_its_field_before_the_confirmation_page(
    as_role, referred, message
):
    for no in ("R001", "R002", "R003"):
        MemberFactory(member_no=no, joined_on=datetime.date(2025, 3, 1))
    Referral.objects.create(
        referrer=Member.objects.get(member_no="R003"),
        referred=Member.objects.get(member_no="R002"),
        occurred_on=datetime.date(2025, 3, 1),
    )

    response = as_role("ops").post(
        url("referral", "R001"), {"referred_no": referred, "reason": "r"}
    )

    _refused_at_field_before_confirmation(response, "referred_no", message)
    assert Referral.objects.count() == 1


def test_a_future_referral_is_named_at_its_date_before_the_confirmation_page(as_role):
    for no in ("R001", "R002"):
        MemberFactory(member_no=no, joined_on=datetime.date(2025, 3, 1))
    later = timezone.localdate() + datetime.timedelta(days=2)
    data = {"referred_no": "R002", "occurred_on": later.isoformat(), "reason": "r"}

    response = as_role("ops").post(url("referral", "R001"), data)

    _refused_at_field_before_confirmation(
        response, "occurred_on", "A referral cannot be dated later than tomorrow."
    )
    assert not Referral.objects.exists()


def test_a_referral_before_the_referred_member_joined_is_named_at_its_date(as_role):
    MemberFactory(member_no="R001", joined_on=datetime.date(2025, 1, 1))
    MemberFactory(member_no="R002", joined_on=datetime.date(2025, 3, 1))
    data = {"referred_no": "R002", "occurred_on": "2025-02-28", "reason": "r"}

    response = as_role("ops").post(url("referral", "R001"), data)

    _refused_at_field_before_confirmation(
        response, "occurred_on", "2025-02-28 is before member R002 joined (2025-03-01)"
    )
    assert not Referral.objects.exists()


def test_a_future_activity_is_named_at_its_field_before_the_confirmation_page(as_role):
    MemberFactory(member_no="A001")
    data = {"activity": "直播互动", "occurred_at": _tomorrow_but_one(), "reason": "r"}

    response = as_role("ops").post(url("activity", "A001"), data)

    _refused_at_field_before_confirmation(
        response, "occurred_at", "An activity cannot be dated later than tomorrow."
    )


# Ids and activity names typed on a staff page are read by the import's converters
# (members.importers), as the import and the API read them.


def imported(tmp_path, kind: str, header: str, *rows: str) -> None:
    """Import rows with the CSV import itself (``import_csv``)."""
    path = tmp_path / f"{kind}.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    import_csv(kind, path)


def _days_ago(days: int) -> str:
    """A moment as the form's date-time field takes it (to the minute)."""
    moment = timezone.localtime() - datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_a_full_width_external_id_on_the_staff_page_is_the_purchase_the_import_stored(
    as_role, tmp_path
):
    MemberFactory(member_no="M1", joined_on=datetime.date(2025, 1, 1))
    bought_at = _days_ago(5)
    imported(
        tmp_path,
        "transactions",
        "external_id,member_no,kind,amount,occurred_at,refund_of",
        f"TX0001,M1,purchase,100.00,{bought_at},",
    )
    client = as_role("ops")
    purchase = {
        "kind": "purchase",
        "external_id": "ＴＸ０００１",
        "amount": "100.00",
        "occurred_at": bought_at,
    }
    refund = {
        "kind": "refund",
        "external_id": " ＲＦ１ ",
        "amount": "40",
        "refund_of": "ＴＸ０００１",
        "occurred_at": _days_ago(1),
    }

    repeat = client.post(url("transaction", "M1"), transaction_form(**purchase, refund_of=""))
    preview = client.post(url("transaction", "M1"), transaction_form(**refund))
    done = client.post(url("transaction", "M1"), {"confirm_token": token_of(preview)})

    _refused_at_field_before_confirmation(
        repeat, "external_id", "A transaction with external id TX0001 is already recorded."
    )
    shown = preview.content.decode()
    assert "<dd>RF1</dd>" in shown and "<dd>TX0001</dd>" in shown and "ＴＸ" not in shown
    assert done.status_code == 302
    assert sorted(Transaction.objects.values_list("external_id", flat=True)) == ["RF1", "TX0001"]
    assert Transaction.objects.get(external_id="RF1").refund_of.external_id == "TX0001"


def test_a_full_width_activity_on_the_staff_page_is_the_activity_the_import_stored(
    as_role, tmp_path
):
    MemberFactory(member_no="M1", joined_on=datetime.date(2025, 1, 1))
    took_part_at = _days_ago(3)
    imported(
        tmp_path,
        "activities",
        "member_no,activity,occurred_at",
        f"M1,直播互动(第1场),{took_part_at}",
    )
    client = as_role("ops")
    data = {"activity": "直播互动（第１场）", "occurred_at": took_part_at, "reason": "补录"}

    another_day = client.post(url("activity", "M1"), {**data, "occurred_at": _days_ago(2)})
    again = client.post(url("activity", "M1"), data)

    assert "<dd>直播互动(第1场)</dd>" in another_day.content.decode()
    # Named at its field before any confirmation page, as a transaction recorded already is.
    assert again.context["form"].errors["activity"] == [
        "This activity at this moment is already recorded."
    ]
    assert 'name="confirm_token"' not in again.content.decode()
    assert list(ActivityParticipation.objects.values_list("activity", flat=True)) == [
        "直播互动(第1场)"
    ]


@pytest.mark.parametrize(
    ("language", "field", "value", "message"),
    [
        ("en", "external_id", "TX 1", 'External id "TX 1" contains a space'),
        ("zh-hans", "external_id", "ＴＸ　１", "外部编号“ＴＸ　１”含有空格"),
        (
            "en",
            "external_id",
            "TX1\u202c",
            "External id contains a control or invisible character (U+202C)",
        ),
        (
            "zh-hans",
            "refund_of",
            "P1\u200b",
            "退款对应消费（消费的外部编号） 含有控制字符或不可见字符（U+200B）",
        ),
        ("en", "refund_of", "P 1", 'Refund of (purchase external id) "P 1" contains a space'),
    ],
)
def test_an_id_the_import_refuses_is_named_at_its_field_and_nothing_is_written(
    as_role, language, field, value, message
):
    PurchaseFactory(member=MemberFactory(member_no="M1"), external_id="P1")
    data = transaction_form(**{"refund_of": "P1", "occurred_at": _days_ago(1), field: value})

    response = as_role("ops", language).post(url("transaction", "M1"), data)

    _refused_at_field_before_confirmation(response, field, message)
    assert Transaction.objects.count() == 1
    assert not AuditEntry.objects.filter(action__startswith="transaction.").exists()


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Activity contains a control or invisible character (U+202E)"),
        ("zh-hans", "活动 含有控制字符或不可见字符（U+202E）"),
    ],
)
def test_an_activity_name_the_import_refuses_is_named_at_its_field_and_nothing_is_written(
    as_role, language, message
):
    MemberFactory(member_no="M1")
    data = {"activity": "直播\u202e互动", "occurred_at": _days_ago(1), "reason": "r"}

    response = as_role("ops", language).post(url("activity", "M1"), data)

    _refused_at_field_before_confirmation(response, "activity", message)
    assert not ActivityParticipation.objects.exists()


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("override", {"tier": "gold", "reason": "补偿"}, "Only an active member can hold a tier."),
        ("blacklist", {"reason": "again"}, "Member B001 is already blacklisted."),
        ("convert", {"reason": "r"}, "Only an experience member can be converted"),
        ("reevaluate", {"reason": "r"}, "Only an active member is evaluated: B001 is blacklisted."),
    ],
)
def test_an_action_a_blacklisted_member_cannot_take_is_refused_before_confirming(
    as_role, action, data, message
):
    MemberFactory(member_no="B001", status=Member.Status.BLACKLISTED)

    page = as_role("ops_lead").post(url(action, "B001"), data)

    body = page.content.decode()
    assert page.status_code == 200 and "confirm_token" not in body
    assert message in body
    assert not TierOverride.objects.exists() and not BlacklistEntry.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="member.").exists()


@pytest.mark.parametrize(
    ("action", "role", "refusal"),
    [
        ("convert", "ops", "Only an experience member can be converted to a full member."),
        ("blacklist_lift", "ops_lead", "Member A001 is not blacklisted."),
    ],
)
def test_an_action_the_member_cannot_take_is_refused_before_confirming(
    as_role, action, role, refusal
):
    MemberFactory(member_no="A001")  # an active member

    page = as_role(role).post(url(action, "A001"), {"reason": "r"})

    body = page.content.decode()
    assert "confirm_token" not in body
    assert refusal in body
    assert not AuditEntry.objects.filter(action__startswith="member.").exists()


def test_evidence_of_a_blacklisting_never_confirmed_is_deleted_once_its_page_expired(
    as_role, silver_member, media
):
    MemberFactory(member_no="S002")
    ops = as_role("ops")

    def preview(member_no: str, content: bytes):
        upload = SimpleUploadedFile("截图.png", content, content_type="image/png")
        return ops.post(
            url("blacklist", member_no), {"reason": "恶意投诉", "evidence_file": upload}
        )

    confirmed = preview("S001", b"\x89PNG kept")
    ops.post(url("blacklist", "S001"), {"confirm_token": token_of(confirmed)})
    preview("S002", b"\x89PNG abandoned")
    preview("S002", b"\x89PNG still open")  # another page, still open
    files = {path.read_bytes(): path for path in media.rglob("*.png")}
    over_an_hour_ago = time.time() - 3601
    for content in (b"\x89PNG kept", b"\x89PNG abandoned"):
        os.utime(files[content], (over_an_hour_ago, over_an_hour_ago))
    still_open = time.time() - 1799  # 30 minutes, less a second: its page could be confirmed
    os.utime(files[b"\x89PNG still open"], (still_open, still_open))

    preview("S002", b"\x89PNG again")  # the page shown again, with a new file

    assert sorted(path.read_bytes() for path in media.rglob("*.png")) == [
        b"\x89PNG again",
        b"\x89PNG kept",
        b"\x89PNG still open",
    ]


def test_the_confirmation_says_which_open_override_a_new_one_replaces(as_role, silver_member):
    client = as_role("ops")
    ends = timezone.localdate() + datetime.timedelta(days=200)
    tier_override_set(
        member=silver_member, tier=Tier.objects.get(code="diamond"), reason="key account",
        ends_on=ends, actor=None,
    )  # fmt: skip

    preview = client.post(
        url("override", "S001"), {"tier": "gold", "ends_on": "", "reason": "contract changed"}
    ).content.decode()

    assert re.search(
        rf"Replaces the open override</dt>\s*<dd>Diamond until {ends.isoformat()}</dd>", preview
    ), preview


def test_a_confirmation_page_drawn_before_a_colleagues_override_does_nothing(
    as_role, silver_member
):
    client = as_role("ops")
    ends = timezone.localdate() + datetime.timedelta(days=90)
    preview = client.post(
        url("override", "S001"), {"tier": "gold", "ends_on": ends.isoformat(), "reason": "补偿"}
    )
    # A colleague's override, set between the confirmation page and the click.
    tier_override_set(
        member=silver_member, tier=Tier.objects.get(code="platinum"), reason="key account",
        ends_on=ends + datetime.timedelta(days=30), actor=None,
    )  # fmt: skip

    refused = client.post(url("override", "S001"), {"confirm_token": token_of(preview)})

    assert refused.status_code == 200
    page = refused.content.decode()
    assert "Someone else changed this member&#x27;s status, tier or override" in page
    assert list(TierOverride.objects.values_list("tier__code", "ended_on")) == [("platinum", None)]
    # Submitted again, the new confirmation page names the colleague's override.
    again = client.post(
        url("override", "S001"), {"tier": "gold", "ends_on": ends.isoformat(), "reason": "补偿"}
    ).content.decode()
    assert "Replaces the open override" in again and "Platinum" in again
