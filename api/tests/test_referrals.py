"""Referrals through the API: a refusal names the field at fault; a referral never closes a
circle, even when both directions arrive at the same moment."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from api.services import api_key_create
from members.importers import import_csv
from members.models import Referral
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

SAME_DAY = datetime.date(2024, 3, 1)


def refer(client, referrer: str, referred: str):
    return client.post(
        "/api/v1/referrals/", {"referrer_no": referrer, "referred_no": referred}, format="json"
    )


@pytest.fixture
def same_day(db):
    return [MemberFactory(member_no=no, joined_on=SAME_DAY) for no in ("A", "B", "C")]


def test_a_referral_back_to_ones_referrer_is_refused_naming_the_referred_member(api, same_day):
    assert refer(api, "A", "B").status_code == 201

    response = refer(api, "B", "A")

    assert response.status_code == 400
    assert response.json() == {
        "referred_no": [
            "Member A already referred member B, directly or through other members: "
            "referrals cannot go round in a circle."
        ]
    }
    assert Referral.objects.count() == 1


def test_a_circle_through_other_members_is_refused(api, same_day):
    assert refer(api, "A", "B").status_code == 201
    assert refer(api, "B", "C").status_code == 201

    response = refer(api, "C", "A")

    assert response.status_code == 400
    assert "round in a circle" in response.json()["referred_no"][0]
    assert Referral.objects.count() == 2


def test_a_referred_member_who_joined_before_the_referrer_is_refused_naming_the_field(api):
    MemberFactory(member_no="OLD", joined_on=datetime.date(2020, 1, 1))
    MemberFactory(member_no="NEW", joined_on=datetime.date(2021, 1, 1))

    response = refer(api, "NEW", "OLD")

    assert response.status_code == 400
    assert response.json() == {"referred_no": ["The referred member joined before the referrer."]}
    assert not Referral.objects.exists()


def test_a_referral_dated_before_the_referred_member_joined_is_refused_at_its_date(api):
    MemberFactory(member_no="A", joined_on=datetime.date(2024, 1, 1))
    MemberFactory(member_no="B", joined_on=datetime.date(2024, 3, 1))

    response = api.post(
        "/api/v1/referrals/",
        {"referrer_no": "A", "referred_no": "B", "occurred_at": "2024-02-29"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"occurred_at": ["2024-02-29 is before member B joined (2024-03-01)"]}
    assert not Referral.objects.exists()


def test_a_referral_on_the_local_day_the_referred_member_joined_is_recorded(api):
    MemberFactory(member_no="A", joined_on=datetime.date(2024, 1, 1))
    MemberFactory(member_no="B", joined_on=datetime.date(2024, 3, 1))

    response = api.post(
        "/api/v1/referrals/",
        {"referrer_no": "A", "referred_no": "B", "occurred_at": "2024-02-29T16:30:00Z"},
        format="json",
    )

    assert response.status_code == 201
    assert Referral.objects.get().occurred_on == datetime.date(2024, 3, 1)


def test_a_future_referral_is_refused_at_its_date(api, same_day):
    later = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()

    response = api.post(
        "/api/v1/referrals/",
        {"referrer_no": "A", "referred_no": "B", "occurred_at": later},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"occurred_at": ["A referral cannot be dated later than tomorrow."]}


def at_the_same_moment(raw_key: str, *pairs: tuple[str, str]) -> list:
    """The answers to referrals sent at the same moment, one thread (and connection) each."""
    barrier = threading.Barrier(len(pairs))
    answers = []

    def send(referrer: str, referred: str) -> None:
        try:
            client = APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
            barrier.wait()
            answers.append(refer(client, referrer, referred))
        finally:
            connection.close()  # each thread has its own real connection

    threads = [threading.Thread(target=send, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


# Transactional: real commits, seen by both threads.
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_both_directions_sent_at_the_same_moment_store_one_and_refuse_the_other():
    _key, raw_key = api_key_create(name="POS", scopes="all")
    for round_no in range(5):
        a, b = f"A{round_no}", f"B{round_no}"
        MemberFactory(member_no=a, joined_on=SAME_DAY)
        MemberFactory(member_no=b, joined_on=SAME_DAY)

        answers = at_the_same_moment(raw_key, (a, b), (b, a))

        assert sorted(answer.status_code for answer in answers) == [201, 400]
        assert Referral.objects.filter(referrer__member_no__in=[a, b]).count() == 1


def test_full_width_member_numbers_name_the_members_as_in_the_import(api, same_day):
    response = refer(api, "Ａ", "Ｂ")

    assert response.status_code == 201
    assert (response.json()["referrer_no"], response.json()["referred_no"]) == ("A", "B")
    assert Referral.objects.get().referred.member_no == "B"

    refused = refer(api, "A", "B\u200b")
    assert refused.status_code == 400
    assert refused.json() == {
        "referred_no": ["referred_no contains a control or invisible character (U+200B)"]
    }


def test_a_referral_or_an_activity_with_a_field_not_taken_is_refused_by_name(api, same_day):
    referral = api.post(
        "/api/v1/referrals/", {"referrer_no": "A", "referred_no": "B", "points": 5}, format="json"
    )
    activity = api.post(
        "/api/v1/activities/",
        {"member_no": "A", "activity": "直播互动", "occured_at": "2024-03-02"},
        format="json",
    )

    assert referral.status_code == 400
    assert referral.json() == {"points": ["This field is not taken here."]}
    # The misspelt date is named beside the missing one.
    assert activity.status_code == 400 and set(activity.json()) == {"occured_at", "occurred_at"}
    assert not same_day[0].referrals.exists() and not same_day[0].activities.exists()


def test_an_activity_for_a_full_width_member_number_is_the_members(api, same_day):
    response = api.post(
        "/api/v1/activities/",
        {"member_no": "Ａ", "activity": "直播互动", "occurred_at": "2024-03-02"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["member_no"] == "A"
    assert same_day[0].activities.count() == 1


def test_an_activity_imported_by_csv_and_sent_in_full_width_by_api_is_one(api, same_day, tmp_path):
    # The import folds the activity's name (NFKC): （第１场） is (第1场) by CSV and by API.
    path = tmp_path / "activities.csv"
    path.write_text(
        "member_no,activity,occurred_at\nA,直播互动（第１场）,2024-03-02\n", encoding="utf-8"
    )
    import_csv("activities", path)

    response = api.post(
        "/api/v1/activities/",
        {"member_no": "A", "activity": "直播互动（第１场）", "occurred_at": "2024-03-02"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["activity"] == "直播互动(第1场)"
    assert same_day[0].activities.get().activity == "直播互动(第1场)"


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "activity contains a control or invisible character (U+202E)"),
        ("zh-hans", "activity 含有控制字符或不可见字符（U+202E）"),
    ],
)
def test_an_activity_name_the_import_refuses_is_refused_under_its_field(
    make_client, same_day, language, message
):
    response = make_client(language=language).post(
        "/api/v1/activities/",
        {"member_no": "A", "activity": "直播\u202e互动", "occurred_at": "2024-03-02"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"activity": [message]}
    assert not same_day[0].activities.exists()
