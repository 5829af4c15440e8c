"""A case from nomination to decision: the proposal, the quorum, discussion and the chair, the
nominator's abstention, the cap at the top tier, the tier and history after approval, and the
return to the normal lifecycle when the exceptional upgrade ends."""

from __future__ import annotations

import datetime
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import translation

from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory
from notifications.models import Channel, Kind, Notification
from reviews import privacy, services
from reviews.models import CommitteeMember, Department, Profile, ReviewCase, Vote
from reviews.profiles import Candidate
from reviews.quarters import Quarter
from reviews.selectors import open_cases, overdue_cases
from tiers import engine
from tiers.models import MemberTier, Tier, TierChange, TierOverride
from tiers.selectors import open_override
from tiers.services import (
    member_evaluate,
    tier_override_set,
    tier_overrides_expire,
    tiers_recompute,
)

from .helpers import DECISION_DAY, committee, hand_case, refreshed, seat, staff_user, veteran

# The messages checked here are the English source texts.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture
def voters():
    return committee()


@pytest.fixture
def nominator():
    return staff_user("nominator", "ops")


@pytest.fixture
def member():
    member = veteran(member_no="V001")
    tiers_recompute(as_of=datetime.date(2026, 7, 1))
    return member


@pytest.fixture
def case(member, nominator):
    case = hand_case(member, nominator)
    services.case_update(
        case=case,
        uplift=1,
        validity_months=12,
        message="感谢您10年来的一路相伴。",
        actor=nominator,
    )
    return services.case_open_voting(case=case, actor=nominator)


def _candidate(tenure_years: int) -> Candidate:
    metrics = engine.Metrics(
        spend=Decimal("0"), frequency=0, tenure_years=tenure_years, contribution=0
    )
    return Candidate(
        metrics=metrics, qualified_rank=1, max_net_purchase=Decimal("0"), referrals_all_time=0
    )


def vote(case, voter, approve=True, comment=""):
    return services.case_vote(
        case=case, voter=voter, approve=approve, comment=comment, today=DECISION_DAY
    )


# --- The proposal ---------------------------------------------------------------------------


def test_a_hand_nomination_records_who_nominated_and_why(member, nominator):
    case = hand_case(member, nominator)

    assert case.nominated_by == nominator and case.justification == "十年老客户"
    assert case.profiles == [] and case.is_hand_nomination
    assert case.evidence["metrics"]["tenure_years"] == 10
    assert case.qualified_tier.code == "silver"
    assert AuditEntry.objects.filter(action="review.case.nominated", actor=nominator).exists()


def test_a_hand_nomination_needs_a_justification_and_an_active_member(nominator):
    with pytest.raises(DomainError, match="justification"):
        services.case_nominate(member=MemberFactory(), justification=" ", actor=nominator)
    experience = MemberFactory(status=Member.Status.EXPERIENCE)
    with pytest.raises(DomainError, match="active"):
        services.case_nominate(member=experience, justification="x", actor=nominator)


def test_a_member_who_qualifies_for_the_top_tier_is_not_nominated_by_hand(nominator):
    diamond = veteran()  # ten years' tenure, and 24 purchases of ¥100,000 in all
    PurchaseFactory(member=diamond, amount_fen=9_997_700, day=datetime.date(2026, 6, 1))
    for _ in range(23):
        PurchaseFactory(member=diamond, amount_fen=100, day=datetime.date(2026, 6, 2))

    with pytest.raises(DomainError, match="qualifies for the top tier"):
        hand_case(diamond, nominator)
    assert not ReviewCase.objects.exists()


def test_a_member_has_at_most_one_open_case(member, nominator):
    hand_case(member, nominator)

    with pytest.raises(DomainError, match="already has an open"):
        hand_case(member, nominator)


def test_the_proposal_is_editable_until_voting_starts(member, nominator):
    case = hand_case(member, nominator)
    services.case_update(
        case=case, uplift=2, validity_months=6, message="特别授予", actor=nominator
    )
    services.case_open_voting(case=case, actor=nominator)

    with pytest.raises(DomainError, match="before voting starts"):
        services.case_update(case=case, uplift=1, validity_months=6, message="x", actor=nominator)
    case = refreshed(case)
    assert (case.uplift, case.validity_months, case.message) == (2, 6, "特别授予")


