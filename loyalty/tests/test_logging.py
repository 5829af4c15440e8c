"""The log: what staff running the site read when something is refused or fails."""

from __future__ import annotations

import logging

from django.test import override_settings


def writers_of(logger_name: str, level: int) -> list[logging.Handler]:
    """The site's handlers that write a record of ``level`` logged on ``logger_name``, as
    logging passes it up the tree (pytest's own capturing handlers left out)."""
    record = logging.LogRecord(logger_name, level, __file__, 1, "message", None, None)
    logger, found = logging.getLogger(logger_name), []
    while logger is not None:
        for handler in logger.handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue
            if level >= handler.level and handler.filter(record):
                found.append(handler)
        logger = logger.parent if logger.propagate else None
    return found


@override_settings(DEBUG=True)  # `make run`: Django's own console handler wrote then too
def test_a_refused_request_is_written_to_the_log_once():
    """A 403's warning (with its traceback) was written twice under DEBUG: by Django's
    default console handler and again by the site's root handler."""
    assert len(writers_of("django.request", logging.WARNING)) == 1
    assert len(writers_of("django.security.csrf", logging.WARNING)) == 1
