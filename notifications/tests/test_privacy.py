"""Erasing a member's personal data (PIPL) also clears their notices: no name left in the
outbox, nothing unsent still sent afterwards."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.utils import translation

from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from members.tests.factories import MemberFactory
from notifications.models import Channel, Notification
from notifications.privacy import member_erase
from notifications.services import notifications_deliver_due

from .test_notifications import queue_upgrade

pytestmark = pytest.mark.django_db

NAME, PHONE, EMAIL = "张娟芳", "13812345678", "juanfang@example.com"


@pytest.fixture
def member():
    member = MemberFactory(name=NAME, phone=PHONE, email=EMAIL)
    queue_upgrade(member)
    return member


def test_erasure_leaves_no_personal_data_in_the_members_notices(member):
    assert NAME in Notification.objects.get(member=member, channel=Channel.IN_APP).body
    Notification.objects.filter(channel=Channel.SMS).update(
        status=Notification.Status.FAILED, last_error=f"gateway refused {PHONE}"
    )

    member_erase(member=member, reason="PIPL-7", actor=None)

    notices = list(Notification.objects.filter(member=member).values())
    assert len(notices) == 3
    text = json.dumps(notices, ensure_ascii=False, default=str)
    for personal in (NAME, PHONE, EMAIL):
        assert personal not in text
    assert {(n["subject"], n["language"]) for n in notices} == {("[已删除]", "zh-hans")}


def test_erasure_marks_the_unsent_email_and_sms_notices_not_sent(member):
    with translation.override("en"):
        member_erase(member=member, reason="PIPL-7", actor=None)

    statuses = dict(Notification.objects.filter(member=member).values_list("channel", "status"))
    assert statuses == {
        Channel.IN_APP: Notification.Status.SENT,
        Channel.EMAIL: Notification.Status.SKIPPED,
        Channel.SMS: Notification.Status.SKIPPED,
    }
    email = Notification.objects.get(member=member, channel=Channel.EMAIL)
    # Stored in English whoever erased, shown in each staff reader's language.
    assert email.last_error == "Not sent: the member's personal data was erased."
    with translation.override("zh-hans"):
        assert email.last_error_display == "未发送：该会员的个人信息已删除。"
    assert notifications_deliver_due() == {}
    assert mail.outbox == []


def test_the_erasure_audit_entry_is_the_members_one_unchanged(member):
    member_erase(member=member, reason="PIPL-7", actor=None)

    entry = AuditEntry.objects.get(action="member.privacy_erase")
    assert entry.after["reason"] == "PIPL-7"
    assert set(entry.after) == {"reason", "erased", "audit_entries_redacted"}
    assert AuditEntry.objects.count() == 1


def test_a_refused_erasure_leaves_the_notices_as_they_were(member):
    with pytest.raises(DomainError):
        member_erase(member=member, reason=" ", actor=None)

    assert Notification.objects.filter(member=member, body__contains=NAME).count() == 3
    assert Notification.objects.filter(status=Notification.Status.PENDING).count() == 2


def test_other_members_notices_are_untouched(member):
    other = MemberFactory(name="李四", phone="13900000000", email="li@example.com")
    queue_upgrade(other)

    member_erase(member=member, reason="PIPL-7", actor=None)

    assert Notification.objects.filter(member=other, body__contains="李四").count() == 3
    assert Notification.objects.filter(member=other, status="pending").count() == 2
