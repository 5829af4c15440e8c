"""Django system checks for what the code needs of its surroundings."""

from __future__ import annotations

import sqlite3

from django.core.checks import Error, register
from django.db import connections

# The API counts each key's requests with INSERT … ON CONFLICT … RETURNING (SQLite 3.35).
SQLITE_NEEDED = (3, 35, 0)


def sqlite_version_errors(version: tuple[int, ...], *, used: bool) -> list[Error]:
    """An error when the embedded database is in use and its SQLite is older than needed."""
    if not used or version >= SQLITE_NEEDED:
        return []
    needed, found = (".".join(map(str, v)) for v in (SQLITE_NEEDED, version))
    return [
        Error(
            f"The embedded database needs SQLite {needed} or newer; this Python has SQLite "
            f"{found}.",
            hint="Use a Python built with a newer SQLite, or PostgreSQL through DATABASE_URL.",
            id="loyalty.E001",
        )
    ]


@register()
def sqlite_version_check(app_configs=None, **kwargs) -> list[Error]:
    used = any(connection.vendor == "sqlite" for connection in connections.all())
    return sqlite_version_errors(sqlite3.sqlite_version_info, used=used)
