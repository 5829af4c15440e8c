"""The special review channel's writers: nominate (the quarterly round and by hand), edit the
proposal, open the vote, vote, decide, withdraw; and the committee's seats. Every change is
audited in the same transaction; every state a case enters is recorded with actor and time.

An approved case grants the exceptional upgrade through ``tiers.services.tier_override_set``
(kind committee): the same floor a manual override puts under the tier, with its own end date,
after which the normal lifecycle (warning, notice) takes over.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty.audit import audit_record
from loyalty.exceptions import DomainError
from loyalty.money import fen_to_yuan
from members.models import BlacklistEntry, Member, Transaction
from members.privacy import member_is_erased
from members.services import member_lock, member_lock_many
from notifications.services import member_notice_language, notices_queue
from tiers import actions, engine, notices
from tiers.metrics import figures_for_member
from tiers.models import COMMITTEE_DECISION, Tier, TierChange, TierOverride, TierPolicy
from tiers.review_settings import LOYAL_VETERAN, ReviewSettings, review_settings_from_data
from tiers.selectors import engine_policy, open_override, policy_in_force, tier_state, tiers_by_code
from tiers.services import override_replacement_refusal, tier_override_set

from .metrics import candidate_rows, extras_for_member
from .models import (
    MEMBER_BLACKLISTED,
    QUORUM_OVERRIDE_HELD,
    QUORUM_REACHED,
    CaseTransition,
    CommitteeMember,
    Department,
    ReviewCase,
    Vote,
)
from .profiles import Candidate, matching_profiles, uplifted_rank
from .quarters import Quarter, add_months

BIGGEST_PURCHASES = 5
MAX_VALIDITY_MONTHS = 120
# The longest reason for a decision or a withdrawal: the forms and the services both refuse more.
MAX_REASON_LENGTH = 2000


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


def _reason(reason: str) -> str:
    """The reason for a decision or a withdrawal, stripped: required, at most
    ``MAX_REASON_LENGTH`` characters."""
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    if len(reason) > MAX_REASON_LENGTH:
        raise DomainError(
            _("The reason is at most %(max)d characters long.") % {"max": MAX_REASON_LENGTH}
        )
    return reason


# --- Policy context ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Round:
    """What one nomination date needs: the policy in force, its settings, the tiers."""

    as_of: date
    policy_row: TierPolicy
    policy: engine.Policy
    settings: ReviewSettings
    window: engine.Window
    tiers: dict[str, Tier]

    @property
    def tier_ranks(self) -> dict[str, int]:
        return {code: tier.rank for code, tier in self.tiers.items()}

    def tier_by_rank(self, rank: int) -> Tier:
        return next(tier for tier in self.tiers.values() if tier.rank == rank)


def review_settings_for(policy_row: TierPolicy, tiers: dict[str, Tier] | None = None):
    tiers = tiers if tiers is not None else tiers_by_code()
    return review_settings_from_data(policy_row.review_settings, set(tiers))


def _round(as_of: date) -> _Round:
    policy_row = policy_in_force(as_of)
    tiers = tiers_by_code()
    policy = engine_policy(policy_row, tiers)
    return _Round(
        as_of=as_of,
        policy_row=policy_row,
        policy=policy,
        settings=review_settings_for(policy_row, tiers),
        window=engine.window_for(as_of, policy.window),
        tiers=tiers,
    )


def _metrics(rnd: _Round, joined_on: date, spend_fen, frequency, referrals, activities):
    policy = rnd.policy
    return engine.Metrics(
        spend=fen_to_yuan(spend_fen),
        frequency=frequency,
        tenure_years=engine.completed_years(joined_on, rnd.as_of),
        contribution=referrals * policy.referral_points + activities * policy.activity_points,
    )


# --- Evidence -----------------------------------------------------------------------------


def _evidence(rnd: _Round, member: Member, candidate: Candidate, history, purchases) -> dict:
    """The snapshot a case keeps: frozen at nomination, so later facts change nothing in it."""
    evaluation = engine.evaluate(candidate.metrics, rnd.policy)
    state = tier_state(member)
    metrics = candidate.metrics
    return {
        "as_of": str(rnd.as_of),
        "policy_version": rnd.policy.version,
        "window": {"after": str(rnd.window.after), "until": str(rnd.window.until)},
        "metrics": {
            "spend": str(metrics.spend),
            "frequency": metrics.frequency,
            "tenure_years": metrics.tenure_years,
            "contribution": metrics.contribution,
        },
        "qualified_tier": evaluation.tier.code,
        "current_tier": state.current_tier.code if state.current_tier_id else None,
        "explanation": [
            {"tier": check.tier.code, "held": check.result.held, "result": check.result.as_data()}
            for check in evaluation.checks
        ],
        "history": history,
        "biggest_purchases": purchases,
        "max_net_purchase": str(candidate.max_net_purchase),
        "referrals_all_time": candidate.referrals_all_time,
    }


def _histories(member_ids: list[int]) -> dict[int, list[dict]]:
    """Every member's tier history, newest first, in one query."""
    rows = defaultdict(list)
    changes = (
        TierChange.objects.filter(member_id__in=member_ids)
        .select_related("from_tier", "to_tier")
        .order_by("member_id", "-effective_on", "-id")
    )
    for change in changes:
        rows[change.member_id].append(
            {
                "on": str(change.effective_on),
                "from": change.from_tier.code if change.from_tier else None,
                "to": change.to_tier.code if change.to_tier else None,
                "cause": change.cause,
            }
        )
    return rows


