from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse

from backoffice import dashboard
from backoffice.selectors import member_search
from loyalty.audit import audit_record
from loyalty.roles import ROLES
from members.models import Member, Transaction
from members.tests.factories import (
    ActivityFactory,
    BlacklistEntryFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
    RefundFactory,
    local_noon,
)
from tiers.actions import member_blacklist
from tiers.models import DowngradeWarning, MemberEvaluation, MemberTier, Tier
from tiers.services import tier_override_set, tiers_recompute

pytestmark = pytest.mark.django_db

STAFF_ROLES = sorted(ROLES)  # ops, committee, policy_owner, auditor
CAST = [*STAFF_ROLES, "no_group", "anonymous"]
PASSWORD = "a-long-test-password"


@pytest.fixture
def login_as(client, django_user_model):
    """A client logged in as one of the cast: a member of a role's group, a user with no
    group, or nobody."""

    def login(role: str, language: str | None = None):
        if language:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        if role == "anonymous":
            return client
        user = django_user_model.objects.create_user(username=role, password=PASSWORD)
        if role in ROLES:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


@pytest.fixture
def staff(login_as):
    """An ops user, reading the pages in English so assertions do not depend on .po files."""
    return login_as("ops", language="en")


def tier(code: str) -> Tier:
    return Tier.objects.get(code=code)


# --- Roles and permissions ----------------------------------------------------------------


def test_the_role_groups_exist_after_migrate_and_can_view_members():
    for name in STAFF_ROLES:
        group = Group.objects.get(name=name)
        assert group.permissions.filter(
            content_type__app_label="members", codename="view_member"
        ).exists()


PAGES = [
    ("backoffice:member_list", {}),
    ("backoffice:member_detail", {"member_no": "M-MATRIX"}),
]


@pytest.mark.parametrize("role", CAST)
@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_permission_matrix_of_the_staff_pages(login_as, role, name, kwargs):
    MemberFactory(member_no="M-MATRIX")
    url = reverse(name, kwargs=kwargs)

    response = login_as(role).get(url)

    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"
    elif role == "no_group":
        assert response.status_code == 403
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("role", CAST)
def test_the_admin_is_closed_to_every_role_without_staff_status(login_as, role):
    response = login_as(role).get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_home_redirects_anonymous_visitors_towards_the_login(client):
    # Home sends them to the member list, which asks them to log in.
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:member_list")


# --- Login, logout, language --------------------------------------------------------------


