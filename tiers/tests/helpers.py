"""Test helpers: a member read back with what tiers holds about them; the row locks a piece
of work took on members."""

from __future__ import annotations

from members.models import Member
from tiers.selectors import last_evaluation, tier_state


def refreshed(member: Member) -> Member:
    """The member from the database, with the tier state tiers owns copied onto it under the
    names the assertions read (``current_tier``, ``tier_year_start``, ``tier_year_end``,
    ``downgrade_warned_on``, ``last_evaluation``)."""
    member = Member.objects.select_related(
        "tier_state__current_tier", "evaluation__qualified_tier", "evaluation__policy"
    ).get(pk=member.pk)
    state = tier_state(member)
    member.current_tier = state.current_tier
    member.tier_year_start = state.tier_year_start
    member.tier_year_end = state.tier_year_end
    member.downgrade_warned_on = state.downgrade_warned_on
    member.last_evaluation = last_evaluation(member)
    return member


def member_row_locks(queries) -> list[bool]:
    """For each captured statement that reads the members table, in order: whether it takes
    row locks (``CaptureQueriesContext.captured_queries``). A temporary table made from them
    reads them too (the recompute's figures snapshot, and each range's classification)."""
    return [
        q["sql"].rstrip().endswith("FOR UPDATE")
        for q in queries
        if q["sql"].startswith(("SELECT", "CREATE TEMPORARY TABLE"))
        and 'FROM "members_member"' in q["sql"]
    ]