def _biggest_purchases(member_ids: list[int], until: date) -> dict[int, list[dict]]:
    """Each member's largest purchases up to ``until`` by net amount (less refunds made by
    then), in one query."""
    purchases = (
        Transaction.objects.filter(
            member_id__in=member_ids, kind=Transaction.Kind.PURCHASE, occurred_on__lte=until
        )
        .annotate(
            refunded=Coalesce(
                Sum("refunds__amount_fen", filter=Q(refunds__occurred_on__lte=until)), 0
            )
        )
        .values_list("member_id", "external_id", "occurred_on", "amount_fen", "refunded")
    )
    by_member = defaultdict(list)
    for member_id, external_id, occurred_on, amount_fen, refunded in purchases:
        by_member[member_id].append((amount_fen - refunded, occurred_on, external_id, amount_fen))
    result = {}
    for member_id, rows in by_member.items():
        rows.sort(key=lambda row: (-row[0], row[1], row[2]))
        result[member_id] = [
            {
                "external_id": external_id,
                "on": str(occurred_on),
                "amount": str(fen_to_yuan(amount_fen)),
                "net": str(fen_to_yuan(net)),
            }
            for net, occurred_on, external_id, amount_fen in rows[:BIGGEST_PURCHASES]
        ]
    return result


def _default_message(member: Member, candidate: Candidate, profiles: list[str]) -> str:
    """The proposal's first message, in the member's language of notices (the notice around it
    is in that language, whoever nominated). It names no tier, since the tier granted is only
    known on the day of the decision; the notice to the member names it (``message_check``)."""
    with translation.override(member_notice_language(member)):
        if LOYAL_VETERAN in profiles:
            return _("Thank you for being with us for %(years)d years.") % {
                "years": candidate.metrics.tenure_years
            }
        return _("Thank you for your support.")


def _tier_names() -> list[tuple[str, re.Pattern]]:
    """Every way a message can name a tier an exceptional upgrade can grant: the Chinese name
    with and without 会员, the English name and the code. The entry tier is left out: it is never
    granted (the uplift is at least +1), and its names (普通, regular) are ordinary words."""
    names = []
    for tier in Tier.objects.order_by("rank")[1:]:
        for name in dict.fromkeys([tier.name_zh, tier.name_zh.removesuffix("会员")]):
            if len(name) >= 2:
                names.append((name, re.compile(re.escape(name))))
        # A whole word, also inside Chinese text (授予您Gold资格), but not "golden".
        for name in dict.fromkeys([tier.name_en, tier.code]):
            if name:
                word = rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])"
                names.append((name, re.compile(word, re.IGNORECASE)))
    return names


def message_check(message: str) -> None:
    """Raise DomainError when the message to the member names a tier. The message is written at
    nomination, but the tier granted is counted from the qualified tier on the day of the
    decision, so a tier in the message could contradict the notice, which names the tier
    actually granted."""
    for name, pattern in _tier_names():
        if pattern.search(message):
            raise DomainError(
                _(
                    "The message must not name a tier (it says “%(name)s”): the notice to the "
                    "member names the tier granted on the day of the decision."
                )
                % {"name": name}
            )


def _message_to_send(case: ReviewCase) -> str:
    """The case's message, unless it names a tier: one frozen when voting opened before
    messages were checked could name another tier than the one granted, so the member gets the
    tier-free thanks instead, in their language (the notice names the tier granted)."""
    try:
        message_check(case.message)
    except DomainError:
        with translation.override(member_notice_language(case.member)):
            return _("Thank you for your support.")
    return case.message


