from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django_q.models import Failure, Schedule, Task

from members.models import Member
from notifications.models import Notification
from notifications.selectors import failed_notifications, member_notifications

from .models import JobRun, RecomputeChunk
from .schedules import schedule_label, schedule_repeats


def schedules_with_last_run() -> list[tuple[Schedule, str, str, Task | None]]:
    """Each schedule with its name and how often it runs in the current language, and its
    last task."""
    schedules = list(Schedule.objects.order_by("name"))
    tasks = Task.objects.in_bulk([s.task for s in schedules if s.task])
    return [
        (
            schedule,
            schedule_label(schedule.name),
            schedule_repeats(schedule),
            tasks.get(schedule.task),
        )
        for schedule in schedules
    ]


def job_runs() -> QuerySet[JobRun]:
    return JobRun.objects.order_by("-started_at", "-id")


def recent_failures(limit: int = 10) -> list[Failure]:
    return list(Failure.objects.order_by("-stopped")[:limit])


def failed_chunks(limit: int = 10) -> list[RecomputeChunk]:
    return list(
        RecomputeChunk.objects.filter(status=RecomputeChunk.Status.FAILED)
        .select_related("run")
        .order_by("-finished_at")[:limit]
    )


def failed_notices(limit: int = 10) -> list[Notification]:
    return list(failed_notifications()[:limit])


def run_chunks(run: JobRun) -> QuerySet[RecomputeChunk]:
    return run.chunks.order_by("first_id")


def notifications_of(member: Member) -> QuerySet[Notification]:
    return member_notifications(member)


# A run of a million members takes minutes; one unfinished after this long lost its workers
# (killed, or the broker dropped its chunks) and must not block new runs for good.
RUN_GIVEN_UP_AFTER = timedelta(hours=6)


def unfinished_run(kind: str) -> JobRun | None:
    """The run of ``kind`` not finished yet, if any: the newest started within
    ``RUN_GIVEN_UP_AFTER``."""
    return (
        JobRun.objects.filter(
            kind=kind,
            finished_at__isnull=True,
            started_at__gte=timezone.now() - RUN_GIVEN_UP_AFTER,
        )
        .order_by("-started_at")
        .first()
    )
