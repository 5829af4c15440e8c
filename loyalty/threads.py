"""Threads a caller can wait for even after Ctrl-C (the recompute's workers, the import's COPY)."""

from __future__ import annotations

import threading
from collections.abc import Callable


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
