from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from api.services import api_key_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("within_one_minute")]


@pytest.fixture
def within_one_minute():
    """The limit counts per clock minute: a test that crossed into the next one would find its
    count reset. Start early enough in a minute to finish in it."""
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.1)


def test_a_key_over_its_rate_is_told_to_wait_and_other_keys_are_not(make_client):
    slow = make_client(rate=3)
    other = make_client(rate=3)
    answers = [slow.get("/api/v1/members/").status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    refused = slow.get("/api/v1/members/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"]
    assert other.get("/api/v1/members/").status_code == 200


# Transactional: each thread's count is committed on its own connection, as in production.
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_many_clients_sharing_a_key_are_counted_exactly_and_later_commits_stay_durable():
    _key, raw_key = api_key_create(name="POS", scopes="all", requests_per_minute=40)
    barrier = threading.Barrier(8)
    statuses = []
    durability = []

    def client():
        try:
            api = APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
            barrier.wait()
            statuses.extend(api.get("/api/v1/members/").status_code for _ in range(5))
            with connection.cursor() as cursor:
                # The count's asynchronous commit was for its own transaction only.
                cursor.execute("SHOW synchronous_commit")
                durability.append(cursor.fetchone()[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 40
    assert durability == ["on"] * 8
    over = APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw_key}").get("/api/v1/members/")
    assert over.status_code == 429