def test_the_login_page_renders_with_its_form(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_logging_in_leads_home_and_logging_out_back_to_login(client, django_user_model):
    user = django_user_model.objects.create_user(username="li.ops", password=PASSWORD)
    user.groups.add(Group.objects.get(name="ops"))

    response = client.post(reverse("login"), {"username": "li.ops", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    page = client.get(reverse("backoffice:member_list"))
    assert page.status_code == 200
    assert "li.ops" in page.content.decode()

    response = client.post(reverse("logout"))

    assert response["Location"] == reverse("login")
    assert client.get(reverse("backoffice:member_list")).status_code == 302


def test_a_wrong_password_is_refused(client, django_user_model):
    django_user_model.objects.create_user(username="li.ops", password=PASSWORD)

    response = client.post(reverse("login"), {"username": "li.ops", "password": "wrong"})

    assert response.status_code == 200
    assert response.context["form"].errors


def test_the_language_switch_turns_the_pages_into_english(login_as):
    client = login_as("auditor")

    response = client.post(
        reverse("set_language"), {"language": "en", "next": reverse("backoffice:member_list")}
    )

    assert response["Location"] == reverse("backoffice:member_list")
    assert '<html lang="en">' in client.get(reverse("backoffice:member_list")).content.decode()


def test_pages_are_in_simplified_chinese_by_default(login_as):
    page = login_as("auditor").get(reverse("backoffice:member_list")).content.decode()

    assert '<html lang="zh-hans">' in page


# --- Member list --------------------------------------------------------------------------


@pytest.fixture
def three_members():
    return [
        MemberFactory(member_no="A100", name="张伟", phone="13800001111"),
        MemberFactory(member_no="A101", name="王芳", phone="13800003333"),
        MemberFactory(
            member_no="B200",
            name="李娜",
            phone="13900002222",
            status=Member.Status.EXPERIENCE,
        ),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("A10", ["A100", "A101"]),  # start of a member number
        ("a100", ["A100"]),  # member numbers ignore case
        ("B200", ["B200"]),
        ("李娜", ["B200"]),  # whole name
        ("芳", ["A101"]),  # part of a name
        ("2222", ["B200"]),  # a phone's last digits
        ("13800", ["A100", "A101"]),
        ("  张伟  ", ["A100"]),  # surrounding spaces do not matter
        ("100", []),  # the middle of a member number is not a match
        ("nobody", []),
    ],
)
def test_search_finds_members_by_number_name_or_phone(three_members, query, expected):
    assert [m.member_no for m in member_search(query=query)] == expected


@pytest.mark.parametrize(
    ("role", "query", "expected"),
    [
        ("ops", "1380000", ["A100", "A101"]),
        ("ops", "13800003333", ["A101"]),
        ("committee", "1380000", []),  # the start of a phone would unmask it, digit by digit
        ("committee", "13800003333", []),  # and the whole number, tried for each middle
        ("committee", "+86 138 0000 3333", []),
        ("committee", "3333", ["A101"]),  # the last four digits, shown in the mask
        ("committee", "A10", ["A100", "A101"]),
    ],
)
def test_staff_who_see_phones_masked_find_members_by_the_last_four_digits_only(
    as_role, three_members, role, query, expected
):
    client = as_role(role)
    page = client.get(reverse("backoffice:member_list"), {"query": query})
    assert [m.member_no for m in page.context["members"]] == expected
    export = client.get(reverse("backoffice:member_export"), {"query": query})
    found = b"".join(export.streaming_content).decode()
    assert [no for no in ("A100", "A101", "B200") if no in found] == expected


def test_staff_who_see_phones_masked_are_told_how_to_find_a_phone(as_role, three_members):
    client = as_role("committee")
    url = reverse("backoffice:member_list")

    empty = client.get(url, {"query": "13800003333"}).content.decode()
    assert "so a phone is found by its last 4 digits only" in empty
    assert 'placeholder="Member number, name or a phone&#x27;s last 4 digits"' in empty
    assert "so a phone is found" not in client.get(url, {"query": "nobody"}).content.decode()


def test_the_admin_searches_no_phones_for_staff_who_see_them_masked(as_role, three_members):
    url = reverse("admin:members_member_changelist")
    committee = as_role("committee")
    committee.user.is_staff = True  # as the demo's staff accounts
    committee.user.save()
    assert committee.get(url, {"q": "1380000"}).context["cl"].result_count == 0
    assert committee.get(url, {"q": "13800003333"}).context["cl"].result_count == 0
    superuser = as_role("superuser")
    assert superuser.get(url, {"q": "1380000"}).context["cl"].result_count == 2
    assert superuser.get(url, {"q": "13800003333"}).context["cl"].result_count == 1


def test_search_filters_by_status_and_current_tier(three_members):
    gold = tier("gold")
    MemberTier.objects.create(member=Member.objects.get(member_no="A101"), current_tier=gold)

    assert [m.member_no for m in member_search(status="experience")] == ["B200"]
    assert [m.member_no for m in member_search(tier=gold)] == ["A101"]
    assert [m.member_no for m in member_search(status="active", tier=gold)] == ["A101"]
    assert list(member_search(status="experience", tier=gold)) == []


def test_the_member_list_searches_and_filters_from_the_query_string(staff, three_members):
    MemberTier.objects.create(
        member=Member.objects.get(member_no="A101"), current_tier=tier("gold")
    )
    url = reverse("backoffice:member_list")

    def listed(params):
        return [m.member_no for m in staff.get(url, params).context["members"]]

    assert listed({}) == ["A100", "A101", "B200"]
    assert listed({"query": "王芳"}) == ["A101"]
    assert listed({"query": "2222"}) == ["B200"]
    assert listed({"status": "experience"}) == ["B200"]
    assert listed({"tier": "gold"}) == ["A101"]
    assert listed({"query": "A1", "tier": "gold"}) == ["A101"]


def test_an_unknown_filter_value_is_reported_and_matches_nobody(staff, three_members):
    response = staff.get(reverse("backoffice:member_list"), {"status": "vip", "query": "A100"})

    assert list(response.context["members"]) == []
    assert "status" in response.context["form"].errors


def test_the_member_list_shows_the_columns(staff):
    member = MemberFactory(member_no="C300", name="赵敏")
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2026, 3, 1))
    tiers_recompute(as_of=datetime.date(2026, 6, 30))

    page = staff.get(reverse("backoffice:member_list")).content.decode()

    assert reverse("backoffice:member_detail", args=["C300"]) in page
    assert "赵敏" in page
    assert 'class="badge tier tier-gold"' in page
    assert "2027-06-30" in page  # tier year end
    assert "2026-06-30" in page  # last evaluated


