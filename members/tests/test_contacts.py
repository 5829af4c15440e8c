"""Phone numbers and e-mail addresses are stored in one form, whatever way they were typed."""

from __future__ import annotations

import pytest

from members.contacts import (
    PHONE_FORMATS,
    ContactRefused,
    email_normalised,
    phone_normalised,
    phone_typed,
)


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "(138) 0013 8000",
        "+86 138-0013-8000",
        "+8613800138000",
        "0086 138 0013 8000",
        "8613800138000",
        "１３８００１３８０００",  # full-width digits
        "＋８６ １３８－００１３－８０００",  # full-width plus, digits and hyphens
        "138\u30000013\u30008000",  # ideographic spaces
        "138\u20130013\u20148000",  # en and em dashes
    ],
)
def test_a_mainland_mobile_number_is_stored_as_its_11_digits(typed):
    assert phone_normalised(typed) == "13800138000"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+852 9123 4567", "+85291234567"),
        ("00852-9123-4567", "+85291234567"),
        ("＋１ (650) 253-0000", "+16502530000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+49 30 1234", "+49301234"),  # 8 digits: a short but possible number
    ],
)
def test_a_number_of_another_country_is_stored_with_plus_and_its_country_code(typed, stored):
    assert phone_normalised(typed) == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("010-6552-9988", "01065529988"),
        ("(0755) 8765 4321", "075587654321"),
        ("0571-8888888", "05718888888"),
    ],
)
def test_a_mainland_landline_is_stored_with_its_area_code(typed, stored):
    assert phone_normalised(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "138",  # too short for a mobile
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "23800138000",  # 11 digits, not a mobile's first digit
        "+86 10 6552 9988",  # a landline's area code without its 0
        "010-6552",  # a landline without its number
        "+86 1380013800",  # +86 with a mobile number one digit short
        "+1 23",  # under 6 digits
        "+1234567890123456",  # over 15 digits
        "+0 123456",  # no country code starts with 0
        "١٣٨٠٠١٣٨٠٠٠",  # Arabic-Indic digits: \d matches them, a phone has none
        "13800138000 ext 5",
        "138\u200b00138000",  # an invisible character
        "abc",
        "+86",  # a country code alone
        "--",
    ],
)
def test_anything_else_is_refused_with_the_formats_that_are_accepted(typed):
    with pytest.raises(ContactRefused) as refused:
        phone_normalised(typed)

    assert str(refused.value) == str(PHONE_FORMATS)


def test_a_normalised_number_is_its_own_normal_form():
    for typed in ("13800138000", "+85291234567"):
        assert phone_normalised(phone_normalised(typed)) == phone_normalised(typed)


@pytest.mark.parametrize(
    ("typed", "start"),
    [
        ("＋８６ １８７ １５５６", "1871556"),
        ("0086-187", "187"),
        ("+852 9123", "+8529123"),
        ("００８５２ ９１", "+85291"),
        ("8618715568407", "18715568407"),
    ],
)
def test_the_start_of_a_number_reads_as_the_start_of_its_stored_form(typed, start):
    assert phone_typed(typed) == start


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Zhang@Example.COM", "Zhang@example.com"),  # the part before @ may be case-sensitive
        ("  li@example.com ", "li@example.com"),
        ("ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "wang@example.com"),  # full-width
        ("li@example.com", "li@example.com"),
    ],
)
def test_an_email_address_is_stored_stripped_with_its_domain_in_small_letters(typed, stored):
    assert email_normalised(typed) == stored


@pytest.mark.parametrize("typed", ["not-an-email", "a@", "@example.com", "a b@example.com"])
def test_an_email_that_is_not_an_address_is_refused(typed):
    with pytest.raises(ContactRefused):
        email_normalised(typed)


def test_empty_contact_details_stay_empty():
    assert phone_normalised("  ") == "" and email_normalised("") == ""
