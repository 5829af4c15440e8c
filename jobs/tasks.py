"""django-q2 tasks. Each takes ids or nothing, loads what it needs, calls a service and is safe
to run twice; each leaves a run record (``JobRun``) for the jobs page. A task of another
top-level app leaves its record through a hook here (see ``schedules.py``)."""

from __future__ import annotations

import traceback

from django.utils import timezone
from django_q.models import Task

from notifications.services import notifications_deliver_due
from reviews.tasks import nominate_quarter as reviews_nominate_quarter
from tiers.services import Scope, tier_overrides_expire

from . import outcomes, selectors, services
from .models import JobRun


def _scheduled_run(kind: str, scope: str) -> dict:
    """A scheduled run as of today, unless one of today is still going (staff started it from
    the jobs page a little earlier): it evaluates the same members as of the same day. The
    result django-q2 keeps is an outcome (``jobs.outcomes``), worded when shown."""
    today = timezone.localdate()
    services.runs_give_up()
    going = selectors.unfinished_run(kind)
    if going is not None and going.as_of == today:
        return outcomes.run_going(run=going.pk)
    run = services.recompute_start(as_of=today, scope=scope, kind=kind)
    return outcomes.chunks_queued(run=run.pk, chunks=run.chunks_total)


def nightly_recompute() -> dict:
    return _scheduled_run(JobRun.Kind.RECOMPUTE, Scope.ALL)


def daily_lifecycle() -> dict:
    """Warnings, downgrades and new tier years that fall due today (domain.md's pseudo-code),
    through the same chunked evaluation as the recompute, for the members concerned only
    (``services.recompute_start`` first withdraws the review cases of blacklisted members)."""
    return _scheduled_run(JobRun.Kind.LIFECYCLE, Scope.DUE)


def recompute_chunk(chunk_id: int) -> str:
    """One chunk; a failure is recorded and the chunk queued again, up to
    ``services.CHUNK_ATTEMPTS`` times, then marked failed (the run shows it)."""
    try:
        return services.recompute_chunk_run(chunk_id=chunk_id)
    except Exception:
        if services.recompute_chunk_failed(chunk_id=chunk_id, error=traceback.format_exc()):
            services.enqueue_chunk(chunk_id)
            return f"chunk {chunk_id} failed; queued again"
        raise


def expire_overrides() -> dict:
    today = timezone.localdate()
    run = services.job_record(
        JobRun.Kind.OVERRIDES_EXPIRE,
        lambda: outcomes.overrides_ended(count=tier_overrides_expire(as_of=today)),
        as_of=today,
    )
    return run.outcome


def notification_retries() -> dict:
    return services.job_record(
        JobRun.Kind.NOTIFICATION_RETRIES,
        lambda: outcomes.deliveries(notifications_deliver_due()),
    ).outcome


def nominate_quarter(quarter: str | None = None) -> dict:
    """The committee's quarterly nomination (``reviews.tasks.nominate_quarter``) with a run
    record."""
    return services.job_record(
        JobRun.Kind.NOMINATION,
        lambda: outcomes.nomination(reviews_nominate_quarter(quarter=quarter)),
    ).outcome


def signin_codes_purged(task: Task) -> None:
    """Hook of the daily purge of sign-in codes (``portal.tasks.purge_signin_codes``, which
    jobs may not import): its run record, from django-q2's record of the task."""
    services.job_record_finished(JobRun.Kind.SIGNIN_CODES_PURGE, task)