def test_the_member_list_and_page_name_the_members_name_as_a_persons_in_chinese(login_as):
    MemberFactory(member_no="C301", name="赵敏")
    client = login_as("ops", language="zh-hans")

    listing = client.get(reverse("backoffice:member_list")).content.decode()
    detail = client.get(reverse("backoffice:member_detail", args=["C301"])).content.decode()

    # 姓名 (a person's), not 名称 (a thing's: a policy's or a task's).
    assert '<th scope="col">姓名</th>' in listing and 'data-label="姓名"' in listing
    assert '<option value="name">姓名</option>' in listing  # the sort order
    assert "<dt>姓名</dt>" in detail


def test_the_member_list_is_paginated_by_fifty_without_counting_the_table(staff):
    MemberFactory.create_batch(120)
    url = reverse("backoffice:member_list")

    first = staff.get(url)
    last = staff.get(url, {"page": 3})

    assert len(first.context["members"]) == 50
    assert first.context["page_obj"].has_next
    assert len(last.context["members"]) == 20
    assert not last.context["page_obj"].has_next
    assert "Members 1–50" in first.content.decode()
    assert "Members 101–120" in last.content.decode()
    assert staff.get(url, {"page": 4}).status_code == 404


@pytest.mark.parametrize("page", ["abc", "0", "-2", ""])
def test_a_page_number_that_is_not_one_shows_the_first_page(staff, page):
    MemberFactory.create_batch(60)
    detail_member = MemberFactory(member_no="T001")
    PurchaseFactory.create_batch(25, member=detail_member)

    members = staff.get(reverse("backoffice:member_list"), {"page": page})
    transactions = staff.get(reverse("backoffice:member_detail", args=["T001"]), {"tpage": page})

    assert members.status_code == 200 and members.context["page_obj"].number == 1
    assert len(members.context["members"]) == 50
    assert transactions.status_code == 200
    assert transactions.context["profile"].transactions.number == 1


def test_pagination_links_keep_the_search(staff):
    MemberFactory.create_batch(60, status=Member.Status.EXPERIENCE)

    page = staff.get(reverse("backoffice:member_list"), {"status": "experience"}).content.decode()

    assert "?status=experience&amp;page=2" in page


def test_the_member_list_makes_a_fixed_number_of_queries(staff, django_assert_max_num_queries):
    members = MemberFactory.create_batch(60)
    for member in members:
        PurchaseFactory(member=member, day=datetime.date(2026, 3, 1))
    tiers_recompute(as_of=datetime.date(2026, 6, 30))

    # session, user, two permission reads, tier choices (two filters), one page of members
    # (51 rows: no COUNT).
    with django_assert_max_num_queries(8) as captured:
        response = staff.get(reverse("backoffice:member_list"), {"tier": "silver"})

    assert len(response.context["members"]) == 50
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)


# --- Member detail ------------------------------------------------------------------------


@pytest.fixture
def gold_member():
    """Joined in 2020, spent ¥20,000.25 net in the window: Gold by spend, Silver by tenure too."""
    member = MemberFactory(
        member_no="G001",
        name="陈静",
        phone="13700007777",
        email="chen@example.com",
        joined_on=datetime.date(2020, 1, 1),
    )
    big = PurchaseFactory(
        member=member,
        external_id="POS-1",
        amount_fen=1_500_000,
        day=datetime.date(2026, 2, 1),
    )
    PurchaseFactory(
        member=member, external_id="POS-2", amount_fen=500_050, day=datetime.date(2026, 3, 1)
    )
    RefundFactory(
        refund_of=big, external_id="POS-1-R", amount_fen=25, day=datetime.date(2026, 3, 2)
    )
    tiers_recompute(as_of=datetime.date(2026, 6, 30))
    member.refresh_from_db()
    return member


def detail(client, member_no: str):
    return client.get(reverse("backoffice:member_detail", args=[member_no]))


