"""Migration 0008 rewrites the phones and e-mail addresses stored before every way in
normalised them, a chunk of members at a time, and leaves what is neither as it is."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("members.migrations.0008_contacts_normalised")


def test_stored_phones_and_emails_are_rewritten_in_their_normal_form(
    monkeypatch, django_assert_max_num_queries
):
    stored = {
        "M1": ("１３８００１３８０００", "Zhang@EXAMPLE.com"),
        "M2": ("+86 139-0013-9000", "li@example.com"),
        "M3": ("13700137000", ""),
        "M4": ("0085291234567", ""),
        "M5": ("138", "not-an-email"),  # neither: left for staff to correct
    }
    for member_no, (phone, email) in stored.items():
        MemberFactory(member_no=member_no, phone=phone, email=email)
    monkeypatch.setattr(migration, "CHUNK", 2)

    # Three chunks and the empty read after them, a write for each chunk with a change.
    with django_assert_max_num_queries(7):
        migration.normalise_contacts(apps, None)

    assert dict(Member.objects.values_list("member_no", "phone")) == {
        "M1": "13800138000",
        "M2": "13900139000",
        "M3": "13700137000",
        "M4": "+85291234567",
        "M5": "138",
    }
    assert dict(Member.objects.values_list("member_no", "email")) == {
        "M1": "Zhang@example.com",
        "M2": "li@example.com",
        "M3": "",
        "M4": "",
        "M5": "not-an-email",
    }
