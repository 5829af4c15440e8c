"""PIPL privacy requests: export everything held about a member, erase the personal data."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest
from django.contrib.auth import get_user_model

from loyalty.audit import REDACTED
from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from members import privacy
from members.models import Member, Transaction
from members.services import member_create, member_update

from .factories import (
    ActivityFactory,
    BlacklistEntryFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
    RefundFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    return get_user_model().objects.create_user(username="lead", password="x-long-password")


@pytest.fixture
def member(lead):
    member = member_create(
        member_no="M0000042",
        name="王小明",
        phone="13812348000",
        email="xiaoming@example.com",
        birthday=datetime.date(1990, 5, 17),
        joined_on=datetime.date(2020, 3, 1),
        actor=lead,
    )
    member_update(member=member, phone="13900001111", actor=lead)
    purchase = PurchaseFactory(member=member, external_id="POS-1", amount_fen=123456)
    RefundFactory(refund_of=purchase, external_id="POS-1-R", amount_fen=456)
    ActivityFactory(member=member, activity='=HYPERLINK("http://evil")')
    return Member.objects.get(pk=member.pk)


def test_the_json_export_holds_the_profile_and_every_record(member, lead):
    friend = MemberFactory(member_no="F0000001", name="李四", phone="13700000000")
    ReferralFactory(referrer=member, referred=friend)

    data = json.loads(privacy.member_export_json(member=member, actor=lead))

    assert data["member"]["member_no"] == "M0000042"
    assert data["member"]["name"] == "王小明"
    assert data["member"]["phone"] == "13900001111"
    assert data["member"]["birthday"] == "1990-05-17"
    records = data["records"]
    assert [t["external_id"] for t in records["members.transaction.member"]] == [
        "POS-1",
        "POS-1-R",
    ]
    refund = records["members.transaction.member"][1]
    assert (refund["amount_fen"], refund["amount"]) == (456, "4.56")  # yuan, to read
    assert refund["refund_of"] == "POS-1"
    assert len(records["members.activityparticipation.member"]) == 1
    assert len(records["members.referral.referrer"]) == 1
    actions = [entry["action"] for entry in records["loyalty.auditentry"]]
    assert actions == ["member.create", "member.update"]
    # Every model that points at a member is there, those of the apps above included.
    assert "tiers.tierchange.member" in records
    assert "tiers.memberevaluation.member" in records


def test_the_export_leaves_out_the_other_members_data(member, lead):
    friend = MemberFactory(name="李四", phone="13700000000", member_no="M-FRIEND")
    ReferralFactory(referrer=member, referred=friend)

    text = privacy.member_export_json(member=member, actor=lead)

    assert "李四" not in text
    assert "13700000000" not in text
    assert "M-FRIEND" not in text
    referral = json.loads(text)["records"]["members.referral.referrer"][0]
    assert referral["referred"] == privacy.OTHER_MEMBER


def test_the_csv_export_holds_the_same_values_one_per_line(member, lead):
    text = privacy.member_export_csv(member=member, actor=lead)

    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["record", "row", "field", "value"]
    assert ["members.member", "1", "name", "王小明"] in rows
    assert ["members.member", "1", "email", "xiaoming@example.com"] in rows
    assert ["members.transaction.member", "2", "external_id", "POS-1-R"] in rows
    assert ["loyalty.auditentry", "2", "after.phone", "13900001111"] in rows


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_escaped(member, lead):
    text = privacy.member_export_csv(member=member, actor=lead)

    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    activity = [r for r in rows if r[0].startswith("members.activity") and r[2] == "activity"]
    assert activity[0][3] == '\'=HYPERLINK("http://evil")'


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+8613812348000", "'+8613812348000"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("王小明", "王小明"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_safe_prefixes_an_apostrophe_only_to_formula_starts(value, cell):
    assert privacy.csv_safe(value) == cell


def test_each_export_is_audited_with_its_format(member, lead):
    privacy.member_export_json(member=member, actor=lead)
    privacy.member_export_csv(member=member, actor=lead)

    entries = AuditEntry.objects.filter(action="member.privacy_export").order_by("pk")
    assert [e.after["format"] for e in entries] == ["json", "csv"]
    assert all(e.actor == lead and e.target_id == str(member.pk) for e in entries)
    assert entries[0].after["records"]["members.transaction.member"] == 2


# --- Erasure -----------------------------------------------------------------------------


def test_erasure_replaces_the_personal_data_and_the_member_number(member, lead):
    erased = privacy.member_erase(member=member, reason="工单 PIPL-2026-001", actor=lead)

    stored = Member.objects.get(pk=member.pk)
    assert stored.name == privacy.ERASED_NAME
    assert stored.phone == ""
    assert stored.email == ""
    assert stored.birthday is None
    assert stored.member_no.startswith(privacy.ERASED_PREFIX)
    assert stored.member_no == erased.member_no
    assert not Member.objects.filter(member_no="M0000042").exists()
    assert privacy.member_is_erased(stored)


def test_erasure_keeps_the_facts_for_the_statistics(member, lead):
    privacy.member_erase(member=member, reason="工单 PIPL-2026-001", actor=lead)

    assert Transaction.objects.filter(member=member).count() == 2
    assert member.activities.count() == 1
    stored = Member.objects.get(pk=member.pk)
    assert stored.joined_on == datetime.date(2020, 3, 1)
    assert stored.status == Member.Status.ACTIVE


def test_erasure_blanks_the_personal_values_in_the_members_audit_entries(member, lead):
    privacy.member_erase(member=member, reason="工单 PIPL-2026-001", actor=lead)

    text = json.dumps(
        list(AuditEntry.objects.values("before", "after")), ensure_ascii=False, default=str
    )
    for personal in ("王小明", "13812348000", "13900001111", "xiaoming@example.com", "1990-05-17"):
        assert personal not in text
    assert "M0000042" not in text
    create = AuditEntry.objects.get(action="member.create")
    assert create.after["name"] == REDACTED
    assert create.after["joined_on"] == "2020-03-01"
    assert create.actor == lead


def test_erasure_is_audited_with_its_reason_and_no_personal_value(member, lead):
    privacy.member_erase(member=member, reason="工单 PIPL-2026-001", actor=lead)

    entry = AuditEntry.objects.get(action="member.privacy_erase")
    assert entry.actor == lead
    assert entry.target_id == str(member.pk)
    assert entry.after["reason"] == "工单 PIPL-2026-001"
    assert entry.after["audit_entries_redacted"] == 2
    assert "王小明" not in json.dumps(entry.after, ensure_ascii=False)


def test_erasure_needs_a_reason(member, lead):
    with pytest.raises(DomainError):
        privacy.member_erase(member=member, reason="  ", actor=lead)

    assert Member.objects.get(pk=member.pk).name == "王小明"


def test_a_member_is_erased_only_once(member, lead):
    privacy.member_erase(member=member, reason="first", actor=lead)

    with pytest.raises(DomainError):
        privacy.member_erase(member=member, reason="second", actor=lead)

    assert AuditEntry.objects.filter(action="member.privacy_erase").count() == 1


def test_a_blacklisted_member_can_be_erased_and_the_entry_stays(lead):
    entry = BlacklistEntryFactory()

    privacy.member_erase(member=entry.member, reason="ticket 7", actor=lead)

    assert entry.member.blacklist_entries.count() == 1
    assert Member.objects.get(pk=entry.member.pk).status == Member.Status.BLACKLISTED
