"""Threads a caller can wait for even after Ctrl-C (the recompute's workers, the import's COPY)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connections

logger = logging.getLogger(__name__)


def thread_start(target: Callable[[], None], *, name: str) -> threading.Event:
    """Run ``target`` in a new thread; the event returned is set once it has returned or raised
    (handing its errors over is the target's business).

    An event, not ``Thread.join``: before Python 3.13 a join interrupted by Ctrl-C marks its
    thread as stopped while it still runs, and a second join returns at once."""
    done = threading.Event()

    def run() -> None:
        try:
            target()
        finally:
            done.set()

    threading.Thread(target=run, name=name).start()
    return done


def at_once(here: Callable[[], None], there: Callable[[], None]) -> None:
    """Run ``here`` in this thread and ``there`` in another, on its own database connection (so
    both statements run at once on the server: outside any transaction, since the other
    connection sees only committed rows), and return when both are done; an error of either
    is raised here, this thread's first."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            there()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's connections

    done = thread_start(work, name="at-once")
    try:
        here()
    except BaseException:
        done.wait()
        if errors:  # raised below is this thread's error: the other's is logged, not lost
            logger.error("at_once: the other thread failed too", exc_info=errors[0])
        raise
    done.wait()
    if errors:
        raise errors[0]
