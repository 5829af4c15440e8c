"""The admin's member form reads a phone, an e-mail address and a birthday as every other way in
does."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def contact_form(**changes) -> dict:
    return {"name": "张三", "phone": "13900000000", "email": "", "birthday": "", **changes}


def test_a_phone_typed_in_full_width_is_saved_as_its_11_digits(admin_client):
    member = MemberFactory(name="张三", phone="13900000000", email="")

    response = admin_client.post(
        reverse("admin:members_member_change", args=[member.pk]),
        contact_form(phone="＋８６ １３８－００１３－８０００", email="Zhang@EXAMPLE.com"),
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.phone, member.email) == ("13800138000", "Zhang@example.com")


@pytest.mark.parametrize(
    ("changes", "said", "field"),
    [
        ({"phone": "010-6552"}, "Enter an 11-digit mainland mobile number", "phone"),
        (
            {"birthday": "2024-06-01"},
            "birthday 2024-06-01 is after the joined date 2024-01-01",
            "birthday",
        ),
    ],
)
def test_a_value_the_other_ways_in_refuse_is_refused_on_the_form(
    admin_client, changes, said, field
):
    member = MemberFactory(name="张三", phone="13900000000", email="")

    response = admin_client.post(
        reverse("admin:members_member_change", args=[member.pk]),
        contact_form(**changes),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert said in response.content.decode()
    member.refresh_from_db()
    assert (member.phone, member.birthday) == ("13900000000", None), field
