"""Masked phone numbers and email addresses for staff without members.view_member_contact."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from loyalty.masking import mask_email, mask_phone


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812348000", "138****8000"),
        ("+8613812348000", "+86****8000"),
        ("+85291234567", "+852****4567"),  # Hong Kong: the country code whole
        ("+14155550123", "+141****0123"),
        ("021-5555-1234", "021****1234"),
        ("1234567", "****67"),
        ("12", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_phone_keeps_its_start_and_last_four_digits(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("alice@example.com", "a****@example.com"),
        ("a@example.com", "a****@example.com"),
        ("wang.xiaoming@mail.example.org", "w****@mail.example.org"),
        ("not-an-address", "n****"),
        ("", ""),
        (None, ""),
    ],
)
def test_an_email_keeps_its_first_letter_and_domain(email, masked):
    assert mask_email(email) == masked


def test_the_template_filters_mask_and_still_escape():
    template = Template("{% load masking %}{{ phone|mask_phone }} {{ email|mask_email }}")

    html = template.render(Context({"phone": "13812348000", "email": "<b>@example.com"}))

    assert html == "138****8000 &lt;****@example.com"
