"""Members who sign in, the SMS outbox of the development backend, and a signed-in client."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from members.tests.factories import MemberFactory
from notifications import sms
from portal.services import normalise_phone

PHONE = "13800138000"


def sms_code(phone: str = PHONE) -> str:
    """The code in the last text to ``phone`` (outbox entries are (phone, text) pairs, or
    objects or dicts with phone and text)."""
    for entry in reversed(sms.outbox):
        if isinstance(entry, tuple):
            to, text = entry[0], entry[1]
        elif isinstance(entry, dict):
            to, text = entry["phone"], entry["text"]
        else:
            to, text = entry.phone, entry.text
        if to == phone:
            return re.search(r"\b(\d{6})\b", text).group(1)
    raise AssertionError(f"no SMS to {phone}")


@pytest.fixture(autouse=True)
def empty_outbox():
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def english(client):
    """Read the pages in English, so assertions do not depend on the catalogues."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def member(db):
    return MemberFactory(member_no="M0000001", name="王小明", phone=PHONE)


def sign_in_with_code(client, phone: str = PHONE, **extra):
    client.post(reverse("portal:login"), {"phone": phone}, **extra)
    code = sms_code(normalise_phone(phone))
    return client.post(reverse("portal:login_code"), {"code": code}, **extra)


@pytest.fixture
def signed_in(english, member):
    """An English-reading client signed in as ``member`` through the SMS code."""
    response = sign_in_with_code(english)
    assert response.status_code == 302
    return english
