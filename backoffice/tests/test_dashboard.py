"""The dashboard's figures on a small history where every number is known, and its page."""

from __future__ import annotations

import datetime
import re

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice import dashboard
from loyalty.roles import ROLES
from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.models import DowngradeWarning, MemberEvaluation, MemberTier, Tier, TierChange

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 30)
D = datetime.date
PASSWORD = "a-long-test-password"


def tier(code: str | None) -> Tier | None:
    return Tier.objects.get(code=code) if code else None


def history(member: Member, *changes: tuple[D, str | None, str | None, str]) -> None:
    for day, from_code, to_code, cause in changes:
        TierChange.objects.create(
            member=member,
            from_tier=tier(from_code),
            to_tier=tier(to_code),
            cause=cause,
            effective_on=day,
        )


@pytest.fixture
def cast():
    """Five members' tier histories (see each line) and what they hold today."""
    m1 = MemberFactory(member_no="D1")  # Platinum since 2025-03: a high member kept
    history(
        m1,
        (D(2024, 1, 1), None, "regular", "qualified"),
        (D(2025, 3, 1), "regular", "platinum", "upgrade"),
    )
    m2 = MemberFactory(member_no="D2")  # Diamond, down to Gold 20 days ago
    history(
        m2,
        (D(2025, 1, 1), None, "diamond", "qualified"),
        (D(2026, 6, 10), "diamond", "gold", "downgrade"),
    )
    m3 = MemberFactory(member_no="D3")  # Gold, up to Platinum two months ago
    history(
        m3,
        (D(2025, 1, 1), None, "gold", "qualified"),
        (D(2026, 5, 1), "gold", "platinum", "upgrade"),
    )
    m4 = MemberFactory(member_no="D4")  # first tier ten days ago
    history(m4, (D(2026, 6, 20), None, "silver", "qualified"))
    m5 = MemberFactory(member_no="D5", status=Member.Status.BLACKLISTED)  # Platinum, revoked
    history(
        m5,
        (D(2024, 6, 1), None, "platinum", "qualified"),
        (D(2026, 1, 1), "platinum", None, "revoked"),
    )
    for member, code in ((m1, "platinum"), (m2, "gold"), (m3, "platinum"), (m4, "silver")):
        MemberTier.objects.create(member=member, current_tier=tier(code))
    MemberFactory(member_no="D6")  # active, not evaluated yet
    MemberFactory(member_no="D7", status=Member.Status.EXPERIENCE)
    return {"m1": m1, "m2": m2, "m3": m3, "m4": m4, "m5": m5}


def test_members_are_counted_per_current_tier_and_per_status(cast):
    per_tier = {(t.code if t else None): n for t, n in dashboard.members_per_tier()}
    per_status = {value: n for value, _label, n in dashboard.members_per_status()}

    assert per_tier == {
        "diamond": 0,
        "platinum": 2,
        "gold": 1,
        "silver": 1,
        "regular": 0,
        None: 1,
    }
    assert per_status == {"active": 5, "experience": 1, "blacklisted": 1}


def test_the_share_of_high_tiers_is_read_from_the_history_at_each_month_end(cast):
    share = {row.day: (row.high, row.tiered) for row in dashboard.high_tier_share(TODAY)}

    assert list(share)[0] == D(2025, 6, 30)
    assert list(share)[-1] == TODAY
    assert len(share) == 13
    assert share[D(2025, 6, 30)] == (3, 4)  # D1 plat, D2 diamond, D5 plat; D3 gold
    assert share[D(2025, 12, 31)] == (3, 4)
    assert share[D(2026, 1, 31)] == (2, 3)  # D5 revoked
    assert share[D(2026, 5, 31)] == (3, 3)  # D3 up to Platinum
    assert share[TODAY] == (2, 4)  # D2 down to Gold, D4 Silver
    assert dashboard.high_tier_share(TODAY)[-1].percent == 50.0


def test_two_changes_on_one_day_count_once_with_the_later_one():
    member = MemberFactory()
    history(
        member,
        (D(2026, 3, 1), None, "silver", "qualified"),
        (D(2026, 3, 1), "silver", "gold", "upgrade"),
    )

    [counts] = dashboard.tier_counts_on([D(2026, 3, 31)])

    assert dict(counts) == {tier("gold").pk: 1}


def test_retention_counts_the_high_members_of_a_year_ago_who_still_are(cast):
    retention = dashboard.high_value_retention(TODAY)

    assert retention.since == D(2025, 6, 30)
    assert (retention.high_then, retention.still_high) == (3, 1)
    assert retention.percent == 33.3


