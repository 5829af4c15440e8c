"""The outbox: notices rendered per kind and language, once per event, delivered by e-mail and
SMS with retries and backoff, then failed, visibly; templates and resends audited."""

from __future__ import annotations

import datetime
import http.server
import importlib
import json
import re
import threading

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core import mail
from django.test import override_settings
from django.utils import timezone, translation
from django_q.conf import Conf

from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from members.models import Member
from members.tests.factories import MemberFactory
from notifications.models import Channel, Kind, Notification, NotificationTemplate
from notifications.selectors import member_messages
from notifications.services import (
    Notice,
    notices_queue,
    notification_resend,
    notifications_deliver_due,
    resend_refusal,
    template_check,
    template_update,
)
from notifications.sms import send_sms

pytestmark = pytest.mark.django_db


class _Gateway(http.server.BaseHTTPRequestHandler):
    """A local SMS gateway: answers with the status the test sets, keeps what it received."""

    status = 200
    received: list = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        type(self).received.append(
            (self.headers["Authorization"], json.loads(self.rfile.read(length)))
        )
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    handler = type("Gateway", (_Gateway,), {"status": 200, "received": []})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/send"
    with override_settings(SMS_BACKEND="http", SMS_GATEWAY_URL=url, SMS_GATEWAY_KEY="k-123"):
        yield handler
    server.shutdown()
    server.server_close()


def refreshed_member(member: Member) -> Member:
    return Member.objects.get(pk=member.pk)


def queue_upgrade(member, today=None):
    today = today or timezone.localdate()

    class Gold:
        name = "金卡会员"

    return notices_queue(
        [
            Notice(
                member_id=member.pk,
                kind=Kind.UPGRADE,
                dedupe_key=f"upgrade:gold:{today}",
                event_on=today,
                name=member.name,
                phone=member.phone,
                email=member.email,
                context={"tier": Gold(), "tier_year_end": today + datetime.timedelta(days=365)},
            )
        ]
    )


def test_a_notice_is_queued_once_per_channel_and_event_however_often_it_is_queued():
    member = MemberFactory(phone="13800000000", email="a@example.com")

    assert queue_upgrade(member) == 3
    queue_upgrade(member)

    rows = Notification.objects.filter(member=member)
    assert sorted(rows.values_list("channel", flat=True)) == ["email", "in_app", "sms"]
    in_app = rows.get(channel="in_app")
    assert in_app.status == "sent" and "金卡会员" in in_app.subject
    assert in_app.body.startswith(member.name)


def test_each_member_is_told_in_their_language_of_notices_in_one_queueing():
    """Members who chose a language get their notices in it; the others in the site's."""
    site, english, chinese = (MemberFactory(language=lang) for lang in ("", "en", "zh-hans"))
    subjects = {}
    for lang in ("zh-hans", "en"):
        template = NotificationTemplate.objects.get(kind=Kind.UPGRADE, language=lang)
        template.subject = f"{lang}: {{{{ tier.name }}}}"
        template.save()

    with override_settings(LANGUAGE_CODE="zh-hans"):
        notices_queue([_upgrade_notice(member) for member in (site, english, chinese)])

    for notice in Notification.objects.filter(channel="in_app"):
        subjects[notice.member_id] = (notice.language, notice.subject)
    assert subjects == {
        site.pk: ("zh-hans", "zh-hans: 金卡会员"),
        english.pk: ("en", "en: 金卡会员"),
        chinese.pk: ("zh-hans", "zh-hans: 金卡会员"),
    }
    with override_settings(LANGUAGE_CODE="en"):
        notices_queue([_upgrade_notice(site, "2027-01-01")])
    assert Notification.objects.get(dedupe_key="upgrade:gold:2027-01-01").language == "en"


