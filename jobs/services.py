"""Job runs: the only writers of ``JobRun`` and ``RecomputeChunk``.

A recompute run is split into chunks of members (id ranges of ``RECOMPUTE_CHUNK_SIZE``), each a
django-q2 task, so every worker of every cluster sharing the broker and the database takes a
share. A chunk is idempotent: it is locked, evaluated (``tiers.services.tiers_range_evaluate``)
and marked done in one durable transaction, so a chunk delivered twice (a worker died before the
broker heard back) or retried after a failure is evaluated and counted exactly once.
"""

from __future__ import annotations

import os
import socket
import traceback
import zlib
from collections.abc import Callable
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.models import Task

from loyalty.audit import audit_record
from loyalty.exceptions import DomainError
from reviews.services import blacklisted_cases_withdraw
from tiers.metrics import figures_snapshot_drop
from tiers.services import (
    Scope,
    member_range_starts,
    tiers_figures_snapshot,
    tiers_range_evaluate,
    tiers_statistics_refresh,
)

from . import outcomes, selectors
from .models import JobRun, RecomputeChunk

# Attempts of one chunk before it is marked failed (the run then finishes as failed).
CHUNK_ATTEMPTS = 3


def enqueue_chunk(chunk_id: int) -> None:
    from django_q.tasks import async_task

    async_task("jobs.tasks.recompute_chunk", chunk_id, task_name=f"recompute chunk {chunk_id}")


def recompute_start(
    *,
    as_of: date | None = None,
    scope: str = Scope.ALL,
    chunk_size: int | None = None,
    kind: str = JobRun.Kind.RECOMPUTE,
    enqueue: Callable[[int], None] = enqueue_chunk,
) -> JobRun:
    """Create a run and its chunks, then queue one task per chunk. The last chunk has no upper
    bound, so members registered meanwhile are evaluated too."""
    as_of = as_of or timezone.localdate()
    chunk_size = chunk_size or settings.RECOMPUTE_CHUNK_SIZE
    _finished_runs_tables_drop()
    if kind == JobRun.Kind.LIFECYCLE:
        # Scheduled or started from the jobs page: first the open review cases of members an
        # import blacklisted are withdrawn (the back office withdraws them at once).
        blacklisted_cases_withdraw()
    with transaction.atomic():
        run = JobRun.objects.create(kind=kind, as_of=as_of, scope=scope, started_at=timezone.now())
        starts = member_range_starts(chunk_size)
        ends = [start - 1 for start in starts[1:]] + [None] if starts else []
        chunks = RecomputeChunk.objects.bulk_create(
            RecomputeChunk(run=run, first_id=start, last_id=end)
            for start, end in zip(starts, ends, strict=True)
        )
        run.chunks_total = len(chunks)
        if chunks and scope == Scope.ALL:
            tiers_figures_snapshot(as_of=as_of, table=figures_table(run.pk))
        if not chunks:
            run.status = JobRun.Status.DONE
            run.finished_at = timezone.now()
        run.save(update_fields=["chunks_total", "status", "finished_at"])
    # Queued after the commit: a worker must find the chunk rows.
    for chunk in chunks:
        enqueue(chunk.pk)
    return run


# The jobs staff may start now from the jobs page, with the members their schedule evaluates.
STARTABLE: dict[str, str] = {JobRun.Kind.RECOMPUTE: Scope.ALL, JobRun.Kind.LIFECYCLE: Scope.DUE}


def job_start(*, kind: str, actor, enqueue: Callable[[int], None] = enqueue_chunk) -> JobRun:
    """Start a run of ``kind`` now, as its schedule would (as of today, the same members),
    through ``recompute_start``. Refused while a run of that kind has not finished (two would
    evaluate the same members side by side), unless it was given up
    (``selectors.RUN_GIVEN_UP_AFTER``). Audited as ``job.start``."""
    scope = STARTABLE.get(kind)
    if scope is None:
        raise DomainError(_("This job cannot be started from the jobs page."))
    queued: list[int] = []
    runs_give_up()
    with transaction.atomic():
        _job_start_lock(kind)
        if selectors.unfinished_run(kind) is not None:
            raise DomainError(
                _("A run of this job has not finished yet; start another once it has.")
            )
        run = recompute_start(
            as_of=timezone.localdate(), scope=scope, kind=kind, enqueue=queued.append
        )
        audit_record(
            actor=actor,
            action="job.start",
            target=run,
            after={
                "kind": kind,
                "as_of": run.as_of.isoformat(),
                "scope": scope,
                "chunks": run.chunks_total,
            },
        )
    # Queued after the commit: a worker must find the chunk rows.
    for chunk_id in queued:
        enqueue(chunk_id)
    return run


