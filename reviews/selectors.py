"""Reads for the review pages and for other pages (the dashboard shows ``open_cases`` and
``overdue_cases``). Querysets come with their related rows joined."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from django.db.models import BooleanField, Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member
from tiers.models import Tier, TierOverride
from tiers.review_settings import review_settings_from_data
from tiers.selectors import open_override

from .models import CaseTransition, CommitteeMember, Profile, ReviewCase, Vote
from .quarters import Quarter
from .services import CaseGrant, case_grant_today

HAND = "hand"


def _cases() -> QuerySet[ReviewCase]:
    return ReviewCase.objects.select_related(
        "member", "nominated_by", "qualified_tier", "granted_tier", "policy"
    )


def open_cases() -> QuerySet[ReviewCase]:
    """Cases not decided yet (nominated, voting, in discussion), the most urgent first."""
    return _cases().filter(state__in=ReviewCase.OPEN_STATES).order_by("due_on", "id")


def overdue_cases(today: date | None = None) -> QuerySet[ReviewCase]:
    """Open cases past the end of the quarter they were opened in."""
    today = today or timezone.localdate()
    return open_cases().filter(due_on__lt=today)


def committee_queue(user, *, state: str = "open", quarter: str = "") -> QuerySet[ReviewCase]:
    """The committee's list: the cases waiting for this user's vote first (in voting, not voted
    by them, not nominated by them, and they hold a seat), then the rest by due date.

    ``state`` is ``open`` (default), ``all`` or one state; ``quarter`` narrows to one round."""
    cases = _cases()
    if state == "open":
        cases = cases.filter(state__in=ReviewCase.OPEN_STATES)
    elif state in ReviewCase.State.values:
        cases = cases.filter(state=state)
    if quarter:
        cases = cases.filter(quarter=quarter)
    has_seat = CommitteeMember.objects.filter(user_id=getattr(user, "pk", None)).exists()
    if has_seat:
        waiting = Q(state=ReviewCase.State.VOTING) & ~Q(
            Exists(Vote.objects.filter(case=OuterRef("pk"), voter=user))
        )
        waiting &= Q(nominated_by__isnull=True) | ~Q(nominated_by=user)
        cases = cases.annotate(
            waiting_for_me=Case(When(waiting, then=Value(True)), default=Value(False)),
        )
    else:
        cases = cases.annotate(waiting_for_me=Value(False, output_field=BooleanField()))
    return cases.order_by("-waiting_for_me", "due_on", "id")


@dataclass(frozen=True)
class CasePage:
    case: ReviewCase
    votes: list[Vote]
    transitions: list[CaseTransition]
    tiers: dict[str, Tier]
    my_seat: CommitteeMember | None
    my_vote: Vote | None
    overdue: bool
    quorum: dict[str, int]
    # For an open case, what an approval today grants (``services.case_grant_today``, which
    # the decision itself asks): the member's qualified tier today, the tier granted and the
    # warning when the member already holds it or more. None once the case is closed: a
    # decided case shows ``case.granted_tier``.
    grant: CaseGrant | None


def case_page(*, case_id: int, user, today: date | None = None) -> CasePage:
    """Everything the case page shows; raises ``ReviewCase.DoesNotExist``."""
    case = (
        _cases()
        .select_related("decided_by", "override__tier", "member__tier_state__current_tier")
        .get(pk=case_id)
    )
    votes = list(case.votes.select_related("voter").order_by("department", "created_at"))
    seat = CommitteeMember.objects.filter(user_id=getattr(user, "pk", None)).first()
    tiers = list(Tier.objects.order_by("rank"))
    return CasePage(
        case=case,
        votes=votes,
        transitions=list(case.transitions.select_related("actor")),
        tiers={tier.code: tier for tier in tiers},
        my_seat=seat,
        my_vote=next((v for v in votes if v.voter_id == getattr(user, "pk", None)), None),
        overdue=case.is_open and case.due_on < timezone.localdate(),
        quorum=review_settings_from_data(case.policy.review_settings).quorum,
        grant=case_grant_today(case=case, today=today) if case.is_open else None,
    )


@dataclass(frozen=True)
class MemberReviewPanel:
    """What the staff member page shows of the channel: the open override (an exceptional
    upgrade's message included) and the member's open case."""

    override: TierOverride | None
    open_case: ReviewCase | None


def member_review_panel(member: Member) -> MemberReviewPanel:
    return MemberReviewPanel(
        override=open_override(member),
        open_case=ReviewCase.objects.filter(
            member=member, state__in=ReviewCase.OPEN_STATES
        ).first(),
    )


@dataclass(frozen=True)
class ProfileRow:
    code: str
    label: str
    nominated: int
    approved: int
    rejected: int
    withdrawn: int
    open: int


@dataclass(frozen=True)
class QuarterSummary:
    quarter: Quarter
    profiles: list[ProfileRow]
    total: ProfileRow
    granted: list[tuple[Tier, int]]
    cases: QuerySet[ReviewCase]


def _row(code: str, label: str, states: Counter) -> ProfileRow:
    open_count = sum(states[s] for s in ReviewCase.OPEN_STATES)
    return ProfileRow(
        code=code,
        label=label,
        nominated=sum(states.values()),
        approved=states[ReviewCase.State.APPROVED],
        rejected=states[ReviewCase.State.REJECTED],
        withdrawn=states[ReviewCase.State.WITHDRAWN],
        open=open_count,
    )


def quarter_summary(quarter: Quarter) -> QuarterSummary:
    """Per profile (a case matching two profiles counts in both; hand nominations on their own
    row): nominated, approved, rejected, withdrawn, still open; and the tiers granted."""
    by_profile: dict[str, Counter] = {code: Counter() for code in [*Profile.values, HAND]}
    total: Counter = Counter()
    granted: Counter = Counter()
    rows = ReviewCase.objects.filter(quarter=str(quarter)).values_list(
        "profiles", "state", "granted_tier_id"
    )
    for profiles, state, granted_tier_id in rows:
        total[state] += 1
        for code in profiles or [HAND]:
            by_profile.setdefault(code, Counter())[state] += 1
        if granted_tier_id is not None:
            granted[granted_tier_id] += 1
    labels = {**dict(Profile.choices), HAND: _("hand nomination")}
    tiers = list(Tier.objects.all())
    return QuarterSummary(
        quarter=quarter,
        profiles=[
            _row(code, str(labels.get(code, code)), states) for code, states in by_profile.items()
        ],
        total=_row("total", _("total"), total),
        granted=[(tier, granted[tier.pk]) for tier in tiers],
        cases=_cases()
        .select_related("decided_by", "override")
        .filter(quarter=str(quarter))
        .order_by("member__member_no", "id"),
    )


def quarters_with_cases() -> list[str]:
    return list(
        ReviewCase.objects.order_by("-quarter").values_list("quarter", flat=True).distinct()
    )