def _transition(case: ReviewCase, from_state: str, actor, note: str = "") -> None:
    CaseTransition.objects.create(
        case=case, from_state=from_state, to_state=case.state, actor=_user(actor), note=note
    )
    audit_record(
        actor=actor,
        action=f"review.case.{case.state}",
        target=case,
        before={"state": from_state or None},
        after={"state": case.state, "note": note} if note else {"state": case.state},
    )


def _open_case(
    *,
    rnd: _Round,
    member: Member,
    candidate: Candidate,
    quarter: Quarter,
    profiles: list[str],
    history: list[dict],
    purchases: list[dict],
    actor=None,
    justification: str = "",
    today: date,
) -> ReviewCase:
    case = ReviewCase.objects.create(
        member=member,
        quarter=str(quarter),
        due_on=Quarter.of(today).last_day,
        profiles=profiles,
        nominated_by=_user(actor),
        justification=justification,
        as_of=rnd.as_of,
        policy=rnd.policy_row,
        qualified_tier=rnd.tier_by_rank(candidate.qualified_rank),
        evidence=_evidence(rnd, member, candidate, history, purchases),
        validity_months=rnd.settings.validity_months,
        message=_default_message(member, candidate, profiles),
    )
    _transition(case, "", actor, justification or ", ".join(profiles))
    return case


# --- Nomination ---------------------------------------------------------------------------


@dataclass
class NominationResult:
    quarter: Quarter
    as_of: date
    policy_version: int
    evaluated: int = 0
    # (member number, profile) per nomination line, in member-number order.
    nominations: list[tuple[str, str]] = field(default_factory=list)
    cases: int = 0
    skipped_open_case: int = 0
    skipped_this_quarter: int = 0
    skipped_exceptional_upgrade: int = 0
    skipped_cooldown: int = 0


@transaction.atomic
def cases_nominate(*, quarter: Quarter, actor=None, today: date | None = None) -> NominationResult:
    """The quarterly round: evaluate every active member as of the quarter's last day, with the
    policy in force then, from the stored facts (whatever their last evaluation date), and open
    one case per member below the top tier who matches a profile.

    Skipped: members with an open case, with a case of this quarter already (so a second run
    opens nothing), holding an exceptional upgrade now, and profiles the member was rejected for
    within the cooldown (policy ``cooldown_quarters``)."""
    today = today or timezone.localdate()
    if quarter.last_day >= today:
        # The quarter's facts are not all in yet: nominate once it has ended.
        raise DomainError(
            _("The quarter %(quarter)s has not ended yet.") % {"quarter": str(quarter)}
        )
    rnd = _round(quarter.last_day)
    result = NominationResult(quarter=quarter, as_of=rnd.as_of, policy_version=rnd.policy.version)
    tier_ranks = rnd.tier_ranks
    matched: dict[int, tuple[Candidate, list[str]]] = {}
    for member_id, joined_on, *figures in candidate_rows(rnd.window):
        spend_fen, frequency, referrals, activities, max_net_fen, referrals_all_time = figures
        result.evaluated += 1
        metrics = _metrics(rnd, joined_on, spend_fen, frequency, referrals, activities)
        candidate = Candidate(
            metrics=metrics,
            qualified_rank=engine.qualify(metrics, rnd.policy).rank,
            max_net_purchase=fen_to_yuan(max_net_fen),
            referrals_all_time=referrals_all_time,
        )
        profiles = matching_profiles(candidate, rnd.settings, rnd.policy, tier_ranks)
        if profiles:
            matched[member_id] = (candidate, profiles)
    if not matched:
        return result

    ids = list(matched)
    open_case = set(
        ReviewCase.objects.filter(member_id__in=ids, state__in=ReviewCase.OPEN_STATES).values_list(
            "member_id", flat=True
        )
    )
    this_quarter = set(
        ReviewCase.objects.filter(member_id__in=ids, quarter=str(quarter)).values_list(
            "member_id", flat=True
        )
    )
    upgraded = set(
        TierOverride.objects.filter(
            member_id__in=ids, kind=TierOverride.Kind.COMMITTEE, ended_on__isnull=True
        ).values_list("member_id", flat=True)
    )
    cooling = [str(quarter.shift(-n)) for n in range(1, rnd.settings.cooldown_quarters + 1)]
    rejected: dict[int, set[str]] = defaultdict(set)
    for member_id, profiles in ReviewCase.objects.filter(
        member_id__in=ids, state=ReviewCase.State.REJECTED, quarter__in=cooling
    ).values_list("member_id", "profiles"):
        rejected[member_id].update(profiles)

    to_open: dict[int, tuple[Candidate, list[str]]] = {}
    for member_id, (candidate, profiles) in matched.items():
        if member_id in open_case:
            result.skipped_open_case += 1
        elif member_id in this_quarter:
            result.skipped_this_quarter += 1
        elif member_id in upgraded:
            result.skipped_exceptional_upgrade += 1
        else:
            kept = [code for code in profiles if code not in rejected.get(member_id, ())]
            if kept:
                to_open[member_id] = (candidate, kept)
            else:
                result.skipped_cooldown += 1
    if not to_open:
        return result

    # Locked before their cases are opened, and read again: a blacklisting or an erasure that
    # waits for a member's lock then finds the new case and withdraws it, and one done first
    # is seen here, and its member left out (as the round's read would have).
    member_lock_many(to_open)
    members = Member.objects.select_related("tier_state__current_tier").in_bulk(list(to_open))
    for member_id, member in members.items():
        if member.status != Member.Status.ACTIVE or member.is_erased:
            del to_open[member_id]
    histories = _histories(list(to_open))
    purchases = _biggest_purchases(list(to_open), rnd.as_of)
    for member_id in sorted(to_open, key=lambda pk: members[pk].member_no):
        candidate, profiles = to_open[member_id]
        member = members[member_id]
        _open_case(
            rnd=rnd,
            member=member,
            candidate=candidate,
            quarter=quarter,
            profiles=profiles,
            history=histories.get(member_id, []),
            purchases=purchases.get(member_id, []),
            actor=actor,
            today=today,
        )
        result.cases += 1
        result.nominations.extend((member.member_no, code) for code in profiles)
    return result


