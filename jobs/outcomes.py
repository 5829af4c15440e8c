"""What a job did, stored as data (``JobRun.outcome``, and the result django-q2 keeps of a task)
and put into words only when shown, in the reader's language.

An outcome is a small dict: ``kind`` and its counts. Results written before outcomes existed
are English sentences; those of a known format are read back into an outcome, any other text
is shown as it is (a traceback, another app's message)."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.utils.translation import gettext, ngettext

CHUNKS_QUEUED = "chunks_queued"
CHUNKS_FAILED = "chunks_failed"
OVERRIDES_ENDED = "overrides_ended"
RUN_GOING = "run_going"


def chunks_queued(*, run: int, chunks: int) -> dict:
    return {"kind": CHUNKS_QUEUED, "run": run, "chunks": chunks}


def chunks_failed(*, failed: int, chunks: int) -> dict:
    return {"kind": CHUNKS_FAILED, "failed": failed, "chunks": chunks}


def overrides_ended(*, count: int) -> dict:
    return {"kind": OVERRIDES_ENDED, "count": count}


def run_going(*, run: int) -> dict:
    return {"kind": RUN_GOING, "run": run}


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
]


def describe(outcome: dict) -> str | None:
    """The outcome in the current language; None for one this code does not know."""
    match outcome:
        case {"kind": "chunks_queued", "run": int(run), "chunks": int(chunks)}:
            return ngettext(
                "run %(run)d: %(count)d chunk queued",
                "run %(run)d: %(count)d chunks queued",
                chunks,
            ) % {"run": run, "count": chunks}
        case {"kind": "chunks_failed", "failed": int(failed), "chunks": int(chunks)}:
            return ngettext(
                "%(failed)d of %(count)d chunk failed",
                "%(failed)d of %(count)d chunks failed",
                chunks,
            ) % {"failed": failed, "count": chunks}
        case {"kind": "run_going", "run": int(run)}:
            return gettext("not started: run %(run)d of today is still going") % {"run": run}
        case {"kind": "overrides_ended", "count": int(count)}:
            return ngettext("%(count)d override ended", "%(count)d overrides ended", count) % {
                "count": count
            }
    return None


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
