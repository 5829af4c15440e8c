"""Every schedule of the platform, declared once (times are local, settings.TIME_ZONE,
Asia/Shanghai by default) and synced by ``manage.py setup_schedules``.

A task is named by its path, as django-q2 runs it. Most are ``jobs.tasks`` functions, which call
the domain apps below and write their own run record. A task of another top-level app (portal),
which jobs may not import nor be imported by, is named directly, with a ``hook``: a ``jobs.tasks``
function django-q2 calls with its record of the finished task, which writes the run record.

Month-based schedules are stored as cron expressions. django-q2 moves a MONTHLY or QUARTERLY
schedule by calendar months of its next run in UTC, capping the day at the month's end: 03:00
on 1 January in Shanghai is 19:00 UTC on 31 December, three months on 31 March, then 30 June,
30 September, 30 December (local 31 December) and so on: off the 1st from the second year, and
a quarter never nominated. A cron expression is read against the wall clock in the cluster's
time zone (``Q_CLUSTER["time_zone"]``, which is ``TIME_ZONE``), so it stays on local days. Daily
ones add a day and correct for daylight saving, which keeps them on their local time."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from croniter import croniter
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
    schedule_type: str  # how often, as the jobs page says it (``repeats``)
    at: datetime.time
    minutes: int | None = None
    hook: str | None = None

    @property
    def stored_type(self) -> str:
        return Schedule.CRON if self.schedule_type in _CRON_MONTHS else self.schedule_type

    @property
    def cron(self) -> str | None:
        """The first day of each period at ``at``, local time (the module's docstring says
        why month-based schedules are cron expressions)."""
        if self.schedule_type not in _CRON_MONTHS:
            return None
        return f"{self.at.minute} {self.at.hour} 1 {_CRON_MONTHS[self.schedule_type]} *"


# The months a month-based schedule runs in, on their first day.
_CRON_MONTHS = {Schedule.QUARTERLY: "1,4,7,10"}


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

_DECLARED = {PREFIX + declared.name: declared for declared in SCHEDULES}
_TYPE_LABELS = dict(Schedule.TYPE)


def schedule_label(name: str) -> str:
    """A schedule's name for the page: ours translated, one added by hand in the admin as
    it was typed."""
    declared = _DECLARED.get(name)
    return str(declared.label) if declared else name


def schedule_repeats(schedule: Schedule) -> str:
    """How often a schedule runs, for the page: ours as declared ("Quarterly", not the
    "Cron" it is stored as), one added by hand as stored."""
    declared = _DECLARED.get(schedule.name)
    if declared is None:
        return schedule.get_schedule_type_display()
    return str(_TYPE_LABELS[declared.schedule_type])


def next_run(declared: Declared, now: datetime.datetime) -> datetime.datetime:
    """The next local time ``declared.at`` (a period's first day for month-based ones, found
    as django-q2 finds the runs after it)."""
    if declared.cron:
        return croniter(declared.cron, timezone.localtime(now)).get_next(datetime.datetime)
    candidate = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), declared.at))
    while candidate <= now:
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
                "schedule_type": declared.stored_type,
                "cron": declared.cron,
                "minutes": declared.minutes,
                "hook": declared.hook,
                "repeats": -1,
                "next_run": next_run(declared, now),
            },
        )
        synced.append(schedule)
    Schedule.objects.filter(name__startswith=PREFIX).exclude(pk__in=[s.pk for s in synced]).delete()
    return synced
