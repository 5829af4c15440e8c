"""Staff login rate limit (django-axes): lockout page, audit entry, addresses behind proxies."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings
from django.urls import reverse

from loyalty.login_guard import client_ip
from loyalty.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(username="ops-anna", password=PASSWORD)


def attempt(client, password: str, username: str = "ops-anna", address: str = "203.0.113.7"):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_a_wrong_password_shows_the_login_form_again_with_an_error(client, staff_user):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = attempt(client, "wrong")

    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()


def test_after_the_failure_limit_the_login_is_locked_with_a_clear_message(client, staff_user):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "wrong").status_code == 200

    response = attempt(client, "wrong")

    body = response.content.decode()
    assert response.status_code == 429
    assert "Login temporarily locked" in body
    assert f"after {settings.AXES_FAILURE_LIMIT} failed attempts" in body
    assert f"Try again in {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in body


def test_a_locked_login_refuses_even_the_right_password(client, staff_user):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "wrong")

    response = attempt(client, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_is_in_the_readers_language(client, staff_user):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = attempt(client, "wrong")

    assert response.status_code == 429
    assert 'lang="zh-hans"' in response.content.decode()


def test_a_lockout_leaves_one_audit_entry_naming_the_account_and_address(client, staff_user):
    for _ in range(settings.AXES_FAILURE_LIMIT + 3):
        attempt(client, "wrong")

    entry = AuditEntry.objects.get(action="login.locked_out")
    assert entry.target_type == "auth.user"
    assert entry.target_id == str(staff_user.pk)
    assert entry.after["username"] == "ops-anna"
    assert entry.after["ip_address"] == "203.0.113.7"
    assert entry.after["failures"] == settings.AXES_FAILURE_LIMIT


def test_guessing_an_unknown_user_name_is_locked_and_audited_too(client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = attempt(client, "wrong", username="nobody")

    assert response.status_code == 429
    entry = AuditEntry.objects.get(action="login.locked_out")
    assert entry.target_id == ""
    assert entry.after["username"] == "nobody"


def test_a_lockout_does_not_lock_the_same_account_out_from_another_address(client, staff_user):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "wrong", address="203.0.113.7")

    response = attempt(client, PASSWORD, address="198.51.100.20")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff_user.pk)


def test_a_successful_login_resets_the_count_of_failures(client, staff_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, PASSWORD).status_code == 302
    client.post(reverse("logout"))

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = attempt(client, "wrong")

    assert response.status_code == 200


def test_the_staff_session_lasts_a_working_day(client, staff_user):
    attempt(client, PASSWORD)

    assert settings.SESSION_COOKIE_AGE == 8 * 60 * 60
    assert 8 * 60 * 60 - 5 <= client.session.get_expiry_age() <= 8 * 60 * 60


# --- The client's address ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.1.1.1", "10.0.0.5"),  # no trusted proxy: the header is ignored
        (1, "", "10.0.0.5"),
        (1, "192.0.2.1", "192.0.2.1"),
        (1, "6.6.6.6, 192.0.2.1", "192.0.2.1"),  # a forged left-hand entry is ignored
        (2, "6.6.6.6, 192.0.2.1, 10.0.0.9", "192.0.2.1"),
        (2, "192.0.2.1", "10.0.0.5"),  # fewer entries than proxies: not trusted
    ],
)
def test_the_client_address_trusts_only_the_configured_proxies(proxies, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)

    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert client_ip(request) == expected
