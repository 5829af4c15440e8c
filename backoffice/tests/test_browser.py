"""End to end in a real browser: Debian's chromium driven by Playwright (installed by .ci/run).
Each role logs in and walks its main paths; screenshots go to test-artifacts/."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.utils import timezone

from loyalty.audit import audit_record
from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.models import TierPolicy
from tiers.services import tiers_recompute

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "a-long-test-password"
# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Transactional, so the live server's thread sees the data; serialized_rollback reloads the tiers
# and default policy of the data migration, which a transactional test's flush removes.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def staff_user(role: str) -> User:
    user = User.objects.create_user(f"{role}-browser", password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    return user


def log_in(browser, live_server, role: str, locale: str = "zh-CN"):
    page = browser.new_page(locale=locale, viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", f"{role}-browser")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stacked-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/members/")
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_staff_logs_in_finds_a_member_and_sees_why_they_are_gold(live_server, browser):
    member = MemberFactory(member_no="M0424242", name="王小明", joined_on=datetime.date(2026, 1, 5))
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2026, 3, 1))
    tiers_recompute(as_of=datetime.date(2026, 6, 30))
    staff_user("ops")

    page = log_in(browser, live_server, "ops")
    page.fill("input[name=query]", "王小明")
    page.press("input[name=query]", "Enter")
    shot(page, "member-list")
    page.click("text=M0424242")

    page.wait_for_url(f"{live_server.url}/members/M0424242/")
    current_tier = page.locator("dt:has-text('当前等级') + dd").inner_text()
    assert current_tier.strip() == "金卡会员"
    body = page.inner_text("body")
    assert "¥20,000.00" in body
    assert "等级变动记录" in body
    page.close()


@pytest.fixture
def gold_member():
    today = timezone.localdate()
    member = MemberFactory(
        member_no="M0500001",
        name="陈静",
        phone="13812348000",
        joined_on=today - datetime.timedelta(days=400),
    )
    PurchaseFactory(member=member, amount_fen=2_000_050, day=today - datetime.timedelta(days=10))
    tiers_recompute(as_of=today)
    return member


def test_ops_overrides_a_tier_the_auditor_sees_it_and_the_committee_may_not(
    live_server, browser, gold_member
):
    for role in ("ops", "auditor", "committee"):
        staff_user(role)

    page = log_in(browser, live_server, "ops", locale="en-US")
    page.fill("input[name=query]", "m05")
    page.press("input[name=query]", "Enter")
    page.click("text=M0500001")
    body = page.inner_text("body")
    assert "Why this tier" in body
    # What is missing for Platinum, exact to the fen: ¥50,000 and 18 purchases, or ¥30,000
    # after three years.
    assert "Spend ¥29,999.50 more and make 17 more purchases" in body
    assert "to reach Platinum" in body
    shot(page, "member-page")

    page.click(".action-bar >> text=Override tier")
    page.select_option("select[name=tier]", "platinum")
    page.fill("textarea[name=reason]", "大客户补偿 VIP-7")
    page.click("form.action-form button[type=submit]")
    shot(page, "override-confirm")
    page.click("form.confirm-actions button[type=submit]")
    page.wait_for_url(f"{live_server.url}/members/M0500001/")
    history = page.inner_text("#history-heading + ol")
    assert "大客户补偿 VIP-7" in history
    assert "ops-browser" in history
    shot(page, "member-page-after-override")
    page.close()

    page = log_in(browser, live_server, "auditor")
    page.goto(f"{live_server.url}/audit/?member_no=M0500001")
    audit = page.inner_text("table.audit-table")
    assert "tier.override.manual" in audit and "大客户补偿 VIP-7" in audit
    shot(page, "audit-log")
    page.goto(f"{live_server.url}/members/M0500001/")
    assert "138****8000" in page.inner_text("body")  # masked for the auditor
    page.close()

    page = log_in(browser, live_server, "committee")
    page.goto(f"{live_server.url}/members/M0500001/")
    assert page.locator(".action-bar a").count() == 0
    response = page.goto(f"{live_server.url}/member-actions/override/M0500001/")
    assert response.status == 403
    shot(page, "refused")
    page.close()


def test_ops_blacklists_and_the_ops_lead_lifts(live_server, browser, gold_member):
    staff_user("ops")
    staff_user("ops_lead")

    page = log_in(browser, live_server, "ops")
    page.goto(f"{live_server.url}/members/M0500001/")
    page.click(".action-bar a.button-danger")
    page.fill("textarea[name=reason]", "恶意投诉")
    page.fill("textarea[name=evidence]", "工单 #42")
    page.set_input_files(
        "input[name=evidence_file]",
        files=[{"name": "ticket.txt", "mimeType": "text/plain", "buffer": b"ticket 42"}],
    )
    page.click("form.action-form button[type=submit]")
    page.click("form.confirm-actions button[type=submit]")
    page.wait_for_url(f"{live_server.url}/members/M0500001/")
    body = page.inner_text("body")
    assert "恶意投诉" in body and "工单 #42" in body
    assert page.locator(".action-bar a[href*='blacklist-lift']").count() == 0  # ops may not lift
    shot(page, "member-blacklisted")
    page.close()

    page = log_in(browser, live_server, "ops_lead")
    page.goto(f"{live_server.url}/members/M0500001/")
    page.click(".action-bar a[href*='blacklist-lift']")
    page.fill("textarea[name=reason]", "申诉成立")
    page.click("form.action-form button[type=submit]")
    page.click("form.confirm-actions button[type=submit]")
    page.wait_for_url(f"{live_server.url}/members/M0500001/")
    assert "申诉成立" in page.inner_text("body")
    assert page.locator(".heading-badges .tier-gold").count() == 1  # evaluated again: Gold
    page.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_staff_pages_fit_a_phone_in_both_languages(live_server, browser, locale):
    User.objects.create_superuser("admin-browser", password=PASSWORD)
    MemberFactory(member_no="LONG1", email="a.rather.long.address.for.a.phone@example.com")
    policy = TierPolicy.objects.get(version=1)
    audit_record(
        actor=None,
        action="policy.publish",
        target=policy,
        after={
            "review_settings": policy.review_settings,
            "rules": policy.rules,
            "accepted_warnings": ["gold>silver"],
        },
    )
    page = log_in(browser, live_server, "admin", locale=locale)
    page.set_viewport_size({"width": 390, "height": 844})

    # Nothing pushed past the screen's edge, in a scrolling table either: each audit value.
    page.goto(f"{live_server.url}/audit/")
    rights = page.locator(".audit-fields dd").evaluate_all(
        "values => values.map(value => value.getBoundingClientRect().right)"
    )
    assert rights and max(rights) <= 390, rights

    for path in (
        "/members/",
        "/members/LONG1/",
        "/dashboard/",
        "/policies/",
        "/reviews/",
        "/jobs/",
    ):
        page.goto(f"{live_server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        # Every menu entry inside the screen, none pushed off to the right.
        links = page.locator(".site-nav a")
        rights = [box["x"] + box["width"] for box in links.evaluate_all(
            "links => links.map(link => link.getBoundingClientRect().toJSON())"
        )]  # fmt: skip
        assert width <= 390 and max(rights) <= 390, (path, width, rights)
    page.close()