def _upgrade_notice(member, on="2026-12-01") -> Notice:
    class Gold:
        name = "金卡会员"

    return Notice(
        member_id=member.pk,
        kind=Kind.UPGRADE,
        dedupe_key=f"upgrade:gold:{on}",
        event_on=datetime.date.fromisoformat(on),
        name=member.name,
        context={"tier": Gold(), "tier_year_end": datetime.date(2027, 12, 1)},
    )


def test_without_a_secret_key_notices_wait_for_the_daily_run_and_the_log_says_so(
    settings, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    # A command run outside the web's environment (import, recompute) has no SECRET_KEY to
    # sign a task with; django-q2 reads it when it is first imported.
    settings.SECRET_KEY = ""
    monkeypatch.setattr(Conf, "SECRET_KEY", None)
    member = MemberFactory(phone="13800000000")

    with django_capture_on_commit_callbacks(execute=True):
        queue_upgrade(member)

    sms = Notification.objects.get(member=member, channel="sms")
    assert sms.status == "pending"
    assert "wait in the outbox for the daily notification run" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_email_and_sms_are_delivered_through_the_configured_backends(gateway):
    member = MemberFactory(phone="13800000001", email="b@example.com")
    queue_upgrade(member)

    counts = notifications_deliver_due()

    assert counts == {"sent": 2}
    assert mail.outbox[0].to == ["b@example.com"] and "金卡会员" in mail.outbox[0].subject
    assert gateway.received[0][0] == "Bearer k-123"
    assert gateway.received[0][1]["phone"] == "13800000001"
    assert Notification.objects.filter(status="sent").count() == 3


def test_a_delivery_run_goes_on_in_batches_until_none_is_due_the_newest_first(gateway):
    # A backlog (a gateway that was down for two days), then a notice a commit just wrote.
    backlog = [MemberFactory(phone=f"1390000000{n}", email="") for n in range(5)]
    two_days_ago = timezone.localdate() - datetime.timedelta(days=2)
    for member in backlog:
        queue_upgrade(member, today=two_days_ago)
    Notification.objects.update(created_at=timezone.now() - datetime.timedelta(days=2))
    fresh = MemberFactory(phone="13911111111", email="")
    queue_upgrade(fresh)

    assert notifications_deliver_due(batch_size=2) == {"sent": 6}

    phones = [body["phone"] for _, body in gateway.received]
    assert phones[0] == fresh.phone
    assert sorted(phones[1:]) == sorted(member.phone for member in backlog)
    assert not Notification.objects.filter(status__in=["pending", "sending"]).exists()


def test_a_delivery_run_out_of_time_queues_the_next_run_for_the_rest(gateway):
    members = [MemberFactory(phone=f"1390000000{n}", email="") for n in range(5)]
    for member in members:
        queue_upgrade(member)

    # Out of time after its first batch (the tests' worker runs a queued run at once).
    first = notifications_deliver_due(batch_size=2, seconds=0)

    assert first == {"sent": 2}
    assert len(gateway.received) == 5
    assert not Notification.objects.filter(status__in=["pending", "sending"]).exists()


def test_a_notice_queued_before_a_blacklisting_is_not_sent_after_it(gateway):
    member = MemberFactory(phone="13900000001", email="")
    queue_upgrade(member)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLACKLISTED)

    assert notifications_deliver_due() == {"skipped": 1}

    assert gateway.received == []
    notice = Notification.objects.get(member=member, channel=Channel.SMS)
    with translation.override("zh-hans"):
        assert notice.last_error_display == "未发送：该会员当前不持有等级（写入后被列入黑名单）。"


class SendsWhileAnotherRunStarts:
    """An SMS backend during whose first send another delivery run starts (a second worker
    took the run queued by the next commit)."""

    sent: list[str] = []

    def send(self, phone: str, text: str) -> None:
        type(self).sent.append(phone)
        if len(type(self).sent) == 1:
            notifications_deliver_due()


