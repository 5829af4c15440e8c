"""End to end in Debian's chromium: a policy owner drafts, corrects, previews and publishes a
policy change; an ops user cannot publish; an auditor sees the dashboard with its charts.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.utils import timezone

from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.models import TierPolicy
from tiers.services import policy_draft_create, tiers_recompute

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "a-long-test-password"
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def staff(username: str, role: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD)
    user.groups.add(Group.objects.get(name=role))
    return user


def log_in(browser, live_server, username: str):
    page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stacked-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def members():
    """Two Gold members by spend: one at ¥22,000 (falls to Silver if Gold needs ¥25,000), one
    at ¥30,000 (stays), and a Silver member."""
    today = timezone.localdate()
    joined = today - datetime.timedelta(days=100)
    for number, spend in (("B-22K", 22_000), ("B-30K", 30_000), ("B-6K", 6_000)):
        member = MemberFactory(member_no=number, joined_on=joined)
        PurchaseFactory(
            member=member, amount_fen=spend * 100, day=today - datetime.timedelta(days=10)
        )
    tiers_recompute(as_of=today)


def test_a_policy_owner_drafts_checks_previews_and_publishes_a_change(
    live_server, browser, members
):
    staff("owner-browser", "policy_owner")
    page = log_in(browser, live_server, "owner-browser")

    page.click("nav.site-nav >> text=Policies")
    page.click("text=New draft from the latest published version")
    page.wait_for_url(f"{live_server.url}/policies/2/edit/")

    # A bad edit is explained where it is.
    page.fill("input[name='r-gold.0-min']", "25k")
    page.click("button[name=save]")
    errors = page.inner_text("div.form-errors")
    assert "Gold: spend minimum '25k' is not an amount" in errors
    assert page.locator("li.editor-node.has-error input[name='r-gold.0-min']").count() == 1
    shot(page, "policy-1-validation")

    # Corrected: Gold needs ¥25,000 instead of ¥20,000.
    page.fill("input[name='r-gold.0-min']", "25000")
    page.click("button[name=save]")
    page.wait_for_url(f"{live_server.url}/policies/2/")
    assert "spend ≥ ¥25,000.00" in page.inner_text("body")

    page.click("text=Compare with the base version")
    changed = page.locator("table.diff-lines tr.is-changed").first.inner_text()
    assert "¥20,000.00" in changed and "¥25,000.00" in changed
    shot(page, "policy-2-diff")

    page.click("text=Impact preview and publishing")
    matrix = page.locator("#preview-matrix")
    gold_to_silver = matrix.locator("tr[data-tier=gold] td[data-to=silver]").inner_text()
    assert gold_to_silver == "1"
    assert page.locator("[data-figure=down]").inner_text() == "1"
    assert page.locator("a[href='/members/B-22K/']").count() == 1
    shot(page, "policy-3-preview")

    earliest = timezone.localdate() + datetime.timedelta(days=settings.POLICY_NOTICE_DAYS)
    assert page.input_value("input[name=effective_from]") == earliest.isoformat()
    page.check("input[name=accept_warnings]")
    page.check("input[name=confirm]")
    page.click("section.publish button[type=submit]")
    page.wait_for_url(f"{live_server.url}/policies/2/")
    assert "scheduled" in page.inner_text(".page-heading")
    shot(page, "policy-4-published")

    published = TierPolicy.objects.get(version=2)
    assert published.status == TierPolicy.Status.PUBLISHED
    assert published.effective_from >= timezone.localdate() + datetime.timedelta(days=7)
    page.close()


def test_an_ops_user_has_no_publish_button_and_is_refused_on_post(live_server, browser):
    owner = staff("owner-2", "policy_owner")
    draft = policy_draft_create(actor=owner)
    staff("ops-browser", "ops")
    page = log_in(browser, live_server, "ops-browser")

    page.goto(f"{live_server.url}/policies/{draft.version}/preview/")
    assert page.locator("#preview-matrix").count() == 1
    assert page.locator("section.publish").count() == 0
    shot(page, "policy-5-ops-preview")

    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{live_server.url}/policies/{draft.version}/publish/",
        form={"effective_from": "2099-01-01", "confirm": "on", "accept_warnings": "on"},
        headers={"X-CSRFToken": token, "Referer": live_server.url},
    )
    assert response.status == 403
    draft.refresh_from_db()
    assert draft.status == TierPolicy.Status.DRAFT
    page.close()


def test_an_auditor_sees_the_dashboard_with_its_charts(live_server, browser, members):
    staff("auditor-browser", "auditor")
    page = log_in(browser, live_server, "auditor-browser")

    page.wait_for_function("() => window.Chart && Chart.getChart('chart-share')")
    for canvas in ("chart-per-tier", "chart-share", "chart-movements"):
        assert page.evaluate(f"() => !!Chart.getChart('{canvas}')")
    per_tier = page.inner_text("#table-per-tier")
    assert "Gold" in per_tier and "2" in per_tier
    shot(page, "dashboard")
    page.close()
