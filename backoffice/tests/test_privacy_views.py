"""Staff pages for PIPL privacy requests: who may use them, the export downloads and the
erasure with its confirmation step, the tier history kept."""

from __future__ import annotations

import datetime
import json

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse

from loyalty.models import AuditEntry
from loyalty.roles import ROLES
from members import privacy
from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory
from notifications.models import Notification
from notifications.tests.test_notifications import queue_upgrade
from reviews.models import ReviewCase
from reviews.services import case_nominate
from tiers.models import MemberEvaluation, MemberTier, TierChange
from tiers.services import tiers_recompute

pytestmark = pytest.mark.django_db

CAST = [*sorted(ROLES), "no_group", "anonymous"]
PASSWORD = "a-long-test-password"
MEMBER_NO = "M/PRIV-1"  # a member number with a slash, as some shops use


@pytest.fixture
def login_as(client, django_user_model):
    def login(role: str):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        if role == "anonymous":
            return client
        user = django_user_model.objects.create_user(username=role, password=PASSWORD)
        if role in ROLES:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


@pytest.fixture
def member():
    member = MemberFactory(
        member_no=MEMBER_NO,
        name="赵六",
        phone="13512345678",
        email="zhao@example.com",
        birthday=datetime.date(1985, 1, 2),
        joined_on=datetime.date(2022, 1, 1),
    )
    PurchaseFactory(member=member, amount_fen=2_500_000, day=datetime.date(2026, 5, 1))
    tiers_recompute(as_of=datetime.date(2026, 6, 30))
    return member


# (url name, kwargs, method, permission the role needs)
PAGES = [
    ("backoffice:privacy_member", {}, "get", "any"),
    ("backoffice:privacy_export", {"fmt": "json"}, "post", "export"),
    ("backoffice:privacy_export", {"fmt": "csv"}, "post", "export"),
    ("backoffice:privacy_erase", {}, "get", "erase"),
]


@pytest.mark.parametrize("role", CAST)
@pytest.mark.parametrize(("name", "kwargs", "method", "needs"), PAGES)
def test_permission_matrix_of_the_privacy_pages(
    login_as, member, role, name, kwargs, method, needs
):
    url = reverse(name, kwargs={"member_no": MEMBER_NO, **kwargs})

    response = getattr(login_as(role), method)(url)

    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif role == "ops_lead":  # the only default role with the privacy permissions
        assert response.status_code == 200
    else:
        assert response.status_code == 403


def test_an_erasure_post_without_the_permission_changes_nothing(login_as, member):
    client = login_as("ops")

    response = client.post(
        reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO}),
        {"reason": "ticket", "confirm_member_no": MEMBER_NO},
    )

    assert response.status_code == 403
    assert Member.objects.get(pk=member.pk).name == "赵六"


def test_the_member_page_links_to_privacy_requests_only_for_those_who_may(login_as, member):
    url = reverse("backoffice:member_detail", kwargs={"member_no": MEMBER_NO})
    link = reverse("backoffice:privacy_member", kwargs={"member_no": MEMBER_NO})

    client = login_as("ops_lead")
    assert link in client.get(url).content.decode()
    client.logout()
    assert link not in login_as("ops").get(url).content.decode()


def test_the_json_download_holds_the_members_tier_history(login_as, member):
    response = login_as("ops_lead").post(
        reverse("backoffice:privacy_export", kwargs={"member_no": MEMBER_NO, "fmt": "json"})
    )

    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="member-{member.pk}.json"'
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    assert data["member"]["name"] == "赵六"
    history = data["records"]["tiers.tierchange.member"]
    assert [change["cause"] for change in history] == ["qualified"]
    assert data["records"]["tiers.memberevaluation.member"][0]["spend_fen"] == 2_500_000
    assert AuditEntry.objects.filter(action="member.privacy_export").count() == 1


def test_the_csv_download_is_a_spreadsheet_file(login_as, member):
    response = login_as("ops_lead").post(
        reverse("backoffice:privacy_export", kwargs={"member_no": MEMBER_NO, "fmt": "csv"})
    )

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8-sig")
    assert text.startswith("record,row,field,value")
    assert "members.member,1,phone,13512345678" in text


