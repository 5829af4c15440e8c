from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from loyalty.exceptions import DomainError
from loyalty.money import fen_to_yuan
from members.models import Member

from . import engine
from .metrics import WindowFigures, figures_for_member
from .models import (
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    Tier,
    TierChange,
    TierOverride,
    TierPolicy,
)
from .policy import policy_from_model


def policy_in_force(on: date) -> TierPolicy:
    """The published version with the latest effective date on or before ``on``."""
    policy = (
        TierPolicy.objects.filter(status=TierPolicy.Status.PUBLISHED, effective_from__lte=on)
        .order_by("-effective_from", "-version")
        .first()
    )
    if policy is None:
        raise DomainError(_("No published tier policy is in force on %(date)s.") % {"date": on})
    return policy


def policy_latest_published() -> TierPolicy | None:
    """The published version that takes effect last (the scheduled one when there is one):
    the rules in force once every published version has taken effect."""
    return (
        TierPolicy.objects.filter(status=TierPolicy.Status.PUBLISHED)
        .order_by("-effective_from", "-version")
        .first()
    )


def policy_base(policy: TierPolicy, today: date) -> TierPolicy:
    """The version ``policy`` is compared with: the one it was drafted from, else (the first
    version, drafts made before that was recorded) the version in force ``today``."""
    return policy.based_on or policy_in_force(today)


def announced_policy(today: date) -> TierPolicy | None:
    """The next published version, announced before it takes effect (透明性): the earliest one
    whose effective date is after ``today``; None when no change is announced."""
    return (
        TierPolicy.objects.filter(status=TierPolicy.Status.PUBLISHED, effective_from__gt=today)
        .order_by("effective_from", "version")
        .first()
    )


def tiers_by_code() -> dict[str, Tier]:
    return {tier.code: tier for tier in Tier.objects.all()}


def engine_policy(policy: TierPolicy, tiers: dict[str, Tier] | None = None) -> engine.Policy:
    tiers = tiers if tiers is not None else tiers_by_code()
    return policy_from_model(policy, {code: t.rank for code, t in tiers.items()})


def deadline_rules(
    deadline: date, *, as_of: date, tiers: dict[str, Tier] | None = None
) -> tuple[engine.Policy, engine.Window]:
    """What decides a warned member's downgrade on ``deadline``: the policy in force then (a
    version published to take effect before it decides, not the one that warned), and the part
    of its window already recorded as of ``as_of``. Purchases that leave the window before the
    deadline are not in it, so the figures over it are what will still count: what is missing
    from them is exactly what the member still needs."""
    policy = engine_policy(policy_in_force(deadline), tiers)
    window = engine.window_for(deadline, policy.window)
    return policy, engine.Window(after=window.after, until=as_of)


def metrics_at_deadline(
    figures: WindowFigures, *, joined_on: date, deadline: date, policy: engine.Policy
) -> engine.Metrics:
    """The member's figures over a ``deadline_rules`` window as the deadline's evaluation will
    read them: tenure completed by then, contribution at that policy's points."""
    return engine.Metrics(
        spend=fen_to_yuan(figures.spend_fen),
        frequency=figures.frequency,
        tenure_years=engine.completed_years(joined_on, deadline),
        contribution=figures.referrals * policy.referral_points
        + figures.activities * policy.activity_points,
    )


@dataclass(frozen=True)
class TierExplanation:
    """Why a member holds what they hold: the last evaluation, every tier's rule checked."""

    evaluation: engine.Evaluation
    policy: TierPolicy
    tiers: dict[str, Tier]


def last_evaluation(member: Member) -> MemberEvaluation | None:
    """The member's last evaluation, or None before the first."""
    try:
        return member.evaluation
    except ObjectDoesNotExist:
        return None


def tier_state(member: Member) -> MemberTier:
    """What the member holds (an empty state before the first evaluation)."""
    try:
        return member.tier_state
    except ObjectDoesNotExist:
        return MemberTier(member=member)


def open_override(member: Member) -> TierOverride | None:
    return (
        TierOverride.objects.select_related("tier", "created_by")
        .filter(member=member, ended_on__isnull=True)
        .first()
    )


