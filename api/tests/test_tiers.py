from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from api.views import _ways
from members.models import Member
from members.tests.factories import MemberFactory
from tiers.engine import Way
from tiers.models import Tier
from tiers.services import tier_override_set

pytestmark = pytest.mark.django_db


def test_the_tier_endpoint_gives_the_figures_explanation_and_progress(api):
    today = timezone.localdate()
    MemberFactory(member_no="M1", joined_on=today - datetime.timedelta(days=800))
    MemberFactory(member_no="M2", joined_on=today)
    occurred = (timezone.localtime() - datetime.timedelta(days=3)).isoformat()
    for n, amount in enumerate(["10000.00", "6799.50"]):
        api.post(
            "/api/v1/transactions/",
            {
                "external_id": f"T{n}",
                "member_no": "M1",
                "kind": "purchase",
                "amount": amount,
                "occurred_at": occurred,
            },
            format="json",
        )
    api.post("/api/v1/referrals/", {"referrer_no": "M1", "referred_no": "M2"}, format="json")
    api.post(
        "/api/v1/activities/",
        {"member_no": "M1", "activity": "直播互动", "occurred_at": occurred},
        format="json",
    )

    tier = api.get("/api/v1/members/M1/tier").json()

    assert tier["member_no"] == "M1" and tier["status"] == "active"
    assert (tier["current_tier"], tier["qualified_tier"]) == ("silver", "silver")
    assert (tier["spend"], tier["frequency"], tier["tenure_years"], tier["contribution"]) == (
        "16799.50",
        2,
        2,
        300,
    )
    assert tier["evaluated_on"] == today.isoformat() and tier["policy_version"] == 1
    assert tier["tier_year_ends_on"] is not None
    checks = {c["tier"]: c for c in tier["explanation"]}
    assert list(checks) == ["diamond", "platinum", "gold", "silver", "regular"]
    assert checks["silver"]["held"] and not checks["gold"]["held"]
    spend = next(c for c in checks["gold"]["rule"]["children"] if c.get("metric") == "spend")
    assert (spend["value"], spend["shortfall"]) == ("16799.50", "3200.50")
    progress = tier["progress"]
    assert progress["next_tier"] == "gold" and progress["keeps"] is True
    assert {"metric": "spend", "amount": "3200.50"} in progress["to_next"][0]["shortfalls"]


def test_progress_a_fen_short_of_the_next_tier_is_not_shown_as_full(api):
    MemberFactory(member_no="M1", joined_on=timezone.localdate())
    occurred = (timezone.localtime() - datetime.timedelta(days=3)).isoformat()
    purchase = {"external_id": "T1", "member_no": "M1", "kind": "purchase"}
    api.post(
        "/api/v1/transactions/",
        {**purchase, "amount": "19999.99", "occurred_at": occurred},
        format="json",
    )

    progress = api.get("/api/v1/members/M1/tier").json()["progress"]

    way = progress["to_next"][0]
    assert way["shortfalls"] == [{"metric": "spend", "amount": "0.01"}]
    assert way["progress"] == 0.9999
    assert progress["to_keep"] == [{"shortfalls": [], "progress": 1.0}]  # reached: full


@pytest.mark.parametrize(
    ("progress", "shown"),
    [("0.29999", 0.2999), ("0.3", 0.3), ("0.99999", 0.9999), ("1", 1.0), ("0", 0.0)],
)
def test_progress_is_rounded_down_to_four_places(progress, shown):
    way = Way(shortfalls=(), progress=Decimal(progress))

    assert _ways([way])[0]["progress"] == shown


def test_the_tier_endpoint_says_which_floor_holds_the_member_and_what_warning_stands(
    api, django_assert_max_num_queries
):
    today = timezone.localdate()
    member = MemberFactory(member_no="F1", joined_on=today - datetime.timedelta(days=30))
    ends_on = today + datetime.timedelta(days=10)
    tier_override_set(
        member=member, tier=Tier.objects.get(code="gold"), reason="大客户", ends_on=ends_on,
        actor=None,
    )  # fmt: skip

    # A fixed number, the key's and the rate's included, whatever the member's history (a
    # warned member's two: the policy and the figures of the downgrade's day).
    with django_assert_max_num_queries(16):
        tier = api.get("/api/v1/members/F1/tier").json()

    assert (tier["current_tier"], tier["qualified_tier"]) == ("gold", "regular")
    assert tier["floor"] == {"kind": "manual", "tier": "gold", "ends_on": ends_on.isoformat()}
    # The override ends within the warning lead: warned, no downgrade before 30 days' notice.
    assert tier["downgrade_warning"] == {
        "warned_on": today.isoformat(),
        "tier": "gold",
        "to_tier": "regular",
        "downgrade_not_before": (today + datetime.timedelta(days=30)).isoformat(),
    }


def test_a_member_who_takes_no_part_has_no_figures(api):
    MemberFactory(member_no="E1", status=Member.Status.EXPERIENCE)
    tier = api.get("/api/v1/members/E1/tier").json()
    assert (tier["status"], tier["current_tier"], tier["spend"]) == ("experience", None, None)
    assert tier["explanation"] == [] and tier["progress"] is None
    assert tier["floor"] is None and tier["downgrade_warning"] is None


def test_the_tier_history_lists_changes_newest_first(api):
    MemberFactory(member_no="M1", joined_on=timezone.localdate())
    api.post(
        "/api/v1/transactions/",
        {
            "external_id": "T1",
            "member_no": "M1",
            "kind": "purchase",
            "amount": "60000.00",
            "occurred_at": timezone.localtime().isoformat(),
        },
        format="json",
    )
    MemberFactory(member_no="M0", joined_on=timezone.localdate())
    history = api.get("/api/v1/members/M1/tier/history").json()["results"]
    assert [h["to_tier"] for h in history][:1] == ["gold"]
    assert history[0]["spend"] == "60000.00" and history[0]["policy_version"] == 1
    assert api.get("/api/v1/members/NOPE/tier/history").status_code == 404
    assert api.get("/api/v1/members/NOPE/tier").status_code == 404
