"""The committee pages: permissions per role, the queue's order, the case page, the actions,
hand nomination from the member page, the quarter's summary and its CSV."""

from __future__ import annotations

import csv
import datetime
import html
import io
import re
import time

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core import signing
from django.urls import reverse
from django.utils import timezone, translation

from loyalty.models import AuditEntry
from loyalty.roles import ROLES
from loyalty.spreadsheet import csv_safe
from members.tests.factories import MemberFactory, PurchaseFactory
from reviews import services
from reviews.forms import DecideForm, WithdrawForm
from reviews.models import CommitteeMember, Department, ReviewCase
from reviews.quarters import Quarter
from reviews.services import MAX_REASON_LENGTH
from reviews.templatetags.review_display import profile_labels, quorum_text
from tiers.models import MemberTier, Tier
from tiers.selectors import tier_state
from tiers.services import member_evaluate, tier_override_set

from .helpers import DECISION_DAY, PASSWORD, committee, hand_case, refreshed, staff_user, veteran

pytestmark = pytest.mark.django_db

CAST = [*sorted(ROLES), "no_group", "anonymous"]


@pytest.fixture
def login_as(client, django_user_model):
    def login(role: str):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        if role == "anonymous":
            return client
        user = django_user_model.objects.create_user(username=f"u-{role}", password=PASSWORD)
        if role in ROLES:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


@pytest.fixture
def a_case():
    member = veteran(member_no="M-MATRIX")
    return hand_case(member, staff_user("nominator", "ops"))


# --- Permissions ----------------------------------------------------------------------------

# (url name, kwargs, method, roles allowed)
READERS = {"ops", "ops_lead", "committee", "policy_owner", "auditor"}
NOMINATORS = {"ops", "ops_lead"}
VOTERS = {"committee"}
PAGES = [
    ("reviews:queue", {}, "get", READERS),
    ("reviews:case", {"pk": "CASE"}, "get", READERS),
    ("reviews:quarters", {}, "get", READERS),
    ("reviews:quarter", {"quarter": "2026Q3"}, "get", READERS),
    ("reviews:quarter_export", {"quarter": "2026Q3"}, "get", READERS),
    ("reviews:nominate", {"member_no": "M-OTHER"}, "get", NOMINATORS),
    ("reviews:case_withdraw", {"pk": "CASE"}, "get", NOMINATORS),
    ("reviews:case_update", {"pk": "CASE"}, "post", NOMINATORS),
    ("reviews:case_open", {"pk": "CASE"}, "post", NOMINATORS),
    ("reviews:case_vote", {"pk": "CASE"}, "post", VOTERS),
    # The committee role alone does not open it: the chair's seat does (see the decision tests).
    ("reviews:case_decide", {"pk": "CASE"}, "get", set()),
]


@pytest.mark.parametrize("role", CAST)
@pytest.mark.parametrize(("name", "kwargs", "method", "allowed"), PAGES)
def test_permission_matrix_of_the_review_pages(
    login_as, a_case, role, name, kwargs, method, allowed
):
    MemberFactory(member_no="M-OTHER")
    kwargs = {k: a_case.pk if v == "CASE" else v for k, v in kwargs.items()}
    url = reverse(name, kwargs=kwargs)
    client = login_as(role)

    response = getattr(client, method)(url)

    if role == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    elif role in allowed:
        assert response.status_code in (200, 302, 400)  # 400: posted empty, refused by the form
    else:
        assert response.status_code == 403


def test_the_committee_role_votes_and_ops_nominate():
    committee_perms = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name="committee").permissions.all()
    }
    assert {"reviews.view_reviewcase", "reviews.vote_reviewcase"} <= committee_perms
    assert "reviews.add_reviewcase" not in committee_perms
    for role in ("ops", "ops_lead"):
        assert Group.objects.get(name=role).permissions.filter(codename="add_reviewcase").exists()
    auditor = Group.objects.get(name="auditor").permissions
    assert not auditor.filter(codename__in=["add_reviewcase", "vote_reviewcase"]).exists()


# --- The queue -----------------------------------------------------------------------------


def test_the_queue_shows_cases_waiting_for_my_vote_first(client):
    voters = committee()
    nominator = staff_user("nominator", "ops")
    members = [veteran(member_no=f"Q{n}") for n in range(3)]
    cases = [hand_case(m, nominator) for m in members]
    voted, waiting = cases[0], cases[2]
    for case in (voted, waiting):
        services.case_open_voting(case=case, actor=nominator)
    services.case_vote(case=voted, voter=voters["sales"], approve=True, comment="")
    client.force_login(voters["sales"])

    response = client.get(reverse("reviews:queue"), HTTP_ACCEPT_LANGUAGE="en")

    listed = list(response.context["cases"])
    assert listed[0] == waiting and listed[0].waiting_for_me
    assert {c.pk for c in listed[1:]} == {voted.pk, cases[1].pk}
    assert "waiting for your vote" in response.content.decode()


def test_the_queue_lists_decided_cases_on_request(login_as, a_case):
    services.case_withdraw(case=a_case, reason="x", actor=None)
    client = login_as("auditor")

    assert list(client.get(reverse("reviews:queue")).context["cases"]) == []
    response = client.get(reverse("reviews:queue"), {"state": "all"})
    assert list(response.context["cases"]) == [a_case]