def test_the_migration_matrix_pairs_each_members_tiers_on_two_dates(cast):
    migration = dashboard.tier_migration(D(2025, 6, 30), TODAY)
    ids = {t.code: t.pk for t in Tier.objects.all()}

    assert dict(migration.counts) == {
        (ids["platinum"], ids["platinum"]): 1,  # D1
        (ids["diamond"], ids["gold"]): 1,  # D2
        (ids["gold"], ids["platinum"]): 1,  # D3
        (None, ids["silver"]): 1,  # D4
        (ids["platinum"], None): 1,  # D5
    }
    rows = {(t.code if t else None): total for t, _cells, total in migration.rows}
    assert rows == {
        "diamond": 1,
        "platinum": 2,
        "gold": 1,
        "silver": 0,
        "regular": 0,
        None: 1,
    }


def test_upgrades_and_downgrades_are_counted_over_30_and_90_days(cast):
    movements = {
        m.days: (m.upgrades, m.raised, m.downgrades) for m in dashboard.tier_movements(TODAY)
    }

    assert movements == {30: (0, 0, 1), 90: (1, 0, 1)}


def every_cause(today: D) -> None:
    """One change of each cause in the 30 days before ``today``: one upgrade by the rules,
    three moves up otherwise, one move down, and three changes from or to no tier."""
    day = today - datetime.timedelta(days=10)
    for from_code, to_code, cause in (
        ("regular", "silver", "upgrade"),
        ("silver", "gold", "override"),
        ("gold", "platinum", "committee"),
        ("silver", "gold", "legacy"),
        ("gold", "silver", "downgrade"),
        (None, "silver", "qualified"),
        (None, "gold", "reinstated"),
        ("platinum", None, "revoked"),
    ):
        history(MemberFactory(), (day, from_code, to_code, cause))


def test_upgrades_are_the_rules_upgrades_in_both_the_movements_and_the_time_to_tier():
    every_cause(TODAY)

    movements = {m.days: m for m in dashboard.tier_movements(TODAY)}
    timed = dashboard.time_to_tier(TODAY, days=90)

    assert (movements[90].upgrades, movements[90].raised, movements[90].downgrades) == (1, 3, 1)
    assert timed.upgrades == movements[90].upgrades


def test_the_dashboard_groups_its_counts_by_thousands(login_as):
    members = Member.objects.bulk_create(MemberFactory.build() for _ in range(1_200))
    silver = Tier.objects.get(code="silver")
    MemberTier.objects.bulk_create(MemberTier(member=m, current_tier=silver) for m in members)

    html = login_as("auditor").get(reverse("backoffice:dashboard")).content.decode()

    per_tier = html[html.index('id="table-per-tier"') :]
    assert '<td class="num">1,200</td>' in per_tier[: per_tier.index("</table>")]
    assert ">1200<" not in html


def test_the_dashboards_sentences_group_their_counts_by_thousands(login_as, monkeypatch):
    # The figures are given (the reads are tested above): only how the page words them counts.
    sample = DowngradeWarning.objects.get(member=warned("W-DUE", not_before=D(2026, 7, 20)))
    monkeypatch.setattr(
        dashboard,
        "time_to_tier",
        lambda today: dashboard.TimeToTier(90, 1_200, [("same day", 1_200)], 1_200),
    )
    monkeypatch.setattr(
        dashboard, "open_review_cases", lambda: dashboard.ReviewCases(1_300, 1_200, [])
    )
    monkeypatch.setattr(
        dashboard,
        "high_value_retention",
        lambda today: dashboard.Retention(D(2025, 6, 30), 1_200, 1_100),
    )
    monkeypatch.setattr(
        dashboard,
        "downgrades_due",
        lambda today: dashboard.DowngradesDue(D(2026, 7, 30), [(tier("gold"), 1_200)], [sample]),
    )
    client = login_as("auditor")

    html = client.get(reverse("backoffice:dashboard")).content.decode()

    assert "of 1,200 upgrades by the rules in the last 90 days were applied" in html
    assert "1,200 cases are still open after their quarter." in html
    assert "Of the 1,200 Platinum and Diamond members on 2025-06-30, 1,100 still hold" in html
    assert "The first 1 of 1,200." in html
    # The rest are one click away: the member list with its "downgrade due" filter.
    link = re.search(r'href="([^"]+)" id="downgrades-due-all"', html)
    listed = client.get(link.group(1).replace("&amp;", "&"))
    assert listed.status_code == 200 and listed.context["form"].cleaned_data["downgrade_due"]
    assert f'href="{reverse("reviews:queue")}" id="review-cases-all"' in html
    assert "1200" not in html.replace('data-overdue="1200"', "")

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    html = client.get(reverse("backoffice:dashboard")).content.decode()

    assert "即最近 90 天内的 1,200 次按规则晋升中" in html
    assert "1,200 个案例在所属季度结束后仍未处理完毕。" in html
    assert "2025-06-30 的 1,200 位铂金会员和钻石会员中，目前仍有 1,100 位" in html
    assert "共 1,200 条，显示前 1 条。" in html


