"""End to end in a real browser: one case from the quarterly nomination through three
departments' votes to the member page showing the new tier and the committee's message."""

from __future__ import annotations

import datetime
import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from members.tests.factories import MemberFactory
from reviews.models import CommitteeMember, Department, ReviewCase
from tiers.services import tiers_recompute

from .helpers import PASSWORD, staff_user

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MESSAGE = "感谢您10年来的一路相伴"


def logged_in(browser, live_server, username):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stacked-form button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page


def test_a_case_goes_from_nomination_through_three_votes_to_the_member_page(live_server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    today = timezone.localdate()
    member = MemberFactory(
        member_no="M0101010", name="李老客", joined_on=today.replace(year=today.year - 11)
    )
    tiers_recompute(as_of=today)
    staff_user("ops-browser", "ops")
    voters = []
    for name, department in [
        ("ops-vote", Department.CUSTOMER_OPS),
        ("sales-vote", Department.SALES),
        ("service-vote", Department.CUSTOMER_SERVICE),
    ]:
        user = staff_user(name, "committee")
        CommitteeMember.objects.create(
            user=user, department=department, is_chair=department == Department.CUSTOMER_SERVICE
        )
        voters.append(name)
    out = io.StringIO()
    call_command("nominate_reviews", stdout=out)
    assert "M0101010 loyal_veteran" in out.getvalue()
    case = ReviewCase.objects.get(member=member)

    # Customer operations edit the message and open the vote.
    ops = logged_in(browser, live_server, "ops-browser")
    ops.click("nav.site-nav a[href='/reviews/']")
    ops.click(f"a[href='/reviews/cases/{case.pk}/']")
    ops.fill("#proposal-form textarea[name=message]", MESSAGE)
    ops.click("#proposal-form button[type=submit]")
    assert ops.inner_text("#case-message") == MESSAGE
    ops.click("#open-voting")
    ops.screenshot(path=str(ARTIFACTS / "review-case-voting.png"), full_page=True)

    # One approval from each department.
    for username in voters:
        page = logged_in(browser, live_server, username)
        page.goto(f"{live_server.url}/reviews/")
        row = page.locator("tr.is-waiting").first
        assert f"#{case.pk}" in row.inner_text()
        row.locator(f"a[href='/reviews/cases/{case.pk}/']").click()
        page.check("#vote-form input[value=approve]")
        page.fill("#vote-form textarea[name=comment]", "同意")
        page.click("#vote-form button[type=submit]")
        page.wait_for_selector("#votes")
        if username == voters[-1]:
            page.screenshot(path=str(ARTIFACTS / "review-case-approved.png"), full_page=True)
        page.context.close()

    case.refresh_from_db()
    assert case.state == ReviewCase.State.APPROVED

    # The member page shows the new tier, the exceptional upgrade and its message.
    ops.goto(f"{live_server.url}/members/M0101010/")
    assert ops.locator("dt:has-text('当前等级') + dd").first.inner_text().strip() == "金卡会员"
    panel = ops.inner_text("#review-panel")
    assert MESSAGE in panel
    assert "金卡会员" in panel
    ends = case.override.ends_on
    assert ends.isoformat() in panel
    assert ends == datetime.date(today.year + 1, today.month, today.day)
    ops.screenshot(path=str(ARTIFACTS / "review-member-page.png"), full_page=True)
    ops.context.close()