def test_the_queue_makes_a_fixed_number_of_queries(login_as, django_assert_max_num_queries):
    nominator = staff_user("nominator", "ops")
    for n in range(20):
        hand_case(veteran(member_no=f"F{n:02d}"), nominator)
    client = login_as("committee")

    with django_assert_max_num_queries(10):
        response = client.get(reverse("reviews:queue"))

    assert len(response.context["cases"]) == 20


# --- The case page and its actions ---------------------------------------------------------


def test_the_case_page_shows_the_evidence_and_the_proposal(login_as, a_case):
    client = login_as("ops")

    page = client.get(reverse("reviews:case", kwargs={"pk": a_case.pk})).content.decode()

    assert "M-MATRIX" in page and "Evidence as of 2026-07-01" in page
    assert "Hand nomination" in page and "十年老客户" in page
    assert 'id="proposal-form"' in page and 'id="open-voting"' in page
    assert 'id="vote-form"' not in page  # ops hold no seat
    # The message starts in the member's language of notices, which the page names.
    assert re.search(r'id="case-message">感谢您[^<]*<', page)
    assert re.search(r'id="case-language">The site(\'|&#x27;)s language \(not chosen yet\)<', page)


def test_the_evidence_figures_have_thousands_separators(login_as, a_case):
    evidence = a_case.evidence
    evidence["metrics"].update(frequency=1200, tenure_years=12, contribution=25000)
    evidence["referrals_all_time"] = 1500
    ReviewCase.objects.filter(pk=a_case.pk).update(evidence=evidence)
    client = login_as("auditor")

    page = client.get(reverse("reviews:case", kwargs={"pk": a_case.pk})).content.decode()

    figures = re.findall(r'class="figure-value">([^<]*)<', page)
    assert {"1,200", "12", "25,000", "1,500"} <= set(figures)


def test_the_case_page_makes_a_fixed_number_of_queries(
    login_as, a_case, django_assert_max_num_queries
):
    voters = committee()
    services.case_open_voting(case=a_case, actor=None)
    for voter in list(voters.values())[:2]:
        services.case_vote(case=a_case, voter=voter, approve=True, comment="ok")
    client = login_as("auditor")

    # Five of them ask what an approval today grants: the member's figures (four) and their
    # open override (one), which an approval may not take away.
    with django_assert_max_num_queries(14):
        response = client.get(reverse("reviews:case", kwargs={"pk": a_case.pk}))

    assert len(response.context["page"].votes) == 2