def _candidate(rnd: _Round, member: Member) -> Candidate:
    raw = figures_for_member(member.pk, rnd.window)
    metrics = _metrics(
        rnd, member.joined_on, raw.spend_fen, raw.frequency, raw.referrals, raw.activities
    )
    max_net_fen, referrals_all_time = extras_for_member(member.pk, rnd.window)
    return Candidate(
        metrics=metrics,
        qualified_rank=engine.qualify(metrics, rnd.policy).rank,
        max_net_purchase=fen_to_yuan(max_net_fen),
        referrals_all_time=referrals_all_time,
    )


@transaction.atomic
def case_nominate(
    *, member: Member, justification: str, actor, today: date | None = None
) -> ReviewCase:
    """Staff nominate any active member by hand, with a justification; the evidence is taken as
    of today. The nominator does not vote on the case."""
    today = today or timezone.localdate()
    member = member_lock(member)
    justification = justification.strip()
    if not justification:
        raise DomainError(_("A justification is required."))
    if not member.takes_part:
        raise DomainError(_("Only an active member can be nominated."))
    seat = committee_seat(actor)
    if seat is not None and seat.is_chair:
        # The chair decides every case that goes to discussion, and never one they nominated:
        # a case of theirs could never be decided.
        raise DomainError(
            _(
                "The committee chair decides the cases that go to discussion, so does not "
                "nominate: ask customer operations to nominate the member."
            )
        )
    if member_is_erased(member):
        raise DomainError(_("This member's personal data was erased: they cannot be nominated."))
    if member.joined_on > today:
        raise DomainError(_("The member has not joined yet."))
    if ReviewCase.objects.filter(member=member, state__in=ReviewCase.OPEN_STATES).exists():
        raise DomainError(_("This member already has an open review case."))
    rnd = _round(today)
    candidate = _candidate(rnd, member)
    if candidate.qualified_rank >= max(tier.rank for tier in rnd.policy.tiers):
        # domain.md: an exceptional upgrade is 1 or 2 tiers above the qualified tier, never
        # above the top one: there is nothing for the committee to decide.
        raise DomainError(
            _("This member qualifies for the top tier: an exceptional upgrade could give nothing.")
        )
    return _open_case(
        rnd=rnd,
        member=member,
        candidate=candidate,
        quarter=Quarter.of(today),
        profiles=[],
        history=_histories([member.pk]).get(member.pk, []),
        purchases=_biggest_purchases([member.pk], today).get(member.pk, []),
        actor=actor,
        justification=justification,
        today=today,
    )


# --- The case -----------------------------------------------------------------------------


def _locked(case: ReviewCase) -> ReviewCase:
    return ReviewCase.objects.select_for_update().get(pk=case.pk)