def test_the_default_message_names_no_tier_in_the_members_language(member, nominator):
    # The nominator reads English; the member's notices are in the site's language, Chinese.
    case = hand_case(member, nominator)

    assert case.message == "感谢您一直以来的支持。"
    services.message_check(case.message)
    Member.objects.filter(pk=member.pk).update(language="en")
    member.refresh_from_db()
    with translation.override("zh-hans"):  # a nominator reading Chinese
        veteran_case = services._default_message(
            member, _candidate(tenure_years=10), [Profile.LOYAL_VETERAN]
        )
    assert veteran_case == "Thank you for being with us for 10 years."
    services.message_check(veteran_case)


@pytest.mark.parametrize(
    "message",
    ["感谢您10年来的一路相伴,特别授予您金卡会员资格", "特别授予您铂金资格", "授予您Gold资格",
     "Welcome to Platinum membership", "you are now DIAMOND", "银卡"],
)  # fmt: skip
def test_a_message_naming_a_tier_is_refused(member, nominator, message):
    case = hand_case(member, nominator)

    with pytest.raises(DomainError, match="must not name a tier"):
        services.case_update(
            case=case, uplift=1, validity_months=12, message=message, actor=nominator
        )

    assert refreshed(case).message == "感谢您一直以来的支持。"


@pytest.mark.parametrize(
    "message", ["感谢您10年来的一路相伴", "A golden decade with us", "our regular customer", "普通"]
)
def test_a_message_without_a_tier_is_accepted(member, nominator, message):
    case = hand_case(member, nominator)

    services.case_update(case=case, uplift=1, validity_months=12, message=message, actor=nominator)

    assert refreshed(case).message == message


def test_voting_does_not_open_on_an_older_message_naming_a_tier(member, nominator):
    case = hand_case(member, nominator)
    ReviewCase.objects.filter(pk=case.pk).update(message="特别授予您金卡会员资格")

    with pytest.raises(DomainError, match="must not name a tier"):
        services.case_open_voting(case=case, actor=nominator)

    assert refreshed(case).state == ReviewCase.State.NOMINATED


def test_voting_needs_a_message_to_the_member(member, nominator):
    case = hand_case(member, nominator)
    services.case_update(case=case, uplift=1, validity_months=12, message=" ", actor=nominator)

    with pytest.raises(DomainError, match="message"):
        services.case_open_voting(case=case, actor=nominator)


def test_nobody_votes_before_voting_starts(member, nominator, voters):
    case = hand_case(member, nominator)

    with pytest.raises(DomainError, match="not open for votes"):
        vote(case, voters["sales"])


# --- The quorum -----------------------------------------------------------------------------


def test_one_approval_from_each_department_approves_and_grants_the_tier(case, voters):
    vote(case, voters["customer_ops"])
    vote(case, voters["sales"])
    assert refreshed(case).state == ReviewCase.State.VOTING

    vote(case, voters["customer_service"])

    case = refreshed(case)
    assert case.state == ReviewCase.State.APPROVED
    assert case.granted_tier.code == "gold"
    assert case.decided_by == voters["customer_service"]
    assert [t.to_state for t in case.transitions.all()] == ["nominated", "voting", "approved"]


def test_two_approvals_from_one_department_are_not_enough(case, voters):
    second_sales = seat("sales-2", Department.SALES)
    vote(case, voters["sales"])
    vote(case, second_sales)
    vote(case, voters["customer_ops"])

    assert refreshed(case).state == ReviewCase.State.VOTING


def test_any_rejection_sends_the_case_to_discussion(case, voters):
    vote(case, voters["customer_ops"])
    vote(case, voters["sales"], approve=False, comment="消费太少")
    vote(case, voters["customer_service"])

    case = refreshed(case)
    assert case.state == ReviewCase.State.DISCUSSION
    assert case.granted_tier is None and open_override(case.member) is None


