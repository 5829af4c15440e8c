"""Dates and times as other systems write them: the one place that says which forms are
accepted and why one is refused. Imports and ``recompute_tiers --as-of`` use it.

Accepted: ``2026-06-30``, ``2026/6/30`` and ISO 8601 date-times (``2026-06-30T14:05:00+08:00``,
``…Z``, ``2026-06-30 14:05:00``). Refused: week dates (``2026-W02-6``), compact forms
(``20260630``), ordinal dates, and years outside 1900–2999, which no real fact has and whose
time-zone arithmetic overflows near the ends of Python's calendar (``0001-01-01``).
"""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

from django.utils.translation import gettext

_DASHED = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_SLASHED = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})", re.ASCII)
_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?", re.ASCII
)
FIRST_YEAR = 1900
LAST_YEAR = 2999


class DateError(ValueError):
    """Why a text is not an accepted date. ``template`` has %(column)s and %(value)s left open
    for the caller (a CSV column, a command-line option)."""

    def __init__(self, template: str):
        super().__init__(template)
        self.template = template

    def describe(self, column: str, value: str) -> str:
        return self.template % {"column": column, "value": value}


def _not_a_date() -> DateError:
    return DateError(gettext('%(column)s "%(value)s" is not a date like 2026-06-30'))


def year_check(day: datetime.date) -> None:
    """Raises ``DateError`` for a year outside 1900–2999 (the module's docstring says why); for
    dates other code has parsed already (the staff pages' date fields)."""
    if day.year < FIRST_YEAR:
        raise DateError(gettext('%(column)s "%(value)s" is before 1900'))
    if day.year > LAST_YEAR:
        raise DateError(gettext('%(column)s "%(value)s" is after 2999'))


def _calendar_date(text: str) -> datetime.date | None:
    """The date of ``2026-06-30`` or ``2026/6/30``; None when the text has another shape."""
    try:
        if _DASHED.fullmatch(text):
            return datetime.date.fromisoformat(text)
        slashed = _SLASHED.fullmatch(text)
        if slashed:
            return datetime.date(*map(int, slashed.groups()))
    except ValueError:
        raise _not_a_date() from None
    return None


def parse_date(text: str) -> datetime.date:
    """A calendar date, ``2026-06-30`` or ``2026/6/30``; raises ``DateError``."""
    day = _calendar_date(text.strip())
    if day is None:
        raise _not_a_date()
    year_check(day)
    return day


MAX_OFFSET = datetime.timedelta(hours=14)


def parse_moment(text: str, tz: ZoneInfo) -> datetime.datetime:
    """An aware date and time: an ISO 8601 date-time, read in ``tz`` when it has no UTC offset,
    or a calendar date meaning local midnight in ``tz``; raises ``DateError``."""
    text = text.strip()
    if not _MOMENT.fullmatch(text):
        day = _calendar_date(text)
        if day is not None:
            year_check(day)
            return datetime.datetime.combine(day, datetime.time(), tzinfo=tz)
        raise DateError(
            gettext(
                '%(column)s "%(value)s" is neither a date like 2026-06-30 nor a date '
                "and time like 2026-06-30T14:05:00+08:00"
            )
        )
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise DateError(gettext('%(column)s "%(value)s" is not a valid date and time')) from None
    year_check(moment.date())
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz)
    if abs(moment.utcoffset()) > MAX_OFFSET:
        # No place keeps such a time (the world's offsets run from -12:00 to +14:00), and
        # PostgreSQL refuses one beyond ±15:59 that Python and SQLite would store.
        raise DateError(
            gettext('%(column)s "%(value)s" has a UTC offset beyond ±14:00, which no place uses')
        )
    # Its local date is the one stored and counted: 1900-01-01T00:00+14:00 is 1899 in China.
    year_check(moment.astimezone(tz).date())
    return moment