def runs_give_up() -> list[JobRun]:
    """Mark failed the runs still unfinished ``selectors.RUN_GIVEN_UP_AFTER`` after they
    started: their workers died or the broker lost their chunks, and the page must not list
    them as running for good. Their chunks never run are marked failed too, so one delivered
    very late is skipped instead of counted into a finished run (a chunk running at this
    moment holds its row: it finishes first, and is left as it ended). The figures table goes
    with the next run's start. Called before a scheduled or staff-started run."""
    now = timezone.now()
    given_up = []
    with transaction.atomic():
        stuck = JobRun.objects.select_for_update().filter(
            finished_at__isnull=True, started_at__lt=now - selectors.RUN_GIVEN_UP_AFTER
        )
        for run in stuck:
            left = run.chunks.filter(status=RecomputeChunk.Status.PENDING).update(
                status=RecomputeChunk.Status.FAILED,
                finished_at=now,
                last_error="given up: its run did not finish in time",
            )
            run.status = JobRun.Status.FAILED
            run.errors += left
            hours = int(selectors.RUN_GIVEN_UP_AFTER.total_seconds() // 3600)
            run.outcome = outcomes.given_up(hours=hours, chunks_left=left)
            run.finished_at = now
            run.save(update_fields=["status", "errors", "outcome", "finished_at"])
            given_up.append(run)
    return given_up


def _job_start_lock(kind: str) -> None:
    """Two staff starting the same job at once: the second waits here, then finds the first's
    run. A row lock cannot do it (the run does not exist yet); PostgreSQL has a lock by number
    for the transaction. SQLite needs none: a transaction there takes the write lock at once
    (``transaction_mode`` IMMEDIATE in the settings)."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"jobs.job_start:{kind}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


_FIGURES_TABLE = "tier_figures_run_"


def figures_table(run_id: int) -> str:
    """The run's figures snapshot, which its chunks read (a full recompute only)."""
    return f"{_FIGURES_TABLE}{run_id}"


def _finished_runs_tables_drop() -> None:
    """A run drops its figures table when its last chunk ends; one whose finishing step never
    ran (its worker killed at that moment) leaves it behind: dropped here once the run is
    finished or gone. A run still going keeps its table."""
    with connection.cursor() as cursor:
        names = connection.introspection.table_names(cursor)
    runs = {
        int(name.removeprefix(_FIGURES_TABLE)): name
        for name in names
        if name.startswith(_FIGURES_TABLE) and name.removeprefix(_FIGURES_TABLE).isdigit()
    }
    going = set(
        JobRun.objects.filter(pk__in=runs, finished_at__isnull=True).values_list("pk", flat=True)
    )
    for run_id, name in runs.items():
        if run_id not in going:
            figures_snapshot_drop(name)


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def recompute_chunk_run(*, chunk_id: int) -> str:
    """Evaluate one chunk, once; returns what happened (for the task's result)."""
    with transaction.atomic(durable=True):
        chunk = RecomputeChunk.objects.select_for_update().select_related("run").get(pk=chunk_id)
        if chunk.status != RecomputeChunk.Status.PENDING:
            return f"chunk {chunk_id} already {chunk.status}"
        run = chunk.run
        summary = tiers_range_evaluate(
            first_id=chunk.first_id,
            last_id=chunk.last_id,
            as_of=run.as_of,
            scope=run.scope,
            figures=figures_table(run.pk),
        )
        chunk.status = RecomputeChunk.Status.DONE
        chunk.attempts += 1
        chunk.evaluated = summary.evaluated
        chunk.upgrades = summary.upgrades
        chunk.downgrades = summary.downgrades
        chunk.warnings = summary.warnings
        chunk.seconds = summary.seconds
        chunk.worker = _worker()
        chunk.finished_at = timezone.now()
        chunk.save()
        # Last statement before the commit: the run row is locked only for an instant.
        JobRun.objects.filter(pk=run.pk).update(
            chunks_done=F("chunks_done") + 1,
            evaluated=F("evaluated") + summary.evaluated,
            upgrades=F("upgrades") + summary.upgrades,
            downgrades=F("downgrades") + summary.downgrades,
            warnings=F("warnings") + summary.warnings,
        )
    _run_finish_if_complete(run.pk)
    return f"chunk {chunk_id}: {summary.evaluated} members evaluated"


def recompute_chunk_failed(*, chunk_id: int, error: str) -> bool:
    """Record a failed attempt; True when the chunk should be tried again."""
    with transaction.atomic(durable=True):
        chunk = RecomputeChunk.objects.select_for_update().get(pk=chunk_id)
        if chunk.status != RecomputeChunk.Status.PENDING:
            return False
        chunk.attempts += 1
        chunk.last_error = error[-4000:]
        retry = chunk.attempts < CHUNK_ATTEMPTS
        if not retry:
            chunk.status = RecomputeChunk.Status.FAILED
            chunk.finished_at = timezone.now()
            chunk.worker = _worker()
        chunk.save()
        JobRun.objects.filter(pk=chunk.run_id).update(errors=F("errors") + 1)
    if not retry:
        _run_finish_if_complete(chunk.run_id)
    return retry


def _run_finish_if_complete(run_id: int) -> None:
    with transaction.atomic():
        run = JobRun.objects.select_for_update().get(pk=run_id)
        if run.finished_at is not None:
            return
        chunks = run.chunks.all()
        if chunks.filter(status=RecomputeChunk.Status.PENDING).exists():
            return
        failed = chunks.filter(status=RecomputeChunk.Status.FAILED).count()
        run.status = JobRun.Status.FAILED if failed else JobRun.Status.DONE
        if failed:
            run.outcome = outcomes.chunks_failed(failed=failed, chunks=run.chunks_total)
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "outcome", "finished_at"])
        figures_snapshot_drop(figures_table(run_id))
    tiers_statistics_refresh()


