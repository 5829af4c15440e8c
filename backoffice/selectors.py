"""Reads for the staff pages: every query a member page needs, with related rows joined, so
templates never query."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from members.models import BlacklistEntry, Member, Transaction
from tiers import engine
from tiers.models import Benefit, DowngradeWarning, MemberEvaluation, MemberTier, Tier, TierChange
from tiers.selectors import (
    TierExplanation,
    last_evaluation,
    member_explanation,
    member_history,
    member_open_warning,
    tier_state,
)

LATEST_TRANSACTIONS = 20


def member_search(
    *, query: str = "", status: str = "", tier: Tier | None = None
) -> QuerySet[Member]:
    """Members in member-number order, narrowed by a search text and filters.

    The text matches the start of a member number (case-insensitive), part of a name, or part
    of a phone number, so staff can type a number's prefix, a given name or a phone's last
    digits."""
    members = Member.objects.select_related(
        "tier_state__current_tier", "evaluation__qualified_tier"
    ).order_by("member_no")
    query = query.strip()
    if query:
        members = members.filter(
            Q(member_no__istartswith=query) | Q(name__icontains=query) | Q(phone__contains=query)
        )
    if status:
        members = members.filter(status=status)
    if tier is not None:
        members = members.filter(tier_state__current_tier=tier)
    return members


@dataclass(frozen=True)
class TierCheckRow:
    """One tier of the evaluating policy, its rule checked against the member's numbers."""

    tier: Tier
    result: engine.RuleResult
    qualified: bool


@dataclass(frozen=True)
class MemberProfile:
    """Everything the member page shows, read up front."""

    member: Member
    state: MemberTier
    evaluation: MemberEvaluation | None
    explanation: TierExplanation | None
    checks: list[TierCheckRow]
    open_warning: DowngradeWarning | None
    history: list[TierChange]
    benefits: list[Benefit]
    blacklist: list[BlacklistEntry]
    transactions: list[Transaction]


def member_profile(*, member_no: str) -> MemberProfile:
    """The member page's data; raises ``Member.DoesNotExist`` for an unknown number."""
    member = Member.objects.select_related(
        "tier_state__current_tier", "evaluation__qualified_tier", "evaluation__policy"
    ).get(member_no=member_no)
    state = tier_state(member)
    explanation = member_explanation(member)
    checks = []
    if explanation is not None:
        qualified_code = explanation.evaluation.tier.code
        checks = [
            TierCheckRow(
                tier=explanation.tiers[check.tier.code],
                result=check.result,
                qualified=check.tier.code == qualified_code,
            )
            for check in explanation.evaluation.checks
        ]
    benefits = list(state.current_tier.benefits.all()) if state.current_tier else []
    return MemberProfile(
        member=member,
        state=state,
        evaluation=last_evaluation(member) if member.takes_part else None,
        explanation=explanation,
        checks=checks,
        open_warning=member_open_warning(member),
        history=list(member_history(member)),
        benefits=benefits,
        blacklist=list(member.blacklist_entries.select_related("created_by", "lifted_by")),
        transactions=list(
            member.transactions.select_related("refund_of").order_by("-occurred_at", "-id")[
                :LATEST_TRANSACTIONS
            ]
        ),
    )
