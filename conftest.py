"""Shared test set-up. The same suite runs on SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # Browser tests are transactional: they end by flushing every table, including the tiers and
    # default policy that migrations created. Run them after everything else (pytest-django
    # runs tests that ask for the database on the fly after its own ordering, so this matters).
    # Other transactional tests (real commits, e.g. concurrent requests) flush the same way and
    # run after the browser tests; they ask for serialized_rollback to find the migrated data.
    items.sort(key=_run_order)

    # PostgreSQL-only tests are skipped, visibly, on SQLite runs.
    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


def _run_order(item) -> int:
    if "browser" in item.keywords:
        return 1
    marker = item.get_closest_marker("django_db")
    return 2 if marker and marker.kwargs.get("transaction") else 0
