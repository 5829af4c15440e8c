"""The quarterly nomination: each profile at and just below its thresholds, refunds and window
edges, the top tier, idempotence and the cooldown."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from loyalty.exceptions import DomainError
from members.models import Member
from members.privacy import member_erase
from members.tests.factories import (
    ActivityFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
    RefundFactory,
)
from reviews import services
from reviews.models import CaseTransition, ReviewCase
from reviews.quarters import Quarter
from reviews.tasks import nominate_quarter
from tiers.models import TierPolicy
from tiers.services import tiers_recompute

from .helpers import committee, seat, staff_user, veteran, voting_case

# The messages checked here are the English source texts.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

Q2 = Quarter(2026, 2)  # as of 2026-06-30: the window is 2025-07-01 … 2026-06-30
D = datetime.date(2026, 6, 30)


def nominate(quarter: Quarter = Q2):
    return services.cases_nominate(quarter=quarter, today=quarter.shift(1).first_day)


def nominated(result) -> list[tuple[str, str]]:
    return result.nominations


# --- loyal_veteran ------------------------------------------------------------------------


def test_a_member_of_exactly_ten_years_at_silver_is_a_loyal_veteran():
    MemberFactory(member_no="V10", joined_on=datetime.date(2016, 6, 30))

    assert nominated(nominate()) == [("V10", "loyal_veteran")]


def test_a_member_one_day_short_of_ten_years_is_not():
    MemberFactory(member_no="V9", joined_on=datetime.date(2016, 7, 1))

    assert nominated(nominate()) == []


def test_a_veteran_whose_rules_give_gold_is_not_a_loyal_veteran():
    member = MemberFactory(member_no="VG", joined_on=datetime.date(2016, 1, 1))
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2026, 3, 1))
    silver = MemberFactory(member_no="VS", joined_on=datetime.date(2016, 1, 1))
    PurchaseFactory(member=silver, amount_fen=1_999_999, day=datetime.date(2026, 3, 1))

    assert nominated(nominate()) == [("VS", "loyal_veteran")]


def test_experience_and_blacklisted_members_are_not_nominated():
    MemberFactory(joined_on=datetime.date(2010, 1, 1), status=Member.Status.EXPERIENCE)
    MemberFactory(joined_on=datetime.date(2010, 1, 1), status=Member.Status.BLACKLISTED)

    assert nominated(nominate()) == []


def test_a_member_whose_personal_data_was_erased_is_not_nominated_by_rule_or_by_hand():
    erased = MemberFactory(member_no="VE", joined_on=datetime.date(2016, 6, 30))
    member_erase(member=erased, reason="PIPL-1", actor=None)
    MemberFactory(member_no="V10", joined_on=datetime.date(2016, 6, 30))

    assert nominated(nominate()) == [("V10", "loyal_veteran")]
    with pytest.raises(DomainError, match="personal data was erased"):
        services.case_nominate(
            member=Member.objects.get(pk=erased.pk), justification="x", actor=staff_user("ops")
        )


# --- big_one_off --------------------------------------------------------------------------


def big_spender(member_no: str, amount_fen: int = 15_000_000, day: datetime.date = D):
    member = MemberFactory(member_no=member_no)
    purchase = PurchaseFactory(member=member, amount_fen=amount_fen, day=day)
    return member, purchase


def test_one_purchase_of_exactly_150000_on_the_last_day_is_a_big_one_off():
    big_spender("B1")

    assert nominated(nominate()) == [("B1", "big_one_off")]


def test_one_purchase_of_149999_99_is_not():
    big_spender("B2", amount_fen=14_999_999)

    assert nominated(nominate()) == []


def test_the_window_starts_the_day_after_one_year_before():
    big_spender("IN", day=datetime.date(2025, 7, 1))
    big_spender("OUT", day=datetime.date(2025, 6, 30))
    big_spender("LATE", day=datetime.date(2026, 7, 1))

    assert nominated(nominate()) == [("IN", "big_one_off")]


def test_a_second_purchase_makes_frequency_two_and_no_big_one_off():
    member, _purchase = big_spender("B3")
    PurchaseFactory(member=member, amount_fen=100, day=datetime.date(2026, 1, 1))

    assert nominated(nominate()) == []


def test_a_fully_refunded_second_purchase_does_not_count_towards_frequency():
    member, _purchase = big_spender("B4")
    other = PurchaseFactory(member=member, amount_fen=5_000, day=datetime.date(2026, 1, 1))
    RefundFactory(refund_of=other, amount_fen=5_000, day=datetime.date(2026, 1, 2))

    assert nominated(nominate()) == [("B4", "big_one_off")]


def test_a_partial_refund_by_the_last_day_lowers_the_net_below_the_threshold():
    member, purchase = big_spender("B5", day=datetime.date(2026, 5, 1))
    RefundFactory(refund_of=purchase, amount_fen=1, day=D)

    assert nominated(nominate()) == []


def test_a_refund_after_the_last_day_does_not_count():
    member, purchase = big_spender("B6", day=datetime.date(2026, 5, 1))
    RefundFactory(refund_of=purchase, amount_fen=1, day=datetime.date(2026, 7, 1))

    assert nominated(nominate()) == [("B6", "big_one_off")]


def test_a_member_whose_rules_give_the_top_tier_is_not_nominated():
    member, _purchase = big_spender("TOP")
    member.joined_on = datetime.date(2021, 1, 1)  # tenure 5
    member.save()
    for _ in range(50):  # contribution 5,000: Diamond with spend ≥ 100,000
        ActivityFactory(member=member, day=datetime.date(2026, 2, 1))

    assert nominated(nominate()) == []


# --- referral_champion --------------------------------------------------------------------


def referrer(member_no: str, referrals: int, day=datetime.date(2024, 3, 1)) -> Member:
    member = MemberFactory(member_no=member_no)
    for _ in range(referrals):
        ReferralFactory(referrer=member, occurred_on=day)
    return member


def test_fifty_referrals_in_all_time_make_a_referral_champion():
    referrer("R50", 50)

    assert nominated(nominate()) == [("R50", "referral_champion")]


def test_forty_nine_referrals_do_not():
    referrer("R49", 49)

    assert nominated(nominate()) == []


def test_a_referral_after_the_last_day_does_not_count():
    member = referrer("R49+", 49)
    ReferralFactory(referrer=member, occurred_on=datetime.date(2026, 7, 1))

    assert nominated(nominate()) == []


def test_a_referral_on_the_last_day_counts():
    member = referrer("R49D", 49)
    ReferralFactory(referrer=member, occurred_on=D)

    assert nominated(nominate()) == [("R49D", "referral_champion")]


def test_a_champion_must_spend_below_20000_in_the_window():
    below = referrer("RB", 50)
    PurchaseFactory(member=below, amount_fen=1_999_999, day=datetime.date(2026, 1, 1))
    at = referrer("RA", 50)
    PurchaseFactory(member=at, amount_fen=2_000_000, day=datetime.date(2026, 1, 1))

    assert nominated(nominate()) == [("RB", "referral_champion")]


# --- several profiles, evidence, policy ----------------------------------------------------


def test_a_member_matching_two_profiles_gets_one_case_and_two_lines():
    member = referrer("TWO", 50)
    member.joined_on = datetime.date(2015, 1, 1)
    member.save()

    result = nominate()

    assert result.nominations == [("TWO", "loyal_veteran"), ("TWO", "referral_champion")]
    case = ReviewCase.objects.get(member=member)
    assert case.profiles == ["loyal_veteran", "referral_champion"]
    assert result.cases == 1


def test_the_evidence_is_frozen_at_nomination_with_the_numbers_of_the_last_day():
    member, purchase = big_spender("EV", day=datetime.date(2026, 4, 2))
    small = PurchaseFactory(member=member, amount_fen=30_000, day=datetime.date(2026, 4, 3))
    RefundFactory(refund_of=small, amount_fen=30_000, day=datetime.date(2026, 4, 4))
    PurchaseFactory(member=member, amount_fen=99_900, day=datetime.date(2026, 8, 1))  # after D
    ReferralFactory(referrer=member, occurred_on=datetime.date(2020, 1, 1))
    tiers_recompute(as_of=datetime.date(2026, 5, 1))

    nominate()

    case = ReviewCase.objects.get(member=member)
    evidence = case.evidence
    assert case.as_of == D and case.quarter == "2026Q2"
    assert evidence["metrics"] == {
        "spend": "150000.00",
        "frequency": 1,
        "tenure_years": 2,
        "contribution": 0,
    }
    assert evidence["qualified_tier"] == "gold" and case.qualified_tier.code == "gold"
    assert evidence["max_net_purchase"] == "150000.00"
    assert evidence["referrals_all_time"] == 1
    assert [p["external_id"] for p in evidence["biggest_purchases"]] == [
        purchase.external_id,
        small.external_id,
    ]
    assert evidence["biggest_purchases"][1]["net"] == "0.00"
    assert evidence["history"][0]["to"] == "gold"
    gold = next(check for check in evidence["explanation"] if check["tier"] == "gold")
    assert gold["held"] is True
    assert case.state == ReviewCase.State.NOMINATED and case.validity_months == 12
    assert case.message  # a default message to edit before voting
    assert CaseTransition.objects.filter(case=case, to_state="nominated").exists()


def test_the_members_last_evaluation_date_does_not_matter():
    member = veteran(member_no="LATE-EVAL")
    PurchaseFactory(member=member, amount_fen=2_000_000, day=datetime.date(2026, 9, 1))
    tiers_recompute(as_of=datetime.date(2026, 10, 1))  # Gold today, Silver as of 30 June

    assert nominated(nominate()) == [("LATE-EVAL", "loyal_veteran")]


def test_the_thresholds_are_those_of_the_policy_in_force_on_the_last_day():
    MemberFactory(member_no="V8", joined_on=datetime.date(2018, 1, 1))
    policy = TierPolicy.objects.get(version=1)
    settings = policy.review_settings
    settings["profiles"]["loyal_veteran"]["min_tenure_years"] = 8
    TierPolicy.objects.create(
        version=2,
        name="v2",
        status=TierPolicy.Status.PUBLISHED,
        effective_from=datetime.date(2026, 7, 1),
        rules=policy.rules,
        review_settings=settings,
    )

    assert nominated(nominate(Q2)) == []
    assert nominated(nominate(Quarter(2026, 3))) == [("V8", "loyal_veteran")]


def test_a_profile_left_out_of_the_policy_is_not_used():
    referrer("R50", 50)
    policy = TierPolicy.objects.get(version=1)
    del policy.review_settings["profiles"]["referral_champion"]
    policy.save()

    assert nominated(nominate()) == []


# --- idempotence, open cases, cooldown ------------------------------------------------------


def test_running_twice_opens_nothing_new():
    veteran(member_no="V")
    big_spender("B")

    first = nominate()
    second = nominate()

    assert first.cases == 2
    assert second.cases == 0 and second.nominations == []
    assert ReviewCase.objects.count() == 2


def test_a_member_with_an_open_case_gets_no_second_one_in_a_later_quarter():
    veteran(member_no="V")
    nominate()

    result = nominate(Quarter(2026, 3))

    assert result.cases == 0 and result.skipped_open_case == 1


def test_a_member_holding_an_exceptional_upgrade_is_not_nominated_again():
    member = veteran(member_no="V")
    nominator = staff_user("nominator", "ops")
    voters = committee()
    case = voting_case(member, nominator)
    for voter in voters.values():
        services.case_vote(case=case, voter=voter, approve=True, comment="")

    result = nominate(Quarter(2026, 4))

    assert result.cases == 0 and result.skipped_exceptional_upgrade == 1


def reject(case: ReviewCase, voters) -> None:
    services.case_open_voting(case=case, actor=None)
    services.case_vote(case=case, voter=voters["sales"], approve=False, comment="不典型")
    chair = voters["customer_service"]
    services.case_decide(case=case, approve=False, reason="不符合", actor=chair)


def test_a_member_rejected_for_a_profile_waits_four_quarters_for_it():
    veteran(member_no="V")
    voters = committee()
    nominate()
    reject(ReviewCase.objects.get(), voters)

    later = [nominate(Quarter(2026, 3).shift(n)).cases for n in range(5)]

    # 2026Q3, 2026Q4, 2027Q1, 2027Q2 are within the cooldown; 2027Q3 is not.
    assert later == [0, 0, 0, 0, 1]


def test_the_cooldown_is_per_profile():
    member = referrer("TWO", 50)
    voters = committee()
    nominate()
    reject(ReviewCase.objects.get(), voters)
    member.joined_on = datetime.date(2015, 1, 1)  # a veteran now too
    member.save()

    result = nominate(Quarter(2026, 3))

    assert result.nominations == [("TWO", "loyal_veteran")]


def test_the_cooldown_is_policy_data():
    veteran(member_no="V")
    voters = committee()
    nominate()
    reject(ReviewCase.objects.get(), voters)
    policy = TierPolicy.objects.get(version=1)
    policy.review_settings["cooldown_quarters"] = 1
    policy.save()

    assert nominate(Quarter(2026, 3)).cases == 0
    assert nominate(Quarter(2026, 4)).cases == 1


# --- the command and the task ---------------------------------------------------------------


def test_the_command_prints_one_line_per_nomination_then_a_summary():
    MemberFactory(member_no="A1", joined_on=datetime.date(2015, 1, 1))
    two = referrer("A2", 50)
    two.joined_on = datetime.date(2015, 1, 1)
    two.save()
    out = io.StringIO()

    call_command("nominate_reviews", "--quarter", "2026Q2", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[:3] == ["A1 loyal_veteran", "A2 loyal_veteran", "A2 referral_champion"]
    assert lines[3] == "Nominated for 2026Q2 as of 2026-06-30 with policy version 1"
    assert "cases opened:                  2" in out.getvalue()


def test_the_command_prints_its_summary_in_chinese():
    veteran(member_no="V")
    out = io.StringIO()

    with translation.override("zh-hans"):
        call_command("nominate_reviews", "--quarter", "2026Q2", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "V loyal_veteran"
    assert lines[1] == "已为 2026Q2 完成提名，评定日期 2026-06-30，政策版本 1"
    assert "  新开案例：             1" in lines


def test_a_quarter_that_has_not_ended_is_refused():
    with pytest.raises(DomainError, match="not ended"):
        services.cases_nominate(quarter=Q2, today=D)


@pytest.mark.parametrize("given", ["2026Q5", ""])
def test_the_command_refuses_a_malformed_or_empty_quarter(given):
    # An empty one (a script's unset variable) is not the quarter that just ended.
    with pytest.raises(CommandError, match=f"'{given}' is not a quarter"):
        call_command("nominate_reviews", "--quarter", given)


def test_the_command_refuses_a_quarter_of_year_zero_in_one_line():
    with pytest.raises(CommandError, match="'0000Q1' is not a quarter from 1900Q1 to 2999Q4"):
        call_command("nominate_reviews", "--quarter", "0000Q1")


def test_the_task_defaults_to_the_quarter_that_just_ended(settings):
    veteran(member_no="V")

    summary = nominate_quarter()
    again = nominate_quarter(summary["quarter"])

    assert summary["cases"] == 1 and summary["nominations"] == ["V loyal_veteran"]
    assert again["cases"] == 0


def test_the_nomination_reads_members_in_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    for n in range(30):
        MemberFactory(member_no=f"V{n:02d}", joined_on=datetime.date(2015, 1, 1))
        MemberFactory(member_no=f"N{n:02d}")
    seat("someone", "sales")

    # Per case opened: the case, its transition and its audit row; the rest is fixed.
    with django_assert_max_num_queries(23 + 3 * 30):
        result = nominate()

    assert result.cases == 30
