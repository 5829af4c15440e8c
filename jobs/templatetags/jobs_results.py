from __future__ import annotations

from django import template

from jobs.outcomes import result_text

register = template.Library()


@register.filter
def job_result(result: object) -> str:
    """A task's result in the page's language (see ``jobs.outcomes``)."""
    return result_text(result)