def test_the_erasure_asks_for_confirmation_first(login_as, member):
    page = login_as("ops_lead").get(
        reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO})
    )

    assert "cannot be undone" in page.content.decode()
    assert Member.objects.get(pk=member.pk).name == "赵六"


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The member's notifications are scrubbed too"),
        (
            "zh-hans",
            "该会员的通知也将一并清除：主题和正文将替换为中性文字，尚未发送的邮件和短信将不再发送。",
        ),
    ],
)
def test_the_erasure_page_says_the_notifications_are_scrubbed_too(login_as, member, language, said):
    client = login_as("ops_lead")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    page = client.get(reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO}))

    assert said in page.content.decode().replace("&#x27;", "'")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"reason": "", "confirm_member_no": MEMBER_NO}, "reason"),
        ({"reason": "ticket 9", "confirm_member_no": "M/PRIV-2"}, "confirm_member_no"),
    ],
)
def test_the_erasure_needs_a_reason_and_the_typed_member_number(login_as, member, form, error):
    response = login_as("ops_lead").post(
        reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO}), form
    )

    assert response.status_code == 200
    assert error in response.context["form"].errors
    assert Member.objects.get(pk=member.pk).name == "赵六"


def test_erasing_keeps_tier_state_history_and_evaluation_and_is_audited(login_as, member):
    client = login_as("ops_lead")
    tier_before = MemberTier.objects.get(member=member).current_tier_id
    history_before = list(TierChange.objects.filter(member=member).values_list("pk", flat=True))

    response = client.post(
        reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO}),
        {"reason": "PIPL ticket 2026-17", "confirm_member_no": MEMBER_NO},
        follow=True,
    )

    erased = Member.objects.get(pk=member.pk)
    assert response.redirect_chain[-1][0] == reverse(
        "backoffice:member_detail", kwargs={"member_no": erased.member_no}
    )
    assert "personal data was erased" in response.content.decode()
    assert "赵六" not in response.content.decode()
    assert (erased.name, erased.phone, erased.email, erased.birthday) == (
        privacy.ERASED_NAME,
        "",
        "",
        None,
    )
    assert MemberTier.objects.get(member=member).current_tier_id == tier_before
    assert list(TierChange.objects.filter(member=member).values_list("pk", flat=True)) == (
        history_before
    )
    assert MemberEvaluation.objects.filter(member=member).exists()
    entry = AuditEntry.objects.get(action="member.privacy_erase")
    assert entry.actor.username == "ops_lead"
    assert entry.after["reason"] == "PIPL ticket 2026-17"
    # The placeholder is stored once, and shown in each reader's language.
    assert "<h1>[erased] " in response.content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(response.redirect_chain[-1][0]).content.decode()
    assert "<h1>[已删除] " in page and "[erased]" not in page


def test_back_to_the_erasure_after_it_says_why_the_number_is_gone(login_as, member):
    client = login_as("ops_lead")
    erase = reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO})
    form = {"reason": "PIPL ticket 2026-17", "confirm_member_no": MEMBER_NO}
    client.post(erase, form)

    again = client.post(erase, form)
    old_page = client.get(reverse("backoffice:member_detail", kwargs={"member_no": MEMBER_NO}))

    for response in (again, old_page):
        assert response.status_code == 404
        assert (
            f"No member has number {MEMBER_NO}. A member whose personal data was erased has a "
            "new, anonymous number." in response.content.decode()
        )
    assert AuditEntry.objects.filter(action="member.privacy_erase").count() == 1


def test_an_erased_member_still_counts_in_the_next_recompute(login_as, member):
    privacy.member_erase(member=member, reason="ticket", actor=None)

    summary = tiers_recompute(as_of=datetime.date(2026, 7, 31))

    assert summary.evaluated == 1


