"""Display helpers for the review pages. Display only: no queries, no business rules."""

from __future__ import annotations

from django import template

from tiers.models import TierChange

from ..models import Department, Profile

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
