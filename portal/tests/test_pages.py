"""The member's own pages: only their own, the same figures as the staff page, honest pages for
members with nothing to show, the member code, purchases counted, history and the rules."""

from __future__ import annotations

import datetime
import io
import re
from pathlib import Path

import pytest
import segno
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from loyalty.roles import ROLES
from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory, RefundFactory
from notifications.models import Notification
from portal import selectors
from tiers.engine import add_years
from tiers.models import (
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    Tier,
    TierOverride,
    TierPolicy,
)
from tiers.selectors import member_progress
from tiers.services import member_evaluate, tier_override_set
from tiers.templatetags.tier_display import ways_in_words

from .conftest import PHONE, sms_code

pytestmark = pytest.mark.django_db

EVALUATED_ON = datetime.date(2026, 6, 30)
MEMBER_PAGES = ["portal:tier", "portal:member_code", "portal:purchases", "portal:history",
                "portal:password"]  # fmt: skip
FIGURES = ["spend", "frequency", "tenure_years", "contribution"]


def evaluate(member: Member, on: datetime.date = EVALUATED_ON) -> Member:
    member_evaluate(member=member, as_of=on)
    return Member.objects.get(pk=member.pk)


@pytest.fixture
def silver(member):
    """Silver with ¥16,799.50 spent: ¥3,200.50 short of Gold."""
    Member.objects.filter(pk=member.pk).update(joined_on=datetime.date(2025, 6, 1))
    PurchaseFactory(member=member, amount_fen=1_679_950, day=datetime.date(2026, 6, 1))
    return evaluate(member)


def url(name: str, member: Member) -> str:
    return reverse(name, args=[member.member_no])


def page(client, name: str, member: Member) -> str:
    response = client.get(url(name, member))
    assert response.status_code == 200
    return response.content.decode()


# --- Only one's own ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_every_member_page_of_another_member_is_not_found(signed_in, name):
    other = MemberFactory(member_no="M0000002")

    assert signed_in.get(url(name, other)).status_code == 404
    assert signed_in.get(reverse(name, args=["NOBODY"])).status_code == 404


def test_the_not_found_page_marks_no_tab_as_current(signed_in, member):
    other = MemberFactory(member_no="M0000002")

    response = signed_in.get(url("portal:tier", other))

    assert response.status_code == 404
    assert 'aria-current="page"' not in response.content.decode()
    assert 'aria-current="page">My tier<' in page(signed_in, "portal:tier", member)


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_every_member_page_of_ones_own_answers(signed_in, member, name):
    assert signed_in.get(url(name, member)).status_code == 200


@pytest.mark.parametrize("role", [*sorted(ROLES), "anonymous"])
@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_staff_and_anonymous_visitors_are_sent_to_the_member_sign_in(client, member, role, name):
    if role != "anonymous":
        user = User.objects.create_user(role, password="a-long-test-password", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)

    response = client.get(url(name, member))

    assert response.status_code == 302
    assert response.url == f"{reverse('portal:login')}?next={url(name, member)}"


def test_after_signing_in_the_member_returns_to_the_page_asked_for(english, member):
    target = url("portal:history", member)
    asked = english.get(target)

    to_code = english.post(asked.url, {"phone": PHONE})
    response = english.post(to_code.url, {"code": sms_code()})

    assert response.url == target


def test_a_next_address_on_another_site_is_ignored(english, member):
    english.post(f"{reverse('portal:login')}?next=https://evil.example/", {"phone": PHONE})

    response = english.post(reverse("portal:login_code"), {"code": sms_code()})

    assert response.url == url("portal:tier", member)


def test_the_member_home_leads_to_ones_own_tier_page(signed_in, member):
    assert signed_in.get(reverse("portal:home")).url == url("portal:tier", member)


# --- My tier ----------------------------------------------------------------------------------


def staff_figures(member: Member) -> list[str]:
    """The four figures on the staff member page, read as an ops user sees them."""
    staff = Client()
    staff.cookies["django_language"] = "en"
    user = User.objects.create_user("ops-reader", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="ops"))
    staff.force_login(user)
    html = staff.get(f"/members/{member.member_no}/").content.decode()
    return re.findall(r'class="figure-value">([^<]*)<', html)


