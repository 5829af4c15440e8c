"""/healthz: database and task broker reachable, age of the last successful recompute."""

from __future__ import annotations

import datetime

import pytest
import redis
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from loyalty.health import last_successful_recompute, recompute_status

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 7, 1, 3, 0, tzinfo=datetime.UTC)

# Stand-ins for the jobs app's reader, named by HEALTHZ_LAST_RECOMPUTE like the real one.
_last_run: dict[str, datetime.datetime | None] = {"at": None}


def recorded_last_run() -> datetime.datetime | None:
    return _last_run["at"]


def broken_reader() -> datetime.datetime | None:
    raise RuntimeError("run table missing")


@pytest.fixture
def last_run():
    def set_last_run(at: datetime.datetime | None):
        _last_run["at"] = at

    with override_settings(HEALTHZ_LAST_RECOMPUTE=f"{__name__}.recorded_last_run"):
        yield set_last_run
    _last_run["at"] = None


@pytest.fixture
def redis_broker(monkeypatch):
    """Point django-q2 at a Redis broker (its Conf is read once at import, so the attributes are
    changed for the test)."""

    def use(url: str):
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", url)

    return use


def test_a_healthy_site_answers_200_with_every_check(client, last_run):
    last_run(timezone.now() - datetime.timedelta(hours=5))

    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["recompute"]["status"] == "ok"
    assert 4.9 <= body["recompute"]["age_hours"] <= 5.1
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_health_check_needs_no_login_and_accepts_head(client):
    assert client.head(reverse("healthz")).status_code == 200
    assert client.post(reverse("healthz")).status_code == 405


def test_a_recompute_older_than_the_limit_makes_the_site_unhealthy(client, last_run):
    last_run(timezone.now() - datetime.timedelta(hours=40))

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["recompute"]["status"] == "stale"


def test_a_stale_recompute_is_only_reported_when_the_limit_is_off(client, last_run):
    last_run(timezone.now() - datetime.timedelta(hours=400))

    with override_settings(HEALTHZ_RECOMPUTE_MAX_AGE_HOURS=0):
        response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json()["recompute"]["age_hours"] == pytest.approx(400, abs=0.1)


def test_without_a_recorded_run_the_recompute_is_unknown_and_the_site_up(client, last_run):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json()["recompute"] == {
        "status": "unknown",
        "last_success": None,
        "age_hours": None,
    }


def test_without_the_jobs_app_the_last_recompute_is_unknown():
    with override_settings(HEALTHZ_LAST_RECOMPUTE="jobs.no_such_module.last_run"):
        assert last_successful_recompute() is None


def test_a_failing_run_reader_makes_the_site_unhealthy_without_a_traceback(client):
    with override_settings(HEALTHZ_LAST_RECOMPUTE=f"{__name__}.broken_reader"):
        response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["recompute"] == {"status": "error: RuntimeError"}
    assert "run table missing" not in response.content.decode()


def test_an_unreachable_broker_makes_the_site_unhealthy(client, redis_broker):
    redis_broker("redis://127.0.0.1:1/0")  # nothing listens on port 1

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["broker"] == "error: ConnectionError"
    assert response.json()["database"] == "ok"


def test_a_reachable_redis_broker_is_healthy(client, redis_broker):
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    redis_broker(url)

    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json()["broker"] == "ok"


@pytest.mark.parametrize(
    ("hours_ago", "limit", "status"),
    [
        (35.9, 36, "ok"),
        (36.0, 36, "ok"),
        (36.1, 36, "stale"),
        (500, 0, "ok"),
    ],
)
def test_the_recompute_is_stale_only_beyond_its_age_limit(hours_ago, limit, status):
    last = NOW - datetime.timedelta(hours=hours_ago)

    result = recompute_status(last, NOW, limit)

    assert result["status"] == status
    assert result["age_hours"] == pytest.approx(hours_ago, abs=0.05)