def test_the_dashboard_says_which_moves_up_are_upgrades(login_as):
    every_cause(timezone.localdate())

    html = login_as("auditor").get(reverse("backoffice:dashboard")).content.decode()

    table = html[
        html.index('id="table-movements"') : html.index(
            "</table>", html.index('id="table-movements"')
        )
    ]
    assert ">Upgrades by the rules<" in table and ">Raised otherwise<" in table
    assert '<td class="num">1</td><td class="num">3</td><td class="num">1</td>' in table
    assert "of 1 upgrade by the rules in the last 90 days" in html
    assert (
        "Raised otherwise: by a manual override, a committee decision or a tier carried over "
        "from the previous programme." in html
    )


def warned(member_no, *, held="gold", qualified="silver", not_before, evaluated="silver"):
    member = MemberFactory(member_no=member_no)
    start = D(2025, 7, 15)
    MemberTier.objects.create(
        member=member,
        current_tier=tier(held),
        tier_year_start=start,
        tier_year_end=D(2026, 7, 15),
        downgrade_warned_on=D(2026, 6, 20),
    )
    MemberEvaluation.objects.create(
        member=member,
        evaluated_on=TODAY,
        policy_id=1,
        qualified_tier=tier(evaluated),
        spend_fen=0,
        frequency=0,
        tenure_years=0,
        contribution=0,
    )
    DowngradeWarning.objects.create(
        member=member,
        tier=tier(held),
        qualified_tier=tier(qualified),
        policy_id=1,
        warned_on=D(2026, 6, 20),
        tier_year_start=start,
        tier_year_end=D(2026, 7, 15),
        downgrade_not_before=not_before,
        gaps={},
    )
    return member


def test_downgrades_due_are_the_warned_members_still_below_within_30_days():
    warned("W-DUE", not_before=D(2026, 7, 20))
    warned("W-LATER", not_before=D(2026, 8, 15))
    warned("W-RECOVERED", not_before=D(2026, 7, 20), evaluated="gold")

    due = dashboard.downgrades_due(TODAY)

    assert due.total == 1
    assert [(t.code, n) for t, n in due.per_tier] == [("gold", 1)]
    assert [w.member.member_no for w in due.sample] == ["W-DUE"]


def test_the_due_downgrades_show_the_tier_qualified_for_now_not_when_warned(login_as):
    # Warned when qualifying for Silver; evaluated since as Regular (a refund, say).
    warned("W-NOW", qualified="silver", evaluated="regular", not_before=D(2026, 7, 20))

    html = login_as("auditor").get(reverse("backoffice:dashboard")).content.decode()

    due = html.split('id="due-heading"', 1)[1].split("</section>", 1)[0]
    row = due.split("W-NOW", 1)[1].split("</tr>", 1)[0]
    assert "Regular" in row and "Silver" not in row


def test_time_to_tier_counts_upgrades_by_days_since_the_latest_purchase(cast):
    PurchaseFactory(member=cast["m3"], day=D(2026, 5, 1))  # upgraded that day
    other = MemberFactory()
    PurchaseFactory(member=other, day=D(2026, 5, 20))
    history(other, (D(2026, 6, 1), "silver", "gold", "upgrade"))  # 12 days later
    tenure = MemberFactory()
    history(tenure, (D(2026, 6, 2), "regular", "silver", "upgrade"))  # no purchase at all

    result = dashboard.time_to_tier(TODAY)

    assert result.upgrades == 3
    assert result.same_day == 1
    assert [n for _label, n in result.buckets] == [1, 0, 1, 0, 1]
    assert result.same_day_percent == 33.3


def test_open_review_cases_are_counted_and_those_past_their_quarter_flagged():
    from reviews.services import case_nominate

    for number, day in (("R1", datetime.date(2026, 3, 10)), ("R2", datetime.date(2026, 5, 10))):
        member = MemberFactory(member_no=number, joined_on=datetime.date(2015, 1, 1))
        case_nominate(member=member, justification="loyal", actor=None, today=day)

    cases = dashboard.open_review_cases(TODAY)

    assert (cases.open, cases.overdue) == (2, 1)  # R1's quarter (2026Q1) has ended
    assert [c.member.member_no for c in cases.most_urgent] == ["R1", "R2"]


# --- The page -----------------------------------------------------------------------------


@pytest.fixture
def login_as(client, django_user_model):
    def login(role):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        if role == "anonymous":
            return client
        user = django_user_model.objects.create_user(username=role, password=PASSWORD)
        if role in ROLES:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