@transaction.atomic
def case_update(
    *, case: ReviewCase, uplift: int, validity_months: int, message: str, actor
) -> ReviewCase:
    """Edit the proposal: only before voting starts."""
    case = _locked(case)
    if case.state != ReviewCase.State.NOMINATED:
        raise DomainError(_("The proposal can only be changed before voting starts."))
    if uplift not in ReviewCase.Uplift.values:
        raise DomainError(_("The uplift is +1 or +2 tiers."))
    if not 1 <= validity_months <= MAX_VALIDITY_MONTHS:
        raise DomainError(_("The validity is 1 to %(max)d months.") % {"max": MAX_VALIDITY_MONTHS})
    message_check(message)
    before = {
        "uplift": case.uplift,
        "validity_months": case.validity_months,
        "message": case.message,
    }
    case.uplift = uplift
    case.validity_months = validity_months
    case.message = message.strip()
    case.save(update_fields=["uplift", "validity_months", "message"])
    audit_record(
        actor=actor,
        action="review.case.update",
        target=case,
        before=before,
        after={"uplift": uplift, "validity_months": validity_months, "message": case.message},
    )
    return case


@transaction.atomic
def case_open_voting(*, case: ReviewCase, actor) -> ReviewCase:
    """Freeze the proposal and let the committee vote."""
    case = _locked(case)
    if case.state != ReviewCase.State.NOMINATED:
        raise DomainError(_("Voting can only start on a nominated case."))
    _not_blacklisted_check(case)
    if not case.message.strip():
        raise DomainError(_("Write the message to the member before voting starts."))
    # A message written before messages were checked may still name a tier.
    message_check(case.message)
    case.state = ReviewCase.State.VOTING
    case.save(update_fields=["state"])
    _transition(case, ReviewCase.State.NOMINATED, actor)
    return case


def committee_seat(user) -> CommitteeMember | None:
    if not getattr(user, "pk", None):
        return None
    return CommitteeMember.objects.filter(user=user).first()


def _seated(votes: list[Vote]) -> list[Vote]:
    """The votes of members who still sit on the committee for the department they voted for:
    a seat removed (or moved) takes its approval out of the quorum."""
    seats = dict(
        CommitteeMember.objects.filter(user_id__in=[v.voter_id for v in votes]).values_list(
            "user_id", "department"
        )
    )
    return [v for v in votes if seats.get(v.voter_id) == v.department]


def quorum_reached(votes, quorum: dict[str, int]) -> bool:
    """Each department has given at least its number of approving votes."""
    approvals: dict[str, int] = defaultdict(int)
    for vote in votes:
        if vote.choice == Vote.Choice.APPROVE:
            approvals[vote.department] += 1
    return all(approvals[department] >= needed for department, needed in quorum.items())


@transaction.atomic
def case_vote(
    *, case: ReviewCase, voter, approve: bool, comment: str, today: date | None = None
) -> Vote:
    """A committee member votes (or changes their vote) while the case is undecided. In voting,
    any rejection sends the case to discussion; the quorum of approvals approves it and grants
    the exceptional upgrade at once. In discussion votes are still recorded; the chair decides."""
    case = _locked(case)
    seat = committee_seat(voter)
    if seat is None:
        raise DomainError(_("Only committee members vote."))
    if case.nominated_by_id is not None and case.nominated_by_id == voter.pk:
        raise DomainError(_("The person who nominated a case does not vote on it."))
    if case.state not in (ReviewCase.State.VOTING, ReviewCase.State.DISCUSSION):
        raise DomainError(_("This case is not open for votes."))
    _not_blacklisted_check(case)
    comment = comment.strip()
    if not approve and not comment:
        raise DomainError(_("Say why you reject the case."))
    choice = Vote.Choice.APPROVE if approve else Vote.Choice.REJECT
    vote = Vote.objects.filter(case=case, voter=voter).first()
    before = {"choice": vote.choice, "comment": vote.comment} if vote else None
    if vote is None:
        vote = Vote.objects.create(
            case=case, voter=voter, department=seat.department, choice=choice, comment=comment
        )
    else:
        vote.department, vote.choice, vote.comment = seat.department, choice, comment
        vote.save(update_fields=["department", "choice", "comment", "updated_at"])
    audit_record(
        actor=voter,
        action="review.case.vote",
        target=case,
        before=before,
        after={"choice": choice, "comment": comment, "department": seat.department},
    )
    if case.state == ReviewCase.State.VOTING:
        votes = list(case.votes.all())
        if any(v.choice == Vote.Choice.REJECT for v in votes):
            case.state = ReviewCase.State.DISCUSSION
            case.save(update_fields=["state"])
            _transition(case, ReviewCase.State.VOTING, voter, comment)
        elif quorum_reached(_seated(votes), review_settings_for(case.policy).quorum):
            if case_grant_today(case=case, today=today).refusal:
                # Approving would take away a stronger override: not the voters' call alone.
                case.state = ReviewCase.State.DISCUSSION
                case.save(update_fields=["state"])
                _transition(case, ReviewCase.State.VOTING, voter, QUORUM_OVERRIDE_HELD)
            else:
                # Stored in English and translated when shown: readers differ from the voter.
                _approve(case, actor=voter, reason=QUORUM_REACHED, today=today)
    return vote