def test_a_run_going_for_eleven_minutes_claims_for_ten_minutes_from_the_claim(settings):
    settings.SMS_BACKEND = f"{__name__}.SendsWhileAnotherRunStarts"
    SendsWhileAnotherRunStarts.sent = []
    member = MemberFactory(phone="13800000009", email="")
    queue_upgrade(member)
    # The run read the clock 11 minutes ago and has been sending since: its claim of this
    # notice, made now, must hold the other run off.
    started = timezone.now() - datetime.timedelta(minutes=11)

    assert notifications_deliver_due(now=started) == {"sent": 1}

    assert SendsWhileAnotherRunStarts.sent == [member.phone]  # one SMS, not two


def test_a_failing_sms_gateway_is_retried_with_backoff_then_the_notice_is_failed(
    gateway, client, django_user_model
):
    gateway.status = 503
    member = MemberFactory(phone="13800000002", email="")
    queue_upgrade(member)
    sms = Notification.objects.get(channel="sms")
    now = timezone.now()

    notifications_deliver_due(now=now)
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == ("pending", 1)
    assert "503" in sms.last_error
    assert sms.next_attempt_at == now + datetime.timedelta(minutes=5)

    notifications_deliver_due(now=now + datetime.timedelta(minutes=4))  # not due yet
    sms.refresh_from_db()
    assert sms.attempts == 1

    later = now
    for attempt, wait in [(2, 5), (3, 20), (4, 80)]:
        later += datetime.timedelta(minutes=wait)
        notifications_deliver_due(now=later)
        sms.refresh_from_db()
        assert sms.attempts == attempt
    assert sms.status == "failed" and sms.next_attempt_at is None
    assert len(gateway.received) == 4

    # Shown as failed to staff: on the jobs page and on the member's notifications.
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("ops-n", password="x")
    user.groups.add(Group.objects.get(name="ops"))
    client.force_login(user)
    overview = client.get("/jobs/").content.decode()
    assert "503" in overview and member.member_no in overview
    page = client.get(f"/jobs/members/{member.member_no}/notifications/").content.decode()
    assert "SMS gateway answered 503" in page


def test_staff_resend_a_failed_notice_with_a_reason_and_it_is_audited(gateway):
    gateway.status = 500
    member = MemberFactory(phone="13800000003", email="")
    queue_upgrade(member)
    sms = Notification.objects.get(channel="sms")
    Notification.objects.filter(pk=sms.pk).update(status="failed", attempts=4)
    gateway.status = 200

    with pytest.raises(DomainError):
        notification_resend(notification=sms, reason=" ", actor=None)
    notification_resend(notification=sms, reason="member asked again", actor=None)
    notifications_deliver_due()

    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == ("sent", 1)
    audit = AuditEntry.objects.get(action="notification.resend")
    assert audit.after == {"status": "pending", "reason": "member asked again"}


def test_a_notice_of_an_erased_member_is_not_resent(gateway):
    from notifications.privacy import member_erase

    member = MemberFactory(phone="13800000006", email="")
    queue_upgrade(member)
    sms = Notification.objects.get(channel="sms")
    member_erase(member=member, reason="PIPL-9", actor=None)

    with pytest.raises(DomainError, match="个人信息已删除"):
        notification_resend(notification=sms, reason="member asked again", actor=None)

    sms.refresh_from_db()
    assert (
        sms.status == "skipped"
        and not AuditEntry.objects.filter(action="notification.resend").exists()
    )


@pytest.mark.parametrize("status", ["blacklisted", "experience"])
def test_a_notice_of_a_member_who_holds_no_tier_now_is_not_resent(gateway, status):
    from members.services import member_blacklist

    member = MemberFactory(phone="13800000007", email="")
    queue_upgrade(member)  # "upgraded to Gold", and nothing told them of what came after
    sms = Notification.objects.get(channel="sms")
    if status == "blacklisted":  # NOTIFY_BLACKLISTED off: no notice of the entry
        member_blacklist(member=member, reason="fraud", evidence="case 7", actor=None)
    else:
        Member.objects.filter(pk=member.pk).update(status=status)

    with translation.override("en"), pytest.raises(DomainError, match="holds no tier now"):
        notification_resend(notification=sms, reason="member asked again", actor=None)

    assert Notification.objects.get(pk=sms.pk).status == sms.status
    assert not AuditEntry.objects.filter(action="notification.resend").exists()
    assert resend_refusal(refreshed_member(member)) is not None


