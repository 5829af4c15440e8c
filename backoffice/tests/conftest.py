"""The cast of the staff-page tests: one user per role, logged in, reading English."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from loyalty.roles import ROLES

PASSWORD = "a-long-test-password"


@pytest.fixture
def as_role(client, django_user_model):
    """A client logged in as a member of ``role``'s group (or a superuser, or nobody)."""

    def login(role: str, language: str = "en"):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        if role == "anonymous":
            return client
        if role == "superuser":
            user = django_user_model.objects.create_superuser(username=role, password=PASSWORD)
        else:
            user = django_user_model.objects.create_user(username=role, password=PASSWORD)
        if role in ROLES:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        client.user = user
        return client

    return login


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
