"""Confirmation tokens: signed, bound to their kind, valid 30 minutes, and used once."""

from __future__ import annotations

import datetime
import time

import pytest
from django.core import signing
from django.db import transaction
from django.utils import timezone, translation

from loyalty.confirm import ConfirmationUsed, confirmation_token, confirmation_use
from loyalty.models import UsedConfirmation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

SALT = "tests.confirm"


def test_a_token_gives_its_payload_once_then_is_refused_as_used():
    token = confirmation_token({"a": 1}, salt=SALT)

    assert confirmation_use(token, salt=SALT)["a"] == 1
    with pytest.raises(ConfirmationUsed, match="already used"):
        confirmation_use(token, salt=SALT)


def test_the_refusal_of_a_used_token_is_in_chinese_too():
    token = confirmation_token({}, salt=SALT)
    confirmation_use(token, salt=SALT)

    with translation.override("zh-hans"), pytest.raises(ConfirmationUsed, match="此确认已使用过"):
        confirmation_use(token, salt=SALT)


def test_two_pages_of_the_same_payload_are_two_confirmations():
    first = confirmation_token({"a": 1}, salt=SALT)
    second = confirmation_token({"a": 1}, salt=SALT)

    assert confirmation_use(first, salt=SALT) and confirmation_use(second, salt=SALT)


def test_a_use_rolled_back_with_its_failed_action_can_be_tried_again():
    token = confirmation_token({"a": 1}, salt=SALT)

    with pytest.raises(RuntimeError), transaction.atomic():
        confirmation_use(token, salt=SALT)
        raise RuntimeError("the action failed")

    assert confirmation_use(token, salt=SALT)["a"] == 1


def test_a_forged_another_kinds_or_expired_token_gives_nothing(monkeypatch):
    token = confirmation_token({"a": 1}, salt=SALT)
    unsigned_nonce = signing.dumps({"a": 1}, salt=SALT)  # made before tokens had nonces

    assert confirmation_use(token[:-2] + "xx", salt=SALT) is None
    assert confirmation_use(token, salt="another") is None
    assert confirmation_use(unsigned_nonce, salt=SALT) is None
    later = time.time() + 31 * 60
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert confirmation_use(token, salt=SALT) is None


def test_marks_older_than_a_token_are_dropped_as_new_ones_are_written():
    UsedConfirmation.objects.create(
        nonce="old", used_at=timezone.now() - datetime.timedelta(minutes=31)
    )
    UsedConfirmation.objects.create(
        nonce="recent", used_at=timezone.now() - datetime.timedelta(minutes=29)
    )

    confirmation_use(confirmation_token({}, salt=SALT), salt=SALT)

    assert UsedConfirmation.objects.filter(nonce__in=["old", "recent"]).get().nonce == "recent"