def test_after_approval_the_case_page_shows_the_tier_granted_not_the_proposal(client, a_case):
    voters = committee()
    services.case_open_voting(case=a_case, actor=None)
    # Qualified Silver at nomination (Gold proposed), Gold by the decision: +1 is Platinum.
    PurchaseFactory(member=a_case.member, amount_fen=2_000_000, day=datetime.date(2026, 7, 5))
    for voter in voters.values():
        services.case_vote(case=a_case, voter=voter, approve=True, comment="", today=DECISION_DAY)
    client.force_login(voters["sales"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = client.get(reverse("reviews:case", kwargs={"pk": a_case.pk})).content.decode()

    assert refreshed(a_case).granted_tier.code == "platinum"
    assert "拟授予等级" not in page
    tier = re.search(r'<dt>([^<]*)</dt><dd id="case-tier">(.*?)</dd>', page, re.S)
    assert tier[1] == "授予等级" and "铂金会员" in tier[2] and "金卡会员" not in tier[2]


def test_a_closed_case_without_a_grant_shows_no_proposed_tier(login_as, a_case):
    services.case_withdraw(case=a_case, reason="会员要求", actor=None)

    page = login_as("ops").get(reverse("reviews:case", kwargs={"pk": a_case.pk})).content
    assert b'id="case-tier"' not in page and b"Proposed tier" not in page


def test_ops_edit_the_proposal_and_open_voting(login_as, a_case):
    client = login_as("ops")
    url = reverse("reviews:case_update", kwargs={"pk": a_case.pk})

    client.post(url, {"uplift": "2", "validity_months": "6", "message": "感谢您的一路相伴"})
    client.post(reverse("reviews:case_open", kwargs={"pk": a_case.pk}))

    case = refreshed(a_case)
    assert (case.uplift, case.validity_months, case.message) == (2, 6, "感谢您的一路相伴")
    assert case.state == ReviewCase.State.VOTING


def test_a_message_naming_a_tier_is_refused_at_its_field_on_the_case_page(login_as, a_case):
    client = login_as("ops")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    url = reverse("reviews:case_update", kwargs={"pk": a_case.pk})

    response = client.post(
        url, {"uplift": "2", "validity_months": "6", "message": "特别授予您金卡会员资格"}
    )

    assert response.status_code == 400
    form = response.context["proposal_form"]
    assert list(form.errors) == ["message"]
    assert "致会员的说明中不得写明等级（其中写有“金卡会员”）" in response.content.decode()
    assert 'id="proposal-form"' in response.content.decode()
    case = refreshed(a_case)
    assert (case.uplift, case.message) == (1, a_case.message)


def test_a_committee_member_votes_on_the_page(client, a_case):
    voters = committee()
    services.case_open_voting(case=a_case, actor=None)
    client.force_login(voters["sales"])
    url = reverse("reviews:case", kwargs={"pk": a_case.pk})
    assert 'id="vote-form"' in client.get(url).content.decode()

    client.post(
        reverse("reviews:case_vote", kwargs={"pk": a_case.pk}),
        {"choice": "reject", "comment": "消费太少"},
    )

    assert refreshed(a_case).state == ReviewCase.State.DISCUSSION


def test_the_vote_form_names_the_voters_department_as_each_language_punctuates(client, a_case):
    voters = committee()
    services.case_open_voting(case=a_case, actor=None)
    client.force_login(voters["sales"])
    url = reverse("reviews:case", kwargs={"pk": a_case.pk})

    def heading(language: str) -> str:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        page = client.get(url).content.decode()
        return re.sub(r"<[^>]+>", "", re.search(r'id="vote-form">.*?<h3>(.*?)</h3>', page, re.S)[1])

    assert heading("zh-hans") == "您的投票（销售）"
    services.case_vote(case=a_case, voter=voters["sales"], approve=True, comment="")
    assert heading("zh-hans") == "修改您的投票（销售）"
    assert heading("en") == "Change your vote (Sales)"


def test_a_rejection_without_a_comment_is_refused_with_a_message(client, a_case):
    voters = committee()
    services.case_open_voting(case=a_case, actor=None)
    client.force_login(voters["sales"])

    response = client.post(
        reverse("reviews:case_vote", kwargs={"pk": a_case.pk}),
        {"choice": "reject", "comment": ""},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert "Say why you reject the case." in response.content.decode()
    assert refreshed(a_case).state == ReviewCase.State.VOTING


def test_the_nominator_sees_no_vote_form(client):
    voters = committee()
    member = veteran(member_no="SELF")
    case = hand_case(member, voters["sales"])
    services.case_open_voting(case=case, actor=None)
    client.force_login(voters["sales"])

    page = client.get(reverse("reviews:case", kwargs={"pk": case.pk})).content.decode()

    assert 'id="vote-form"' not in page


def test_withdrawing_asks_for_a_reason_on_its_own_page(login_as, a_case):
    client = login_as("ops")
    url = reverse("reviews:case_withdraw", kwargs={"pk": a_case.pk})

    assert client.get(url).status_code == 200
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 200 and refreshed(a_case).is_open

    client.post(url, {"reason": "会员要求"})
    assert refreshed(a_case).state == ReviewCase.State.WITHDRAWN


def test_the_withdraw_page_of_a_closed_case_says_it_is_closed_and_offers_no_form(login_as, a_case):
    client = login_as("ops")
    url = reverse("reviews:case_withdraw", kwargs={"pk": a_case.pk})
    client.post(url, {"reason": "会员要求"})

    page = client.get(url).content.decode()

    assert "This case is already closed (withdrawn): there is nothing left to do here." in page
    assert 'name="reason"' not in page and "Withdraw the case" not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert "该案例已结束（已撤回），无需再进行任何操作。" in client.get(url).content.decode()


@pytest.fixture
def in_discussion(client, a_case):
    """``a_case`` in discussion, the chair logged in (Chinese pages); returns the chair."""
    voters = committee()
    services.case_open_voting(case=a_case, actor=None)
    services.case_vote(case=a_case, voter=voters["sales"], approve=False, comment="no")
    client.force_login(voters["customer_service"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return voters["customer_service"]


def decide_url(case) -> str:
    return reverse("reviews:case_decide", kwargs={"pk": case.pk})


def confirmation_token(page: str) -> str:
    return re.search(r'name="confirm_token" value="([^"]+)"', page)[1]


def test_the_chair_decides_on_the_decision_page_then_confirms(client, a_case, in_discussion):
    page = client.get(reverse("reviews:case", kwargs={"pk": a_case.pk})).content.decode()
    assert decide_url(a_case) in page
    assert 'name="reason"' in client.get(decide_url(a_case)).content.decode()

    confirm = client.post(decide_url(a_case), {"decision": "reject", "reason": "不符合"})

    page = confirm.content.decode()
    assert confirm.status_code == 200 and "确认决定" in page and "不符合" in page
    assert 'id="tier-to-grant"' not in page  # a rejection grants nothing
    assert "会员将收到此理由" in page  # the chair knows the member reads it
    assert refreshed(a_case).state == ReviewCase.State.DISCUSSION  # nothing written yet

    done = client.post(decide_url(a_case), {"confirm_token": confirmation_token(page)})

    assert done["Location"] == reverse("reviews:case", kwargs={"pk": a_case.pk})
    case = refreshed(a_case)
    assert case.state == ReviewCase.State.REJECTED and case.decision_reason == "不符合"


def test_changing_the_decision_goes_back_to_the_form_with_what_was_entered(
    client, a_case, in_discussion
):
    confirm = client.post(decide_url(a_case), {"decision": "reject", "reason": "不符合 <条件>"})
    back = re.search(r'<form method="post" class="inline-form">(?:(?!</form>).)*name="change"',
                     confirm.content.decode(), re.S)[0]  # fmt: skip
    fields = {
        name: html.unescape(value)  # as the browser posts it back
        for name, value in re.findall(r'name="(decision|reason)" value="([^"]*)"', back)
    }

    response = client.post(decide_url(a_case), {**fields, "change": "1"})

    form = response.context["form"]
    assert (form["decision"].value(), form["reason"].value()) == ("reject", "不符合 <条件>")
    assert "confirm_token" not in response.content.decode()
    assert refreshed(a_case).state == ReviewCase.State.DISCUSSION


def test_the_confirmation_shows_the_tier_the_approval_grants(client, a_case, in_discussion):
    # Qualified Silver at nomination (Gold proposed), Gold today: +1 is Platinum.
    PurchaseFactory(member=a_case.member, amount_fen=2_000_000, day=datetime.date(2026, 7, 5))
    expected = services.case_tier_to_grant(case=a_case)

    page = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})
    page = page.content.decode()

    tier = re.search(r'id="tier-to-grant">(.*?)</dd>', page, re.S)[1]
    assert expected.code == "platinum" and "铂金会员" in tier
    assert "<dd>通过</dd>" in page and "十年忠诚" in page
    assert refreshed(a_case).override is None
    client.post(decide_url(a_case), {"confirm_token": confirmation_token(page)})
    case = refreshed(a_case)
    assert case.state == ReviewCase.State.APPROVED and case.granted_tier == expected
    assert AuditEntry.objects.filter(
        action="review.case.approved", target_id=str(case.pk), actor=in_discussion
    ).exists()


def test_the_change_button_reads_as_a_verb_in_chinese_and_english(client, a_case, in_discussion):
    page = client.post(decide_url(a_case), {"decision": "reject", "reason": "不符合"})
    assert re.search(r'id="change-decision">([^<]*)<', page.content.decode())[1] == "修改"

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.post(decide_url(a_case), {"decision": "reject", "reason": "不符合"})
    assert re.search(r'id="change-decision">([^<]*)<', page.content.decode())[1] == "Change"


def _holds_platinum(member) -> None:
    """The member holds Platinum, earned earlier: no override that an approval would replace."""
    MemberTier.objects.update_or_create(
        member=member,
        defaults={
            "current_tier": Tier.objects.get(code="platinum"),
            "tier_year_end": timezone.localdate() + datetime.timedelta(days=365),
        },
    )


def _key_account_diamond(member) -> None:
    tier_override_set(
        member=member,
        tier=Tier.objects.get(code="diamond"),
        reason="key account",
        ends_on=None,
        actor=None,
    )


def test_the_confirmation_refuses_an_approval_over_a_stronger_override(
    client, a_case, in_discussion
):
    _key_account_diamond(a_case.member)

    page = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})

    body = page.content.decode()
    assert "confirm_token" not in body
    assert "该会员的人工调整保障其至少为钻石会员，无截止日期。" in body
    assert 'id="already-held"' not in body


def test_the_case_page_warns_that_a_stronger_override_blocks_an_approval(login_as, a_case):
    client = login_as("committee")
    url = reverse("reviews:case", kwargs={"pk": a_case.pk})
    assert 'id="override-held"' not in client.get(url).content.decode()

    _key_account_diamond(a_case.member)
    page = client.get(url).content.decode()

    warning = re.search(r'id="override-held">(.*?)</p>', page, re.S)[1]
    assert warning.startswith(
        "The member&#x27;s manual override gives them at least Diamond with no end date."
    )
    assert "a quorum of approvals sends the case to the chair" in warning
    assert 'id="already-held"' not in page


def test_the_confirmation_warns_when_the_member_already_holds_a_tier_not_below(
    client, a_case, in_discussion
):
    # Qualified Silver, +1: Gold, to a member holding Platinum.
    _holds_platinum(a_case.member)

    page = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})

    warning = re.search(r'id="already-held">(.*?)</p>', page.content.decode(), re.S)[1]
    assert warning.startswith("该会员已持有铂金会员：")
    assert "不会收到破格晋升通知" in warning