def test_a_notice_overtaken_by_a_later_one_is_not_resent(gateway):
    member = MemberFactory(phone="13800000005", email="")
    queue_upgrade(member, today=timezone.localdate() - datetime.timedelta(days=40))
    upgrade = Notification.objects.get(channel="sms")
    later = timezone.now() + datetime.timedelta(seconds=1)
    notices_queue(
        [Notice(member_id=member.pk, kind=Kind.BLACKLIST, dedupe_key="blacklist:x",
                event_on=timezone.localdate(), name=member.name, phone=member.phone)],
        now=later,
    )  # fmt: skip
    revoked = Notification.objects.get(channel="sms", kind=Kind.BLACKLIST)

    with translation.override("en"), pytest.raises(DomainError, match="out of date"):
        notification_resend(notification=upgrade, reason="member asked", actor=None)
    notification_resend(notification=revoked, reason="member asked", actor=None)

    unchanged = Notification.objects.get(pk=upgrade.pk)
    assert (unchanged.event_on, unchanged.attempts) == (upgrade.event_on, upgrade.attempts)
    assert AuditEntry.objects.filter(action="notification.resend").count() == 1


def test_notices_about_old_events_are_stored_in_app_but_not_sent():
    member = MemberFactory(phone="13800000004", email="c@example.com")
    queue_upgrade(member, today=timezone.localdate() - datetime.timedelta(days=30))

    assert notifications_deliver_due() == {"skipped": 2}
    assert not mail.outbox
    assert member_messages(member).get().status == "sent"


def test_member_messages_lists_the_in_app_messages_newest_first():
    member = MemberFactory()
    today = timezone.localdate()
    queue_upgrade(member, today=today - datetime.timedelta(days=2))
    Notification.objects.update(created_at=timezone.now() - datetime.timedelta(days=2))
    queue_upgrade(member, today=today)

    messages = list(member_messages(member))

    assert [m.dedupe_key for m in messages] == [
        f"upgrade:gold:{d}" for d in (today, today - datetime.timedelta(days=2))
    ]
    assert all(m.channel == "in_app" for m in messages)


def test_send_sms_logs_the_message_with_the_console_backend(caplog):
    with (
        override_settings(SMS_BACKEND="console"),
        caplog.at_level("INFO", logger="notifications.sms"),
    ):
        send_sms("13800000005", "您的验证码是 123456")

    assert "13800000005" in caplog.text and "123456" in caplog.text


def test_a_template_change_is_audited_and_an_invalid_one_refused():
    template = NotificationTemplate.objects.get(kind=Kind.UPGRADE, language="en")

    with pytest.raises(DomainError):
        template_update(template=template, subject="{% if %}", body="x", actor=None)
    template_update(template=template, subject="Welcome to {{ tier.name }}", body="Hi", actor=None)

    audit = AuditEntry.objects.get(action="notification.template.update")
    assert audit.after["subject"] == "Welcome to {{ tier.name }}"
    assert NotificationTemplate.objects.filter(language="zh-hans").count() == len(Kind)