def test_the_tier_page_shows_the_same_figures_and_gaps_as_the_staff_page(signed_in, silver):
    progress = member_progress(silver)

    html = page(signed_in, "portal:tier", silver)

    mine = [re.search(rf'data-figure="{f}">([^<]*)<', html).group(1) for f in FIGURES]
    assert mine == staff_figures(silver) == ["¥16,799.50", "1", "1", "0"]
    with translation.override("en"):
        gaps = ways_in_words(progress.to_next)
    assert f"{gaps[0].upper()}{gaps[1:]} to reach Gold." in html
    assert gaps.startswith("spend ¥3,200.50 more or make 11 more purchases")


def test_the_way_to_the_next_tier_is_spaced_in_chinese_as_its_or_is(signed_in, silver):
    signed_in.cookies["django_language"] = "zh-hans"

    html = page(signed_in, "portal:tier", silver)

    # A space after the ways, as before 或 inside them: never a figure glued to 即可.
    assert "再消费 ¥3,200.50 或再购买 11 次 或再获得 2,000 贡献值 即可升级金卡会员。" in html


def test_the_figures_read_as_counts_with_thousands_separators_like_the_rules(signed_in, silver):
    MemberEvaluation.objects.filter(member=silver).update(contribution=2000, frequency=1200)
    signed_in.cookies["django_language"] = "zh-hans"

    html = page(signed_in, "portal:tier", silver)

    assert '<dt>消费次数</dt><dd data-figure="frequency">1,200</dd>' in html
    assert '<dd data-figure="contribution">2,000</dd>' in html
    assert staff_figures(silver) == ["¥16,799.50", "1,200", "1", "2,000"]
    purchases = page(signed_in, "portal:purchases", silver)
    assert '<dt>消费次数</dt><dd data-figure="frequency">1,200</dd>' in purchases


def test_the_tier_card_names_the_tier_and_the_tier_year_end(signed_in, silver):
    html = page(signed_in, "portal:tier", silver)

    assert 'class="tier-card tier-card-silver"' in html
    assert "Silver" in html and "Tier year ends on 2027-06-30" in html


def test_the_progress_bars_go_to_the_next_tier_and_to_keeping_this_one(signed_in, silver):
    progress = member_progress(silver)
    to_gold = int(progress.to_next[0].progress * 100)

    html = page(signed_in, "portal:tier", silver)

    assert f'<progress max="100" value="{to_gold}"' in html and to_gold == 83
    assert 'data-progress="keep"' in html
    assert "You already meet the conditions to keep Silver" in html


def platinum_until_march(member: Member, joined_on: datetime.date) -> Member:
    """Gold by ¥30,000 spent, held at Platinum by an override to 2027-03-01 (the tier-year
    end): Platinum's rule asks either ¥50,000 and 18 purchases, or 3 years and ¥30,000."""
    Member.objects.filter(pk=member.pk).update(joined_on=joined_on)
    PurchaseFactory(member=member, amount_fen=3_000_000, day=datetime.date(2026, 6, 1))
    member = evaluate(member)
    tier_override_set(
        member=member,
        tier=Tier.objects.get(code="platinum"),
        reason="key account",
        ends_on=datetime.date(2027, 3, 1),
        actor=User.objects.create_user("ops-override"),
        today=EVALUATED_ON,
    )
    return Member.objects.get(pk=member.pk)


@pytest.mark.parametrize(
    ("joined_on", "years_offered"),
    [
        (datetime.date(2024, 8, 1), False),  # 3 years only on 2027-08-01, after the deadline
        (datetime.date(2023, 12, 1), True),  # 3 years on 2026-12-01, in time
    ],
)
def test_keeping_the_tier_by_years_as_a_member_is_offered_only_when_they_come_in_time(
    signed_in, member, joined_on, years_offered
):
    member = platinum_until_march(member, joined_on)

    progress = member_progress(member)
    html = page(signed_in, "portal:tier", member)

    assert progress.keep_by == datetime.date(2027, 3, 1) and not progress.keeps
    by_years = [w for w in progress.to_keep if w.shortfalls[0].metric == "tenure_years"]
    assert bool(by_years) == years_offered
    assert "to keep Platinum" in html
    assert ("stay a member 1 more year" in html) == years_offered


