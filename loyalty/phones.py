"""Phone numbers as people type them: ``+86 187 1556 8407``, ``0086-18715568407`` and
``187 1556 8407`` are one mainland mobile number, stored as its 11 digits."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().]")


def phone_digits(raw: str) -> str:
    """``raw`` without separators (spaces, dashes, dots, brackets) and without the country code
    (``+86``, ``0086``, or a bare ``86`` before 11 digits): the digits a mainland mobile number
    is stored as, or the start of them. Anything else comes back without its separators; the
    caller decides whether it is a phone number."""
    text = _SEPARATORS.sub("", raw or "")
    if text.startswith("+86"):
        return text[3:]
    if text.startswith("0086"):
        return text[4:]
    if text.startswith("86") and len(text) == 13:
        return text[2:]
    return text
