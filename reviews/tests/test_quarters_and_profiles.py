"""The pure parts: quarters, month arithmetic, profile matching and the uplift's cap."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import translation

from loyalty.exceptions import DomainError
from reviews.profiles import Candidate, matching_profiles, uplifted_rank
from reviews.quarters import Quarter, add_months
from tiers import engine
from tiers.review_settings import DEFAULT_REVIEW_SETTINGS, review_settings_from_data

POLICY = engine.Policy(
    version=1,
    tiers=(
        engine.TierRule("regular", 10, engine.AllOf(())),
        engine.TierRule("silver", 20, engine.AllOf(())),
        engine.TierRule("gold", 30, engine.AllOf(())),
        engine.TierRule("platinum", 40, engine.AllOf(())),
        engine.TierRule("diamond", 50, engine.AllOf(())),
    ),
)
RANKS = {t.code: t.rank for t in POLICY.tiers}
SETTINGS = review_settings_from_data(DEFAULT_REVIEW_SETTINGS)


def test_a_quarter_parses_and_knows_its_days():
    quarter = Quarter.parse("2026q2")

    assert str(quarter) == "2026Q2"
    assert quarter.first_day == datetime.date(2026, 4, 1)
    assert quarter.last_day == datetime.date(2026, 6, 30)
    assert Quarter(2026, 4).last_day == datetime.date(2026, 12, 31)
    assert Quarter(2026, 1).shift(-1) == Quarter(2025, 4)
    assert Quarter(2026, 4).shift(1) == Quarter(2027, 1)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (datetime.date(2026, 7, 1), "2026Q2"),
        (datetime.date(2026, 9, 30), "2026Q2"),
        (datetime.date(2026, 1, 1), "2025Q4"),
    ],
)
def test_the_quarter_that_just_ended(today, expected):
    assert str(Quarter.just_ended(today)) == expected


@pytest.mark.parametrize("text", ["2026Q5", "2026-Q2", "Q2", "", "20260Q1"])
def test_a_malformed_quarter_is_refused(text):
    with pytest.raises(DomainError):
        Quarter.parse(text)


@pytest.mark.parametrize(
    ("text", "valid"),
    [("0000Q1", False), ("1899Q4", False), ("1900Q1", True), ("2999Q4", True), ("3000Q1", False)],
)
def test_a_quarter_outside_the_years_the_product_takes_dates_in_is_refused(text, valid):
    if valid:
        quarter = Quarter.parse(text)
        assert quarter.first_day <= quarter.last_day
    else:
        with translation.override("en"), pytest.raises(DomainError, match="1900Q1 to 2999Q4"):
            Quarter.parse(text)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (datetime.date(2026, 7, 10), 12, datetime.date(2027, 7, 10)),
        (datetime.date(2026, 1, 31), 1, datetime.date(2026, 2, 28)),
        (datetime.date(2027, 12, 31), 2, datetime.date(2028, 2, 29)),
        (datetime.date(2026, 11, 15), 3, datetime.date(2027, 2, 15)),
    ],
)
def test_months_are_added_to_the_same_day_or_the_months_last(day, months, expected):
    assert add_months(day, months) == expected


def candidate(*, spend="0", frequency=0, tenure=0, rank=20, max_net="0", referrals=0):
    return Candidate(
        metrics=engine.Metrics(Decimal(spend), frequency, tenure, 0),
        qualified_rank=rank,
        max_net_purchase=Decimal(max_net),
        referrals_all_time=referrals,
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"tenure": 10, "rank": 20}, ["loyal_veteran"]),
        ({"tenure": 9, "rank": 20}, []),
        ({"tenure": 10, "rank": 30}, []),
        ({"max_net": "150000.00", "frequency": 1, "spend": "150000", "rank": 30}, ["big_one_off"]),
        ({"max_net": "149999.99", "frequency": 1, "rank": 30}, []),
        ({"max_net": "150000.00", "frequency": 2, "rank": 30}, []),
        ({"referrals": 50, "spend": "19999.99"}, ["referral_champion"]),
        ({"referrals": 49, "spend": "0"}, []),
        ({"referrals": 50, "spend": "20000.00", "rank": 30}, []),
        ({"tenure": 12, "referrals": 60}, ["loyal_veteran", "referral_champion"]),
        ({"tenure": 12, "referrals": 60, "rank": 50}, []),
    ],
)
def test_profiles_at_and_just_below_their_thresholds(kwargs, expected):
    assert matching_profiles(candidate(**kwargs), SETTINGS, POLICY, RANKS) == expected


@pytest.mark.parametrize(
    ("qualified", "uplift", "granted"),
    [(20, 1, 30), (20, 2, 40), (40, 1, 50), (40, 2, 50), (50, 2, 50), (10, 2, 30)],
)
def test_the_uplift_counts_tiers_and_stops_at_the_top(qualified, uplift, granted):
    assert uplifted_rank(POLICY, qualified, uplift) == granted