def staff_member_page(member: Member) -> str:
    staff = Client()
    staff.cookies["django_language"] = "en"
    user = User.objects.create_user("ops-page-reader", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="ops"))
    staff.force_login(user)
    return staff.get(f"/members/{member.member_no}/").content.decode()


def test_a_tier_that_only_years_not_completed_in_time_would_keep_is_said_to_be_out_of_reach(
    signed_in, member
):
    rules = TierPolicy.objects.get(version=1).rules
    rules["platinum"] = {"metric": "tenure_years", "min": 3}
    TierPolicy.objects.filter(version=1).update(rules=rules)
    member = platinum_until_march(member, datetime.date(2024, 8, 1))

    progress = member_progress(member)
    html = page(signed_in, "portal:tier", member)

    assert progress.keep_out_of_reach and not progress.keeps and progress.to_keep == ()
    assert (
        "The conditions of Platinum need more years as a member than you will have on "
        "2027-03-01, so it cannot be kept then." in html
    )
    assert "Progress to keeping Platinum" not in html
    signed_in.cookies["django_language"] = "zh-hans"
    assert "超过您到 2027-03-01 时已满的年限，因此届时无法保级。" in page(
        signed_in, "portal:tier", member
    )
    assert (
        "Cannot qualify to keep Platinum by 2027-03-01: every way needs more years as a member "
        "than the member has by then." in staff_member_page(member)
    )


def test_the_discounts_of_this_tier_and_the_next_are_shown_as_zhe(signed_in, silver):
    signed_in.cookies["django_language"] = "zh-hans"
    silver_discount = Tier.objects.get(code="silver").benefits.filter(kind="discount").first()
    gold_discount = Tier.objects.get(code="gold").benefits.filter(kind="discount").first()

    html = page(signed_in, "portal:tier", silver)

    for benefit in (silver_discount, gold_discount):
        assert f"{format((benefit.value / 10).normalize(), 'f')}折" in html


def test_the_highest_tier_has_no_next_tier_to_reach(signed_in, member):
    Member.objects.filter(pk=member.pk).update(joined_on=datetime.date(2019, 1, 1))
    for day in range(24):
        PurchaseFactory(
            member=member,
            amount_fen=500_000,
            day=datetime.date(2026, 1, 1) + datetime.timedelta(day),
        )
    member = evaluate(member)

    html = page(signed_in, "portal:tier", member)

    assert "You hold the highest tier." in html and "tier-card-diamond" in html


def test_a_downgrade_warning_is_shown_with_its_dates_and_what_keeps_the_tier(signed_in, member):
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2025, 6, 10))
    evaluate(member, datetime.date(2025, 7, 1))  # Gold, tier year to 2026-07-01
    member = evaluate(member, datetime.date(2026, 6, 15))  # the purchase left the window
    warning = DowngradeWarning.objects.get(member=member)

    html = page(signed_in, "portal:tier", member)

    assert 'data-notice="downgrade-warning"' in html
    assert "On 2026-06-15 we told you that you do not meet the conditions of Gold" in html
    assert f"no downgrade happens before {warning.downgrade_not_before:%Y-%m-%d}" in html
    assert "Spend ¥20,000.00 more" in html and "to keep Gold" in html


def warned_gold(member: Member) -> Member:
    """Gold from 2025-07-01 (tier year to 2026-07-01), warned on 2026-06-15: no downgrade
    before 2026-07-15."""
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2025, 6, 10))
    evaluate(member, datetime.date(2025, 7, 1))
    return evaluate(member, datetime.date(2026, 6, 15))


def test_the_keep_line_of_a_warned_member_gives_the_end_of_the_notice_period(signed_in, member):
    member = warned_gold(member)
    signed_in.cookies["django_language"] = "zh-hans"

    html = page(signed_in, "portal:tier", member)

    assert "在 2026-07-15（含）前再消费 ¥20,000.00" in html
    assert "在 2026-07-01" not in html


