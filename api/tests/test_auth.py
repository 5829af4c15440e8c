"""API keys: hashed, shown once, scoped, revocable; staff sessions in the browsable API."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import translation
from rest_framework.test import APIClient

from api.models import ApiKey, Scope
from api.services import api_key_revoke
from loyalty.models import AuditEntry
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_a_request_without_a_key_is_refused_with_401():
    response = APIClient().get("/api/v1/members/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize(
    "header",
    ["Api-Key lk_00000000.wrong", "Api-Key", "Api-Key a b", "Api-Key ÿÿ".encode("latin-1")],
)
def test_an_unknown_or_malformed_key_is_refused_with_401(header):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/members/").status_code == 401


def test_the_key_is_stored_only_as_its_digest(api):
    api_key = ApiKey.objects.get()
    assert api_key.key_hash == hashlib.sha256(api.raw_key.encode()).hexdigest()
    assert api.raw_key.startswith(f"lk_{api_key.prefix}.")
    stored = [str(v) for v in ApiKey.objects.values_list(flat=False).get()]
    assert not any(api.raw_key in value for value in stored)


def test_a_valid_key_is_let_in_and_its_last_use_recorded(api):
    assert api.get("/api/v1/members/").status_code == 200
    assert ApiKey.objects.get().last_used_at is not None


def test_a_key_with_the_secret_of_another_is_refused(make_client):
    first = make_client()
    second = make_client()
    forged = first.raw_key.split(".")[0] + "." + second.raw_key.split(".")[1]
    client = APIClient(HTTP_AUTHORIZATION=f"Api-Key {forged}")
    assert client.get("/api/v1/members/").status_code == 401


def test_a_revoked_key_is_refused_at_once(api, django_user_model):
    lead = django_user_model.objects.create_user("lead")
    api_key_revoke(api_key=ApiKey.objects.get(), reason="leaked", actor=lead)
    response = api.get("/api/v1/members/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Unknown or revoked API key."
    assert AuditEntry.objects.filter(action="api_key.revoke", actor=lead).exists()


@pytest.mark.parametrize(
    ("scopes", "method", "url", "allowed"),
    [
        ("members:read", "get", "/api/v1/members/", True),
        ("tiers:read", "get", "/api/v1/members/", False),
        ("members:read", "post", "/api/v1/members/", False),
        ("members:write", "post", "/api/v1/members/", True),
        ("members:write", "patch", "/api/v1/members/M1/", True),
        # Writing members includes reading them: the answers show the member anyway.
        ("members:write", "get", "/api/v1/members/M1/", True),
        ("members:write", "get", "/api/v1/members/M1/tier", False),
        ("members:read", "get", "/api/v1/members/M1/tier", False),
        ("tiers:read", "get", "/api/v1/members/M1/tier", True),
        ("tiers:read", "get", "/api/v1/members/M1/tier/history", True),
        ("members:read", "post", "/api/v1/transactions/", False),
        ("transactions:write", "post", "/api/v1/transactions/", True),
        ("transactions:write", "post", "/api/v1/transactions/batch/", True),
        ("transactions:read", "post", "/api/v1/transactions/batch/", False),
        ("transactions:read", "get", "/api/v1/transactions/T1/", True),
        # The address of the batch is also that of the transaction "batch".
        ("transactions:read", "get", "/api/v1/transactions/batch/", True),
        ("transactions:write", "get", "/api/v1/transactions/batch/", False),
        ("transactions:write", "post", "/api/v1/referrals/", False),
        ("referrals:write", "post", "/api/v1/referrals/", True),
        ("referrals:write", "post", "/api/v1/activities/", False),
        ("activities:write", "post", "/api/v1/activities/", True),
        # Asking what an endpoint offers needs one of its scopes, even a write-only one's.
        ("all", "options", "/api/v1/transactions/", True),
        ("transactions:write", "options", "/api/v1/transactions/", True),
        ("members:read", "options", "/api/v1/transactions/", False),
        ("members:read", "options", "/api/v1/members/", True),
    ],
)
def test_each_operation_needs_its_scope(make_client, scopes, method, url, allowed):
    MemberFactory(member_no="M1")
    response = getattr(make_client(scopes=scopes), method)(url, {}, format="json")
    if allowed:
        assert response.status_code not in (401, 403)
    else:
        assert response.status_code == 403
        assert response.json()["detail"].startswith("This key lacks the scope")
        assert response.json()["detail"].endswith(".")


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("delete", "/api/v1/transactions/T1/", "GET"),
        ("put", "/api/v1/members/M1/", "GET, PATCH"),
        ("post", "/api/v1/members/M1/tier", "GET"),
        ("delete", "/api/v1/transactions/batch/", "GET, POST"),
    ],
)
def test_a_method_an_endpoint_does_not_offer_is_405_with_the_allowed_ones(api, method, url, allow):
    MemberFactory(member_no="M1")

    response = getattr(api, method)(url, {}, format="json")
    anonymous = getattr(APIClient(), method)(url, {}, format="json")

    assert response.status_code == 405
    assert set(response["Allow"].split(", ")) >= set(allow.split(", "))
    assert anonymous.status_code == 401


def test_staff_use_the_browsable_api_with_their_own_permissions(client, django_user_model):
    MemberFactory(member_no="M1", phone="13900000000")
    ops = django_user_model.objects.create_user("ops-user")
    ops.groups.add(Group.objects.get(name="ops"))
    client.force_login(ops)
    assert client.get("/api/v1/members/M1/", HTTP_ACCEPT="text/html").status_code == 200
    assert client.get("/api/v1/members/M1/").json()["phone"] == "13900000000"

    committee = django_user_model.objects.create_user("committee-user")
    committee.groups.add(Group.objects.get(name="committee"))
    client.force_login(committee)
    # Reads, without the contact details its role may not see; writes nothing.
    assert client.get("/api/v1/members/M1/").json()["phone"] is None
    listed = client.get("/api/v1/members/").json()["results"]
    assert [(m["member_no"], m["phone"], m["email"]) for m in listed] == [("M1", None, None)]
    response = client.post(
        "/api/v1/members/",
        {"member_no": "M2", "name": "x", "joined_on": "2020-01-01"},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_create_api_key_prints_the_key_alone_on_its_last_line(capsys):
    call_command("create_api_key", "CRM", "--scopes", "all")
    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    api_key = ApiKey.objects.get(name="CRM")
    assert raw_key.startswith(f"lk_{api_key.prefix}.") and len(raw_key) > 40
    assert set(api_key.scopes) == {
        "members:read",
        "members:write",
        "transactions:read",
        "transactions:write",
        "referrals:write",
        "activities:write",
        "tiers:read",
    }
    client = APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    assert client.get("/api/v1/members/").status_code == 200


def test_create_api_key_refuses_an_unknown_scope():
    from django.core.management.base import CommandError

    with translation.override("en"), pytest.raises(CommandError, match="Unknown scope members:"):
        call_command("create_api_key", "CRM", "--scopes", "members:delete")
    assert not ApiKey.objects.exists()


def test_the_members_write_scope_reads_members_as_its_answers_do(make_client):
    """Its answers show the member (an empty PATCH too) and a 409 names the fields that
    differ: reading is part of the scope, said as such, not a loophole of a write-only key."""
    MemberFactory(member_no="M1", name="王芳", phone="13900000000")
    writer = make_client(scopes="members:write")

    assert writer.get("/api/v1/members/M1/").json()["phone"] == "13900000000"
    assert writer.patch("/api/v1/members/M1/", {}, format="json").json()["name"] == "王芳"
    assert str(Scope.MEMBERS_WRITE.label) == "create, update and read members"