def test_the_member_page_shows_the_profile_tier_and_figures(staff, gold_member):
    page = detail(staff, "G001").content.decode()

    for text in ("G001", "陈静", "13700007777", "chen@example.com", "2020-01-01"):
        assert text in page
    assert "2026-06-30 – 2027-06-30" in page  # tier year
    assert "v1 · " in page  # policy version of the last evaluation
    assert "¥20,000.25" in page  # spend to the cent
    assert '<span class="figure-value">2</span>' in page  # frequency
    assert '<span class="figure-value">6</span>' in page  # tenure years
    assert '<span class="figure-value">0</span>' in page  # contribution


def test_the_member_page_shows_the_language_of_notices(staff, gold_member):
    page = detail(staff, "G001").content.decode()
    assert "Language of notices</dt><dd>The site's language (not chosen yet)</dd>" in page
    Member.objects.filter(pk=gold_member.pk).update(language="en")
    page = detail(staff, "G001").content.decode()
    assert "Language of notices</dt><dd>English</dd>" in page


def test_the_tier_history_figures_have_thousands_separators(staff, gold_member):
    gold_member.tier_changes.update(frequency=1200, contribution=25000)

    page = detail(staff, "G001").content.decode()

    history = page.split('id="history-heading"')[1].split("</section>")[0]
    assert "Frequency 1,200" in history and "Contribution 25,000" in history


def test_the_tier_history_labels_end_with_the_readers_colon(staff, gold_member):
    english = detail(staff, "G001").content.decode()
    chinese = zh_detail(staff, "G001")

    assert "By: evaluation" in english and "Policy: v1" in english
    assert "操作人：系统评定" in chinese and "政策：v1" in chinese


def test_the_member_page_explains_every_tier_with_the_members_numbers(staff, gold_member):
    response = detail(staff, "G001")
    page = response.content.decode()

    checks = response.context["profile"].checks
    assert [row.tier.code for row in checks] == ["diamond", "platinum", "gold", "silver", "regular"]
    assert [row.result.held for row in checks] == [False, False, True, True, True]
    assert [row.qualified for row in checks] == [False, False, True, False, False]
    # Diamond: spend ≥ ¥100,000.00; the member has ¥20,000.25, ¥79,999.75 missing.
    assert "spend ≥ ¥100,000.00" in page
    assert "¥79,999.75" in page
    # Platinum's second branch: tenure 6 ≥ 3 holds, spend misses ¥9,999.75.
    assert "¥9,999.75" in page
    assert "At least 2 of these" in page
    assert "Any one of these" in page
    assert "No conditions: every member qualifies" in page
    assert page.count("mark-held") > 0 and page.count("mark-missing") > 0


def test_the_member_page_shows_the_tier_history(staff, gold_member):
    response = detail(staff, "G001")
    page = response.content.decode()

    (change,) = response.context["profile"].history
    assert change.to_tier.code == "gold" and change.from_tier is None
    assert 'class="timeline-item cause-qualified"' in page
    assert "first evaluation" in page
    assert "Policy: v1" in page
    assert "By: evaluation" in page


def test_the_member_page_shows_transactions_with_refunds(staff, gold_member):
    response = detail(staff, "G001")
    page = response.content.decode()

    assert [t.external_id for t in response.context["profile"].transactions.object_list] == [
        "POS-1-R",
        "POS-2",
        "POS-1",
    ]
    assert "¥15,000.00" in page and "¥5,000.50" in page and "¥0.25" in page
    purchase = Transaction.objects.get(external_id="POS-1")
    # The refund links to its purchase; the purchase shows what was refunded.
    assert f'<a href="#txn-{purchase.pk}"><code>POS-1</code></a>' in page
    assert f'id="txn-{purchase.pk}"' in page


def test_the_member_pages_transactions_twenty_at_a_time(staff):
    member = MemberFactory(member_no="T001")
    for day in range(1, 26):
        PurchaseFactory(member=member, day=datetime.date(2026, 1, day))
    url = reverse("backoffice:member_detail", args=["T001"])

    first = staff.get(url).context["profile"].transactions
    second = staff.get(url, {"tpage": 2}).context["profile"].transactions

    assert len(first) == 20 and first.has_next
    assert first.object_list[0].occurred_on == datetime.date(2026, 1, 25)
    assert len(second) == 5 and not second.has_next
    assert second.object_list[-1].occurred_on == datetime.date(2026, 1, 1)