def test_a_warned_member_who_meets_the_conditions_again_is_told_so(signed_in, member):
    member = warned_gold(member)
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2026, 6, 20))
    member = evaluate(member, datetime.date(2026, 6, 21))
    signed_in.cookies["django_language"] = "zh-hans"

    html = page(signed_in, "portal:tier", member)

    assert 'data-notice="downgrade-warning"' in html
    assert (
        "我们曾于 2026-06-15 通知您：您当时未满足金卡会员的条件。"
        "您现已重新满足：在 2026-07-15（含）前仍满足即可保级。"
    ) in html
    assert "您目前未满足" not in html


def test_the_committees_exceptional_upgrade_shows_its_message(signed_in, silver):
    staff = User.objects.create_user("committee-chair")
    tier_override_set(
        member=silver,
        tier=Tier.objects.get(code="platinum"),
        reason="十年老客户",
        ends_on=datetime.date(2027, 7, 1),
        actor=staff,
        kind=TierOverride.Kind.COMMITTEE,
        message="感谢您10年来的一路相伴,特别授予您铂金会员资格",
        today=EVALUATED_ON,
    )

    html = page(signed_in, "portal:tier", silver)

    assert "感谢您10年来的一路相伴,特别授予您铂金会员资格" in html
    assert "You hold at least Platinum until 2027-07-01." in html
    assert "十年老客户" not in html  # the staff's reason is not the member's message


def _committee_grant(member, tier: str, message: str):
    return tier_override_set(
        member=member,
        tier=Tier.objects.get(code=tier),
        reason="评审案例",
        ends_on=datetime.date(2027, 7, 1),
        actor=None,
        kind=TierOverride.Kind.COMMITTEE,
        message=message,
        today=EVALUATED_ON,
    )


def test_a_committee_grant_the_member_was_not_told_of_shows_no_exceptional_upgrade(
    signed_in, silver
):
    # The member holds Platinum, earned earlier; the committee grants Gold: no notice, nothing
    # for them.
    MemberTier.objects.filter(member=silver).update(
        current_tier=Tier.objects.get(code="platinum"), tier_year_end=datetime.date(2027, 6, 1)
    )
    _committee_grant(silver, "gold", "感谢您的一路相伴")

    html = page(signed_in, "portal:tier", silver)

    assert "感谢您的一路相伴" not in html
    assert 'id="gift-heading"' not in html


def test_the_exceptional_upgrade_card_keeps_to_the_grant_the_member_was_told_of(signed_in, silver):
    _committee_grant(silver, "gold", "感谢您十年来的支持")
    told = page(signed_in, "portal:tier", silver)
    assert "感谢您十年来的支持" in told and "You hold at least Gold until 2027-07-01." in told

    # A later case grants the Gold they already hold: no notice, so not its message either.
    _committee_grant(silver, "gold", "另一段从未发出的话")
    html = page(signed_in, "portal:tier", silver)

    assert "另一段从未发出的话" not in html
    assert 'id="gift-heading"' not in html


def test_a_member_not_evaluated_yet_sees_an_honest_page_without_figures(signed_in, member):
    html = page(signed_in, "portal:tier", member)

    assert "You have not been evaluated yet" in html
    assert "<progress" not in html and "data-figure" not in html
    assert url("portal:member_code", member) in html


def legacy_gold(member: Member, granted_on: datetime.date, folder: Path) -> None:
    """``member`` carried over as Gold by ``import_csv legacy_tiers``; not evaluated since."""
    path = folder / "legacy.csv"
    path.write_text(f"member_no,tier,granted_on\n{member.member_no},gold,{granted_on}\n")
    call_command("import_csv", "legacy_tiers", str(path), stdout=io.StringIO())


def test_a_legacy_tier_shows_before_the_first_evaluation_as_on_the_staff_page(
    signed_in, member, tmp_path
):
    granted_on = timezone.localdate() - datetime.timedelta(days=30)
    legacy_gold(member, granted_on, tmp_path)

    html = page(signed_in, "portal:tier", member)

    assert 'class="tier-card tier-card-gold"' in html
    assert re.search(r'class="tier-card-name">\s*Gold\s*<', html)
    assert f"Tier year ends on {add_years(granted_on, 1):%Y-%m-%d}" in html
    assert "Yours as Gold" in html  # the benefits of the tier held
    # No figures before an evaluation, and no claim that there is no tier.
    assert "<progress" not in html and "data-figure" not in html
    assert "there is no tier" not in html and "Your figures are on their way" in html
    staff = Client()
    user = User.objects.create_user("ops-reader", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="ops"))
    staff.force_login(user)
    staff_page = staff.get(f"/members/{member.member_no}/").content.decode()
    assert '<span class="badge tier tier-gold">' in staff_page