@pytest.mark.parametrize(
    ("kind", "subject", "message"),
    [
        (Kind.DOWNGRADE_WARNING, "保级提醒 {{ tier.name ", "“{{” opens or closes nothing"),
        (Kind.UPGRADE, "Welcome {% if tier %}", "Unclosed tag"),
        (Kind.UPGRADE, "Welcome to {{ nonexistent.var }}", "This notice has no {{ nonexistent }}"),
        # A downgrade notice has no "tier": its tiers are from_tier and to_tier.
        (Kind.DOWNGRADE, "Now {{ tier.name }}", "it can use: from_tier, member_name, to_tier."),
        (Kind.UPGRADE, "Welcome {# a note", "“{#” opens or closes nothing"),
    ],
)
def test_a_template_the_notices_could_not_fill_is_refused_and_nothing_changes(
    kind, subject, message
):
    template = NotificationTemplate.objects.get(kind=kind, language="en")
    before = template.subject

    with translation.override("en"), pytest.raises(DomainError, match=re.escape(message)):
        template_update(template=template, subject=subject, body="x", actor=None)

    template.refresh_from_db()
    assert template.subject == before
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        "{% with name=tier.name %}{{ name }}{% endwith %}",
        "{% load i18n %}{% translate 'Gold' as gold %}{{ gold }}",
        "{% for part in missing %}{{ forloop.counter }} {{ part }}{% endfor %}",
        "{% firstof tier.name 'a tier' as shown %}{{ shown }}",
        "{% if tier %}{{ tier.name|default:member_name }}{% endif %}",
    ],
)
def test_names_a_template_binds_itself_are_not_taken_for_missing_variables(text):
    template_check(text, Kind.DOWNGRADE_WARNING)


def test_every_default_template_passes_the_check_for_its_kind():
    for template in NotificationTemplate.objects.all():
        template_check(template.subject, template.kind)
        template_check(template.body, template.kind)


def test_the_exceptional_upgrade_default_names_the_tier_and_the_migration_reverses():
    migration = importlib.import_module(
        "notifications.migrations.0003_exceptional_upgrade_names_the_tier_granted"
    )
    templates = NotificationTemplate.objects.filter(kind=Kind.EXCEPTIONAL_UPGRADE)
    edited = templates.get(language="en")
    edited.body = "Dear {{ member_name }}, {{ message }}"
    edited.save()

    assert templates.get(language="zh-hans").body == migration.NEW["zh-hans"]
    assert "{{ tier.name }}" in migration.NEW["zh-hans"]
    migration.backwards(apps, None)
    assert templates.get(language="zh-hans").body == migration.OLD["zh-hans"]
    migration.forwards(apps, None)
    assert templates.get(language="zh-hans").body == migration.NEW["zh-hans"]
    assert templates.get(language="en").body == edited.body  # an edited text stays as it is


def test_the_review_declined_subject_names_the_special_review_channel_and_reverses():
    migration = importlib.import_module(
        "notifications.migrations.0006_review_declined_subject_names_the_channel"
    )
    template = NotificationTemplate.objects.filter(kind=Kind.REVIEW_DECLINED, language="zh-hans")

    assert template.get().subject == "您的特殊评审结果"
    migration.backwards(apps, None)
    assert template.get().subject == "您的特别评审结果"
    template.update(subject="评审结果")  # edited by staff: left as it is
    migration.forwards(apps, None)
    assert template.get().subject == "评审结果"


def test_the_downgrade_warning_names_the_tier_it_gives_and_the_migration_reverses():
    migration = importlib.import_module(
        "notifications.migrations.0007_downgrade_warning_names_the_tier_it_gives"
    )
    templates = NotificationTemplate.objects.filter(kind=Kind.DOWNGRADE_WARNING)
    assert "调整为{{ to_tier.name }}。" in templates.get(language="zh-hans").body
    assert "becomes {{ to_tier.name }}, no sooner" in templates.get(language="en").body
    edited = templates.get(language="zh-hans")
    edited.body = (
        "{{ member_name }}，您好！请保持{{ tier.name }}，否则为{{ qualified_tier.name }}。"
    )
    edited.save()

    migration.backwards(apps, None)
    assert "becomes {{ qualified_tier.name }}, no sooner" in templates.get(language="en").body
    migration.forwards(apps, None)
    assert "becomes {{ to_tier.name }}, no sooner" in templates.get(language="en").body
    assert templates.get(language="zh-hans").body == edited.body  # an edited text stays as it is


