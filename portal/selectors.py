"""Reads for the member pages. Figures come from the same selectors the staff page uses
(``tiers.selectors``), so a member and the staff see the same numbers."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import segno
from django.db.models import BigIntegerField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from members.models import Member, Transaction
from notifications import selectors as notification_selectors
from notifications.models import Channel, Kind, Notification
from tiers import engine
from tiers.models import (
    Benefit,
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    Tier,
    TierChange,
    TierOverride,
    TierPolicy,
)
from tiers.notices import exceptional_upgrade_key
from tiers.selectors import (
    TierProgress,
    announced_policy,
    engine_policy,
    last_evaluation,
    member_history,
    member_open_warning,
    member_progress,
    open_override,
    policy_in_force,
    tier_state,
    tiers_by_code,
)

from .models import MemberAccount


class Standing:
    """What the member page can honestly show."""

    EVALUATED = "evaluated"
    NOT_EVALUATED = "not_evaluated"  # active, no evaluation yet: no figures to show
    EXPERIENCE = "experience"  # takes no part until converted: old figures decide nothing
    BLACKLISTED = "blacklisted"


def signed_in_member(member_id: int | None) -> Member | None:
    """The member of a session; none once their personal data was erased (a session opened
    before the erasure shows nothing of the anonymised member)."""
    if member_id is None:
        return None
    member = (
        Member.objects.select_related(
            "tier_state__current_tier", "evaluation__qualified_tier", "evaluation__policy"
        )
        .filter(pk=member_id)
        .first()
    )
    return None if member is None or member.is_erased else member


MESSAGES_SHOWN = 20


def member_messages(member: Member) -> list:
    """The member's latest in-app messages, newest first."""
    return list(notification_selectors.member_messages(member)[:MESSAGES_SHOWN])


@dataclass(frozen=True)
class MemberHome:
    """Everything the "my tier" page shows, read up front."""

    member: Member
    standing: str
    state: MemberTier
    # The tier held, as the staff page and the API show it; also before the first evaluation
    # (a legacy tier). None for a member who takes no part.
    tier: Tier | None
    evaluation: MemberEvaluation | None
    progress: TierProgress | None
    benefits: list[Benefit]
    next_benefits: list[Benefit]
    exceptional: TierOverride | None
    warning: DowngradeWarning | None
    messages: list
    # False for the entry tier, which every member keeps: no "keep" bar to show.
    can_lose_tier: bool = False

    @property
    def to_next(self) -> engine.Way | None:
        return self.progress.to_next[0] if self.progress and self.progress.to_next else None

    @property
    def to_keep(self) -> engine.Way | None:
        return self.progress.to_keep[0] if self.progress and self.progress.to_keep else None


def member_account(member: Member) -> MemberAccount | None:
    return MemberAccount.objects.filter(member=member).first()


def member_standing(member: Member) -> str:
    return _standing(member, last_evaluation(member))


def _standing(member: Member, evaluation: MemberEvaluation | None) -> str:
    if member.status == Member.Status.BLACKLISTED:
        return Standing.BLACKLISTED
    if member.status == Member.Status.EXPERIENCE:
        return Standing.EXPERIENCE
    if evaluation is None:
        return Standing.NOT_EVALUATED
    return Standing.EVALUATED


def member_home(member: Member) -> MemberHome:
    evaluation = last_evaluation(member)
    standing = _standing(member, evaluation)
    state = tier_state(member)
    held = state.current_tier if member.takes_part else None
    if standing != Standing.EVALUATED:
        return MemberHome(
            member=member,
            standing=standing,
            state=state,
            tier=held,
            evaluation=None,
            progress=None,
            benefits=list(Benefit.objects.filter(tier=held)) if held else [],
            next_benefits=[],
            exceptional=None,
            warning=None,
            messages=member_messages(member),
        )
    progress = member_progress(member)
    upcoming = progress.next_tier
    benefits = list(Benefit.objects.filter(tier__in=[t for t in (held, upcoming) if t is not None]))
    return MemberHome(
        member=member,
        standing=standing,
        state=state,
        tier=held,
        evaluation=evaluation,
        progress=progress,
        benefits=[b for b in benefits if held and b.tier_id == held.pk],
        next_benefits=[b for b in benefits if upcoming and b.tier_id == upcoming.pk],
        exceptional=exceptional_upgrade_told(member),
        warning=member_open_warning(member),
        messages=member_messages(member),
        can_lose_tier=held is not None and Tier.objects.filter(rank__lt=held.rank).exists(),
    )