def warning_to_tier(warning: DowngradeWarning, tiers: dict[str, Tier] | None = None) -> Tier:
    """The tier the warned downgrade would give, as the warning's notice says: the qualified
    tier at the warning, or the floor of an override holding at the year end, or one tier down
    under a policy that drops one tier at a time (``engine.warned_downgrade_rank``)."""
    tiers = tiers if tiers is not None else tiers_by_code()
    override = open_override(warning.member)
    floor = engine.Floor(override.tier.rank, override.ends_on) if override else None
    # The year the member earned below an override, which a downgrade goes back to.
    state = tier_state(warning.member)
    earned = None
    if state.earned_tier_id is not None:
        earned_rank = next(t.rank for t in tiers.values() if t.pk == state.earned_tier_id)
        earned = engine.Floor(earned_rank, state.earned_until)
    rank = engine.warned_downgrade_rank(
        warning.tier.rank,
        warning.tier_year_end,
        warning.qualified_tier.rank,
        engine_policy(warning.policy, tiers),
        (floor, earned),
    )
    return next(tier for tier in tiers.values() if tier.rank == rank)


def member_open_warning(member: Member) -> DowngradeWarning | None:
    """The warning of the member's present tier year, while it stands: the evaluation clears
    ``downgrade_warned_on`` when the member upgrades, keeps the tier or is downgraded."""
    state = tier_state(member)
    if state.downgrade_warned_on is None or state.tier_year_start is None:
        return None
    warning = (
        DowngradeWarning.objects.select_related("tier", "qualified_tier", "policy")
        .filter(member=member, tier_year_start=state.tier_year_start)
        .first()
    )
    if warning is not None:
        warning.member = member  # with the state read above, for warning_to_tier
    return warning


def member_explanation(member: Member) -> TierExplanation | None:
    """The last evaluation re-explained from its stored numbers and policy version (the engine
    is deterministic, so this is exactly what decided it); None before the first evaluation and
    for members who take no part (experience, blacklisted), whose old figures decide nothing."""
    evaluation = last_evaluation(member)
    if evaluation is None or not member.takes_part:
        return None
    tiers = tiers_by_code()
    checked = engine.evaluate(evaluation.metrics, engine_policy(evaluation.policy, tiers))
    return TierExplanation(checked, evaluation.policy, tiers)


@dataclass(frozen=True)
class TierProgress:
    """What is missing, from the figures of the last evaluation, under the policy that made it:
    the cheapest ways to the next tier above the one held, and to keep the held tier at the
    tier-year end (one empty way when the member already qualifies for it).

    ``keep_by`` is the last day an evaluation that finds the member qualified keeps the tier:
    the tier-year end, or, once warned, the warning's first possible downgrade day when that is
    later (the engine downgrades only when the evaluation day is on or after both, so an
    evaluation on that day that finds the member qualified still keeps the tier). The ways to
    keep it are those that can be met by then: one that needs years as a member the member
    completes only later is not offered, and ``keep_out_of_reach`` says when none is left."""

    held: Tier | None
    next_tier: Tier | None
    to_next: tuple[engine.Way, ...]
    to_keep: tuple[engine.Way, ...]
    tier_year_end: date | None
    keep_by: date | None = None
    keep_out_of_reach: bool = False

    @property
    def keeps(self) -> bool:
        return not self.keep_out_of_reach and (not self.to_keep or self.to_keep[0].reached)


