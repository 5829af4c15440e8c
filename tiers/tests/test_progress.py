"""What is missing for a tier: the cheapest ways (engine.ways_to_reach), the member's progress
(selectors.member_progress) and the words staff and members read."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import translation

from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.engine import (
    AllOf,
    AnyOf,
    AtLeast,
    Metric,
    Metrics,
    Shortfall,
    Threshold,
    Way,
    ways_to_reach,
)
from tiers.selectors import member_open_warning, member_progress
from tiers.services import member_evaluate
from tiers.templatetags.tier_display import percent, ways_in_words

GOLD = AnyOf(
    (
        Threshold(Metric.SPEND, Decimal(20000)),
        Threshold(Metric.FREQUENCY, 12),
        Threshold(Metric.CONTRIBUTION, 2000),
    )
)
DIAMOND = AllOf(
    (
        Threshold(Metric.SPEND, Decimal(100000)),
        AtLeast(
            2,
            (
                Threshold(Metric.FREQUENCY, 24),
                Threshold(Metric.TENURE, 5),
                Threshold(Metric.CONTRIBUTION, 5000),
            ),
        ),
    )
)


def metrics(spend="0", frequency=0, tenure=0, contribution=0) -> Metrics:
    return Metrics(Decimal(spend), frequency, tenure, contribution)


def test_each_alternative_of_an_any_rule_is_a_way_with_the_exact_gap():
    ways = ways_to_reach(GOLD, metrics("16799.50", 10, 2, 300))

    assert [w.shortfalls for w in ways] == [
        (Shortfall(Metric.SPEND, Decimal("3200.50")),),
        (Shortfall(Metric.FREQUENCY, 2),),
        (Shortfall(Metric.CONTRIBUTION, 1700),),
    ]


def test_a_rule_that_holds_gives_one_empty_way():
    (way,) = ways_to_reach(GOLD, metrics("20000.00"))

    assert way.reached and way.progress == 1


@pytest.mark.parametrize(
    ("spend", "gap"), [("19999.99", "0.01"), ("0.00", "20000.00"), ("12345.67", "7654.33")]
)
def test_spend_gaps_are_exact_to_the_fen(spend, gap):
    assert ways_to_reach(GOLD, metrics(spend))[0].shortfalls[0].amount == Decimal(gap)


def test_at_least_two_of_three_offers_the_cheapest_pairs_and_puts_tenure_last():
    ways = ways_to_reach(DIAMOND, metrics("90000", 20, 1, 4000))

    needs = [{s.metric: s.amount for s in w.shortfalls} for w in ways]
    assert needs[0] == {
        Metric.SPEND: Decimal("10000"),
        Metric.FREQUENCY: 4,
        Metric.CONTRIBUTION: 1000,
    }
    assert Metric.TENURE in needs[-1]


def test_a_met_condition_of_an_at_least_rule_is_not_asked_for_again():
    ways = ways_to_reach(DIAMOND, metrics("100000", 30, 0, 0))

    assert [w.shortfalls for w in ways][0] == (Shortfall(Metric.CONTRIBUTION, 5000),)


PLATINUM = AnyOf(
    (
        AllOf((Threshold(Metric.SPEND, Decimal(50000)), Threshold(Metric.FREQUENCY, 18))),
        AllOf((Threshold(Metric.TENURE, 3), Threshold(Metric.SPEND, Decimal(30000)))),
    )
)
BY_SPEND = (Shortfall(Metric.SPEND, Decimal("20000")), Shortfall(Metric.FREQUENCY, 17))
BY_TENURE = (Shortfall(Metric.TENURE, 1),)


@pytest.mark.parametrize(
    ("tenure_at_deadline", "ways"),
    [
        (None, [BY_SPEND, BY_TENURE]),  # no deadline: every way
        (2, [BY_SPEND]),  # the third year is completed only after the deadline
        (3, [BY_SPEND, BY_TENURE]),  # completed on the deadline at the latest
        (4, [BY_SPEND, BY_TENURE]),
    ],
)
def test_a_way_needing_years_not_completed_by_the_deadline_is_not_offered(tenure_at_deadline, ways):
    found = ways_to_reach(PLATINUM, metrics("30000", 1, 2), tenure_at_deadline=tenure_at_deadline)

    assert [w.shortfalls for w in found] == ways


def test_no_way_is_offered_when_every_way_needs_years_the_deadline_does_not_leave():
    loyal = AnyOf((Threshold(Metric.TENURE, 5), AllOf((Threshold(Metric.TENURE, 4),))))

    assert ways_to_reach(loyal, metrics(tenure=3), tenure_at_deadline=3) == ()
    assert [
        w.shortfalls for w in ways_to_reach(loyal, metrics(tenure=3), tenure_at_deadline=4)
    ] == [(Shortfall(Metric.TENURE, 1),)]


def test_a_rule_that_holds_holds_whatever_the_deadline():
    (way,) = ways_to_reach(PLATINUM, metrics("30000", 1, 3), tenure_at_deadline=3)

    assert way.reached


def test_ways_read_as_one_sentence_in_chinese_and_english():
    ways = ways_to_reach(GOLD, metrics("16799.50", 10, 2, 300))[:2]

    with translation.override("en"):
        assert ways_in_words(ways) == "spend ¥3,200.50 more or make 2 more purchases"
    with translation.override("zh-hans"):
        assert ways_in_words(ways) == "再消费 ¥3,200.50 或再购买 2 次"


def test_purchases_still_needed_read_with_thousands_separators():
    # As the rule itself reads ("make at least 1,500 purchases").
    ways = [Way((Shortfall(Metric.FREQUENCY, 1_200),), Decimal("0.2"))]

    with translation.override("en"):
        assert ways_in_words(ways) == "make 1,200 more purchases"
    with translation.override("zh-hans"):
        assert ways_in_words(ways) == "再购买 1,200 次"


def test_years_still_needed_read_as_tenure_not_as_joining_again():
    # 「再入会」 would read as joining again; the seeds call tenure 合作年限.
    ways = [
        w for w in ways_to_reach(DIAMOND, metrics("100000", 30, 3, 0)) if len(w.shortfalls) == 1
    ]
    tenure_way = next(w for w in ways if w.shortfalls[0].metric == Metric.TENURE)

    with translation.override("en"):
        assert ways_in_words([tenure_way]) == "stay a member 2 more years"
    with translation.override("zh-hans"):
        assert ways_in_words([tenure_way]) == "合作年限再满 2 年"


def test_a_progress_bar_is_never_full_before_the_tier_is_reached():
    (way,) = ways_to_reach(Threshold(Metric.SPEND, Decimal(20000)), metrics("19999.99"))

    assert percent(way.progress) == 99


@pytest.mark.django_db
def test_a_members_progress_names_the_next_tier_and_what_keeps_the_current_one():
    member = MemberFactory(joined_on=datetime.date(2025, 6, 1))
    PurchaseFactory(member=member, amount_fen=1_679_950, day=datetime.date(2026, 6, 1))
    member_evaluate(member=member, as_of=datetime.date(2026, 6, 30))

    progress = member_progress(member)

    assert (progress.held.code, progress.next_tier.code) == ("silver", "gold")
    assert progress.to_next[0].shortfalls == (Shortfall(Metric.SPEND, Decimal("3200.50")),)
    assert progress.keeps and progress.tier_year_end == datetime.date(2027, 6, 30)


@pytest.mark.django_db
def test_no_progress_is_shown_for_a_member_who_takes_no_part():
    member = MemberFactory(status="experience")
    member_evaluate(member=member, as_of=datetime.date(2026, 6, 30))

    assert member_progress(member) is None


def _warned_gold(*, warn_on: datetime.date):
    """Gold from 2025-07-01 (tier year to 2026-07-01); the purchase has left the window by
    ``warn_on``, so the member is warned then."""
    member = MemberFactory(joined_on=datetime.date(2025, 6, 1))
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2025, 6, 10))
    member_evaluate(member=member, as_of=datetime.date(2025, 7, 1))
    member_evaluate(member=member, as_of=warn_on)
    return member


@pytest.mark.django_db
def test_a_late_warning_moves_the_keep_deadline_to_the_end_of_the_notice_period():
    member = _warned_gold(warn_on=datetime.date(2026, 6, 15))  # no downgrade before 07-15

    progress = member_progress(member)

    assert progress.tier_year_end == datetime.date(2026, 7, 1)
    assert progress.keep_by == datetime.date(2026, 7, 15)
    assert not progress.keeps


@pytest.mark.django_db
def test_the_keep_deadline_is_the_tier_year_end_without_a_warning_or_for_an_early_one():
    early = _warned_gold(warn_on=datetime.date(2026, 6, 1))  # notice ends on the year end
    silver = MemberFactory(joined_on=datetime.date(2025, 6, 1))
    PurchaseFactory(member=silver, amount_fen=1_679_950, day=datetime.date(2026, 6, 1))
    member_evaluate(member=silver, as_of=datetime.date(2026, 6, 30))

    assert member_progress(early).keep_by == datetime.date(2026, 7, 1)
    assert member_progress(silver).keep_by == datetime.date(2027, 6, 30)


@pytest.mark.django_db
def test_a_warned_member_who_qualifies_again_keeps_with_the_warning_still_open():
    member = _warned_gold(warn_on=datetime.date(2026, 6, 15))
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2026, 6, 20))
    member_evaluate(member=member, as_of=datetime.date(2026, 6, 21))

    progress = member_progress(member)

    assert progress.keeps and progress.keep_by == datetime.date(2026, 7, 15)
    assert member_open_warning(member) is not None


@pytest.mark.django_db
def test_a_warned_members_way_to_keep_counts_only_what_is_still_in_the_window_on_the_deadline():
    member = MemberFactory(joined_on=datetime.date(2025, 6, 1))
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2025, 6, 10))
    PurchaseFactory(member=member, amount_fen=1_200_000, day=datetime.date(2025, 6, 20))
    PurchaseFactory(member=member, amount_fen=300_000, day=datetime.date(2025, 12, 1))
    member_evaluate(member=member, as_of=datetime.date(2025, 7, 1))  # Gold to 2026-07-01
    # On 2026-06-12 ¥15,000 counts (not Gold: warned); by 2026-07-01 only ¥3,000 will.
    member_evaluate(member=member, as_of=datetime.date(2026, 6, 12))

    progress = member_progress(member)

    assert member_open_warning(member) is not None
    assert progress.keep_by == datetime.date(2026, 7, 12)
    assert progress.to_keep[0].shortfalls == (Shortfall(Metric.SPEND, Decimal("17000.00")),)