def test_a_rejection_needs_a_comment(case, voters):
    with pytest.raises(DomainError, match="why"):
        vote(case, voters["sales"], approve=False, comment="")


def test_a_vote_can_be_changed_and_counts_once(case, voters):
    vote(case, voters["sales"])
    vote(case, voters["sales"], approve=False, comment="再想想")

    assert Vote.objects.filter(case=case, voter=voters["sales"]).count() == 1
    assert refreshed(case).state == ReviewCase.State.DISCUSSION


def test_the_chair_approves_a_case_in_discussion(case, voters):
    vote(case, voters["sales"], approve=False, comment="消费太少")

    services.case_decide(
        case=case, approve=True, reason="十年忠诚", actor=voters["customer_service"],
        today=DECISION_DAY,
    )  # fmt: skip

    case = refreshed(case)
    assert case.state == ReviewCase.State.APPROVED and case.decision_reason == "十年忠诚"
    assert case.granted_tier.code == "gold"


def test_the_chair_rejects_with_the_reasons_recorded(case, voters):
    vote(case, voters["sales"], approve=False, comment="消费太少")

    services.case_decide(
        case=case, approve=False, reason="消费不足", actor=voters["customer_service"]
    )

    case = refreshed(case)
    assert case.state == ReviewCase.State.REJECTED and case.decision_reason == "消费不足"
    assert case.override is None
    assert AuditEntry.objects.filter(
        action="review.case.rejected", target_id=str(case.pk), actor=voters["customer_service"]
    ).exists()


def test_a_rejected_member_is_told_the_reason(case, voters):
    Member.objects.filter(pk=case.member_id).update(phone="13800000001", email="")
    vote(case, voters["sales"], approve=False, comment="消费太少")

    services.case_decide(
        case=case,
        approve=False,
        reason="近一年消费尚未达到要求",
        actor=voters["customer_service"],
        today=DECISION_DAY,
    )

    told = Notification.objects.filter(member=case.member, kind=Kind.REVIEW_DECLINED)
    assert {n.channel for n in told} == {Channel.IN_APP, Channel.SMS}  # no e-mail address
    notice = told.get(channel=Channel.IN_APP)
    assert notice.event_on == DECISION_DAY
    assert notice.body == (
        f"{case.member.name}，您好！感谢您一直以来的支持。评审委员会审议了您的破格晋升，"
        "本次未予授予，原因：近一年消费尚未达到要求。您当前的等级与权益不变。"
    )


def test_an_approved_case_sends_no_rejection_notice(case, voters):
    vote(case, voters["sales"], approve=False, comment="消费太少")
    services.case_decide(
        case=case, approve=True, reason="十年忠诚", actor=voters["customer_service"],
        today=DECISION_DAY,
    )  # fmt: skip

    assert not Notification.objects.filter(kind=Kind.REVIEW_DECLINED).exists()


def test_the_preview_shows_what_the_decision_grants_and_writes_nothing(case, voters):
    vote(case, voters["sales"], approve=False, comment="消费太少")
    PurchaseFactory(member=case.member, amount_fen=2_000_000, day=datetime.date(2026, 7, 5))
    chair = voters["customer_service"]

    preview = services.case_decision_preview(
        case=case, approve=True, reason=" 十年忠诚 ", actor=chair, today=DECISION_DAY
    )

    assert (preview.tier.code, preview.ends_on, preview.reason) == (
        "platinum", datetime.date(2027, 7, 10), "十年忠诚",
    )  # fmt: skip
    assert refreshed(case).state == ReviewCase.State.DISCUSSION
    with pytest.raises(DomainError, match="chair"):
        services.case_decision_preview(
            case=case, approve=True, reason="x", actor=voters["sales"], today=DECISION_DAY
        )
    services.case_decide(
        case=case, approve=True, reason="十年忠诚", actor=chair, today=DECISION_DAY,
        expected_tier_id=preview.tier.pk,
    )  # fmt: skip
    assert refreshed(case).granted_tier == preview.tier