def test_an_experience_member_sees_that_they_take_no_part_and_no_old_figures(signed_in, silver):
    Member.objects.filter(pk=silver.pk).update(status=Member.Status.EXPERIENCE)

    html = page(signed_in, "portal:tier", silver)
    purchases = page(signed_in, "portal:purchases", silver)

    assert "Experience members take no part in the tier evaluation" in html
    assert "<progress" not in html and "¥16,799.50" not in html
    assert "Experience members take no part" in purchases and "¥16,799.50" not in purchases


def test_a_member_blacklisted_while_signed_in_sees_why_and_is_signed_out(signed_in, silver):
    Member.objects.filter(pk=silver.pk).update(status=Member.Status.BLACKLISTED)

    response = signed_in.get(url("portal:tier", silver))

    assert response.status_code == 403
    assert "This membership has been revoked" in response.content.decode()
    assert "¥16,799.50" not in response.content.decode()
    assert signed_in.get(url("portal:tier", silver)).status_code == 302


def test_in_app_messages_are_empty_until_the_notifications_work_provides_them(silver):
    assert selectors.member_messages(silver) == []


def test_the_tier_page_reads_a_fixed_number_of_queries(
    signed_in, silver, django_assert_max_num_queries
):
    with django_assert_max_num_queries(14):
        signed_in.get(url("portal:tier", silver))


def test_notices_are_written_in_the_language_the_member_reads_these_pages_in(signed_in, silver):
    assert silver.language == ""  # never came: the site's language
    page(signed_in, "portal:tier", silver)
    assert Member.objects.get(pk=silver.pk).language == "en"
    # ¥3,200.50 more makes them Gold: the notice of the upgrade is in English.
    PurchaseFactory(member=silver, amount_fen=320_050, day=EVALUATED_ON)
    evaluate(silver, EVALUATED_ON + datetime.timedelta(days=1))
    upgrade = Notification.objects.get(member=silver, kind="upgrade", channel="in_app")
    assert upgrade.language == "en" and "Gold" in upgrade.subject

    signed_in.cookies["django_language"] = "zh-hans"
    page(signed_in, "portal:history", silver)
    assert Member.objects.get(pk=silver.pk).language == "zh-hans"