@pytest.mark.parametrize("role", [*sorted(ROLES), "no_group", "anonymous"])
def test_permission_matrix_of_the_dashboard(login_as, role):
    url = reverse("backoffice:dashboard")

    response = login_as(role).get(url)

    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"
    elif role == "no_group":
        assert response.status_code == 403
    else:
        assert response.status_code == 200


def test_the_dashboard_shows_each_chart_with_its_numbers(login_as, cast):
    response = login_as("auditor").get(reverse("backoffice:dashboard"))

    html = response.content.decode()
    for canvas in ("chart-per-tier", "chart-share", "chart-movements"):
        assert f'id="{canvas}"' in html
    for table in ("table-per-tier", "table-share", "table-movements", "migration-matrix"):
        assert f'id="{table}"' in html
    assert 'id="dashboard-data"' in html
    assert "vendor/chart.js/chart.umd.min.js" in html
    assert finders.find("vendor/chart.js/chart.umd.min.js")
    assert finders.find("vendor/chart.js/LICENSE.md")
    assert 'id="review-cases"' in html


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_migration_dates_are_filled_in_for_the_browser_in_each_language(login_as, language):
    # A date picker takes only ISO values: one written as 2026/09/06 shows an empty field.
    today = timezone.localdate()
    client = login_as("ops")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    html = client.get(reverse("backoffice:dashboard")).content.decode()

    assert f'<html lang="{language}">' in html
    start = today - datetime.timedelta(days=90)
    assert f'name="start" value="{start.isoformat()}"' in html
    assert f'name="end" value="{today.isoformat()}"' in html
    start_label, end_label = {"zh-hans": ("起始日期", "截止日期"), "en": ("From", "To")}[language]
    assert f'<label for="id_start">{start_label}' in html
    assert f'<label for="id_end">{end_label}' in html


def test_the_migration_form_takes_two_dates_and_refuses_them_reversed(login_as, cast):
    client = login_as("ops")
    url = reverse("backoffice:dashboard")

    chosen = client.get(url, {"start": "2025-06-30", "end": "2026-06-30"})
    reversed_dates = client.get(url, {"start": "2026-06-30", "end": "2025-06-30"})

    assert chosen.context["migration"].start == D(2025, 6, 30)
    assert chosen.context["migration"].counts
    assert reversed_dates.context["migration_form"].errors
    assert "The first date must not be after the second." in reversed_dates.content.decode()
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    future = client.get(url, {"start": "2026-01-01", "end": tomorrow.isoformat()})
    assert "The range must end today or earlier." in future.content.decode()
    assert future.context["migration"].end == timezone.localdate()  # the default range


def test_the_home_page_after_login_is_the_dashboard(client, django_user_model):
    user = django_user_model.objects.create_user(username="li.audit", password=PASSWORD)
    user.groups.add(Group.objects.get(name="auditor"))

    login = client.post(reverse("login"), {"username": "li.audit", "password": PASSWORD})
    home = client.get(login["Location"])

    assert login["Location"] == reverse("home")
    assert home["Location"] == reverse("backoffice:dashboard")


def test_a_user_who_may_not_see_the_dashboard_is_sent_to_the_member_list(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="nobody", password=PASSWORD))

    assert client.get(reverse("home"))["Location"] == reverse("backoffice:member_list")


def test_the_dashboard_makes_as_many_queries_for_more_members(login_as, cast):
    client = login_as("auditor")
    url = reverse("backoffice:dashboard")
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _n in range(20):
        member = MemberFactory()
        history(member, (D(2026, 1, 1), None, "gold", "qualified"))
        MemberTier.objects.create(member=member, current_tier=tier("gold"))
        PurchaseFactory(member=member, day=D(2026, 6, 1))
        history(member, (D(2026, 6, 1), "gold", "platinum", "upgrade"))
    warned("W-MORE", not_before=D(2026, 7, 20))

    with CaptureQueriesContext(connection) as many:
        client.get(url)

    assert len(many) == len(few)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start": "bad", "end": "2026-01-01"}, "起始日期: 输入一个有效的日期。"),
        ({"start": "99999-01-01", "end": "2026-01-01"}, "起始日期: 输入一个有效的日期。"),
        ({"start": "2025-01-01", "end": "2026-13-01"}, "截止日期: 输入一个有效的日期。"),
        ({"end": "2026-01-01"}, "起始日期: 该字段是必填项。"),
    ],
)
def test_an_unreadable_migration_date_is_named_not_replaced_by_the_default_quietly(
    login_as, params, named
):
    client = login_as("ops")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    response = client.get(reverse("backoffice:dashboard"), params)

    assert named in response.content.decode()
    assert response.context["migration"].end == timezone.localdate()  # the default range