def test_erasing_clears_the_members_notices_and_stops_the_unsent_ones(login_as, member):
    queue_upgrade(member)
    assert Notification.objects.filter(member=member, body__contains="赵六").exists()
    assert Notification.objects.filter(member=member, status="pending").count() == 2
    client = login_as("ops_lead")

    client.post(
        reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO}),
        {"reason": "PIPL ticket 2026-17", "confirm_member_no": MEMBER_NO},
    )

    erased = Member.objects.get(pk=member.pk)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(
        reverse("jobs:member_notifications", kwargs={"member_no": erased.member_no})
    ).content.decode()
    assert "此消息已应会员要求删除" in page
    for personal in ("赵六", "13512345678", "zhao@example.com"):
        assert personal not in page
    assert not Notification.objects.filter(member=member, status="pending").exists()
    assert Notification.objects.filter(member=member, status="skipped").count() == 2


def _linked_facts(member):
    """A purchase recorded by staff and a referral of another member, each with its own audit
    entry (about the transaction, about the referral), naming the member by number."""
    from django.contrib.auth import get_user_model

    from members.services import referral_create, transaction_create

    staff = get_user_model().objects.create_user(username="desk", password=PASSWORD)
    friend = MemberFactory(member_no="F-1", name="钱七", joined_on=datetime.date(2026, 6, 1))
    transaction_create(
        member=member, external_id="POS-9", kind="purchase", amount="88.00",
        occurred_at=datetime.datetime(2026, 6, 2, 10, tzinfo=datetime.UTC), reason="till",
        actor=staff,
    )  # fmt: skip
    referral_create(referrer=member, referred=friend, reason="desk", actor=staff)
    return friend


def test_the_export_holds_the_audit_entries_of_the_members_linked_rows(login_as, member):
    _linked_facts(member)
    client = login_as("ops_lead")

    response = client.post(
        reverse("backoffice:privacy_export", kwargs={"member_no": MEMBER_NO, "fmt": "json"})
    )

    entries = json.loads(response.content)["records"]["loyalty.auditentry"]
    about = {(entry["about"], entry["action"]) for entry in entries}
    assert ("members.transaction", "transaction.purchase") in about
    assert ("members.referral", "referral.create") in about


def test_erasing_blanks_the_member_in_their_linked_rows_audit_entries_only(login_as, member):
    friend = _linked_facts(member)
    client = login_as("ops_lead")

    client.post(
        reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO}),
        {"reason": "PIPL ticket 2026-18", "confirm_member_no": MEMBER_NO},
    )

    purchase = AuditEntry.objects.get(action="transaction.purchase")
    referral = AuditEntry.objects.get(action="referral.create")
    assert purchase.after["member_no"] == "[erased]" and purchase.after["reason"] == "till"
    assert (referral.after["referrer"], referral.after["referred"]) == ("[erased]", "F-1")
    text = json.dumps([e.after for e in AuditEntry.objects.all()], ensure_ascii=False)
    assert MEMBER_NO not in text and "赵六" not in text
    assert friend.member_no in text


def test_erasing_withdraws_the_members_open_review_case(login_as, member, django_user_model):
    case = case_nominate(
        member=member,
        justification="十年老客户",
        actor=django_user_model.objects.create_user("nominator"),
        today=datetime.date(2026, 7, 1),
    )
    client = login_as("ops_lead")

    client.post(
        reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO}),
        {"reason": "PIPL ticket 2026-18", "confirm_member_no": MEMBER_NO},
    )

    case.refresh_from_db()
    assert case.state == ReviewCase.State.WITHDRAWN
    assert case.decided_by.username == "ops_lead"
    assert case.decision_reason_display.startswith(
        "Withdrawn: the member's personal data was erased"
    )
    assert AuditEntry.objects.filter(target_type="reviews.reviewcase").exists()


@pytest.mark.parametrize("typed", ["m/priv-1", "Ｍ/ＰＲＩＶ-１", " M/PRIV-1 "])
def test_the_erasure_takes_the_number_as_staff_type_it_everywhere(login_as, member, typed):
    response = login_as("ops_lead").post(
        reverse("backoffice:privacy_erase", kwargs={"member_no": MEMBER_NO}),
        {"reason": "PIPL ticket 3", "confirm_member_no": typed},
    )

    assert response.status_code == 302
    assert privacy.member_is_erased(Member.objects.get(pk=member.pk))