def test_an_approval_granting_another_tier_than_confirmed_is_refused(case, voters):
    vote(case, voters["sales"], approve=False, comment="消费太少")
    chair = voters["customer_service"]
    preview = services.case_decision_preview(
        case=case, approve=True, reason="十年忠诚", actor=chair, today=DECISION_DAY
    )
    PurchaseFactory(member=case.member, amount_fen=2_000_000, day=datetime.date(2026, 7, 5))

    with pytest.raises(DomainError, match="not the tier you confirmed"):
        services.case_decide(
            case=case, approve=True, reason="十年忠诚", actor=chair, today=DECISION_DAY,
            expected_tier_id=preview.tier.pk,
        )  # fmt: skip

    case = refreshed(case)
    assert case.state == ReviewCase.State.DISCUSSION and case.override is None
    assert open_override(case.member) is None


def test_only_the_chair_decides_and_only_in_discussion(case, voters):
    with pytest.raises(DomainError, match="Only a case in discussion"):
        services.case_decide(case=case, approve=True, reason="x", actor=voters["customer_service"])
    vote(case, voters["sales"], approve=False, comment="no")
    with pytest.raises(DomainError, match="chair"):
        services.case_decide(case=case, approve=True, reason="x", actor=voters["sales"])


def test_votes_are_closed_once_the_case_is_decided(case, voters):
    for voter in voters.values():
        vote(case, voter)

    with pytest.raises(DomainError, match="not open for votes"):
        vote(case, voters["sales"], approve=False, comment="late")


def test_the_nominator_does_not_vote_on_their_case(member, voters):
    nominator = voters["sales"]  # a committee member who nominated by hand
    case = hand_case(member, nominator)
    services.case_open_voting(case=case, actor=nominator)

    with pytest.raises(DomainError, match="nominated"):
        vote(case, nominator)


def test_only_committee_members_vote(case):
    outsider = staff_user("outsider", "committee")  # the role, but no seat

    with pytest.raises(DomainError, match="committee members"):
        vote(case, outsider)


def test_the_quorum_is_policy_data(case, voters):
    policy = case.policy
    policy.review_settings["quorum"] = {"customer_ops": 0, "sales": 1, "customer_service": 0}
    policy.save()

    vote(case, voters["sales"])

    assert refreshed(case).state == ReviewCase.State.APPROVED


def test_a_case_is_withdrawn_with_a_reason(case, nominator):
    with pytest.raises(DomainError, match="reason"):
        services.case_withdraw(case=case, reason="", actor=nominator)

    services.case_withdraw(case=case, reason="会员已注销", actor=nominator)

    case = refreshed(case)
    assert case.state == ReviewCase.State.WITHDRAWN and case.decision_reason == "会员已注销"
    assert not open_cases().exists()


def test_a_reason_longer_than_the_limit_is_refused_and_nothing_is_written(case, voters, nominator):
    vote(case, voters["sales"], approve=False, comment="消费太少")
    too_long = "长" * (services.MAX_REASON_LENGTH + 1)

    with pytest.raises(DomainError, match="at most 2000 characters"):
        services.case_decide(
            case=case, approve=False, reason=too_long, actor=voters["customer_service"]
        )
    with pytest.raises(DomainError, match="at most 2000 characters"):
        services.case_withdraw(case=case, reason=too_long, actor=nominator)

    case = refreshed(case)
    assert case.state == ReviewCase.State.DISCUSSION and case.decision_reason == ""
    services.case_withdraw(
        case=case, reason="长" * services.MAX_REASON_LENGTH, actor=nominator
    )  # at the limit: accepted
    assert refreshed(case).state == ReviewCase.State.WITHDRAWN


# --- The outcome ----------------------------------------------------------------------------


def test_a_removed_seats_approval_no_longer_counts_toward_the_quorum(case, voters):
    vote(case, voters[Department.CUSTOMER_OPS])
    services.committee_member_remove(
        seat=CommitteeMember.objects.get(user=voters[Department.CUSTOMER_OPS]), actor=None
    )

    vote(case, voters[Department.SALES])
    vote(case, voters[Department.CUSTOMER_SERVICE])

    assert refreshed(case).state == ReviewCase.State.VOTING  # no seated customer-ops approval
    vote(case, seat("ops-voter-2", Department.CUSTOMER_OPS))
    assert refreshed(case).state == ReviewCase.State.APPROVED


