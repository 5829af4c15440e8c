"""What a job did, stored as data (``JobRun.outcome``, and the result django-q2 keeps of a task)
and put into words only when shown, in the reader's language, its counts grouped by thousands
(1,200) as on every staff page. The stored counts stay plain integers.

An outcome is a small dict: ``kind`` and its counts. Results written before outcomes existed
are English sentences; those of a known format are read back into an outcome, any other text
is shown as it is (a traceback, another app's message)."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.utils.translation import gettext, ngettext

from loyalty.money import grouped
from loyalty.words import listed

CHUNKS_QUEUED = "chunks_queued"
CHUNKS_FAILED = "chunks_failed"
OVERRIDES_ENDED = "overrides_ended"
RUN_GOING = "run_going"
GIVEN_UP = "given_up"
DELIVERIES = "deliveries"
NOMINATION = "nomination"
SIGNIN_CODES_PURGED = "signin_codes_purged"


def chunks_queued(*, run: int, chunks: int) -> dict:
    return {"kind": CHUNKS_QUEUED, "run": run, "chunks": chunks}


def chunks_failed(*, failed: int, chunks: int) -> dict:
    return {"kind": CHUNKS_FAILED, "failed": failed, "chunks": chunks}


def overrides_ended(*, count: int) -> dict:
    return {"kind": OVERRIDES_ENDED, "count": count}


def run_going(*, run: int) -> dict:
    return {"kind": RUN_GOING, "run": run}


def given_up(*, hours: int, chunks_left: int) -> dict:
    return {"kind": GIVEN_UP, "hours": hours, "chunks_left": chunks_left}


def deliveries(counts: dict[str, int]) -> dict:
    """Notices delivered by one retry run, by the status each ended in (sent, failed, ...)."""
    return {"kind": DELIVERIES, "counts": dict(counts)}


def nomination(summary: dict) -> dict:
    """The quarterly nomination's summary (``reviews.tasks.nominate_quarter``), as it is."""
    return {"kind": NOMINATION, **summary}


# The sentences jobs wrote before outcomes (jobs.tasks, jobs.services), read back.
_OLD_SENTENCES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], dict]]] = [
    (
        re.compile(r"run (\d+): (\d+) chunks queued"),
        lambda m: chunks_queued(run=int(m[1]), chunks=int(m[2])),
    ),
    (
        re.compile(r"(\d+) of (\d+) chunks failed"),
        lambda m: chunks_failed(failed=int(m[1]), chunks=int(m[2])),
    ),
    (re.compile(r"(\d+) overrides ended"), lambda m: overrides_ended(count=int(m[1]))),
    (
        re.compile(r"(\d+) sign-in code requests deleted"),
        lambda m: {"kind": SIGNIN_CODES_PURGED, "count": int(m[1])},
    ),
    (re.compile(r"none due"), lambda m: deliveries({})),
    (
        re.compile(r"\w+: \d+(?:, \w+: \d+)*"),
        lambda m: deliveries(
            {status: int(count) for status, count in re.findall(r"(\w+): (\d+)", m[0])}
        ),
    ),
]


def describe(outcome: dict) -> str | None:
    """The outcome in the current language; None for one this code does not know."""
    match outcome:
        case {"kind": "chunks_queued", "run": int(run), "chunks": int(chunks)}:
            return ngettext(
                "run %(run)d: %(count)s chunk queued",
                "run %(run)d: %(count)s chunks queued",
                chunks,
            ) % {"run": run, "count": grouped(chunks)}
        case {"kind": "chunks_failed", "failed": int(failed), "chunks": int(chunks)}:
            return ngettext(
                "%(failed)s of %(count)s chunk failed",
                "%(failed)s of %(count)s chunks failed",
                chunks,
            ) % {"failed": grouped(failed), "count": grouped(chunks)}
        case {"kind": "run_going", "run": int(run)}:
            return gettext("not started: run %(run)d of today is still going") % {"run": run}
        case {"kind": "overrides_ended", "count": int(count)}:
            return ngettext("%(count)s override ended", "%(count)s overrides ended", count) % {
                "count": grouped(count)
            }
        case {"kind": "given_up", "hours": int(hours), "chunks_left": int(left)}:
            return ngettext(
                "given up: not finished after %(hours)d hours; %(count)s chunk never ran",
                "given up: not finished after %(hours)d hours; %(count)s chunks never ran",
                left,
            ) % {"hours": hours, "count": grouped(left)}
        case {"kind": "deliveries", "counts": dict(counts)}:
            return _deliveries_text(counts)
        case {"kind": "nomination", "quarter": str(quarter), "cases": int(cases)}:
            return ngettext(
                "%(quarter)s: %(count)s member nominated",
                "%(quarter)s: %(count)s members nominated",
                cases,
            ) % {"quarter": quarter, "count": grouped(cases)}
        case {"kind": "signin_codes_purged", "count": int(count)}:
            return ngettext(
                "%(count)s expired sign-in code request deleted",
                "%(count)s expired sign-in code requests deleted",
                count,
            ) % {"count": grouped(count)}
    return None


def _deliveries_text(counts: dict) -> str | None:
    if not counts:
        return gettext("no notice due")
    # Worded for a count ("2 sent", "1 to be tried again"), not the statuses' labels.
    words = {
        "sent": lambda n: ngettext("%(count)s sent", "%(count)s sent", n),
        "failed": lambda n: ngettext("%(count)s failed for good", "%(count)s failed for good", n),
        "pending": lambda n: ngettext(
            "%(count)s to be tried again", "%(count)s to be tried again", n
        ),
        "sending": lambda n: ngettext("%(count)s still sending", "%(count)s still sending", n),
        "skipped": lambda n: ngettext("%(count)s not sent", "%(count)s not sent", n),
    }
    parts = []
    for status, count in counts.items():
        if status not in words or not isinstance(count, int):
            return None
        parts.append(words[status](count) % {"count": grouped(count)})
    return listed(parts)


def result_text(result: object) -> str:
    """A task's result, or a run's outcome or message, for the page: an outcome described, an
    old sentence of a known format described the same way, anything else as it is."""
    if result is None:
        return ""
    if isinstance(result, dict):
        described = describe(result)
        return str(result) if described is None else described
    text = str(result)
    for pattern, outcome in _OLD_SENTENCES:
        if match := pattern.fullmatch(text):
            return describe(outcome(match)) or text
    return text
