"""What staff and other systems do to a member, with its effect on the tier in the same
transaction: the fact is written by ``members.services`` (rules, audit), then the member is
evaluated at once under their row lock (real-time evaluation: an upgrade the moment the
purchase arrives, a revoked tier the moment a member is blacklisted).

The back office and the API call these; nothing else writes a member's status or facts and then
leaves the tier behind. Imports write facts set-based and leave evaluation to the nightly run,
except blacklisting, which revokes at once (``services.tiers_revoke_not_taking_part``).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from loyalty.audit import audit_record
from members import services as facts
from members.models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction

from .services import member_evaluate


def _evaluate_now(
    member: Member, actor=None, *, locked: bool = True, reinstated: bool = False
) -> None:
    """``locked``: the fact was just written by ``members.services``, whose writers all take
    the member's row lock first (a new member's row is not seen by anyone else before the
    commit), so this transaction holds it already. ``reinstated``: see ``member_evaluate``."""
    member_evaluate(
        member=member,
        as_of=timezone.localdate(),
        actor=actor,
        locked=locked,
        reinstated=reinstated,
    )


@transaction.atomic
def member_register(*, actor=None, **fields) -> Member:
    """A new member, evaluated at once (a full member starts at the entry tier)."""
    member = facts.member_create(actor=actor, **fields)
    if member.joined_on <= timezone.localdate():
        _evaluate_now(member, actor)
    return member


@transaction.atomic
def member_convert(*, member: Member, actor, reason: str = "") -> Member:
    member = facts.member_convert(member=member, actor=actor, reason=reason)
    _evaluate_now(member, actor)
    return member


@transaction.atomic
def member_blacklist(
    *, member: Member, reason: str, evidence: str = "", evidence_file: str = "", actor
) -> BlacklistEntry:
    """Blacklist and revoke the tier at once (history row "revoked")."""
    entry = facts.member_blacklist(
        member=member, reason=reason, evidence=evidence, evidence_file=evidence_file, actor=actor
    )
    _evaluate_now(entry.member, actor)
    return entry


@transaction.atomic
def blacklist_lift(*, member: Member, reason: str, actor) -> BlacklistEntry:
    """Lift the blacklist entry; the member returns to the status they had before it and is
    evaluated at once (an active member's tier is recorded as their membership restored; an
    experience member holds none)."""
    entry = facts.blacklist_lift(member=member, reason=reason, actor=actor)
    _evaluate_now(member, actor, reinstated=True)
    return entry


def transaction_record(
    *,
    member: Member,
    external_id: str,
    kind: str,
    amount: Decimal | str,
    occurred_at: datetime.datetime,
    refund_of: str = "",
    actor=None,
    reason: str = "",
    locked: bool = False,
) -> tuple[Transaction, bool]:
    """Record a purchase or refund and re-evaluate the member; a repeat of an already recorded
    transaction (same external id, same data) changes nothing and evaluates nobody.

    ``locked``: the caller opened its transaction only to find and lock the member (the API,
    in one statement) and lets an error here end it, so no savepoint is set (two statements
    per purchase)."""
    with transaction.atomic(savepoint=not locked):
        recorded, created = facts.transaction_create(
            locked=locked,
            member=member,
            external_id=external_id,
            kind=kind,
            amount=amount,
            occurred_at=occurred_at,
            refund_of=refund_of,
            actor=actor,
            reason=reason,
        )
        if created:
            _evaluate_now(member, actor)
    return recorded, created


@transaction.atomic
def referral_record(
    *,
    referrer: Member,
    referred: Member,
    occurred_on: datetime.date | None = None,
    actor=None,
    reason: str = "",
) -> tuple[Referral, bool]:
    referral, created = facts.referral_create(
        referrer=referrer, referred=referred, occurred_on=occurred_on, actor=actor, reason=reason
    )
    if created:
        _evaluate_now(referrer, actor)
    return referral, created


@transaction.atomic
def activity_record(
    *, member: Member, activity: str, occurred_at: datetime.datetime, actor=None, reason: str = ""
) -> tuple[ActivityParticipation, bool]:
    participation, created = facts.activity_create(
        member=member, activity=activity, occurred_at=occurred_at, actor=actor, reason=reason
    )
    if created:
        _evaluate_now(member, actor)
    return participation, created


@transaction.atomic
def member_reevaluate(*, member: Member, actor, reason: str = "") -> None:
    """Staff asked for an evaluation now (audited: who looked again, when and why), of a
    member who takes part (``takes_part_check``)."""
    facts.takes_part_check(member)
    _evaluate_now(member, actor, locked=False)
    reason = reason.strip()
    audit_record(
        actor=actor,
        action="member.reevaluate",
        target=member,
        after={"reason": reason} if reason else None,
    )
