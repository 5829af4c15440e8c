"""Every schedule of the platform, declared once (times are local, settings.TIME_ZONE,
Asia/Shanghai by default) and synced by ``manage.py setup_schedules``.

A task is named by its path, as django-q2 runs it. Most are ``jobs.tasks`` functions, which call
the domain apps below and write their own run record. A task of another top-level app (portal),
which jobs may not import nor be imported by, is named directly, with a ``hook``: a ``jobs.tasks``
function django-q2 calls with its record of the finished task, which writes the run record."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django_q.models import Schedule

# Names of the schedules this module owns; others (added by hand in the admin) are left alone.
PREFIX = "loyalty: "


@dataclass(frozen=True)
class Declared:
    """``name`` is the stored identifier (after ``PREFIX``; never translated, the sync finds
    the row by it); ``label`` is what the jobs page shows, in the reader's language."""

    name: str
    label: Promise
    func: str
    schedule_type: str
    at: datetime.time
    minutes: int | None = None
    hook: str | None = None


SCHEDULES = (
    Declared(
        "nightly recompute",
        _("nightly recompute"),
        "jobs.tasks.nightly_recompute",
        Schedule.DAILY,
        datetime.time(2),
    ),
    Declared(
        "daily lifecycle and warnings",
        _("daily lifecycle and warnings"),
        "jobs.tasks.daily_lifecycle",
        Schedule.DAILY,
        datetime.time(9),
    ),
    Declared(
        "daily expiry of overrides",
        _("daily expiry of overrides"),
        "jobs.tasks.expire_overrides",
        Schedule.DAILY,
        datetime.time(0, 10),
    ),
    Declared(
        "daily notification retries",
        _("daily notification retries"),
        "jobs.tasks.notification_retries",
        Schedule.DAILY,
        datetime.time(10),
    ),
    Declared(
        "daily purge of expired sign-in codes",
        _("daily purge of expired sign-in codes"),
        "portal.tasks.purge_signin_codes",
        Schedule.DAILY,
        datetime.time(4),
        hook="jobs.tasks.signin_codes_purged",
    ),
    Declared(
        "quarterly special-review nomination",
        _("quarterly special-review nomination"),
        "jobs.tasks.nominate_quarter",
        Schedule.QUARTERLY,
        datetime.time(3),
    ),
)

_LABELS = {PREFIX + declared.name: declared.label for declared in SCHEDULES}


def schedule_label(name: str) -> str:
    """A schedule's name for the page: ours translated, one added by hand in the admin as
    it was typed."""
    return str(_LABELS.get(name, name))


def next_run(declared: Declared, now: datetime.datetime) -> datetime.datetime:
    """The next local time ``declared.at`` (a quarter's first day for quarterly ones)."""
    local = timezone.localtime(now)
    day = local.date()
    if declared.schedule_type == Schedule.QUARTERLY:
        day = datetime.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    candidate = timezone.make_aware(datetime.datetime.combine(day, declared.at))
    while candidate <= now:
        if declared.schedule_type == Schedule.QUARTERLY:
            month = candidate.month + 3
            day = datetime.date(candidate.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
        else:
            day = candidate.date() + datetime.timedelta(days=1)
        candidate = timezone.make_aware(datetime.datetime.combine(day, declared.at))
    return candidate


@transaction.atomic
def schedules_sync(*, now: datetime.datetime | None = None) -> list[Schedule]:
    """Create or update every declared schedule (by name; Schedule has no unique name, so this
    is the only writer of ours), and remove ours that are no longer declared. Idempotent."""
    now = now or timezone.now()
    synced = []
    for declared in SCHEDULES:
        schedule, _created = Schedule.objects.update_or_create(
            name=PREFIX + declared.name,
            defaults={
                "func": declared.func,
                "schedule_type": declared.schedule_type,
                "minutes": declared.minutes,
                "hook": declared.hook,
                "repeats": -1,
                "next_run": next_run(declared, now),
            },
        )
        synced.append(schedule)
    Schedule.objects.filter(name__startswith=PREFIX).exclude(pk__in=[s.pk for s in synced]).delete()
    return synced
