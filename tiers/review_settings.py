"""The special review channel's settings (特殊评审通道) as policy data: the nomination profiles'
thresholds, the committee's quorum, the cooldown after a rejection and the default validity of
an exceptional upgrade. Stored with each policy version (``TierPolicy.review_settings``), so a
quarter is nominated and decided with the settings in force then.

The shape (every key optional; a missing key takes its default, a profile left out of
``profiles`` is not used):

    {
      "profiles": {
        "loyal_veteran":     {"min_tenure_years": 10, "max_qualified_tier": "silver"},
        "big_one_off":       {"min_purchase": "150000.00", "max_frequency": 1},
        "referral_champion": {"min_referrals": 50, "spend_below": "20000.00"}
      },
      "quorum": {"customer_ops": 1, "sales": 1, "customer_service": 1},
      "cooldown_quarters": 4,
      "validity_months": 12
    }

``quorum`` is the number of approving votes each department must give; any rejecting vote sends
the case to discussion, where the chair decides (domain.md). Amounts are yuan with at most 2
decimals; thresholds are inclusive except ``spend_below``. An error names its place, e.g.
``review_settings.profiles.big_one_off.min_purchase: ...``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from loyalty.money import CENT

from .policy import PolicyError

ROOT = "review_settings"

LOYAL_VETERAN = "loyal_veteran"
BIG_ONE_OFF = "big_one_off"
REFERRAL_CHAMPION = "referral_champion"
PROFILE_CODES = (LOYAL_VETERAN, BIG_ONE_OFF, REFERRAL_CHAMPION)
DEPARTMENTS = ("customer_ops", "sales", "customer_service")

DEFAULT_REVIEW_SETTINGS: dict = {
    "profiles": {
        LOYAL_VETERAN: {"min_tenure_years": 10, "max_qualified_tier": "silver"},
        BIG_ONE_OFF: {"min_purchase": "150000.00", "max_frequency": 1},
        REFERRAL_CHAMPION: {"min_referrals": 50, "spend_below": "20000.00"},
    },
    "quorum": {"customer_ops": 1, "sales": 1, "customer_service": 1},
    "cooldown_quarters": 4,
    "validity_months": 12,
}


def default_review_settings() -> dict:
    """A fresh copy (the model field's default)."""
    return copy.deepcopy(DEFAULT_REVIEW_SETTINGS)


@dataclass(frozen=True)
class LoyalVeteran:
    min_tenure_years: int
    max_qualified_tier: str


@dataclass(frozen=True)
class BigOneOff:
    min_purchase: Decimal
    max_frequency: int


@dataclass(frozen=True)
class ReferralChampion:
    min_referrals: int
    spend_below: Decimal


@dataclass(frozen=True)
class ReviewSettings:
    loyal_veteran: LoyalVeteran | None
    big_one_off: BigOneOff | None
    referral_champion: ReferralChampion | None
    quorum: dict[str, int]
    cooldown_quarters: int
    validity_months: int


_PROFILE_FIELDS = {
    LOYAL_VETERAN: (("min_tenure_years", "count"), ("max_qualified_tier", "tier")),
    BIG_ONE_OFF: (("min_purchase", "amount"), ("max_frequency", "count")),
    REFERRAL_CHAMPION: (("min_referrals", "count"), ("spend_below", "amount")),
}
_PROFILE_CLASSES = {
    LOYAL_VETERAN: LoyalVeteran,
    BIG_ONE_OFF: BigOneOff,
    REFERRAL_CHAMPION: ReferralChampion,
}


def _object(data: object, path: str) -> dict:
    if not isinstance(data, dict):
        raise PolicyError(path, _("must be an object"))
    return data


def _known_keys(data: dict, allowed, path: str) -> None:
    unknown = sorted(str(key) for key in set(data) - set(allowed))
    if unknown:
        raise PolicyError(
            path,
            _("unknown key %(keys)s (one of %(names)s)")
            % {"keys": ", ".join(unknown), "names": ", ".join(allowed)},
        )


def _count(raw: object, path: str, minimum: int = 0) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < minimum:
        raise PolicyError(
            path, _("%(value)r must be a whole number ≥ %(min)d") % {"value": raw, "min": minimum}
        )
    return raw


def _amount(raw: object, path: str) -> Decimal:
    try:
        amount = Decimal(str(raw)) if not isinstance(raw, bool | float) else None
    except InvalidOperation:
        amount = None
    try:
        valid = (
            amount is not None
            and amount.is_finite()
            and amount >= 0
            and amount == amount.quantize(CENT)
        )
    except InvalidOperation:
        valid = False
    if not valid:
        raise PolicyError(
            path, _("%(value)r must be an amount ≥ 0 with at most 2 decimals") % {"value": raw}
        )
    return amount.quantize(CENT).copy_abs()


def review_settings_from_data(data: object, tier_codes: set[str] | None = None) -> ReviewSettings:
    """The settings from stored data, missing keys taking their defaults. ``tier_codes``, when
    given, checks that ``max_qualified_tier`` names a tier. Raises ``PolicyError`` naming the
    place of the first error."""
    if data is None or data == {}:
        data = {}
    data = _object(data, ROOT)
    _known_keys(data, DEFAULT_REVIEW_SETTINGS, ROOT)

    profiles_data = _object(
        data.get("profiles", DEFAULT_REVIEW_SETTINGS["profiles"]), f"{ROOT}.profiles"
    )
    _known_keys(profiles_data, PROFILE_CODES, f"{ROOT}.profiles")
    profiles: dict[str, object] = {}
    for code in PROFILE_CODES:
        if code not in profiles_data:
            profiles[code] = None
            continue
        path = f"{ROOT}.profiles.{code}"
        given = _object(profiles_data[code], path)
        fields = _PROFILE_FIELDS[code]
        _known_keys(given, [name for name, _kind in fields], path)
        values = {}
        for name, kind in fields:
            raw = given.get(name, DEFAULT_REVIEW_SETTINGS["profiles"][code][name])
            place = f"{path}.{name}"
            if kind == "count":
                values[name] = _count(raw, place)
            elif kind == "amount":
                values[name] = _amount(raw, place)
            else:
                if not isinstance(raw, str) or (tier_codes is not None and raw not in tier_codes):
                    raise PolicyError(place, _("unknown tier %(codes)s") % {"codes": raw})
                values[name] = raw
        profiles[code] = _PROFILE_CLASSES[code](**values)

    quorum_data = _object(data.get("quorum", DEFAULT_REVIEW_SETTINGS["quorum"]), f"{ROOT}.quorum")
    _known_keys(quorum_data, DEPARTMENTS, f"{ROOT}.quorum")
    quorum = {
        department: _count(quorum_data.get(department, 0), f"{ROOT}.quorum.{department}")
        for department in DEPARTMENTS
    }
    if not any(quorum.values()):
        raise PolicyError(f"{ROOT}.quorum", _("at least one approving vote must be needed"))

    cooldown = _count(
        data.get("cooldown_quarters", DEFAULT_REVIEW_SETTINGS["cooldown_quarters"]),
        f"{ROOT}.cooldown_quarters",
    )
    validity = _count(
        data.get("validity_months", DEFAULT_REVIEW_SETTINGS["validity_months"]),
        f"{ROOT}.validity_months",
        minimum=1,
    )
    return ReviewSettings(
        loyal_veteran=profiles[LOYAL_VETERAN],
        big_one_off=profiles[BIG_ONE_OFF],
        referral_champion=profiles[REFERRAL_CHAMPION],
        quorum=quorum,
        cooldown_quarters=cooldown,
        validity_months=validity,
    )
