"""The audit log: read-only, filterable by actor, member, action and date, paged without a
count, contact details masked."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.urls import reverse

from backoffice import selectors
from backoffice.audit_actions import action_label
from loyalty.audit import audit_record
from loyalty.models import AuditEntry
from members.models import Transaction
from members.tests.factories import (
    ActivityFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
)
from reviews.models import ReviewCase
from tiers.models import TierOverride, TierPolicy

pytestmark = pytest.mark.django_db

URL = reverse("backoffice:audit_log")


@pytest.fixture
def entries(django_user_model):
    wang = django_user_model.objects.create_user("wang")
    li = django_user_model.objects.create_user("li")
    first = MemberFactory(member_no="AU1", phone="13912345678")
    second = MemberFactory(member_no="AU2")
    audit_record(actor=wang, action="member.blacklist", target=first, after={"reason": "恶意"})
    audit_record(
        actor=li,
        action="tier.override.manual",
        target=second,
        before={"tier": None},
        after={"tier": "gold", "reason": "VIP"},
    )
    audit_record(
        actor=li,
        action="member.update",
        target=first,
        before={"phone": "13912345678"},
        after={"phone": "13900000000"},
    )
    # The log refuses changes, so an old entry is written with the clock set back.
    with mock.patch(
        "django.utils.timezone.now",
        return_value=datetime.datetime(2025, 1, 2, 3, tzinfo=datetime.UTC),
    ):
        audit_record(actor=wang, action="member.convert", target=second)


def listed(client, **params):
    return [row[0].action for row in client.get(URL, params).context["rows"]]


def test_the_auditor_filters_by_actor_member_action_and_date(as_role, entries):
    client = as_role("auditor")

    assert listed(client) == [
        "member.update",
        "tier.override.manual",
        "member.blacklist",
        "member.convert",
    ]
    assert listed(client, actor="wang") == ["member.blacklist", "member.convert"]
    assert listed(client, member_no="AU2") == ["tier.override.manual", "member.convert"]
    assert listed(client, action="tier.override") == ["tier.override.manual"]
    assert listed(client, date_to="2025-12-31") == ["member.convert"]
    assert "member.convert" not in listed(client, date_from="2026-01-01")


@pytest.mark.parametrize("typed", ["au2", " ＡＵ２ ", "ａｕ２"])
def test_the_member_filter_reads_the_number_in_lower_case_or_full_width(as_role, entries, typed):
    assert listed(as_role("auditor"), member_no=typed) == [
        "tier.override.manual",
        "member.convert",
    ]


def test_a_page_number_that_is_not_one_shows_the_first_page(as_role, entries):
    response = as_role("auditor").get(URL, {"page": "abc"})

    assert response.status_code == 200 and response.context["page_obj"].number == 1
    assert len(response.context["rows"]) == 4


def test_a_reversed_date_range_is_named_and_lists_nothing(as_role, entries):
    client = as_role("auditor")

    response = client.get(URL, {"date_from": "2026-03-01", "date_to": "2025-01-01"})

    assert response.context["rows"] == []
    assert (
        "Date until: The range 2026-03-01 – 2025-01-01 is reversed: the first date must not be "
        "after the second." in response.content.decode()
    )
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(URL, {"date_from": "2026-03-01", "date_to": "2025-01-01"}).content.decode()
    assert "日期范围 2026-03-01 – 2025-01-01 颠倒了：开始日期不能晚于结束日期。" in page


def test_the_audit_log_shows_before_and_after_with_contacts_masked(as_role, entries):
    page = as_role("auditor").get(URL).content.decode()

    assert '<dt title="tier">tier of the override</dt><dd>Gold</dd>' in page
    assert "139****5678" in page and "13912345678" not in page


def test_each_stored_value_is_shown_under_its_label_in_the_readers_language(as_role):
    member = MemberFactory(member_no="AL2")
    audit_record(
        actor=None,
        action="tier.override.manual",
        target=member,
        before={"tier": "silver", "tier_year_end": "2026-09-01", "replaced_override": None},
        after={"tier": "gold", "member_told": True, "status": "blacklisted", "reason": "VIP"},
    )
    client = as_role("auditor")

    english = client.get(URL, {"member_no": "AL2"}).content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    chinese = client.get(URL, {"member_no": "AL2"}).content.decode()

    def fields(page: str) -> list[tuple[str, str, str]]:
        return re.findall(r'<dt title="([^"]+)">([^<]*)</dt><dd>([^<]*)</dd>', page)

    assert fields(english) == [
        ("replaced_override", "override replaced", "—"),
        ("tier", "tier", "Silver"),
        ("tier_year_end", "tier year end", "2026-09-01"),
        ("member_told", "member told", "yes"),
        ("reason", "reason", "VIP"),
        ("status", "status", "blacklisted"),
        ("tier", "tier of the override", "Gold"),
    ]
    assert fields(chinese) == [
        ("replaced_override", "被替换的人工调整", "—"),
        ("tier", "会员等级", "银卡会员"),
        ("tier_year_end", "等级年度结束日", "2026-09-01"),
        ("member_told", "已通知会员", "是"),
        ("reason", "原因", "VIP"),
        ("status", "状态", "黑名单"),
        ("tier", "保底等级", "金卡会员"),
    ]


def test_the_audit_log_pages_without_counting(as_role, entries, django_user_model):
    actor = django_user_model.objects.get(username="wang")
    member = MemberFactory()
    for _ in range(60):
        audit_record(actor=actor, action="member.reevaluate", target=member)
    client = as_role("auditor")

    first = client.get(URL).context["page_obj"]
    second = client.get(URL, {"page": 2}).context["page_obj"]

    assert len(first) == 50 and first.has_next
    assert len(second) == 14 and not second.has_next


def test_nothing_in_the_audit_log_can_be_changed_through_the_application(as_role, entries):
    client = as_role("superuser")
    entry = AuditEntry.objects.first()

    assert client.post(URL, {"action": "x"}).status_code == 405
    change = client.get(reverse("admin:loyalty_auditentry_change", args=[entry.pk]))
    assert b'name="_save"' not in change.content
    delete = client.post(
        reverse("admin:loyalty_auditentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_only_roles_with_the_audit_permission_open_the_log(as_role, entries):
    assert as_role("ops").get(URL).status_code == 403


@pytest.mark.parametrize("keys_by_value", [True, False])
def test_the_member_filter_finds_entries_about_the_members_facts(
    as_role, django_user_model, monkeypatch, keys_by_value
):
    """Staff-entered transactions, referrals and activities are audited against their own
    rows; filtering by the member finds them, with the member shown in the About column. The
    linked keys are matched as values, or past ``MAX_LINKED_KEYS`` by subqueries."""
    if not keys_by_value:
        monkeypatch.setattr(selectors, "MAX_LINKED_KEYS", 0)
    clerk = django_user_model.objects.create_user("clerk")
    member, other, newcomer = MemberFactory(member_no="AF1"), MemberFactory(), MemberFactory()
    purchase = PurchaseFactory(member=member)
    referral = ReferralFactory(referrer=member, referred=newcomer)
    activity = ActivityFactory(member=member)
    audit_record(actor=clerk, action="transaction.purchase", target=purchase)
    audit_record(actor=clerk, action="referral.create", target=referral)
    audit_record(actor=clerk, action="activity.create", target=activity)
    audit_record(actor=clerk, action="transaction.purchase", target=PurchaseFactory(member=other))
    client = as_role("auditor")

    response = client.get(URL, {"member_no": "AF1"})

    assert [row[0].action for row in response.context["rows"]] == [
        "activity.create",
        "referral.create",
        "transaction.purchase",
    ]
    assert {row[1] for row in response.context["rows"]} == {"AF1"}
    # The row by its kind's name in the page's language (the stored type on hover).
    assert f'title="members.transaction">transaction #{purchase.pk}<' in response.content.decode()
    assert listed(client, member_no=newcomer.member_no) == ["referral.create"]
    page = as_role("ops").get(reverse("backoffice:member_detail", args=["AF1"]))
    assert [entry.action for entry in page.context["profile"].audit_entries] == [
        "activity.create",
        "referral.create",
        "transaction.purchase",
    ]


def test_each_action_is_named_in_words_beside_its_code_in_the_page_language(as_role):
    member = MemberFactory(member_no="AL1")
    audit_record(actor=None, action="tier.override.manual", target=member)
    audit_record(actor=None, action="review.case.approved", target=member)
    client = as_role("auditor")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    html = client.get(URL, {"member_no": "AL1"}).content.decode()

    assert "人工调整等级" in html and "tier.override.manual" in html
    assert "评审案例：已通过" in html
    assert '<option value="member.blacklist">列入黑名单</option>' in html


def test_every_action_the_code_records_has_a_label():
    """A new audited action without words would show as a bare code: caught here."""
    root = Path(__file__).resolve().parents[2]
    recorded = set()
    for path in root.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or "migrations" in path.parts:
            continue
        for line in path.read_text().splitlines():
            if "action=" in line:
                recorded |= set(re.findall(r'"([a-z_]+\.[a-z_.]+)"', line))
    assert recorded >= {"member.blacklist", "policy.publish", "benefit.update"}
    # The families the code builds with f-strings, from the choices they take.
    recorded |= {f"transaction.{kind}" for kind in Transaction.Kind.values}
    recorded |= {f"tier.override.{kind}" for kind in TierOverride.Kind.values}
    recorded |= {f"review.case.{state}" for state in ReviewCase.State.values}
    assert sorted(code for code in recorded if not action_label(code)) == []


def test_nested_values_are_shown_in_words_not_as_stored_json(as_role):
    policy = TierPolicy.objects.get(version=1)
    audit_record(
        actor=None,
        action="policy.publish",
        target=policy,
        before={"status": "draft"},
        after={
            "accepted_warnings": ["gold>silver"],
            "review_settings": {
                "profiles": {"big_one_off": {"min_purchase": "150000.00", "max_frequency": 1}},
                "quorum": {"sales": 2},
            },
            "rules": {"silver": policy.rules["silver"], "gold": {"all": []}},
        },
    )
    member = MemberFactory(member_no="AL3")
    audit_record(
        actor=None,
        action="tier.override.manual",
        target=member,
        before={"replaced_override": {"id": 7, "kind": "manual", "tier": "gold", "ends_on": None}},
        after={"tier": "platinum"},
    )
    client = as_role("auditor")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(URL).content.decode()

    assert "{" not in re.sub(r"<[^>]+>", "", page.split('class="audit-fields"', 1)[1])
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "金卡会员 &gt; 银卡会员" in text
    # Rules as the Diff tab shows them, highest tier first.
    assert (
        "规则 金卡会员 无条件：所有会员均符合 银卡会员 满足其一即可 消费金额 ≥ ¥5,000.00 "
        "消费频次（次） ≥ 6 合作年限（年） ≥ 1"
    ) in text
    assert (
        "特殊评审设置 客户画像 单笔大额消费 消费次数至多 1 单笔消费至少 ¥150,000.00 "
        "每个部门所需的赞成票 销售 2"
    ) in text
    assert "被替换的人工调整 结束日期 — ID 7 类型 人工调整 保底等级 金卡会员" in text


def test_a_nominations_profiles_and_an_exports_counts_are_shown_in_words(as_role):
    member = MemberFactory(member_no="AL4")
    audit_record(
        actor=None, action="review.case.nominated", target=member,
        after={"note": "loyal_veteran, big_one_off"},
    )  # fmt: skip
    audit_record(
        actor=None, action="member.privacy_export", target=member,
        after={"records": {"members.transaction.member": 3, "loyalty.auditentry": 2}},
    )  # fmt: skip
    client = as_role("auditor")

    text = " ".join(
        re.sub(r"<[^>]+>", " ", client.get(URL, {"member_no": "AL4"}).content.decode()).split()
    )

    assert "note loyal veteran, big one-off purchase" in text
    assert "transactions 3" in text and "audit log 2" in text
    assert "loyal_veteran" not in text and "members.transaction.member" not in text.replace(
        'title="members.transaction.member"', ""
    )
