"""A member's phone number and e-mail address as people type them, in the one form they are
stored and compared in. Every way in (the CSV import, the API, the admin, the member pages'
sign-in, the staff search) reads them here, so ``＋86 138-0013-8000`` typed in one place is the
``13800138000`` imported in another.

Phones: a mainland mobile number is stored as its 11 digits (``+86``, ``0086`` or ``86`` before
it dropped); a number of another country as ``+``, its country code and digits, 6 to 15 in all
(E.164); a mainland landline as dialled at home (``010-6552-9988`` → ``01065529988``): shops
keep them as contact numbers, though only a mobile receives the sign-in codes and warnings.

E-mail addresses: stripped, with the domain in small letters (domains are case-insensitive; the
part before ``@`` may not be, so it stays as typed).

Both are NFKC-folded first, as member numbers and external ids are (``members.importers``):
full-width ``１３８`` and ``＠`` are the plain ones people meant."""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

# Spaces, hyphens and dashes (NFKC leaves U+2010..U+2015 and the minus sign as they are),
# brackets and dots: what people put between the groups of a number.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212().]")
# [0-9], not \d: \d also matches other scripts' digits, which no phone number is stored with.
_MAINLAND_MOBILE = re.compile(r"1[0-9]{10}")
# A mainland landline dialled at home: 0, the area code and the number, 10 to 12 digits in all.
# Stored as a contact number (shops import them); it cannot receive the texts.
_MAINLAND_LANDLINE = re.compile(r"0[1-9][0-9]{8,10}")
_INTERNATIONAL = re.compile(r"\+[1-9][0-9]{5,14}")

PHONE_FORMATS = _(
    "Enter an 11-digit mainland mobile number (138 0013 8000, +86 may come first), a mainland "
    "landline with its area code (010-6552-9988), or for another country + and the country "
    "code (+852 9123 4567)."
)


class ContactRefused(ValueError):
    """Not a phone number or an e-mail address; the message says what is accepted."""


def phone_typed(raw: str) -> str:
    """``raw`` read as a phone number or its start: NFKC-folded, without separators, ``00``
    (the international prefix) read as ``+``, and the mainland's country code (``+86``,
    ``0086``, or ``86`` before 11 digits) dropped. Not checked: the staff search looks up
    the start of a number with it."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or ""))
    if text.startswith("00"):
        text = f"+{text[2:]}"
    if text.startswith("+86"):
        return text[3:]
    if text.startswith("86") and len(text) == 13:
        return text[2:]
    return text


def phone_normalised(raw: str) -> str:
    """The stored form of the phone number ``raw`` (empty stays empty); ``ContactRefused``
    when it is not a mainland mobile number nor an international one."""
    if _MAINLAND_MOBILE.fullmatch(raw):  # most numbers: already in their stored form
        return raw
    if not raw.strip():
        return ""
    text = phone_typed(raw)
    if any(
        pattern.fullmatch(text)
        for pattern in (_MAINLAND_MOBILE, _MAINLAND_LANDLINE, _INTERNATIONAL)
    ):
        return text
    raise ContactRefused(PHONE_FORMATS)


def phone_receives_texts(stored: str) -> bool:
    """Whether a stored phone number can receive an SMS: a mobile or a foreign number, not a
    mainland landline (the only stored form that starts with 0)."""
    return bool(stored) and not stored.startswith("0")


def email_normalised(raw: str) -> str:
    """The stored form of the e-mail address ``raw`` (empty stays empty); ``ContactRefused``
    with the validator's message when it is not an address."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        return ""
    try:
        validate_email(text)
    except ValidationError as invalid:
        raise ContactRefused(invalid.messages[0]) from None
    local, _at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"
