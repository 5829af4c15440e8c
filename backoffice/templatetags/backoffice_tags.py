"""Small display helpers of the staff pages (no queries, no rules)."""

from __future__ import annotations

from django import template
from django.apps import apps

from backoffice.audit_actions import action_label, actor_label
from backoffice.audit_display import SYSTEM_REASONS
from loyalty.stored_text import shown

register = template.Library()


@register.filter
def audit_action(action: str) -> str:
    """An audit entry's action in words (empty when it has none)."""
    return action_label(action)


@register.filter
def audit_actor(entry) -> str:
    return actor_label(entry)


@register.filter
def audit_reason(reason) -> str:
    """An audit entry's reason: in the reader's language when the system wrote it, as typed
    when staff did."""
    return shown(reason, SYSTEM_REASONS) if isinstance(reason, str) else reason


@register.filter
def audit_target(target_type: str) -> str:
    """What an audit entry is about, by the model's name in the reader's language
    (``reviews.reviewcase`` → 评审案例); a type no model has any more, as it was stored."""
    try:
        model = apps.get_model(target_type)
    except (LookupError, ValueError):
        return target_type
    return str(model._meta.verbose_name)


@register.simple_tag(takes_context=True)
def page_url(context, param: str, number: int, anchor: str = "") -> str:
    """The current URL's query string with ``param`` set to ``number`` (filters kept)."""
    query = context["request"].GET.copy()
    query[param] = number
    return f"?{query.urlencode()}{'#' + anchor if anchor else ''}"