def test_the_chair_does_not_nominate_since_they_could_never_decide_the_case(member, voters):
    chair = voters[Department.CUSTOMER_SERVICE]

    with pytest.raises(DomainError, match="chair decides the cases that go to discussion"):
        services.case_nominate(member=member, justification="十年", actor=chair)

    assert not ReviewCase.objects.exists()


def test_a_nominator_made_chair_later_is_told_how_their_case_can_be_decided(
    case, voters, nominator
):
    vote(case, voters[Department.SALES], approve=False, comment="消费太少")  # to discussion
    services.committee_member_set(
        user=nominator, department=Department.CUSTOMER_OPS, is_chair=True, actor=None
    )

    with pytest.raises(DomainError, match="name another committee member chair for this decision"):
        services.case_decide(case=case, approve=False, reason="x", actor=nominator)


def test_blacklisting_the_member_withdraws_their_open_case_and_tells_them_nothing(
    case, voters, nominator
):
    vote(case, voters[Department.SALES], approve=False, comment="消费太少")  # in discussion

    services.member_blacklist(member=case.member, reason="恶意投诉", actor=nominator)

    case = refreshed(case)
    assert case.state == ReviewCase.State.WITHDRAWN
    with translation.override("zh-hans"):
        assert case.decision_reason_display.startswith("已撤回：该会员已被列入黑名单")
    assert not Notification.objects.filter(member=case.member, kind=Kind.REVIEW_DECLINED).exists()


def test_a_case_of_a_member_blacklisted_elsewhere_refuses_votes_until_it_is_withdrawn(case, voters):
    Member.objects.filter(pk=case.member_id).update(status=Member.Status.BLACKLISTED)  # an import

    with pytest.raises(DomainError, match="The member was blacklisted"):
        vote(case, voters[Department.SALES])
    assert services.blacklisted_cases_withdraw() == 1
    assert refreshed(case).state == ReviewCase.State.WITHDRAWN
    assert services.blacklisted_cases_withdraw() == 0


def approve(case, voters):
    for voter in voters.values():
        vote(case, voter)
    return refreshed(case)


def test_approval_grants_the_tier_as_a_committee_override_with_history(case, voters):
    case = approve(case, voters)

    override = open_override(case.member)
    assert override == case.override
    assert override.kind == TierOverride.Kind.COMMITTEE
    assert override.tier.code == "gold"
    assert override.starts_on == DECISION_DAY
    assert override.ends_on == datetime.date(2027, 7, 10)
    assert override.message == "感谢您10年来的一路相伴。"
    state = MemberTier.objects.get(member=case.member)
    assert state.current_tier.code == "gold" and state.tier_year_end == datetime.date(2027, 7, 10)
    change = TierChange.objects.filter(member=case.member).first()
    assert change.cause == TierChange.Cause.COMMITTEE
    assert change.to_tier.code == "gold" and change.from_tier.code == "silver"
    assert change.override == override and change.actor == voters["customer_service"]


def hold(member, code: str) -> None:
    """The member holds ``code`` now, a tier they earned earlier (its tier year runs to the end
    of 2027), with no override that an approval would replace."""
    MemberTier.objects.filter(member=member).update(
        current_tier=Tier.objects.get(code=code), tier_year_end=datetime.date(2027, 12, 31)
    )


def key_account(member, code: str, ends_on: datetime.date | None) -> TierOverride:
    """Staff's manual override: at least ``code`` until ``ends_on``."""
    return tier_override_set(
        member=member,
        tier=Tier.objects.get(code=code),
        reason="key account",
        ends_on=ends_on,
        actor=None,
        today=datetime.date(2026, 7, 2),
    )