def test_the_confirmation_does_not_warn_when_the_tier_granted_is_higher(
    client, a_case, in_discussion
):
    page = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})

    assert 'id="tier-to-grant"' in page.content.decode()
    assert 'id="already-held"' not in page.content.decode()


def test_the_case_page_warns_in_english_when_the_member_already_holds_the_proposed_tier(
    login_as, a_case
):
    client = login_as("committee")
    url = reverse("reviews:case", kwargs={"pk": a_case.pk})
    assert 'id="already-held"' not in client.get(url).content.decode()

    _holds_platinum(a_case.member)
    page = client.get(url).content.decode()

    warning = re.search(r'id="already-held">(.*?)</p>', page, re.S)[1]
    assert warning == (
        "The member already holds Platinum: approving changes nothing they would notice while "
        "they hold Platinum, and sends them no upgrade notice."
    )


def _shown(page: str, element_id: str) -> str:
    return re.search(rf'id="{element_id}">(.*?)</(?:dd|p)>', page, re.S)[1]


def test_an_open_case_shows_the_tier_an_approval_today_grants_as_the_decision_does(
    client, a_case, in_discussion
):
    # Qualified Silver at nomination; Gold today, and holding Gold: +1 is Platinum today.
    PurchaseFactory(member=a_case.member, amount_fen=2_000_000, day=datetime.date(2026, 7, 5))
    member_evaluate(member=a_case.member, as_of=timezone.localdate())
    assert tier_state(refreshed(a_case).member).current_tier.code == "gold"

    page = client.get(reverse("reviews:case", kwargs={"pk": a_case.pk})).content.decode()

    assert "提名时的评定等级" in page and "银卡会员" in _shown(page, "qualified-at-nomination")
    assert "今日评定等级" in page and "金卡会员" in _shown(page, "qualified-today")
    proposed = _shown(page, "case-tier")
    assert "铂金会员" in proposed and "今日批准即授予该等级" in proposed
    assert 'id="already-held"' not in page  # Platinum is above the Gold they hold
    confirm = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})
    assert "铂金会员" in _shown(confirm.content.decode(), "tier-to-grant")