def exceptional_upgrade_told(member: Member) -> TierOverride | None:
    """The exceptional upgrade in force that the member was told about, or None. A committee
    grant tells the member exactly when it gave them a higher tier or kept their tier past
    their tier year's end (``tiers.services.tier_override_set``); one that changed nothing
    they would notice was never announced to them, so its message is not theirs to read: the
    card then shows nothing, as after the grant has ended."""
    override = open_override(member)
    if override is None or override.kind != TierOverride.Kind.COMMITTEE:
        return None
    told = Notification.objects.filter(
        member=member,
        kind=Kind.EXCEPTIONAL_UPGRADE,
        channel=Channel.IN_APP,
        dedupe_key=exceptional_upgrade_key(override),
    ).exists()
    return override if told else None


def member_code_svg(member_no: str) -> bytes:
    """The member code (会员码): a QR code of the member number for the shop counter's scanner.
    Always a full QR code (never Micro QR, which many scanners do not read)."""
    buffer = io.BytesIO()
    segno.make(member_no, micro=False).save(buffer, kind="svg", scale=8, border=4)
    return buffer.getvalue()


def tier_history(member: Member) -> list[TierChange]:
    return list(member_history(member))


# --- Purchases counted ----------------------------------------------------------------------


@dataclass(frozen=True)
class CountedPurchases:
    """The purchases of the last evaluation's window, with their refunds made by its date."""

    evaluation: MemberEvaluation
    window: engine.Window
    purchases: QuerySet[Transaction]


def counted_purchases(member: Member) -> CountedPurchases | None:
    """None when there is no evaluation whose window could be shown (see ``Standing``)."""
    evaluation = last_evaluation(member)
    if evaluation is None or not member.takes_part:
        return None
    window = engine.window_for(
        evaluation.evaluated_on, engine.WindowKind(evaluation.policy.window_kind)
    )
    # The spend rule (domain.md): a purchase counts net of its refunds made on or before D.
    refunds = (
        Transaction.objects.filter(
            refund_of=OuterRef("pk"),
            kind=Transaction.Kind.REFUND,
            occurred_on__lte=window.until,
        )
        .order_by()
        .values("refund_of")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    purchases = (
        Transaction.objects.filter(
            member=member,
            kind=Transaction.Kind.PURCHASE,
            occurred_on__gt=window.after,
            occurred_on__lte=window.until,
        )
        .annotate(
            refunded_fen=Coalesce(
                Subquery(refunds, output_field=BigIntegerField()),
                Value(0, output_field=BigIntegerField()),
            )
        )
        .annotate(net_fen=F("amount_fen") - F("refunded_fen"))
        .order_by("-occurred_at", "-id")
    )
    return CountedPurchases(evaluation=evaluation, window=window, purchases=purchases)


# --- The rules in plain words ---------------------------------------------------------------


def rule_nodes(rule: engine.Rule) -> dict:
    """A rule as the nested shape the rule templates read (kind, metric, minimum, count,
    children), without any member's numbers."""
    match rule:
        case engine.Threshold(metric=metric, minimum=minimum):
            return {"kind": "threshold", "metric": metric.value, "minimum": minimum}
        case engine.AllOf(conditions=conditions):
            return {"kind": "all", "children": [rule_nodes(c) for c in conditions]}
        case engine.AnyOf(conditions=conditions):
            return {"kind": "any", "children": [rule_nodes(c) for c in conditions]}
        case engine.AtLeast(count=count, conditions=conditions):
            return {
                "kind": "at_least",
                "count": count,
                "children": [rule_nodes(c) for c in conditions],
            }
    raise TypeError(f"not a rule: {rule!r}")


@dataclass(frozen=True)
class TierInWords:
    tier: Tier
    rule: dict
    benefits: list[Benefit]


@dataclass(frozen=True)
class PolicyInWords:
    policy: TierPolicy
    tiers: list[TierInWords]


def policy_in_words(policy: TierPolicy) -> PolicyInWords:
    tiers = tiers_by_code()
    benefits: dict[int, list[Benefit]] = {}
    for benefit in Benefit.objects.all():
        benefits.setdefault(benefit.tier_id, []).append(benefit)
    rows = [
        TierInWords(
            tier=tiers[rule.code],
            rule=rule_nodes(rule.rule),
            benefits=benefits.get(tiers[rule.code].pk, []),
        )
        for rule in engine_policy(policy, tiers).tiers
    ]
    return PolicyInWords(policy=policy, tiers=rows)


def today_policies(today: date) -> tuple[PolicyInWords, PolicyInWords | None]:
    """The policy in force today and the next announced one, if any, in plain words."""
    announced = announced_policy(today)
    return (
        policy_in_words(policy_in_force(today)),
        policy_in_words(announced) if announced else None,
    )
