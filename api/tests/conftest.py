from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.services import api_key_create


@pytest.fixture
def make_client(db):
    """A client sending ``Authorization: Api-Key <key>`` for a new key with these scopes,
    reading answers in English unless told otherwise."""

    def make(scopes="all", rate=None, language="en") -> APIClient:
        _api_key, raw_key = api_key_create(name="POS", scopes=scopes, requests_per_minute=rate)
        client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        client.raw_key = raw_key
        return client

    return make


@pytest.fixture
def api(make_client) -> APIClient:
    return make_client()
