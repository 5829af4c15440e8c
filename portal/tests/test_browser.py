"""End to end at phone width: a member signs in with an SMS code in Debian's chromium, sees the
progress bars and the member code, and cannot open another member's page."""

from __future__ import annotations

import datetime
import importlib
import os
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings

from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.models import Tier
from tiers.services import member_evaluate

from .conftest import sms_code

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PHONE_SIZE = {"width": 375, "height": 812}
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def default_tiers() -> None:
    """The tiers and default policy of the data migration, if a transactional test before this
    one flushed them: after the first live-server test the serialized copy that
    serialized_rollback reloads is no longer found, so browser tests after the first would
    otherwise start without tiers (seen with two browser test modules in one run)."""
    if not Tier.objects.exists():
        migration = importlib.import_module("tiers.migrations.0002_default_tiers_and_policy")
        migration.create_defaults(django_apps, None)


def silver_member():
    """Created in the test body, after the database fixtures have run."""
    default_tiers()
    member = MemberFactory(
        member_no="M0375812",
        name="李晓华",
        phone="13912345678",
        joined_on=datetime.date(2025, 6, 1),
    )
    PurchaseFactory(member=member, amount_fen=1_679_950, day=datetime.date(2026, 6, 1))
    member_evaluate(member=member, as_of=datetime.date(2026, 6, 30))
    return member


def test_a_member_signs_in_with_an_sms_code_on_a_phone_and_sees_their_tier(live_server, browser):
    silver_member()
    MemberFactory(member_no="M0000002", name="另一位会员")
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=PHONE_SIZE, locale="zh-CN", device_scale_factor=2)
    page = context.new_page()

    page.goto(f"{live_server.url}/my/")
    page.fill("input[name=phone]", "139 1234 5678")
    page.screenshot(path=ARTIFACTS / "portal-1-sign-in.png")
    page.click("form.p-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/my/login/code/")
    page.fill("input[name=code]", sms_code("13912345678"))
    page.click("form.p-form button[type=submit]")

    page.wait_for_url(f"{live_server.url}/my/M0375812/")
    assert page.locator(".tier-card-name").inner_text().strip() == "银卡会员"
    bars = page.locator("progress")
    assert bars.count() == 2
    assert bars.nth(0).get_attribute("value") == "83"
    assert "¥3,200.50" in page.locator("[data-progress=next] .p-gap").inner_text()
    code = page.locator(".member-code img")
    code.scroll_into_view_if_needed()
    assert code.evaluate("img => img.complete && img.naturalWidth > 0")
    assert code.bounding_box()["width"] <= PHONE_SIZE["width"]
    # Nothing is wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SIZE["width"]
    page.screenshot(path=ARTIFACTS / "portal-2-my-tier-375.png", full_page=True)

    response = page.goto(f"{live_server.url}/my/M0000002/")
    assert response.status == 404
    assert "另一位会员" not in page.inner_text("body")
    page.screenshot(path=ARTIFACTS / "portal-3-other-member-404.png")

    page.goto(f"{live_server.url}/my/rules/")
    page.screenshot(path=ARTIFACTS / "portal-4-rules-375.png", full_page=True)
    context.close()


def test_the_same_page_reads_well_on_a_desktop_in_english(live_server, browser):
    silver_member()
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/my/login/password/")
    page.click("text=Sign in with an SMS code instead")
    page.fill("input[name=phone]", "13912345678")
    page.click("form.p-form button[type=submit]")
    page.fill("input[name=code]", sms_code("13912345678"))
    page.click("form.p-form button[type=submit]")

    page.wait_for_url(f"{live_server.url}/my/M0375812/")
    assert "Spend ¥3,200.50 more" in page.inner_text("[data-progress=next]")
    page.screenshot(path=ARTIFACTS / "portal-5-my-tier-desktop.png", full_page=True)
    context.close()
