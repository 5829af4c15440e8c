"""The members' writers store a phone and an e-mail address in one form, and refuse what is
neither, naming the field (the API and the admin show it there)."""

from __future__ import annotations

import datetime

import pytest

from loyalty.exceptions import DomainError
from members.models import Member
from members.services import member_create, member_update
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_a_new_member_is_stored_with_the_normal_form_of_their_phone_and_email():
    member = member_create(
        member_no="M1",
        name="张三",
        joined_on=datetime.date(2024, 1, 31),
        phone="１３８ ００１３ ８０００",
        email=" Zhang@Example.COM",
    )

    member.refresh_from_db()
    assert (member.phone, member.email) == ("13800138000", "Zhang@example.com")


def test_a_changed_phone_is_stored_in_its_normal_form():
    member = MemberFactory(phone="13900000000")

    member_update(member=member, phone="+86 138-0013-8000", email="li@EXAMPLE.com")

    member.refresh_from_db()
    assert (member.phone, member.email) == ("13800138000", "li@example.com")


@pytest.mark.parametrize(("field", "value"), [("phone", "010-6552"), ("email", "li@")])
def test_a_phone_or_email_that_is_not_one_is_refused_naming_its_field(field, value):
    member = MemberFactory(phone="13900000000", email="li@example.com")

    with pytest.raises(DomainError) as refused:
        member_update(member=member, **{field: value})

    assert refused.value.field == field
    assert Member.objects.filter(phone="13900000000", email="li@example.com").exists()
    with pytest.raises(DomainError):
        member_create(
            member_no="M2", name="李四", joined_on=datetime.date(2024, 1, 31), **{field: value}
        )
    assert not Member.objects.filter(member_no="M2").exists()