@pytest.mark.parametrize(
    "code, ends_on", [("platinum", None), ("gold", None), ("platinum", datetime.date(2028, 1, 1))]
)
def test_a_quorum_over_a_stronger_manual_override_sends_the_case_to_the_chair(
    case, voters, code, ends_on
):
    # The approval would grant Gold until 2027-07-10: less than staff's override on some count.
    manual = key_account(case.member, code, ends_on)

    case = approve(case, voters)

    assert case.state == ReviewCase.State.DISCUSSION
    transition = case.transitions.last()
    assert transition.to_state == "discussion"
    assert transition.note.startswith("Quorum reached, but approving would replace")
    manual.refresh_from_db()
    assert manual.ended_on is None and open_override(case.member) == manual
    assert MemberTier.objects.get(member=case.member).current_tier.code == code


def test_the_chair_is_told_why_an_approval_over_a_stronger_override_is_refused(case, voters):
    vote(case, voters["sales"], approve=False, comment="消费太少")
    key_account(case.member, "diamond", None)

    with pytest.raises(DomainError, match="manual override gives them at least Diamond"):
        services.case_decision_preview(
            case=case,
            approve=True,
            reason="十年忠诚",
            actor=voters["customer_service"],
            today=DECISION_DAY,
        )
    with pytest.raises(DomainError, match="ask customer operations to end that override first"):
        services.case_decide(
            case=case,
            approve=True,
            reason="十年忠诚",
            actor=voters["customer_service"],
            today=DECISION_DAY,
        )
    assert refreshed(case).state == ReviewCase.State.DISCUSSION
    assert open_override(case.member).tier.code == "diamond"


def test_an_approval_replaces_a_weaker_manual_override(case, voters):
    # Silver until January is below Gold until 2027-07-10: the committee's grant gives more.
    manual = key_account(case.member, "silver", datetime.date(2027, 1, 1))
    case = approve(case, voters)
    assert case.state == ReviewCase.State.APPROVED
    manual.refresh_from_db()
    assert manual.ended_on == DECISION_DAY
    assert open_override(case.member).kind == TierOverride.Kind.COMMITTEE


def test_the_committee_reason_is_stored_once_and_read_in_each_language(case, voters):
    case = approve(case, voters)

    reason = f"Committee decision, review case #{case.pk}"
    assert case.override.reason == reason
    change = TierChange.objects.filter(member=case.member).first()
    assert change.note == reason
    with translation.override("zh-hans"):
        assert case.override.reason_display == f"评审小组决定（评审案例 #{case.pk}）"
        assert change.note_display == f"评审小组决定（评审案例 #{case.pk}）"
    assert case.override.reason_display == reason


@pytest.mark.parametrize("held", ["gold", "platinum"])
def test_an_approval_granting_no_more_than_the_member_holds_sends_no_notice(case, voters, held):
    # Qualified Silver, +1: Gold is granted to a member who holds Gold or Platinum already.
    hold(case.member, held)

    case = approve(case, voters)

    assert case.state == ReviewCase.State.APPROVED and case.granted_tier.code == "gold"
    assert MemberTier.objects.get(member=case.member).current_tier.code == held
    assert not Notification.objects.filter(
        member=case.member, kind=Kind.EXCEPTIONAL_UPGRADE
    ).exists()


def test_an_approval_keeping_the_tier_held_past_the_tier_years_end_tells_them(case, voters):
    # Gold held until 2026-09-01; the approval (Gold, 12 months from the decision) keeps it
    # until 2027-07-10: something the member notices, so they are told, as the case page says.
    hold(case.member, "gold")
    MemberTier.objects.filter(member=case.member).update(tier_year_end=datetime.date(2026, 9, 1))
    grant = services.case_grant_today(case=case, today=DECISION_DAY)
    assert grant.already_held.code == "gold" and grant.extends_year
    assert grant.held_until == datetime.date(2026, 9, 1)

    case = approve(case, voters)

    state = MemberTier.objects.get(member=case.member)
    assert (state.current_tier.code, state.tier_year_end) == ("gold", datetime.date(2027, 7, 10))
    told = Notification.objects.get(
        member=case.member, kind=Kind.EXCEPTIONAL_UPGRADE, channel=Channel.IN_APP
    )
    assert "2027-07-10" in told.body
    assert (
        AuditEntry.objects.filter(action="tier.override.committee")
        .latest("pk")
        .after["member_told"]
    )