def test_the_case_page_warning_names_the_tier_held_against_the_tier_granted_today(
    client, a_case, in_discussion
):
    # Gold today (Platinum granted today), holding Platinum under an override: the warning.
    PurchaseFactory(member=a_case.member, amount_fen=2_000_000, day=datetime.date(2026, 7, 5))
    _holds_platinum(a_case.member)
    url = reverse("reviews:case", kwargs={"pk": a_case.pk})

    page = client.get(url).content.decode()

    assert "铂金会员" in _shown(page, "case-tier")
    assert _shown(page, "already-held").startswith("该会员已持有铂金会员：")
    confirm = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})
    confirm = confirm.content.decode()
    assert "铂金会员" in _shown(confirm, "tier-to-grant")
    assert _shown(confirm, "already-held") == _shown(page, "already-held")


def test_a_decided_case_shows_the_tier_granted_and_nothing_counted_today(client, a_case):
    voters = committee()
    services.case_open_voting(case=a_case, actor=None)
    for voter in voters.values():
        services.case_vote(case=a_case, voter=voter, approve=True, comment="", today=DECISION_DAY)
    client.force_login(voters["sales"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = client.get(reverse("reviews:case", kwargs={"pk": a_case.pk})).content.decode()

    assert "金卡会员" in _shown(page, "case-tier")
    assert "当前等级" not in page and 'id="qualified-today"' not in page
    assert 'id="already-held"' not in page


def _quarterly_case_page_in_chinese(client) -> str:
    """The case page, read by an auditor in Chinese, of a ten-year member the quarter's
    nomination found (profile loyal_veteran)."""
    MemberFactory(member_no="Q1", joined_on=datetime.date(2015, 1, 1))
    services.cases_nominate(quarter=Quarter(2026, 2), today=datetime.date(2026, 7, 1))
    case = ReviewCase.objects.get(member__member_no="Q1")
    client.force_login(staff_user("reader", "auditor"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client.get(reverse("reviews:case", kwargs={"pk": case.pk})).content.decode()


def test_the_timeline_names_the_profiles_of_a_quarterly_nomination_in_words(client):
    page = _quarterly_case_page_in_chinese(client)

    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', page, re.S)[1]
    assert "资深忠实会员" in timeline and "loyal_veteran" not in timeline


def test_the_committee_pages_punctuate_chinese_in_chinese(client):
    page = _quarterly_case_page_in_chinese(client)

    quorum = re.search(r'<span id="quorum">(.*?)</span>', page, re.S)[1]
    assert quorum == "通过所需赞成票：客户运营 × 1，销售 × 1，客户服务 × 1。"
    assert '系统 <span class="muted">（资深忠实会员）</span>' in page
    with translation.override("zh-hans"):
        assert profile_labels(["loyal_veteran", "big_one_off"]) == "资深忠实会员，单笔大额消费"
    with translation.override("en"):
        # A department that need not approve is left out, with no stray separator.
        assert quorum_text({"customer_ops": 1, "sales": 0}) == "customer operations × 1"


def _refused(response, case) -> None:
    assert response["Location"] == decide_url(case)
    assert refreshed(case).state == ReviewCase.State.DISCUSSION
    assert refreshed(case).override is None


def test_a_forged_confirmation_is_refused_and_nothing_is_written(client, a_case, in_discussion):
    page = client.post(decide_url(a_case), {"decision": "reject", "reason": "不符合"})
    token = confirmation_token(page.content.decode())
    forged = signing.dumps(
        {"c": a_case.pk, "u": in_discussion.pk, "d": "approve", "r": "x", "t": None},
        salt="another.salt",
    )

    for bad in (forged, token[:-2] + "xx", ""):
        response = client.post(decide_url(a_case), {"confirm_token": bad})
        _refused(response, a_case)
    page = client.get(response["Location"]).content.decode()
    assert "确认已过期或无效，未记录任何内容。" in page


def test_a_confirmation_used_already_says_so_and_is_not_done_twice(client, a_case, in_discussion):
    page = client.post(decide_url(a_case), {"decision": "reject", "reason": "不符合"})
    token = confirmation_token(page.content.decode())
    client.post(decide_url(a_case), {"confirm_token": token})
    transitions = a_case.transitions.count()

    again = client.post(decide_url(a_case), {"confirm_token": token}, follow=True)

    page = again.content.decode()
    assert "此确认已使用过" in page and "确认已过期或无效" not in page
    assert a_case.transitions.count() == transitions
    assert refreshed(a_case).state == ReviewCase.State.REJECTED


def test_a_confirmation_older_than_thirty_minutes_is_refused(
    client, a_case, in_discussion, monkeypatch
):
    page = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})
    token = confirmation_token(page.content.decode())
    later = time.time() + 31 * 60
    monkeypatch.setattr(signing.time, "time", lambda: later)

    _refused(client.post(decide_url(a_case), {"confirm_token": token}), a_case)


def test_another_users_confirmation_is_refused(client, a_case, in_discussion):
    page = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})
    token = confirmation_token(page.content.decode())
    # The chair changes hands between the confirmation page and the confirming click.
    CommitteeMember.objects.filter(user=in_discussion).update(is_chair=False)
    other = staff_user("new-chair", "committee")
    CommitteeMember.objects.create(user=other, department=Department.SALES, is_chair=True)
    client.force_login(other)

    _refused(client.post(decide_url(a_case), {"confirm_token": token}), a_case)