def test_the_member_pages_referrals_and_activities_twenty_at_a_time(staff):
    member = MemberFactory(member_no="R001", joined_on=datetime.date(2020, 1, 1))
    for day in range(1, 26):
        ReferralFactory(referrer=member, occurred_on=datetime.date(2026, 1, day))
        ActivityFactory(member=member, day=datetime.date(2026, 1, day))
    url = reverse("backoffice:member_detail", args=["R001"])

    first = staff.get(url)
    # Each list keeps its own page; the others stay where they were.
    later = staff.get(url, {"rpage": 2, "apage": 2})

    page = first.content.decode()
    assert len(first.context["profile"].referrals_made) == 20
    assert len(first.context["profile"].activities) == 20
    assert 'href="?rpage=2#referrals"' in page and 'href="?apage=2#activities"' in page
    referrals, activities = (
        later.context["profile"].referrals_made,
        later.context["profile"].activities,
    )
    assert len(referrals) == 5 and not referrals.has_next
    assert referrals.object_list[-1].occurred_on == datetime.date(2026, 1, 1)
    assert len(activities) == 5 and not activities.has_next
    assert activities.object_list[-1].occurred_at.date() == datetime.date(2026, 1, 1)
    assert 'href="?rpage=1&amp;apage=2#referrals"' in later.content.decode()
    assert staff.get(url, {"rpage": 3}).status_code == 404


def test_the_member_page_shows_the_tiers_benefits_in_english(staff, gold_member):
    page = detail(staff, "G001").content.decode()

    assert "Member price: 8% off" in page
    assert '<span class="benefit-value">8% off</span>' in page
    assert "1.5×" in page
    assert "500 points" in page


def test_discounts_show_as_zhe_in_chinese(login_as, gold_member):
    page = detail(login_as("ops"), "G001").content.decode()

    assert '<span class="benefit-value">9.2折</span>' in page
    assert "金卡会员" in page


def test_a_member_not_evaluated_yet_says_so(staff):
    MemberFactory(member_no="N001")

    response = detail(staff, "N001")

    assert response.context["profile"].explanation is None
    assert response.content.decode().count("Not evaluated yet") >= 2


def test_a_blacklisted_member_with_earlier_evaluations_takes_no_part_in_words(
    login_as, gold_member, django_user_model
):
    member_blacklist(
        member=gold_member, reason="恶意投诉", actor=django_user_model.objects.create_user("w")
    )
    client = login_as("ops", language="en")

    page = detail(client, "G001").content.decode()

    assert "Not evaluated yet" not in page
    assert page.count("Blacklisted: takes no part in tier evaluation") == 4
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = detail(client, "G001").content.decode()
    assert "尚未评定" not in page and page.count("已列入黑名单：解除前不参与等级评定。") == 4


def test_an_experience_member_takes_no_part_in_words(staff):
    MemberFactory(member_no="E001", status=Member.Status.EXPERIENCE)

    page = detail(staff, "E001").content.decode()

    assert "Not evaluated yet" not in page
    assert page.count("Experience member: takes no part in tier evaluation") == 4


@pytest.fixture
def warned_member():
    """Gold from 2025-07-01; by 2026-06-25 the purchase has left the window: warned."""
    member = MemberFactory(member_no="W001", joined_on=datetime.date(2025, 6, 1))
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2025, 6, 20))
    tiers_recompute(as_of=datetime.date(2025, 7, 1))
    tiers_recompute(as_of=datetime.date(2026, 6, 25))
    return member


def test_the_member_page_shows_the_open_downgrade_warning_with_what_is_missing(
    staff, warned_member
):
    response = detail(staff, "W001")
    page = response.content.decode()

    warning = response.context["profile"].open_warning
    assert warning.tier.code == "gold" and warning.qualified_tier.code == "silver"
    assert "Downgrade warning" in page
    assert "2026-06-25" in page  # warned on
    assert "2026-07-25" in page  # no downgrade before: thirty days after the warning
    assert "¥20,000.00" in page  # spend missing to keep Gold (the member has ¥0.00)


def zh_detail(client, member_no: str) -> str:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return detail(client, member_no).content.decode()


def test_the_keep_line_of_a_warned_member_gives_the_end_of_the_notice_period(staff, warned_member):
    page = zh_detail(staff, "W001")  # tier year ends 2026-07-01, no downgrade before 07-25

    assert "在通知期结束日 2026-07-25（含）前再消费 ¥20,000.00" in page
    assert "或再获得 2,000 贡献值 即可保级金卡会员。" in page  # spaced as before 或
    assert "即可在等级年度结束时（2026-07-01）保级" not in page


