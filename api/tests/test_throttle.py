from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


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