def test_a_decision_whose_tier_changed_since_the_confirmation_is_refused(
    client, a_case, in_discussion
):
    page = client.post(decide_url(a_case), {"decision": "approve", "reason": "十年忠诚"})
    token = confirmation_token(page.content.decode())
    PurchaseFactory(member=a_case.member, amount_fen=2_000_000, day=timezone.localdate())

    response = client.post(decide_url(a_case), {"confirm_token": token})

    assert response.status_code == 200
    assert "现在批准将授予铂金会员，而不是您确认的等级" in response.content.decode()
    assert refreshed(a_case).state == ReviewCase.State.DISCUSSION


def test_a_member_of_the_committee_who_is_not_chair_cannot_decide(client, a_case):
    voters = committee()
    services.case_open_voting(case=a_case, actor=None)
    services.case_vote(case=a_case, voter=voters["sales"], approve=False, comment="no")
    client.force_login(voters["sales"])

    page = client.get(decide_url(a_case))
    response = client.post(decide_url(a_case), {"decision": "approve", "reason": "ok"})

    assert page.status_code == 403 and 'name="reason"' not in page.content.decode()
    assert response.status_code == 403
    assert refreshed(a_case).state == ReviewCase.State.DISCUSSION


def test_the_chair_who_nominated_a_case_is_not_offered_its_decision(client):
    voters = committee()
    chair = staff_user("ops-then-chair", "ops")
    case = hand_case(veteran(), chair)
    services.case_open_voting(case=case, actor=chair)
    services.case_vote(case=case, voter=voters["sales"], approve=False, comment="no")
    # Made chair after nominating (the chair may not nominate).
    chair.groups.add(Group.objects.get(name="committee"))
    services.committee_member_set(user=chair, department="customer_ops", is_chair=True, actor=None)
    client.force_login(chair)

    assert client.get(decide_url(case)).status_code == 403
    page = client.get(reverse("reviews:case", kwargs={"pk": case.pk})).content.decode()
    assert decide_url(case) not in page


@pytest.mark.parametrize("state", ["nominated", "voting"])
def test_the_decision_page_of_a_case_not_yet_in_discussion_says_so_and_offers_no_form(
    client, a_case, state
):
    chair = committee()["customer_service"]
    if state == "voting":
        services.case_open_voting(case=a_case, actor=None)
    client.force_login(chair)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get(decide_url(a_case)).content.decode()

    label = dict(ReviewCase.State.choices)[state]
    assert (
        f"This case is not in discussion ({label}): the chair decides a case once a rejecting "
        "vote has sent it to discussion." in page
    )
    assert 'name="reason"' not in page and "Review the decision" not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert "该案例尚未进入讨论" in client.get(decide_url(a_case)).content.decode()


@pytest.mark.parametrize("form_class", [DecideForm, WithdrawForm])
def test_the_reason_forms_refuse_more_than_the_limit_at_the_field(form_class):
    data = {"decision": "reject", "reason": "长" * MAX_REASON_LENGTH}
    assert form_class(data).is_valid()

    form = form_class({**data, "reason": "长" * (MAX_REASON_LENGTH + 1)})

    assert not form.is_valid() and list(form.errors) == ["reason"]


def test_a_too_long_withdrawal_reason_is_named_at_its_field(login_as, a_case):
    client = login_as("ops")

    response = client.post(
        reverse("reviews:case_withdraw", kwargs={"pk": a_case.pk}),
        {"reason": "x" * (MAX_REASON_LENGTH + 1)},
    )

    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert refreshed(a_case).is_open


# --- Hand nomination from the member page --------------------------------------------------


def test_the_member_page_links_to_hand_nomination_for_ops_only(login_as):
    MemberFactory(member_no="H1")
    nominate_url = reverse("reviews:nominate", kwargs={"member_no": "H1"})

    ops_page = login_as("ops").get("/members/H1/").content.decode()
    assert nominate_url in ops_page


