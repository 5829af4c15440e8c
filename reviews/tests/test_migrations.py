"""The data migration that takes the tier out of the old default messages of open cases, both
ways."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from reviews.models import ReviewCase

from .helpers import hand_case, refreshed, staff_user, veteran

pytestmark = pytest.mark.django_db

migration = importlib.import_module("reviews.migrations.0002_tier_free_default_messages")

OLD_VETERAN_ZH = "感谢您 10 年来的陪伴与支持，我们很高兴授予您金卡会员资格。"
OLD_SUPPORT_EN = "Thank you for your support: we are pleased to grant you Gold membership."
WRITTEN_BY_STAFF = "感谢您10年来的一路相伴,特别授予您金卡会员资格"


@pytest.fixture
def cases():
    nominator = staff_user("nominator", "ops")
    made = {}
    for key, message, state in [
        ("veteran_zh", OLD_VETERAN_ZH, ReviewCase.State.VOTING),
        ("support_en", OLD_SUPPORT_EN, ReviewCase.State.NOMINATED),
        ("staff", WRITTEN_BY_STAFF, ReviewCase.State.DISCUSSION),
        ("decided", OLD_VETERAN_ZH, ReviewCase.State.REJECTED),
    ]:
        case = hand_case(veteran(member_no=f"MIG-{key}"), nominator)
        ReviewCase.objects.filter(pk=case.pk).update(message=message, state=state)
        made[key] = case
    return made


def messages(cases) -> dict[str, str]:
    return {key: refreshed(case).message for key, case in cases.items()}


def test_open_cases_holding_an_old_default_get_the_tier_free_text(cases):
    migration.forwards(apps, None)

    assert messages(cases) == {
        "veteran_zh": "感谢您 10 年来的陪伴与支持。",
        "support_en": "Thank you for your support.",
        "staff": WRITTEN_BY_STAFF,  # staff wrote it: theirs to change
        "decided": OLD_VETERAN_ZH,  # what the member was told stays
    }


def test_the_migration_reverses_to_the_old_defaults(cases):
    before = messages(cases)

    migration.forwards(apps, None)
    migration.backwards(apps, None)

    assert messages(cases) == before
