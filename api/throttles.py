"""Throttling per API key, at the key's own rate (requests per minute), counted in the database
so the limit holds across every web worker and process without a shared cache."""

from __future__ import annotations

import time

from django.db import connection
from rest_framework.throttling import BaseThrottle

from .models import ApiKey, ApiKeyUsage


def requests_this_minute(api_key: ApiKey, minute: int) -> int:
    """Count one more request of this key in this minute and return the count so far: one
    atomic upsert (SQLite ≥ 3.35 and PostgreSQL), so concurrent workers never lose a count."""
    table = ApiKeyUsage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (api_key_id, minute, count) VALUES (%s, %s, 1) "
            f"ON CONFLICT (api_key_id, minute) DO UPDATE SET count = {table}.count + 1 "
            "RETURNING count",
            [api_key.pk, minute],
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