def job_record(kind: str, work: Callable[[], dict | str], *, as_of: date | None = None) -> JobRun:
    """Run ``work`` with a run record: done with its outcome (a dict, ``jobs.outcomes``) or its
    message (text), or failed with the error (and the error raised again, so django-q2 lists
    the task as failed too)."""
    run = JobRun.objects.create(kind=kind, as_of=as_of, started_at=timezone.now())
    try:
        result = work()
    except Exception:
        run.status = JobRun.Status.FAILED
        run.errors = 1
        run.message = traceback.format_exc()[-4000:]
        run.finished_at = timezone.now()
        run.save()
        raise
    run.status = JobRun.Status.DONE
    if isinstance(result, dict):
        run.outcome = result
    else:
        run.message = result
    run.finished_at = timezone.now()
    run.save()
    return run


def job_record_finished(kind: str, task: Task) -> JobRun:
    """The run record of a task that cannot write one itself (a task of another top-level app,
    which may not import jobs), made from django-q2's record of the finished task. Called once
    per attempt: django-q2 saves a task again only while it has not succeeded."""
    failed = not task.success
    # A task's outcome (a dict, ``jobs.outcomes``) is kept as data; anything else as text.
    outcome = task.result if isinstance(task.result, dict) and not failed else None
    return JobRun.objects.create(
        kind=kind,
        status=JobRun.Status.FAILED if failed else JobRun.Status.DONE,
        started_at=task.started,
        finished_at=task.stopped,
        errors=1 if failed else 0,
        outcome=outcome or {},
        message="" if outcome else str(task.result if task.result is not None else "")[-4000:],
    )
