"""Shared fixtures. The same suite runs on SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    # PostgreSQL-only tests are skipped, visibly, on SQLite runs.
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)