def test_the_committee_sees_no_nomination_link(login_as):
    MemberFactory(member_no="H1")

    page = login_as("committee").get("/members/H1/").content.decode()

    assert reverse("reviews:nominate", kwargs={"member_no": "H1"}) not in page


def test_ops_nominate_by_hand_with_a_justification(login_as):
    member = MemberFactory(member_no="H2")
    client = login_as("ops")
    url = reverse("reviews:nominate", kwargs={"member_no": "H2"})

    assert client.post(url, {"justification": ""}).status_code == 200
    response = client.post(url, {"justification": "VIP 客户经理推荐"})

    case = ReviewCase.objects.get(member=member)
    assert response["Location"] == reverse("reviews:case", kwargs={"pk": case.pk})
    assert case.nominated_by.username == "u-ops" and case.justification == "VIP 客户经理推荐"
    again = client.post(url, {"justification": "再次"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "already has an open review case" in again.content.decode()


def test_the_member_page_shows_the_exceptional_upgrade_and_its_message(login_as, a_case):
    voters = committee()
    services.case_update(
        case=a_case, uplift=1, validity_months=12, message="感谢您十年来的一路相伴", actor=None
    )
    services.case_open_voting(case=a_case, actor=None)
    for voter in voters.values():
        services.case_vote(case=a_case, voter=voter, approve=True, comment="")

    page = login_as("auditor").get("/members/M-MATRIX/").content.decode()

    assert "exceptional upgrade" in page and "感谢您十年来的一路相伴" in page
    assert "committee decision" in page  # the history's cause


# --- The quarter's summary and CSV ----------------------------------------------------------


@pytest.fixture
def quarter_cases():
    voters = committee()
    MemberFactory(member_no="S1", name="=HYPERLINK(1)", joined_on=datetime.date(2015, 1, 1))
    MemberFactory(member_no="S2", joined_on=datetime.date(2015, 1, 1))
    services.cases_nominate(quarter=Quarter(2026, 2), today=datetime.date(2026, 7, 1))
    approved, rejected = ReviewCase.objects.order_by("member__member_no")
    for case in (approved, rejected):
        services.case_open_voting(case=case, actor=None)
    for voter in voters.values():
        services.case_vote(case=approved, voter=voter, approve=True, comment="")
    services.case_vote(case=rejected, voter=voters["sales"], approve=False, comment="-10 分")
    services.case_decide(
        case=rejected, approve=False, reason="+不符合", actor=voters["customer_service"]
    )
    return approved, rejected


def test_the_quarter_summary_counts_per_profile_and_tiers_granted(login_as, quarter_cases):
    response = login_as("auditor").get(reverse("reviews:quarter", kwargs={"quarter": "2026Q2"}))

    summary = response.context["summary"]
    veteran_row = next(row for row in summary.profiles if row.code == "loyal_veteran")
    assert (veteran_row.nominated, veteran_row.approved, veteran_row.rejected) == (2, 1, 1)
    assert summary.total.nominated == 2
    assert dict((tier.code, n) for tier, n in summary.granted)["gold"] == 1


def test_a_quarter_of_year_zero_is_no_such_quarter(login_as):
    client = login_as("auditor")
    for name in ("reviews:quarter", "reviews:quarter_export"):
        response = client.get(reverse(name, kwargs={"quarter": "0000Q1"}))
        assert response.status_code == 404


def _withdrawn_copies(case: ReviewCase, count: int) -> None:
    """``count`` closed copies of ``case`` (closed: a member has one open case at most)."""
    fields = {
        f.attname: getattr(case, f.attname)
        for f in ReviewCase._meta.concrete_fields
        if f.attname not in ("id", "created_at")
    }
    fields["state"] = ReviewCase.State.WITHDRAWN
    ReviewCase.objects.bulk_create(ReviewCase(**fields) for _ in range(count))


def test_the_quarter_summary_and_the_queue_group_counts_by_thousands(login_as, a_case):
    _withdrawn_copies(a_case, 1_199)
    client = login_as("auditor")

    page = client.get(reverse("reviews:quarter", kwargs={"quarter": a_case.quarter}))
    table = page.content.decode().split('id="summary"')[1].split("</table>")[0]
    total = table.split('<th scope="row">')[1]
    assert '<td class="num">1,200</td>' in total  # nominated
    assert '<td class="num">1,199</td>' in total  # withdrawn
    assert ">1200<" not in table and ">1199<" not in table
    # The CSV is for spreadsheets: plain numbers.
    export = client.get(reverse("reviews:quarter_export", kwargs={"quarter": a_case.quarter}))
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert ["total", "1200", "0", "0", "1199", "1"] in rows

    for language, shown in [("en", "1,200 cases"), ("zh-hans", "1,200 个案例")]:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        queue = client.get(reverse("reviews:queue"), {"state": "all"}).content.decode()
        assert shown in queue, language


def test_the_quarter_lists_its_cases_25_a_page_under_the_profile_heading(login_as, a_case):
    _withdrawn_copies(a_case, 59)
    client = login_as("auditor")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    url = reverse("reviews:quarter", kwargs={"quarter": a_case.quarter})

    first, last = client.get(url), client.get(url, {"page": 3})

    assert len(first.context["cases"]) == 25 and len(last.context["cases"]) == 10
    assert first.context["summary"].total.nominated == 60  # the counts are of every case
    html = first.content.decode()
    assert "第 1 页，共 3 页" in html
    assert '<th scope="col">客户画像</th>' in html


def test_the_quarter_exports_as_csv_with_formulas_escaped(login_as, quarter_cases):
    response = login_as("auditor").get(
        reverse("reviews:quarter_export", kwargs={"quarter": "2026Q2"})
    )

    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["profile", "nominated", "approved", "rejected", "withdrawn", "open"]
    assert ["loyal_veteran", "2", "1", "1", "0", "0"] in rows
    assert ["gold", "1"] in rows
    s1 = next(row for row in rows if len(row) > 2 and row[1] == "S1")
    assert s1[2] == "'=HYPERLINK(1)"
    s2 = next(row for row in rows if len(row) > 2 and row[1] == "S2")
    assert s2[11] == "'+不符合"


def test_a_quorum_approval_reads_in_the_readers_language_on_the_page_and_in_the_csv(
    login_as, quarter_cases
):
    approved, _ = quarter_cases
    # Voters' requests ran in Chinese (the default); the reason is stored in English.
    assert refreshed(approved).decision_reason == "Quorum reached."
    client = login_as("auditor")  # reads English pages
    page = client.get(reverse("reviews:case", kwargs={"pk": approved.pk})).content.decode()
    csv_text = client.get(
        reverse("reviews:quarter_export", kwargs={"quarter": "2026Q2"})
    ).content.decode("utf-8-sig")

    assert "<dd>Quorum reached.</dd>" in page and "(Quorum reached.)" in page
    assert "赞成票" not in page
    s1 = next(row for row in csv.reader(io.StringIO(csv_text)) if len(row) > 2 and row[1] == "S1")
    assert s1[11] == "Quorum reached."

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(reverse("reviews:case", kwargs={"pk": approved.pk})).content.decode()
    assert "<dd>赞成票已达到通过所需票数。</dd>" in page


def test_a_reason_stored_in_chinese_by_an_earlier_version_reads_in_english_and_typed_ones_stay(
    login_as, quarter_cases
):
    approved, rejected = quarter_cases
    ReviewCase.objects.filter(pk=approved.pk).update(decision_reason="赞成票已达到通过所需票数。")
    client = login_as("auditor")

    page = client.get(reverse("reviews:case", kwargs={"pk": approved.pk})).content.decode()
    assert "<dd>Quorum reached.</dd>" in page
    page = client.get(reverse("reviews:case", kwargs={"pk": rejected.pk})).content.decode()
    assert "<dd>+不符合</dd>" in page


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+86", "'+86"),
        ("-5", "'-5"),
        ("@SUM", "'@SUM"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("王=", "王="),
        (None, ""),
        (3, "3"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(value, cell):
    assert csv_safe(value) == cell


def test_an_unknown_quarter_is_not_found(login_as):
    response = login_as("auditor").get("/reviews/quarters/2026Q9/")

    assert response.status_code == 404


def test_committee_seats_are_edited_in_the_admin_and_audited(client, django_user_model):
    lead = django_user_model.objects.create_user("lead", password=PASSWORD, is_staff=True)
    lead.groups.add(Group.objects.get(name="ops_lead"))
    member = staff_user("new-voter", "committee")
    client.force_login(lead)

    response = client.post(
        "/admin/reviews/committeemember/add/",
        {"user": member.pk, "department": Department.SALES, "is_chair": "on"},
    )

    assert response.status_code == 302
    seat = CommitteeMember.objects.get(user=member)
    assert seat.is_chair and seat.department == Department.SALES
    assert AuditEntry.objects.filter(action="review.committee.set", actor=lead).exists()


def test_naming_a_new_chair_in_the_admin_replaces_the_old_one(client, django_user_model):
    voters = committee()
    lead = django_user_model.objects.create_user("lead", password=PASSWORD, is_staff=True)
    lead.groups.add(Group.objects.get(name="ops_lead"))
    client.force_login(lead)
    seat = voters["sales"].committee_seat

    response = client.post(
        f"/admin/reviews/committeemember/{seat.pk}/change/",
        {"department": Department.SALES, "is_chair": "on"},
    )

    assert response.status_code == 302
    assert CommitteeMember.objects.get(is_chair=True).user == voters["sales"]


@pytest.mark.parametrize("role", ["anonymous", "no_group", "auditor"])
@pytest.mark.parametrize(
    "name", ["reviews:case_withdraw", "reviews:case_decide", "reviews:nominate"]
)
def test_outsiders_get_the_same_answer_whether_the_case_or_member_exists(
    login_as, a_case, role, name
):
    exists, missing = (
        ({"member_no": a_case.member.member_no}, {"member_no": "NOPE123"})
        if name == "reviews:nominate"
        else ({"pk": a_case.pk}, {"pk": a_case.pk + 1000})
    )
    client = login_as(role)

    answers = [client.get(reverse(name, kwargs=kwargs)) for kwargs in (exists, missing)]

    expected = 302 if role == "anonymous" else 403
    assert [answer.status_code for answer in answers] == [expected, expected]
