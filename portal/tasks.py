"""Scheduled work of the member pages. The schedule is declared with every other in
``jobs/schedules.py``, which names this task by its path: portal and jobs sit side by side in the
top layer and neither imports the other (``pyproject.toml``); jobs records the run from
django-q2's record of the task (``jobs.tasks.signin_codes_purged``)."""

from __future__ import annotations

from django.utils import timezone

from .services import CODE_REQUESTS_KEPT_FOR, signin_codes_purge


def purge_signin_codes() -> dict:
    """Delete the sign-in code requests the hourly limits no longer count (every code in them
    has expired); the recent ones stay, so the limits and a sign-in under way are unchanged.
    Safe to run twice. The result is an outcome the jobs page words in the reader's language
    (``jobs.outcomes``, which reads it by its kind)."""
    deleted = signin_codes_purge(before=timezone.now() - CODE_REQUESTS_KEPT_FOR)
    return {"kind": "signin_codes_purged", "count": deleted}
