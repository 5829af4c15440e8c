"""End to end in a real browser: Debian's chromium driven by Playwright (installed by .ci/run)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connections

from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.services import tiers_recompute

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Transactional, so the live server's thread sees the data; serialized_rollback reloads the tiers
# and default policy of the data migration, which a transactional test's flush removes.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


# Function-scoped: while Playwright's sync API runs, asyncio sees a running loop in this
# thread and Django hands out another connection object, one without the serialized migration
# data, so a database set up or flushed while a browser is open breaks the next browser test.
@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        # The test's ORM calls ran on the connection of the browser's context: close it, or the
        # test database cannot be dropped at the end of the run.
        connections.close_all()
        browser.close()


def test_staff_logs_in_finds_a_member_and_sees_why_they_are_gold(live_server, browser):
    member = MemberFactory(member_no="M0424242", name="王小明", joined_on=datetime.date(2026, 1, 5))
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2026, 3, 1))
    tiers_recompute(as_of=datetime.date(2026, 6, 30))
    user = User.objects.create_user("ops-browser", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="ops"))

    page = browser.new_page(locale="zh-CN")
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", "ops-browser")
    page.fill("input[name=password]", "a-long-test-password")
    page.click("form.stacked-form button[type=submit]")
    page.fill("input[name=query]", "王小明")
    page.press("input[name=query]", "Enter")
    page.click("text=M0424242")

    page.wait_for_url(f"{live_server.url}/members/M0424242/")
    current_tier = page.locator("dt:has-text('当前等级') + dd").inner_text()
    assert current_tier.strip() == "金卡会员"
    body = page.inner_text("body")
    assert "¥20,000.00" in body
    assert "等级变动记录" in body
    page.close()
