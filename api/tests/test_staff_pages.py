"""Staff pages for API keys: who may see, create and revoke them; the key shown once."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse

from api.models import ApiKey
from api.services import api_key_create
from loyalty.models import AuditEntry
from loyalty.roles import ROLES

pytestmark = pytest.mark.django_db

CAST = ["anonymous", *sorted(ROLES)]
# Who gets each page (200); anyone else logged in gets 403, anonymous visitors the login page.
ALLOWED = {
    "api:key_list": {"ops_lead", "auditor"},
    "api:key_create": {"ops_lead"},
    "api:key_revoke": {"ops_lead"},
}


@pytest.fixture
def login_as(client, django_user_model):
    def login(role: str):
        client.cookies["django_language"] = "en"
        if role != "anonymous":
            user, created = django_user_model.objects.get_or_create(username=f"{role}-user")
            if created:
                user.groups.add(Group.objects.get(name=role))
            client.force_login(user)
            client.user = user
        return client

    return login


@pytest.mark.parametrize("role", CAST)
@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_permission_matrix_of_the_api_key_pages(login_as, role, name):
    api_key, _raw = api_key_create(name="POS", scopes="all")
    kwargs = {"pk": api_key.pk} if name == "api:key_revoke" else {}
    url = reverse(name, kwargs=kwargs)
    response = login_as(role).get(url)
    if role == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    elif role in ALLOWED[name]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
    # Posting is refused the same way.
    if role not in ALLOWED[name] and name != "api:key_list":
        assert login_as(role).post(url, {"reason": "x", "name": "x"}).status_code in (302, 403)
        assert ApiKey.objects.count() == 1 and ApiKey.objects.get().revoked_at is None


def test_the_nav_and_buttons_show_only_what_the_role_may_use(login_as):
    api_key_create(name="POS", scopes="all")
    lead = login_as("ops_lead").get(reverse("api:key_list")).content.decode()
    assert "New API key" in lead and "Revoke" in lead and 'href="/api/keys/"' in lead
    auditor = login_as("auditor").get(reverse("api:key_list")).content.decode()
    assert "New API key" not in auditor and "Revoke" not in auditor
    ops = login_as("ops").get(reverse("backoffice:member_list")).content.decode()
    assert 'href="/api/keys/"' not in ops


def key_form(client, **fields) -> dict:
    """The new-key form as the page draws it (with its one-time token), filled in."""
    once = client.get(reverse("api:key_create")).context["form"]["once"].value()
    return {"once": once, "requests_per_minute": "", **fields}


def test_a_created_key_is_shown_once_and_works(login_as):
    client = login_as("ops_lead")
    response = client.post(
        reverse("api:key_create"),
        key_form(client, name="E-commerce", scopes=["members:read", "tiers:read"]),
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    raw_key = response.context["raw_key"]
    assert raw_key in response.content.decode()
    api_key = ApiKey.objects.get(name="E-commerce")
    assert api_key.scopes == ["members:read", "tiers:read"] and api_key.created_by == client.user
    assert AuditEntry.objects.filter(action="api_key.create", actor=client.user).exists()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    listing = client.get(reverse("api:key_list")).content.decode()
    assert raw_key not in listing and api_key.prefix in listing
    # A key in use reads 有效, not the member status 正式会员 (the same English word).
    status = listing.split(f"{api_key.prefix}", 1)[1].split("</tr>", 1)[0]
    assert "有效" in status and "正式会员" not in status


def test_the_created_page_reloaded_creates_no_second_key(login_as):
    client = login_as("ops_lead")
    data = key_form(client, name="CRM", scopes=["members:read"])
    assert client.post(reverse("api:key_create"), data).status_code == 200

    reloaded = client.post(reverse("api:key_create"), data, follow=True)
    forged = client.post(reverse("api:key_create"), {**data, "once": "made-up"})

    assert "This form was already sent: its key was created once" in reloaded.content.decode()
    assert "The form expired; fill it in again." in forged.content.decode()
    assert forged.context["form"]["name"].value() == "CRM"  # kept as typed
    assert ApiKey.objects.filter(name="CRM").count() == 1
    assert AuditEntry.objects.filter(action="api_key.create").count() == 1


def test_creating_a_key_needs_a_name_and_a_scope(login_as):
    response = login_as("ops_lead").post(reverse("api:key_create"), {"name": "", "scopes": []})
    assert response.status_code == 200 and response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_revoking_asks_for_confirmation_and_a_reason_and_is_audited(login_as):
    api_key, _raw = api_key_create(name="POS", scopes="all")
    client = login_as("ops_lead")
    url = reverse("api:key_revoke", kwargs={"pk": api_key.pk})
    page = client.get(url)
    assert "Revoke the key" in page.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is None  # showing the confirmation changes nothing

    assert client.post(url, {"reason": ""}).status_code == 200
    api_key.refresh_from_db()
    assert api_key.revoked_at is None

    response = client.post(url, {"reason": "The POS vendor changed"})
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None and api_key.revoked_by == client.user
    assert api_key.revoke_reason == "The POS vendor changed"
    assert AuditEntry.objects.filter(action="api_key.revoke", actor=client.user).exists()


@pytest.mark.parametrize("role", ["anonymous", "auditor"])
def test_revoking_a_key_answers_outsiders_alike_whether_the_key_exists(login_as, role):
    api_key, _raw = api_key_create(name="POS", scopes="all")
    client = login_as(role)

    answers = [
        client.get(reverse("api:key_revoke", kwargs={"pk": pk})).status_code
        for pk in (api_key.pk, api_key.pk + 1000)
    ]

    assert answers == ([302, 302] if role == "anonymous" else [403, 403])