def case_decider_refusal(case: ReviewCase, user) -> str | None:
    """Why ``user`` may never decide ``case``, whatever its state: only the chair decides, and
    not a case they nominated. None when they may (once the case is in discussion)."""
    seat = committee_seat(user)
    if seat is None or not seat.is_chair:
        return _("Only the committee chair decides a case in discussion.")
    if case.nominated_by_id is not None and case.nominated_by_id == user.pk:
        return _(
            "The person who nominated a case does not decide it: name another committee member "
            "chair for this decision, or withdraw the case."
        )
    return None


def _decision_checked(case: ReviewCase, actor, reason: str) -> str:
    """Whether ``actor`` may decide ``case`` now (the chair, not its nominator, in discussion);
    returns the reason, checked."""
    refusal = case_decider_refusal(case, actor)
    if refusal is not None:
        raise DomainError(refusal)
    if case.state != ReviewCase.State.DISCUSSION:
        raise DomainError(_("Only a case in discussion is decided by the chair."))
    _not_blacklisted_check(case)
    return _reason(reason)


@dataclass(frozen=True)
class DecisionPreview:
    """What the chair's decision would do today: shown on the confirmation page."""

    approve: bool
    reason: str
    tier: Tier | None  # the tier an approval grants; None for a rejection
    ends_on: date | None
    # The member's tier now when it is at or above ``tier`` (``CaseGrant``).
    already_held: Tier | None = None
    held_until: date | None = None
    extends_year: bool = False


def case_decision_preview(
    *, case: ReviewCase, approve: bool, reason: str, actor, today: date | None = None
) -> DecisionPreview:
    """The chair's decision as ``case_decide`` would take it today, without writing anything:
    the same refusals (DomainError), and for an approval the tier granted and its end."""
    today = today or timezone.localdate()
    case = ReviewCase.objects.select_related("member").get(pk=case.pk)  # as it stands now
    reason = _decision_checked(case, actor, reason)
    if not approve:
        return DecisionPreview(approve=False, reason=reason, tier=None, ends_on=None)
    grant = case_grant_today(case=case, today=today)
    if grant.refusal:
        raise DomainError(grant.refusal)
    return DecisionPreview(
        approve=True,
        reason=reason,
        tier=grant.tier,
        ends_on=grant.ends_on,
        already_held=grant.already_held,
        held_until=grant.held_until,
        extends_year=grant.extends_year,
    )


@transaction.atomic
def case_decide(
    *,
    case: ReviewCase,
    approve: bool,
    reason: str,
    actor,
    today: date | None = None,
    expected_tier_id: int | None = None,
) -> ReviewCase:
    """The chair decides a case in discussion, with the reason. ``expected_tier_id``: the tier
    the chair confirmed (``case_decision_preview``); an approval that would now grant another
    (the member's figures changed since) is refused, so nothing is granted unseen."""
    case = _locked(case)
    reason = _decision_checked(case, actor, reason)
    if approve:
        return _approve(
            case, actor=actor, reason=reason, today=today, expected_tier_id=expected_tier_id
        )
    case.state = ReviewCase.State.REJECTED
    case.decided_at = timezone.now()
    case.decided_by = _user(actor)
    case.decision_reason = reason
    case.save(update_fields=["state", "decided_at", "decided_by", "decision_reason"])
    _transition(case, ReviewCase.State.DISCUSSION, actor, reason)
    # domain.md: "the member is told the reason"; an approval tells them through the
    # exceptional upgrade's notice.
    member = case.member
    notices_queue(
        [
            notices.review_declined(
                (member.pk, member.name, member.phone, member.email),
                today or timezone.localdate(),
                case.pk,
                reason,
            )
        ]
    )
    return case


def qualified_rank_now(member: Member, rnd: _Round) -> int:
    return _candidate(rnd, member).qualified_rank


