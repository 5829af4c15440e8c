"""The OpenAPI schema, its local documentation pages, and Schemathesis against the schema:
no server error and no response that breaks the schema, whatever the input.

The suite runs 100 examples per operation (over 1,000 in all); set SCHEMATHESIS_EXAMPLES (e.g.
1000) for a longer run (README, API section)."""

from __future__ import annotations

import datetime
import os
import re

import jsonschema
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services import api_key_create
from members.tests.factories import MemberFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

# In the suite: 100 generated examples per operation (over 1,000 across the API) plus the
# schema's own examples. A longer run (e.g. SCHEMATHESIS_EXAMPLES=1000) adds Schemathesis's
# coverage phase: boundary and negative cases of every field, which take minutes.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))
LONG_RUN = "SCHEMATHESIS_EXAMPLES" in os.environ


def test_the_schema_describes_every_endpoint(client):
    schema = client.get("/api/schema/?format=json").json()
    assert set(schema["paths"]) == {
        "/api/v1/members/",
        "/api/v1/members/{member_no}/",
        "/api/v1/members/{member_no}/tier",
        "/api/v1/members/{member_no}/tier/history",
        "/api/v1/transactions/",
        "/api/v1/transactions/batch/",
        "/api/v1/transactions/{external_id}/",
        "/api/v1/referrals/",
        "/api/v1/activities/",
    }
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "429"} <= codes, (path, method)
            if method == "post":
                assert "400" in codes, (path, method)


def test_the_schema_says_what_a_request_body_may_hold_as_the_api_does(client, api):
    MemberFactory(member_no="M1", joined_on=datetime.date(2020, 1, 1))
    components = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    transaction = jsonschema.Draft4Validator(
        {"$ref": "#/components/schemas/TransactionInRequest", "components": {"schemas": components}}
    )
    purchase = {"external_id": "T1", "member_no": "M1", "kind": "purchase", "amount": "9.90",
                "occurred_at": "2026-01-05T10:00:00+08:00"}  # fmt: skip
    bodies = {
        "no refund_of": {**purchase, "external_id": "R1", "kind": "refund"},
        "a purchase naming one": {**purchase, "external_id": "T2", "refund_of": "T1"},
        "another field": {**purchase, "external_id": "T3", "note": "gift"},
        "valid": {**purchase, "external_id": "R2", "kind": "refund", "refund_of": "T1"},
    }

    valid = {name: transaction.is_valid(body) for name, body in bodies.items()}
    assert api.post("/api/v1/transactions/", purchase, format="json").status_code == 201
    answered = {
        name: api.post("/api/v1/transactions/", body, format="json").status_code
        for name, body in bodies.items()
    }

    assert valid == {name: name == "valid" for name in bodies}
    assert answered == {name: 201 if name == "valid" else 400 for name in bodies}
    closed = {name for name, c in components.items() if c.get("additionalProperties") is False}
    assert closed == {name for name in components if name.endswith("Request")}


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_swagger_ui_and_redoc_are_served_from_our_own_static_files(client, url):
    page = client.get(url).content.decode()
    assert "/static/drf_spectacular_sidecar/" in page
    # Nothing from another host (ReDoc's own page links Google Fonts).
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page)


@pytest.fixture
def api_schema(db, settings):
    # Schemathesis calls the WSGI app as host "localhost".
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    from loyalty.wsgi import application

    # As Django's test client does: a request must not close the test's connection (it would,
    # on PostgreSQL, because the test's transaction is open).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
        schema.config.phases.coverage.enabled = LONG_RUN
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def all_scopes_key(db):
    # A few members and a purchase for generated requests to meet (most will not: 404s).
    member = MemberFactory(member_no="M1", joined_on=datetime.date(2020, 1, 1))
    MemberFactory(member_no="M2", joined_on=datetime.date(2021, 1, 1))
    PurchaseFactory(member=member, external_id="T1")
    _key, raw_key = api_key_create(name="schemathesis", scopes="all", requests_per_minute=10**6)
    return raw_key


lazy_schema = schemathesis.pytest.from_fixture("api_schema")


@lazy_schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_never_fails_and_keeps_to_its_schema(case, all_scopes_key):
    case.call_and_validate(
        headers={"Authorization": f"Api-Key {all_scopes_key}", "Accept-Language": "en"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