def test_an_approval_granting_more_than_the_member_holds_tells_them(case, voters):
    case = approve(case, voters)

    assert case.granted_tier.code == "gold"
    assert Notification.objects.filter(
        member=case.member, kind=Kind.EXCEPTIONAL_UPGRADE, channel=Channel.IN_APP
    ).exists()


def test_the_preview_names_the_tier_the_member_already_holds_when_not_below(case, voters):
    vote(case, voters["sales"], approve=False, comment="消费太少")
    chair = voters["customer_service"]

    preview = services.case_decision_preview(
        case=case, approve=True, reason="十年忠诚", actor=chair, today=DECISION_DAY
    )
    assert preview.tier.code == "gold" and preview.already_held is None

    hold(case.member, "platinum")
    preview = services.case_decision_preview(
        case=case, approve=True, reason="十年忠诚", actor=chair, today=DECISION_DAY
    )
    assert preview.already_held.code == "platinum"


def test_an_older_message_naming_a_tier_in_a_case_already_voting_is_not_sent(case, voters):
    # Voting opened before messages were checked; the proposal is frozen since. Gold is granted.
    ReviewCase.objects.filter(pk=case.pk).update(message="特别授予您铂金会员资格")

    case = approve(case, voters)

    assert case.granted_tier.code == "gold"
    assert case.override.message == "感谢您一直以来的支持。"  # in the member's language
    notice = Notification.objects.get(
        member=case.member, kind=Kind.EXCEPTIONAL_UPGRADE, channel=Channel.IN_APP
    )
    assert "铂金" not in notice.body and "金卡会员" in notice.body


def test_the_uplift_counts_from_the_qualified_tier_on_the_day_of_the_decision(case, voters):
    # Between nomination (Silver) and decision the member qualifies for Gold: +1 is Platinum.
    PurchaseFactory(member=case.member, amount_fen=2_000_000, day=datetime.date(2026, 7, 5))

    case = approve(case, voters)

    assert case.granted_tier.code == "platinum"


def test_the_notice_body_names_the_tier_granted_like_its_subject(case, voters):
    # Qualified Silver at nomination (Gold proposed), Gold by the decision: +1 is Platinum.
    PurchaseFactory(member=case.member, amount_fen=2_000_000, day=datetime.date(2026, 7, 5))

    case = approve(case, voters)

    notice = Notification.objects.get(
        member=case.member, kind=Kind.EXCEPTIONAL_UPGRADE, channel=Channel.IN_APP
    )
    assert case.granted_tier.code == "platinum" and notice.language == "zh-hans"
    assert notice.subject == "特别授予您铂金会员资格"
    assert notice.body == (
        f"{case.member.name}，您好！感谢您10年来的一路相伴。我们很高兴授予您铂金会员资格，"
        "有效期至 2027-07-10。"
    )


def test_the_uplift_never_goes_above_the_top_tier(nominator, voters):
    member = MemberFactory(member_no="P1", joined_on=datetime.date(2020, 1, 1))
    PurchaseFactory(member=member, amount_fen=3_000_000, day=datetime.date(2026, 6, 1))
    case = hand_case(member, nominator)
    assert case.qualified_tier.code == "platinum"
    services.case_update(case=case, uplift=2, validity_months=12, message="m", actor=nominator)
    services.case_open_voting(case=case, actor=nominator)

    case = approve(case, voters)

    assert case.granted_tier.code == "diamond"