@dataclass(frozen=True)
class CaseGrant:
    """What approving an open case on a given day grants, and why that tier."""

    qualified_tier: Tier  # the member's qualified tier that day (not the one at nomination)
    tier: Tier  # ``case.uplift`` tiers above it, never above the top tier
    # The member's tier that day when it is at or above ``tier``: the approval gives no higher
    # tier. It keeps ``tier`` past the end of the member's tier year (``held_until``) when it
    # is the tier held and ends later (``extends_year``), and then tells the member; else it
    # changes nothing they would notice while they hold it, and sends them no notice.
    already_held: Tier | None
    ends_on: date  # the end of the exceptional upgrade an approval that day grants
    # Why an approval that day is refused (it would replace a stronger override the member
    # holds: ``tiers.services.override_replacement_refusal``); "" when it is not.
    refusal: str = ""
    held_until: date | None = None
    extends_year: bool = False


def case_grant_today(*, case: ReviewCase, today: date | None = None) -> CaseGrant:
    """The tier an approval on ``today`` grants: ``case.uplift`` tiers above the member's
    qualified tier that day, with the policy in force then, never above the top tier (domain.md:
    "1 or 2 tiers above the member's qualified tier at the decision"). The decision, the chair's
    confirmation page and the case page all ask this function, so what the committee is shown
    is what an approval grants."""
    today = today or timezone.localdate()
    rnd = _round(today)
    qualified_rank = qualified_rank_now(case.member, rnd)
    tier = rnd.tier_by_rank(uplifted_rank(rnd.policy, qualified_rank, case.uplift))
    state = tier_state(case.member)
    held = state.current_tier
    ends_on = add_months(today, case.validity_months)
    refusal = override_replacement_refusal(
        open_override(case.member), tier=tier, ends_on=ends_on, kind=TierOverride.Kind.COMMITTEE
    )
    already_held = held if held is not None and held.rank >= tier.rank else None
    held_until = state.tier_year_end if already_held is not None else None
    return CaseGrant(
        qualified_tier=rnd.tier_by_rank(qualified_rank),
        tier=tier,
        already_held=already_held,
        ends_on=ends_on,
        refusal=refusal,
        held_until=held_until,
        extends_year=(
            already_held is not None
            and held.rank == tier.rank
            and held_until is not None
            and ends_on > held_until
        ),
    )


def case_tier_to_grant(*, case: ReviewCase, today: date | None = None) -> Tier:
    """The tier an approval on ``today`` grants (``case_grant_today``)."""
    return case_grant_today(case=case, today=today).tier


def _approve(
    case: ReviewCase,
    *,
    actor,
    reason: str,
    today: date | None,
    expected_tier_id: int | None = None,
) -> ReviewCase:
    """Grant ``uplift`` tiers above the member's qualified tier today (never above the top), for
    the validity, through the tier service every override goes through."""
    today = today or timezone.localdate()
    from_state = case.state
    tier = case_tier_to_grant(case=case, today=today)
    if expected_tier_id is not None and tier.pk != expected_tier_id:
        raise DomainError(
            _(
                "Approving now would grant %(tier)s, not the tier you confirmed: the member's "
                "figures changed. Check the decision again."
            )
            % {"tier": tier.name}
        )
    override = tier_override_set(
        member=case.member,
        tier=tier,
        reason=COMMITTEE_DECISION % {"id": case.pk},  # in English: translated when shown
        ends_on=add_months(today, case.validity_months),
        actor=actor,
        kind=TierOverride.Kind.COMMITTEE,
        message=_message_to_send(case),
        today=today,
    )
    case.state = ReviewCase.State.APPROVED
    case.decided_at = timezone.now()
    case.decided_by = _user(actor)
    case.decision_reason = reason
    case.granted_tier = tier
    case.override = override
    case.save(
        update_fields=[
            "state", "decided_at", "decided_by", "decision_reason", "granted_tier", "override"
        ]
    )  # fmt: skip
    _transition(case, from_state, actor, reason)
    return case


@transaction.atomic
def case_withdraw(*, case: ReviewCase, reason: str, actor) -> ReviewCase:
    case = _locked(case)
    if not case.is_open:
        raise DomainError(_("Only an open case can be withdrawn."))
    reason = _reason(reason)
    from_state = case.state
    case.state = ReviewCase.State.WITHDRAWN
    case.decided_at = timezone.now()
    case.decided_by = _user(actor)
    case.decision_reason = reason
    case.save(update_fields=["state", "decided_at", "decided_by", "decision_reason"])
    _transition(case, from_state, actor, reason)
    return case


