"""Throttling per API key, at the key's own rate (requests per minute), counted in the database
so the limit holds across every web worker and process without a shared cache."""

from __future__ import annotations

import time

from django.db import connection
from rest_framework.throttling import BaseThrottle

from loyalty import rows

from .models import ApiKey, ApiKeyUsage


def requests_this_minute(api_key: ApiKey, minute: int) -> int:
    """Count one more request of this key in this minute and return the count so far: one
    atomic upsert (SQLite ≥ 3.35 and PostgreSQL), so concurrent workers never lose a count.

    Every request of a key updates the same row, and its lock is held until the statement's
    transaction ends: the upsert runs before the view's transaction opens, in its own
    (autocommit; DRF throttles before the view, and ATOMIC_REQUESTS is off). On PostgreSQL
    that commit is asynchronous (``synchronous_commit`` off for this transaction only, set in
    the statement itself): the row is free as soon as the statement ends instead of after a
    WAL flush, so thirty clients sharing a key do not queue behind each other's disk writes.
    A crash may forget the last counts of a minute; a limit per minute does not mind."""
    table = ApiKeyUsage._meta.db_table
    source, params = "VALUES (%s, %s, 1)", [api_key.pk, minute]
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Inside a transaction the setting would apply to the whole of it: only alone.
        source = "SELECT %s, %s, 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) s"
    with rows.hot_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (api_key_id, minute, count) {source} "
            f"ON CONFLICT (api_key_id, minute) DO UPDATE SET count = {table}.count + 1 "
            "RETURNING count",
            params,
        )
        (count,) = cursor.fetchone()
    if count == 1:
        # A new minute: forget the ones before the last hour.
        ApiKeyUsage.objects.filter(api_key=api_key, minute__lt=minute - 60).delete()
    return count


class ApiKeyThrottle(BaseThrottle):
    """A fixed window of one minute per key. Staff sessions in the browsable API are not
    throttled (they are people, and their requests are audited as theirs)."""

    def allow_request(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        now = time.time()
        minute = int(now // 60)
        self.retry_after = 60 - (now % 60)
        return requests_this_minute(api_key, minute) <= api_key.requests_per_minute

    def wait(self) -> float:
        return self.retry_after