def member_progress(member: Member) -> TierProgress | None:
    """None before the first evaluation and for members who take no part."""
    evaluation = last_evaluation(member)
    if evaluation is None or not member.takes_part:
        return None
    tiers = tiers_by_code()
    policy = engine_policy(evaluation.policy, tiers)
    metrics = evaluation.metrics
    state = tier_state(member)
    held = state.current_tier
    held_rank = held.rank if held else policy.tiers[-1].rank
    above = [rule for rule in policy.tiers if rule.rank > held_rank]
    next_rule = above[-1] if above else None
    keep_by = state.tier_year_end
    warning = member_open_warning(member)
    if keep_by is not None and warning is not None and warning.downgrade_not_before > keep_by:
        keep_by = warning.downgrade_not_before
    to_keep: tuple[engine.Way, ...] = ()
    keep_out_of_reach = False
    if held is not None and warning is not None and keep_by is not None:
        # Warned: what they need by the day the downgrade may take effect, under the rules and
        # with the figures that will decide it then (``deadline_rules``).
        deadline_policy, window = deadline_rules(
            keep_by, as_of=evaluation.evaluated_on, tiers=tiers
        )
        at_deadline = metrics_at_deadline(
            figures_for_member(member, window),
            joined_on=member.joined_on,
            deadline=keep_by,
            policy=deadline_policy,
        )
        to_keep = engine.ways_to_reach(
            deadline_policy.tier(held.rank).rule,
            at_deadline,
            tenure_at_deadline=at_deadline.tenure_years,
        )
        keep_out_of_reach = not to_keep
    elif held is not None and held.code in {rule.code for rule in policy.tiers}:
        to_keep = engine.ways_to_reach(
            policy.tier(held.rank).rule,
            metrics,
            tenure_at_deadline=(
                engine.completed_years(member.joined_on, keep_by) if keep_by else None
            ),
        )
        keep_out_of_reach = not to_keep
    return TierProgress(
        held=held,
        next_tier=tiers[next_rule.code] if next_rule else None,
        to_next=engine.ways_to_reach(next_rule.rule, metrics) if next_rule else (),
        to_keep=to_keep,
        tier_year_end=state.tier_year_end,
        keep_by=keep_by,
        keep_out_of_reach=keep_out_of_reach,
    )


def member_history(member: Member) -> QuerySet[TierChange]:
    return member.tier_changes.select_related("from_tier", "to_tier", "policy", "actor")


def export_rows(chunk_size: int = 5000):
    """One row per member, in member-number order, streamed: present status, the qualified tier
    and figures of the last evaluation, and the tier held (``MemberTier``, as the staff page and
    the API show it: a legacy tier is held before any evaluation). Blank for members who take
    no part; the evaluation's columns blank for members not evaluated yet."""
    rows = (
        Member.objects.order_by("member_no")
        .values_list(
            "member_no",
            "status",
            "evaluation__evaluated_on",
            "evaluation__qualified_tier__code",
            "tier_state__current_tier__code",
            "evaluation__spend_fen",
            "evaluation__frequency",
            "evaluation__tenure_years",
            "evaluation__contribution",
        )
        .iterator(chunk_size=chunk_size)
    )
    for member_no, status, evaluated_on, qualified, current, spend_fen, *counts in rows:
        if status != Member.Status.ACTIVE:
            yield [member_no, status, "", "", "", "", "", ""]
        elif evaluated_on is None:
            yield [member_no, status, "", current or "", "", "", "", ""]
        else:
            yield [member_no, status, qualified, current, fen_to_yuan(spend_fen), *counts]


# --- Policy versions ----------------------------------------------------------------------


class PolicyStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # published, not in force yet
    ACTIVE = "active"  # in force today
    RETIRED = "retired"  # was in force, a later version took over


@dataclass(frozen=True)
class PolicyVersion:
    policy: TierPolicy
    status: PolicyStatus
    # The last day in force, for every published version a later one takes over from (the day
    # before the next one's effective date), retired, active or scheduled alike.
    until: date | None = None


def policy_versions(today: date) -> list[PolicyVersion]:
    """Every version, newest first, with its status as of ``today``."""
    policies = list(TierPolicy.objects.select_related("published_by").order_by("-version"))
    published = sorted(
        (p for p in policies if p.status == TierPolicy.Status.PUBLISHED),
        key=lambda p: (p.effective_from, p.version),
    )
    in_force = [p for p in published if p.effective_from <= today]
    active = in_force[-1] if in_force else None
    next_start = {
        p.pk: later.effective_from for p, later in zip(published, published[1:], strict=False)
    }
    versions = []
    for policy in policies:
        if policy.status == TierPolicy.Status.DRAFT:
            versions.append(PolicyVersion(policy, PolicyStatus.DRAFT))
            continue
        if policy.effective_from > today:
            status = PolicyStatus.SCHEDULED
        elif policy == active:
            status = PolicyStatus.ACTIVE
        else:
            status = PolicyStatus.RETIRED
        until = next_start.get(policy.pk)
        versions.append(PolicyVersion(policy, status, until and until - timedelta(days=1)))
    return versions
