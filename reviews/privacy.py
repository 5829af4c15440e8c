"""A member's erasure, as far up as review cases: an erased member's open cases are withdrawn."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from members.models import Member
from notifications import privacy as notification_privacy

from .models import MEMBER_ERASED
from .services import member_open_cases_locked, member_open_cases_withdraw


@transaction.atomic
def member_erase(*, member: Member, reason: str, actor, linked_audit: Q | None = None) -> Member:
    """Erase the member's personal data (``notifications.privacy.member_erase``: the member's
    own and their notices) and withdraw their open review cases, each audited: a case about an
    anonymised member could still go to a vote and a grant, with a notice to "[erased]"."""
    open_cases = member_open_cases_locked(member)
    member = notification_privacy.member_erase(
        member=member, reason=reason, actor=actor, linked_audit=linked_audit
    )
    member_open_cases_withdraw(member, open_cases, reason=MEMBER_ERASED, actor=actor)
    return member
