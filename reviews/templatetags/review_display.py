"""Display helpers for the review pages. Display only: no queries, no business rules."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext

from loyalty.words import listed
from tiers.models import TierChange

from ..models import Department, Profile, profiles_text

register = template.Library()


@register.filter
def lookup(mapping, key):
    """``mapping[key]`` or None (tiers by code in the stored evidence)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def profile_label(code: str) -> str:
    try:
        return str(Profile(code).label)
    except ValueError:
        return code


@register.filter
def profile_labels(codes: list[str]) -> str:
    """The profiles as a list in the reader's language (资深忠实会员，单笔大额消费)."""
    return profiles_text(codes)


@register.filter
def quorum_text(quorum: dict[str, int]) -> str:
    """The approvals each department must give, as a list in the reader's language; the
    departments that need none are left out."""
    parts = [
        gettext("%(department)s × %(count)d")
        % {"department": department_label(department), "count": needed}
        for department, needed in quorum.items()
        if needed
    ]
    return listed(parts)


@register.filter
def department_label(code: str) -> str:
    try:
        return str(Department(code).label)
    except ValueError:
        return code


@register.filter
def cause_label(code: str) -> str:
    """A tier history cause kept in the evidence, in words."""
    try:
        return str(TierChange.Cause(code).label)
    except ValueError:
        return code