def test_the_warning_labels_what_it_stored_as_the_state_at_the_warning(staff, warned_member):
    page = zh_detail(staff, "W001")

    assert "预警时的评定等级" in page
    assert "预警时（2026-06-25）保级尚需达成的条件" in page
    assert "<h3>保级尚需达成的条件</h3>" not in page
    stored_gaps = page.split("预警时（2026-06-25）保级尚需达成的条件")[1].split("</section>")[0]
    assert "预警时的值" in stored_gaps and "会员当前值" not in stored_gaps
    assert "会员当前值" in page  # the evaluation's own conditions, further down


def test_a_condition_puts_its_labels_before_the_values_as_each_language_punctuates(
    staff, warned_member
):
    english = detail(staff, "W001").content.decode()
    chinese = zh_detail(staff, "W001")

    assert "member's value: <strong>¥0.00</strong>" in english
    assert "missing: ¥20,000.00" in english
    assert "会员当前值：<strong>¥0.00</strong>" in chinese
    assert "尚差：¥20,000.00" in chinese


def test_a_warned_member_who_meets_the_conditions_again_is_said_to(staff, warned_member):
    PurchaseFactory(member=warned_member, amount_fen=2_000_000, day=datetime.date(2026, 6, 27))
    tiers_recompute(as_of=datetime.date(2026, 6, 28))

    page = zh_detail(staff, "W001")

    assert (
        "已重新满足金卡会员的条件（2026-06-28 评定）：只要在 2026-07-25（含）前仍满足，就不会降级。"
        in page
    )
    assert "已满足保级金卡会员的条件：在通知期结束日 2026-07-25（含）前仍满足即可保级。" in page


def test_a_warning_is_no_longer_shown_once_the_member_is_downgraded(staff, warned_member):
    tiers_recompute(as_of=datetime.date(2026, 7, 25))

    response = detail(staff, "W001")

    assert response.context["profile"].open_warning is None
    assert "Downgrade warning" not in response.content.decode()


def test_the_member_page_shows_blacklist_entries(staff, django_user_model):
    recorder = django_user_model.objects.create_user(username="wang.ops")
    BlacklistEntryFactory(
        member__member_no="X001", reason="恶意投诉", evidence="工单 #42", created_by=recorder
    )

    page = detail(staff, "X001").content.decode()

    assert "恶意投诉" in page and "工单 #42" in page and "wang.ops" in page
    assert "in force" in page


def test_an_unknown_member_number_is_not_found(staff):
    assert detail(staff, "NOPE").status_code == 404


def test_the_member_page_makes_a_fixed_number_of_queries(
    staff, warned_member, django_assert_max_num_queries, django_user_model
):
    actor = django_user_model.objects.create_user(username="zhou.ops")
    for day in range(1, 26):
        purchase = PurchaseFactory(member=warned_member, day=datetime.date(2026, 6, day))
        RefundFactory(refund_of=purchase, amount_fen=100, day=datetime.date(2026, 6, day))
        ReferralFactory(referrer=warned_member, referred__joined_on=datetime.date(2026, 6, day))
        ActivityFactory(member=warned_member, day=datetime.date(2026, 6, day))
        audit_record(actor=actor, action="member.reevaluate", target=warned_member)
    BlacklistEntryFactory(member=warned_member, lifted_at=local_noon(datetime.date(2026, 6, 1)))
    for code in ("silver", "gold"):
        tier_override_set(
            member=warned_member, tier=tier(code), reason="VIP", ends_on=None, actor=actor
        )

    # session, user, two permission reads, member (with the referral received), two tier
    # reads (explanation, progress), benefits, warning, history, blacklist, overrides,
    # transactions (with refunds), referrals, activities, audit entries, the open review case:
    # none of them per row.
    with django_assert_max_num_queries(18):
        response = detail(staff, "W001")

    profile = response.context["profile"]
    assert profile.open_warning is not None or profile.open_override is not None
    assert len(profile.transactions) == 20
    assert len(profile.referrals_made) == 20 and len(profile.activities) == 20
    assert len(profile.overrides) == 2 and len(profile.audit_entries) >= 25


def test_a_reason_the_system_wrote_reads_in_the_readers_language_and_staffs_as_typed(
    login_as, gold_member
):
    audit_record(
        actor=None, action="tier.override.committee", target=gold_member,
        after={"reason": "Committee decision, review case #7"},
    )  # fmt: skip
    audit_record(
        actor=None, action="tier.override.manual", target=gold_member,
        after={"reason": "Committee decision, as agreed"},
    )  # fmt: skip

    page = detail(login_as("ops", "zh-hans"), "G001").content.decode()

    assert "评审小组决定（评审案例 #7）" in page
    assert "Committee decision, review case #7" not in page
    assert "Committee decision, as agreed" in page