def member_open_cases_locked(member: Member) -> list[ReviewCase]:
    """The member's open cases, locked, for a change to the member that withdraws them
    (erasure, blacklisting). Taken before the member's row: the order a vote or a decision
    takes them in (the case, then the member when granting), so the two never deadlock."""
    return list(
        ReviewCase.objects.select_for_update()
        .filter(member=member, state__in=ReviewCase.OPEN_STATES)
        .order_by("pk")
    )


@transaction.atomic
def member_blacklist(
    *, member: Member, reason: str, evidence: str = "", evidence_file: str = "", actor
) -> BlacklistEntry:
    """Blacklist the member (``tiers.actions.member_blacklist``: the tier is revoked at once)
    and withdraw their open review case: a blacklisted member has no tier and is told nothing,
    so no one votes on, grants or rejects it (a rejection's notice would reveal the entry)."""
    open_cases = member_open_cases_locked(member)
    entry = actions.member_blacklist(
        member=member,
        reason=reason,
        evidence=evidence,
        evidence_file=evidence_file,
        actor=actor,
    )
    member_open_cases_withdraw(member, open_cases, reason=MEMBER_BLACKLISTED, actor=actor)
    return entry


def member_open_cases_withdraw(
    member: Member, locked_first: list[ReviewCase], *, reason: str, actor
) -> None:
    """Withdraw the member's open cases, once a change under the member's lock (erasure,
    blacklisting) is done: those ``member_open_cases_locked`` gave before it, and any a hand
    nomination committed while the change waited for the member's lock (which the nomination
    held, as the quarterly round does). Those are locked after the member, against the usual
    order, which is safe: a case that new is still nominated, so no vote or decision holds its
    lock and waits for the member."""
    seen = {case.pk for case in locked_first}
    late = [case for case in member_open_cases_locked(member) if case.pk not in seen]
    for case in [*locked_first, *late]:
        case_withdraw(case=case, reason=reason, actor=actor)


def blacklisted_cases_withdraw() -> int:
    """Withdraw the open cases of members blacklisted some other way (an import of blacklist
    entries, the admin); the daily lifecycle runs it. Returns how many. Each case is checked
    again under its lock: one decided, withdrawn or whose member was reinstated meanwhile is
    left as it is."""
    withdrawn = 0
    found = ReviewCase.objects.filter(
        state__in=ReviewCase.OPEN_STATES, member__status=Member.Status.BLACKLISTED
    ).values_list("pk", flat=True)
    for pk in list(found.order_by("pk")):
        with transaction.atomic():
            case = ReviewCase.objects.select_for_update().select_related("member").get(pk=pk)
            if case.is_open and case.member.status == Member.Status.BLACKLISTED:
                case_withdraw(case=case, reason=MEMBER_BLACKLISTED, actor=None)
                withdrawn += 1
    return withdrawn


def _not_blacklisted_check(case: ReviewCase) -> None:
    """Refuse to open voting on, vote on or decide the case of a member blacklisted since it was
    opened (until it is withdrawn: at once from the back office, by the daily lifecycle after an
    import)."""
    if case.member.status == Member.Status.BLACKLISTED:
        raise DomainError(
            _(
                "The member was blacklisted: no one opens voting on, votes on or decides this "
                "case. Withdraw it."
            )
        )


# --- The committee ------------------------------------------------------------------------


@transaction.atomic
def committee_member_set(*, user, department: str, is_chair: bool, actor) -> CommitteeMember:
    """Seat a user on the committee or change their seat; a new chair replaces the old one."""
    if department not in Department.values:
        raise DomainError(_("Unknown department."))
    seat = CommitteeMember.objects.select_for_update().filter(user=user).first()
    before = {"department": seat.department, "is_chair": seat.is_chair} if seat else None
    if is_chair:
        CommitteeMember.objects.filter(is_chair=True).exclude(user=user).update(is_chair=False)
    if seat is None:
        seat = CommitteeMember(user=user)
    seat.department = department
    seat.is_chair = is_chair
    try:
        with transaction.atomic():
            seat.save()
    except IntegrityError:
        raise DomainError(_("Another chair was named at the same time; try again.")) from None
    audit_record(
        actor=actor,
        action="review.committee.set",
        target=seat,
        before=before,
        after={"user": user.get_username(), "department": department, "is_chair": is_chair},
    )
    return seat


@transaction.atomic
def committee_member_remove(*, seat: CommitteeMember, actor) -> None:
    audit_record(
        actor=actor,
        action="review.committee.remove",
        target=seat,
        before={
            "user": seat.user.get_username(),
            "department": seat.department,
            "is_chair": seat.is_chair,
        },
    )
    seat.delete()
