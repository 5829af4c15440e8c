"""``/healthz`` for load balancers and monitoring: is the database reachable, is the task
broker reachable, and how old is the last successful nightly recompute.

JSON, HTTP 200 when every check passes and 503 otherwise. No login (load balancers have none)
and nothing secret in the answer: check names, "ok" or an error class, an age in hours."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


def last_successful_recompute() -> datetime.datetime | None:
    """When the last nightly recompute finished successfully, from the function named by
    ``HEALTHZ_LAST_RECOMPUTE`` (the jobs app's run records); None when that app or function is
    not there yet, or nothing has succeeded yet."""
    try:
        reader: Callable[[], datetime.datetime | None] = import_string(
            settings.HEALTHZ_LAST_RECOMPUTE
        )
    except ImportError:
        return None
    return reader()


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_broker() -> str:
    """The django-q2 broker answers: Redis answers PING; the ORM broker (whose ``ping`` always
    says yes) must be able to count its queue table."""
    from django_q.brokers import get_broker

    broker = get_broker()
    if broker.ping() is False:
        raise ConnectionError("broker did not answer")
    broker.queue_size()
    return "ok"


def recompute_status(
    last_success: datetime.datetime | None, now: datetime.datetime, max_age_hours: int
) -> dict:
    """The recompute part of the answer. Unknown (no run recorded yet, or no jobs app) is
    reported, not failed: a new installation must be able to come up before its first night."""
    if last_success is None:
        return {"status": "unknown", "last_success": None, "age_hours": None}
    age_hours = round((now - last_success).total_seconds() / 3600, 1)
    stale = bool(max_age_hours) and age_hours > max_age_hours
    return {
        "status": "stale" if stale else "ok",
        "last_success": last_success.isoformat(),
        "age_hours": age_hours,
        "max_age_hours": max_age_hours or None,
    }


def _run(check: Callable[[], str]) -> str:
    try:
        return check()
    except Exception as exc:  # a health check reports every failure instead of raising
        logger.warning("health check %s failed", check.__name__, exc_info=True)
        return f"error: {type(exc).__name__}"


@never_cache
@require_safe
def healthz(request):
    checks = {"database": _run(check_database), "broker": _run(check_broker)}
    recompute = {"status": "unknown"}
    if checks["database"] == "ok":
        try:
            recompute = recompute_status(
                last_successful_recompute(),
                timezone.now(),
                settings.HEALTHZ_RECOMPUTE_MAX_AGE_HOURS,
            )
        except Exception as exc:
            logger.warning("health check recompute failed", exc_info=True)
            recompute = {"status": f"error: {type(exc).__name__}"}
    healthy = all(value == "ok" for value in checks.values()) and recompute["status"] in (
        "ok",
        "unknown",
    )
    body = {"status": "ok" if healthy else "fail", **checks, "recompute": recompute}
    return JsonResponse(body, status=200 if healthy else 503)
