"""Small display helpers of the staff pages (no queries, no rules)."""

from __future__ import annotations

from django import template

from backoffice.audit_actions import action_label

register = template.Library()


@register.filter
def audit_action(action: str) -> str:
    """An audit entry's action in words (empty when it has none)."""
    return action_label(action)


@register.simple_tag(takes_context=True)
def page_url(context, param: str, number: int, anchor: str = "") -> str:
    """The current URL's query string with ``param`` set to ``number`` (filters kept)."""
    query = context["request"].GET.copy()
    query[param] = number
    return f"?{query.urlencode()}{'#' + anchor if anchor else ''}"