def test_a_member_number_with_a_slash_lists_and_opens(client, django_user_model):
    from django.contrib.auth.models import Group

    MemberFactory(member_no="X/1", name="斜杠")
    user = django_user_model.objects.create_user("slash-ops", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="ops"))
    client.force_login(user)

    listing = client.get("/members/?query=X")
    detail = client.get("/members/X/1/")

    assert listing.status_code == 200 and "/members/X/1/" in listing.content.decode()
    assert detail.status_code == 200 and "斜杠" in detail.content.decode()


# --- Search, filters, sort, export and masking -------------------------------------------


def test_a_phone_is_found_by_its_start_or_its_last_four_digits_only(three_members):
    assert [m.member_no for m in member_search(query="1380000")] == ["A100", "A101"]
    assert [m.member_no for m in member_search(query="138-0000-3333")] == ["A101"]
    assert [m.member_no for m in member_search(query="3333")] == ["A101"]
    assert [m.member_no for m in member_search(query="0000")] == []  # neither start nor end


@pytest.mark.parametrize(
    "query", ["+86 187 1556 8407", "0086-187-1556-8407", "8618715568407", "＋８６ １８７ １５５６"]
)
def test_a_phone_is_found_with_its_country_code_or_in_full_width(query):
    MemberFactory(member_no="C001", phone="18715568407")

    assert [m.member_no for m in member_search(query=query)] == ["C001"]


@pytest.mark.parametrize("query", ["+852 9123", "00852-9123-4567", "＋８５２９１"])
def test_a_number_of_another_country_is_found_by_its_start_with_its_country_code(query):
    MemberFactory(member_no="C002", phone="+85291234567")
    MemberFactory(member_no="C003", phone="85291234567")

    assert [m.member_no for m in member_search(query=query)] == ["C002"]


def test_a_member_number_is_found_in_full_width(three_members):
    assert [m.member_no for m in member_search(query="ａ１００")] == ["A100"]
    assert [m.member_no for m in member_search(query="Ｂ２")] == ["B200"]


def test_the_list_filters_by_qualified_tier_joined_dates_warning_due_and_override(
    staff, warned_member, gold_member, django_user_model
):
    MemberFactory(member_no="J001", joined_on=datetime.date(2019, 5, 1))
    tier_override_set(
        member=gold_member,
        tier=tier("platinum"),
        reason="VIP",
        ends_on=None,
        actor=django_user_model.objects.create_user("lead"),
        today=datetime.date(2026, 6, 30),
    )
    url = reverse("backoffice:member_list")

    def listed(params):
        return [m.member_no for m in staff.get(url, params).context["members"]]

    assert listed({"qualified_tier": "silver"}) == ["W001"]
    assert listed({"joined_from": "2019-01-01", "joined_to": "2019-12-31"}) == ["J001"]
    assert listed({"open_warning": "on"}) == ["W001"]
    assert listed({"has_override": "on"}) == ["G001"]
    assert listed({"sort": "-joined_on"}) == ["W001", "G001", "J001"]
    assert listed({"sort": "-tier"})[0] == "G001"


def test_downgrade_due_means_warned_and_the_downgrade_date_within_thirty_days(warned_member):
    # Warned 2026-06-25, tier year ends 2026-06-30: no downgrade before 2026-07-25.
    due_on = datetime.date(2026, 7, 25)

    def due(today):
        return [m.member_no for m in member_search(downgrade_due=True, today=today)]

    assert due(due_on - datetime.timedelta(days=30)) == ["W001"]
    assert due(due_on - datetime.timedelta(days=31)) == []


def test_the_list_filter_and_the_dashboard_count_the_same_downgrades_due(warned_member):
    requalified = MemberFactory(member_no="W002", joined_on=datetime.date(2025, 6, 1))
    PurchaseFactory(member=requalified, amount_fen=2_000_000, day=datetime.date(2025, 6, 20))
    tiers_recompute(as_of=datetime.date(2025, 7, 1))
    tiers_recompute(as_of=datetime.date(2026, 6, 25))  # both warned
    PurchaseFactory(member=requalified, amount_fen=2_000_000, day=datetime.date(2026, 6, 26))
    MemberEvaluation.objects.filter(member=requalified).update(
        qualified_tier=Tier.objects.get(code="gold")
    )  # meets Gold again: not due, though the warning stands until the next evaluation
    today = datetime.date(2026, 7, 1)

    listed = [m.member_no for m in member_search(downgrade_due=True, today=today)]
    counted = sum(count for _tier, count in dashboard.downgrades_due(today).per_tier)

    assert listed == ["W001"] and counted == 1


