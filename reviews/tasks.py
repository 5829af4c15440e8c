"""Scheduled work of the special review channel (the jobs engineer schedules it): safe to run
twice, since a second run of the same quarter opens nothing new."""

from __future__ import annotations

from django.utils import timezone

from .quarters import Quarter
from .services import cases_nominate


def nominate_quarter(quarter: str | None = None) -> dict:
    """Nominate the quarter's members (default: the quarter that just ended); returns a
    summary fit for the task's result."""
    target = Quarter.parse(quarter) if quarter else Quarter.just_ended(timezone.localdate())
    result = cases_nominate(quarter=target)
    return {
        "quarter": str(result.quarter),
        "as_of": str(result.as_of),
        "policy_version": result.policy_version,
        "evaluated": result.evaluated,
        "cases": result.cases,
        "nominations": [f"{member_no} {profile}" for member_no, profile in result.nominations],
        "skipped_open_case": result.skipped_open_case,
        "skipped_this_quarter": result.skipped_this_quarter,
        "skipped_exceptional_upgrade": result.skipped_exceptional_upgrade,
        "skipped_cooldown": result.skipped_cooldown,
    }
