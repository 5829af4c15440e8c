"""``at_once``: two pieces of work at the same time, the other's error raised in the caller."""

from __future__ import annotations

import threading

import pytest

from loyalty.threads import at_once


def test_both_run_at_the_same_time():
    there_started, here_done = threading.Event(), threading.Event()
    seen = []

    def here():
        # Only possible if the other runs meanwhile.
        assert there_started.wait(5)
        seen.append("here")
        here_done.set()

    def there():
        there_started.set()
        assert here_done.wait(5)
        seen.append("there")

    at_once(here, there)

    assert seen == ["here", "there"]


def test_an_error_of_the_other_is_raised_in_the_caller_after_both_are_done():
    finished = []

    def there():
        raise ValueError("there failed")

    with pytest.raises(ValueError, match="there failed"):
        at_once(lambda: finished.append("here"), there)
    assert finished == ["here"]


def test_the_callers_error_comes_first_and_the_other_still_finishes():
    finished = threading.Event()

    def here():
        raise KeyError("here failed")

    with pytest.raises(KeyError, match="here failed"):
        at_once(here, finished.set)
    assert finished.is_set()