def test_when_the_period_ends_the_normal_lifecycle_takes_over(case, voters):
    case = approve(case, voters)
    member = case.member
    ends = datetime.date(2027, 7, 10)

    member_evaluate(member=member, as_of=datetime.date(2027, 6, 9))
    state = MemberTier.objects.get(member=member)
    assert state.current_tier.code == "gold" and state.downgrade_warned_on is None

    member_evaluate(member=member, as_of=datetime.date(2027, 6, 10))  # 30 days before the end
    assert MemberTier.objects.get(member=member).downgrade_warned_on == datetime.date(2027, 6, 10)

    assert tier_overrides_expire(as_of=ends) == 1
    assert open_override(member) is None
    member_evaluate(member=member, as_of=ends)
    state = MemberTier.objects.get(member=member)
    assert state.current_tier.code == "silver"
    assert TierChange.objects.filter(member=member).first().cause == TierChange.Cause.DOWNGRADE


def test_a_member_who_qualifies_at_the_end_keeps_the_tier(case, voters):
    case = approve(case, voters)
    PurchaseFactory(member=case.member, amount_fen=2_000_000, day=datetime.date(2027, 5, 1))

    member_evaluate(member=case.member, as_of=datetime.date(2027, 7, 10))

    assert MemberTier.objects.get(member=case.member).current_tier.code == "gold"


# --- Overdue and open cases -----------------------------------------------------------------


def test_cases_still_open_after_their_quarter_are_overdue(member, nominator):
    case = hand_case(member, nominator, today=datetime.date(2026, 8, 1))
    assert case.due_on == datetime.date(2026, 9, 30)

    assert list(open_cases()) == [case]
    assert list(overdue_cases(today=datetime.date(2026, 9, 30))) == []
    assert list(overdue_cases(today=datetime.date(2026, 10, 1))) == [case]
    services.case_withdraw(case=case, reason="x", actor=nominator)
    assert list(overdue_cases(today=datetime.date(2026, 10, 1))) == []


# --- The committee ---------------------------------------------------------------------------


def test_a_new_chair_replaces_the_old_one_and_seats_are_audited(voters):
    lead = staff_user("lead", "ops_lead")

    services.committee_member_set(
        user=voters["sales"], department=Department.SALES, is_chair=True, actor=lead
    )

    assert CommitteeMember.objects.get(is_chair=True).user == voters["sales"]
    entry = AuditEntry.objects.get(action="review.committee.set")
    assert entry.actor == lead and entry.after["is_chair"] is True
    services.committee_member_remove(seat=voters["sales"].committee_seat, actor=lead)
    assert not CommitteeMember.objects.filter(user=voters["sales"]).exists()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["blacklist", "erase"])
@pytest.mark.parametrize("way", ["by hand", "quarterly round"])
def test_a_case_nominated_while_the_member_is_being_blacklisted_or_erased_is_withdrawn_too(
    change, way
):
    """The nomination holds the member's lock when the blacklisting or erasure looks for open
    cases (it finds none), then commits while the change waits for that lock."""
    nominator = staff_user("nominator", "ops")
    member = veteran(member_no="V002")
    tiers_recompute(as_of=datetime.date(2026, 7, 1))
    nominated, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def nominate():
        try:
            with transaction.atomic():
                if way == "by hand":
                    hand_case(member, nominator)
                else:
                    round_ = services.cases_nominate(
                        quarter=Quarter(2026, 2), today=datetime.date(2026, 7, 1)
                    )
                    assert round_.cases == 1
                nominated.set()
                release.wait(timeout=30)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=nominate)
    thread.start()
    assert nominated.wait(timeout=30)

    def release_once_blacklisting_waits():
        # Once the blacklisting below waits for the member's row lock, the nomination commits.
        try:
            with connection.cursor() as cursor:
                for _ in range(300):
                    cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.05)
        finally:
            release.set()
            connection.close()

    releaser = threading.Thread(target=release_once_blacklisting_waits)
    releaser.start()
    if change == "blacklist":
        services.member_blacklist(member=member, reason="恶意投诉", actor=nominator)
    else:
        privacy.member_erase(member=member, reason="PIPL ticket 9", actor=nominator)
    thread.join(timeout=30)
    releaser.join(timeout=30)

    assert not errors
    case = ReviewCase.objects.get(member=member)
    assert case.state == ReviewCase.State.WITHDRAWN
    member = Member.objects.get(pk=member.pk)
    assert member.status == Member.Status.BLACKLISTED if change == "blacklist" else member.is_erased
