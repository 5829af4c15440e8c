"""Small display helpers of the staff pages (no queries, no rules)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_url(context, param: str, number: int, anchor: str = "") -> str:
    """The current URL's query string with ``param`` set to ``number`` (filters kept)."""
    query = context["request"].GET.copy()
    query[param] = number
    return f"?{query.urlencode()}{'#' + anchor if anchor else ''}"