def test_downgrade_due_keeps_the_later_day_the_warning_gave(warned_member):
    # A warning given under a policy with 60 days' notice keeps its day after a policy with
    # 30 days comes into force: the engine downgrades no earlier.
    promised = datetime.date(2026, 8, 24)
    DowngradeWarning.objects.filter(member=warned_member).update(downgrade_not_before=promised)

    def due(today):
        return [m.member_no for m in member_search(downgrade_due=True, today=today)]

    assert due(datetime.date(2026, 6, 25)) == []
    assert due(promised - datetime.timedelta(days=30)) == ["W001"]


def test_contact_details_are_masked_for_roles_that_do_not_need_them(login_as, gold_member):
    auditor = login_as("auditor", language="en")

    page = detail(auditor, "G001").content.decode()
    listing = auditor.get(reverse("backoffice:member_list")).content.decode()

    assert "137****7777" in page and "13700007777" not in page
    assert "c****@example.com" in page and "chen@example.com" not in page
    assert "137****7777" in listing and "13700007777" not in listing


def test_the_export_is_the_filtered_list_as_csv_with_formulas_escaped_and_contacts_masked(
    login_as,
):
    MemberFactory(member_no="F001", name="=HYPERLINK(1)", phone="13812348000")
    MemberFactory(member_no="F002", name="王五", status=Member.Status.EXPERIENCE)
    MemberFactory(member_no="Z999", name="不在内")
    client = login_as("committee", language="en")

    response = client.get(reverse("backoffice:member_export"), {"query": "F"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")

    lines = text.strip().splitlines()
    assert response["Content-Type"].startswith("text/csv")
    assert lines[0].startswith("member_no,name,phone,email,status")
    assert lines[1].startswith("F001,'=HYPERLINK(1),138****8000,")
    assert lines[2].startswith("F002,王五,") and ",experience," in lines[2]
    assert len(lines) == 3


def test_ops_export_shows_contact_details(login_as):
    MemberFactory(member_no="F001", phone="13812348000")

    response = login_as("ops").get(reverse("backoffice:member_export"))

    assert "13812348000" in b"".join(response.streaming_content).decode("utf-8-sig")


def test_the_member_page_says_what_is_missing_for_the_next_tier_and_to_keep_it(staff, gold_member):
    page = detail(staff, "G001").content.decode()

    # Gold with ¥20,000.25 and 2 purchases, tenure 6: Platinum needs ¥9,999.75 more (tenure ≥ 3
    # and spend ≥ 30,000), exact to the fen.
    assert "Spend ¥9,999.75 more" in page
    assert "to reach Platinum" in page
    assert "Already qualifies to keep Gold at the tier-year end (2027-06-30)" in page


def test_a_search_that_cannot_be_read_lists_and_exports_nobody(login_as):
    MemberFactory(member_no="F001")
    client = login_as("ops", language="en")
    too_long = {"query": "F" * 129}

    listing = client.get(reverse("backoffice:member_list"), too_long)
    export = client.get(reverse("backoffice:member_export"), too_long, follow=True)

    assert list(listing.context["members"]) == []
    assert "at most 128 characters" in listing.content.decode()
    assert not hasattr(export, "streaming_content")
    assert "Nothing was exported: correct the search first." in export.content.decode()


def test_a_reversed_joined_date_range_is_named_and_lists_and_exports_nobody(login_as):
    MemberFactory(member_no="F001", joined_on=datetime.date(2025, 6, 1))
    client = login_as("ops", language="zh-hans")
    reversed_range = {"joined_from": "2026-01-01", "joined_to": "2025-01-01"}

    listing = client.get(reverse("backoffice:member_list"), reversed_range)
    export = client.get(reverse("backoffice:member_export"), reversed_range, follow=True)

    assert list(listing.context["members"]) == []
    page = listing.content.decode()
    assert "入会日期止: 日期范围 2026-01-01 – 2025-01-01 颠倒了：开始日期不能晚于结束日期。" in page
    assert not hasattr(export, "streaming_content")
    assert "未导出：请先更正搜索条件。" in export.content.decode()
