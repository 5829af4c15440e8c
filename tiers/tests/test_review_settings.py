"""The special review settings stored with each policy version: defaults and errors that name
their place."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tiers.policy import PolicyError
from tiers.review_settings import (
    DEFAULT_REVIEW_SETTINGS,
    default_review_settings,
    review_settings_from_data,
)

TIERS = {"regular", "silver", "gold", "platinum", "diamond"}


def test_the_defaults_are_the_domain_pages():
    settings = review_settings_from_data(DEFAULT_REVIEW_SETTINGS, TIERS)

    assert settings.loyal_veteran.min_tenure_years == 10
    assert settings.loyal_veteran.max_qualified_tier == "silver"
    assert settings.big_one_off.min_purchase == Decimal("150000.00")
    assert settings.big_one_off.max_frequency == 1
    assert settings.referral_champion.min_referrals == 50
    assert settings.referral_champion.spend_below == Decimal("20000.00")
    assert settings.quorum == {"customer_ops": 1, "sales": 1, "customer_service": 1}
    assert settings.cooldown_quarters == 4 and settings.validity_months == 12


def test_empty_settings_take_every_default():
    assert review_settings_from_data({}) == review_settings_from_data(DEFAULT_REVIEW_SETTINGS)


def test_a_missing_key_takes_its_default_and_a_missing_profile_is_off():
    settings = review_settings_from_data(
        {"profiles": {"big_one_off": {"min_purchase": "80000"}}, "cooldown_quarters": 2}
    )

    assert settings.big_one_off.min_purchase == Decimal("80000.00")
    assert settings.big_one_off.max_frequency == 1
    assert settings.loyal_veteran is None and settings.referral_champion is None
    assert settings.cooldown_quarters == 2 and settings.validity_months == 12


def test_the_default_is_a_fresh_copy_each_time():
    first = default_review_settings()
    first["profiles"]["loyal_veteran"]["min_tenure_years"] = 1

    assert default_review_settings()["profiles"]["loyal_veteran"]["min_tenure_years"] == 10


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], "review_settings"),
        ({"colour": 1}, "review_settings"),
        ({"profiles": {"whale": {}}}, "review_settings.profiles"),
        (
            {"profiles": {"big_one_off": {"min_purchase": "1.234"}}},
            "review_settings.profiles.big_one_off.min_purchase",
        ),
        (
            {"profiles": {"big_one_off": {"min_purchase": "-1"}}},
            "review_settings.profiles.big_one_off.min_purchase",
        ),
        (
            {"profiles": {"loyal_veteran": {"min_tenure_years": 2.5}}},
            "review_settings.profiles.loyal_veteran.min_tenure_years",
        ),
        (
            {"profiles": {"loyal_veteran": {"max_qualified_tier": "bronze"}}},
            "review_settings.profiles.loyal_veteran.max_qualified_tier",
        ),
        (
            {"profiles": {"referral_champion": {"min_referals": 5}}},
            "review_settings.profiles.referral_champion",
        ),
        ({"quorum": {"legal": 1}}, "review_settings.quorum"),
        ({"quorum": {"sales": -1}}, "review_settings.quorum.sales"),
        (
            {"quorum": {"customer_ops": 0, "sales": 0, "customer_service": 0}},
            "review_settings.quorum",
        ),
        ({"cooldown_quarters": True}, "review_settings.cooldown_quarters"),
        ({"validity_months": 0}, "review_settings.validity_months"),
    ],
)
def test_an_error_names_its_place(data, path):
    with pytest.raises(PolicyError) as error:
        review_settings_from_data(data, TIERS)

    assert error.value.path == path