def test_a_browsers_language_alone_is_not_the_members_choice(client, silver):
    """Pages follow the browser's Accept-Language, but only the switch (its cookie) records
    a language of notices."""
    client.post(reverse("portal:login"), {"phone": PHONE})
    client.post(reverse("portal:login_code"), {"code": sms_code()})

    html = client.get(url("portal:tier", silver), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '<html lang="en">' in html
    assert Member.objects.get(pk=silver.pk).language == ""


def test_the_tier_page_renders_in_chinese_and_english(signed_in, silver):
    english = page(signed_in, "portal:tier", silver)
    signed_in.cookies["django_language"] = "zh-hans"
    chinese = page(signed_in, "portal:tier", silver)

    assert '<html lang="en">' in english and "Silver" in english
    assert '<html lang="zh-hans">' in chinese and "银卡会员" in chinese


# --- The member code --------------------------------------------------------------------------


def test_the_member_code_is_a_qr_code_of_the_member_number_served_as_svg(signed_in, member):
    response = signed_in.get(url("portal:member_code", member))

    expected = io.BytesIO()
    segno.make("M0000001", micro=False).save(expected, kind="svg", scale=8, border=4)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content == expected.getvalue()
    assert response.content != selectors.member_code_svg("M0000002")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_the_member_code_is_a_full_qr_code_that_counter_scanners_read():
    assert not segno.make("M0000001", micro=False).is_micro
    assert selectors.member_code_svg("M0000001").startswith(b"<?xml")


# --- Purchases counted ------------------------------------------------------------------------


def test_the_purchases_of_the_window_add_up_to_the_evaluated_spend(signed_in, member):
    Member.objects.filter(pk=member.pk).update(joined_on=datetime.date(2020, 1, 1))
    before = PurchaseFactory(member=member, amount_fen=900_000, day=datetime.date(2025, 6, 30))
    kept = PurchaseFactory(member=member, amount_fen=300_000, day=datetime.date(2025, 7, 1))
    partly = PurchaseFactory(member=member, amount_fen=50_000, day=datetime.date(2026, 3, 1))
    voided = PurchaseFactory(member=member, amount_fen=20_000, day=datetime.date(2026, 4, 1))
    RefundFactory(refund_of=partly, amount_fen=10_000, day=datetime.date(2026, 3, 5))
    RefundFactory(refund_of=voided, amount_fen=20_000, day=datetime.date(2026, 4, 2))
    RefundFactory(refund_of=kept, amount_fen=1_000, day=datetime.date(2026, 7, 2))  # after D
    member = evaluate(member)
    counted = selectors.counted_purchases(member)

    html = page(signed_in, "portal:purchases", member)

    purchases = list(counted.purchases)
    assert [p.pk for p in purchases] == [voided.pk, partly.pk, kept.pk]
    assert sum(p.net_fen for p in purchases) == member.evaluation.spend_fen == 340_000
    assert sum(1 for p in purchases if p.net_fen > 0) == member.evaluation.frequency == 2
    assert before.external_id not in html
    assert "after 2025-06-30 up to and including 2026-06-30" in html
    assert "¥500.00 less ¥100.00 refunded" in html
    assert 'data-figure="spend">¥3,400.00<' in html


def test_purchases_are_paginated(signed_in, member):
    for n in range(25):
        PurchaseFactory(member=member, day=datetime.date(2026, 1, 1) + datetime.timedelta(n))
    member = evaluate(member)

    first = page(signed_in, "portal:purchases", member)
    second = signed_in.get(url("portal:purchases", member) + "?page=2").content.decode()

    assert first.count('class="p-list-row') == 20 and second.count('class="p-list-row') == 5
    assert "Page 1 of 2" in first


# --- History and rules ------------------------------------------------------------------------


def test_the_history_lists_every_change_of_tier_without_staff_names(signed_in, member):
    PurchaseFactory(member=member, amount_fen=600_000, day=datetime.date(2026, 1, 10))
    evaluate(member, datetime.date(2026, 1, 31))
    PurchaseFactory(member=member, amount_fen=1_500_000, day=datetime.date(2026, 2, 10))
    member = evaluate(member, datetime.date(2026, 2, 28))

    html = page(signed_in, "portal:history", member)

    assert html.count('class="p-timeline-item') == 2
    assert "2026-02-28" in html and "Upgrade" in html and "Gold" in html


def test_the_rules_of_every_tier_read_in_plain_words_without_signing_in(english):
    html = english.get(reverse("portal:rules")).content.decode()

    assert "spend at least ¥100,000.00" in html
    assert "At least 2 of these" in html and "make at least 24 purchases" in html
    assert "be a member for at least 5 years" in html
    assert "earn at least 2,000 contribution points" in html
    assert "No conditions: every member qualifies" in html
    assert "200 for each new member you refer, 100 for each activity" in html
    assert 'data-notice="announced-policy"' not in html
    assert "with at least 30 days to make it up" in html


def test_the_rules_say_the_notice_the_policy_in_force_gives(english):
    TierPolicy.objects.filter(version=1).update(notice_days=45)
    html = english.get(reverse("portal:rules")).content.decode()
    assert "with at least 45 days to make it up" in html


def test_an_announced_policy_change_is_shown_with_its_date_and_rules(english):
    current = TierPolicy.objects.get(version=1)
    starts = timezone.localdate() + datetime.timedelta(days=30)
    rules = {**current.rules, "gold": {"metric": "spend", "min": "25000.00"}}
    TierPolicy.objects.create(
        version=2, name="2027", status="published", effective_from=starts, rules=rules
    )

    html = english.get(reverse("portal:rules")).content.decode()

    assert 'data-notice="announced-policy"' in html
    assert f"New rules from {starts:%Y-%m-%d}" in html
    assert "spend at least ¥25,000.00" in html and "spend at least ¥20,000.00" in html