def test_why_a_notice_was_skipped_is_stored_in_english_and_shown_in_the_readers_language(
    client, django_user_model
):
    member = MemberFactory(member_no="OLD1", phone="", email="d@example.com")
    queue_upgrade(member, today=timezone.localdate() - datetime.timedelta(days=30))
    with translation.override("zh-hans"):  # whoever runs the delivery
        notifications_deliver_due()
    email = Notification.objects.get(member=member, channel="email")
    assert email.last_error == "The event is too old to send (a recompute of past dates)."

    user = django_user_model.objects.create_user("ops-reader", password="x")
    user.groups.add(Group.objects.get(name="ops"))
    client.force_login(user)
    url = f"/jobs/members/{member.member_no}/notifications/"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "The event is too old to send" in client.get(url).content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert "该事件过于久远，不再发送" in client.get(url).content.decode()


def test_a_skip_reason_stored_in_chinese_by_an_earlier_version_reads_in_english_too():
    member = MemberFactory()
    queue_upgrade(member)
    notice = Notification.objects.get(member=member, channel="in_app")
    notice.last_error = "该会员没有手机号。"
    backend_error = Notification(last_error="SMTPException: 连接超时")

    with translation.override("en"):
        assert notice.last_error_display == "The member has no phone number."
        assert backend_error.last_error_display == "SMTPException: 连接超时"


# --- Texts rendered once for many members ---------------------------------------------------


def _downgrades(members, today) -> list[Notice]:
    return [
        Notice(
            member_id=member.pk,
            kind=Kind.DOWNGRADE,
            dedupe_key=f"downgrade:gold:silver:{today}",
            event_on=today,
            name=member.name,
            # Plain data, as tiers and dates are for the renderer (notifications knows no tiers).
            context={"from_tier": "金卡会员", "to_tier": "银卡会员", "on": today},
        )
        for member in members
    ]


def _each_rendered_alone(template: NotificationTemplate, notices: list[Notice]) -> list[tuple]:
    """The texts as a template renders them for one member at a time (the reference)."""
    from django.template import Context, Engine

    engine = Engine(autoescape=False, libraries={"i18n": "django.templatetags.i18n"})
    subject, body = engine.from_string(template.subject), engine.from_string(template.body)
    texts = []
    with translation.override(template.language):
        for notice in notices:
            context = Context({"member_name": notice.name, **notice.context}, autoescape=False)
            texts.append((subject.render(context).strip(), body.render(context).strip()))
    return texts


@pytest.mark.parametrize(
    "body",
    [
        "{{ member_name }}，您的等级已于{{ on }}由{{ from_tier }}调整为{{ to_tier }}。",
        "{{member_name}}: {{ from_tier }} → {{ to_tier }} ({{ member_name }})",
        "{{ member_name|upper }}: {{ to_tier }}",  # a filter: rendered for each member
        "{% if member_name %}{{ member_name }}，{% endif %}您现在是{{ to_tier }}。",
    ],
)
def test_many_members_told_of_one_event_get_the_texts_a_render_for_each_would_give(body):
    today = timezone.localdate()
    names = ["王小明", "", "<b>Ann & Bob</b>", "{{ to_tier }}", "100% 张三", " 李四 "]
    members = [MemberFactory(name=name) for name in names]
    template = NotificationTemplate.objects.get(kind=Kind.DOWNGRADE, language="zh-hans")
    template.subject = "{{ member_name }}：等级调整为{{ to_tier }}"
    template.body = body
    template.save()
    notices = _downgrades(members, today)

    with override_settings(LANGUAGE_CODE="zh-hans"):
        notices_queue(notices)

    stored = {
        n.member_id: (n.subject, n.body)
        for n in Notification.objects.filter(kind=Kind.DOWNGRADE, channel="in_app")
    }
    expected = _each_rendered_alone(template, notices)
    assert [stored[m.pk] for m in members] == expected
    assert expected[0][0] == "王小明：等级调整为银卡会员"
