"""Money is CNY, exact to the fen. The database keeps integer fen (exact on SQLite and PostgreSQL
alike, see stack-notes.md); Python works in ``Decimal`` yuan; these are the only conversions."""

from __future__ import annotations

import re
from decimal import Decimal

from django.utils.translation import gettext

CENT = Decimal("0.01")
_PLAIN_AMOUNT = re.compile(r"(\d{1,13})(?:\.(\d{1,2}))?", re.ASCII)
# Digits grouped by thousands (1,234,567) or not grouped at all; a sign only to say why it fails.
_WRITTEN_AMOUNT = re.compile(r"([+-]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?", re.ASCII)
_SCIENTIFIC = re.compile(r"[+-]?(?:\d[\d,]*)?(?:\.\d*)?[eE][+-]?\d+", re.ASCII)
_CURRENCY_SIGNS = ("¥", "￥")
# Far above any real purchase, far below what a 64-bit fen column holds.
MAX_AMOUNT_FEN = 10**14


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)


EMPTY = "—"


def format_yuan(amount: Decimal | str | int | None) -> str:
    """An amount in yuan as ``¥1,234.50``: thousands separators, exactly two decimals."""
    if amount is None or amount == "":
        return EMPTY
    return f"¥{Decimal(str(amount)).quantize(CENT):,}"


def grouped(value: Decimal | int | str | None) -> str:
    """A whole number with thousands separators (1,234,567), in every language, as money is
    shown: the counts of the pages, messages and commands, and the figures other than spend."""
    if value is None or value == "":
        return EMPTY
    return f"{int(Decimal(str(value))):,}"


def format_fen(fen: int | None) -> str:
    """An amount stored in fen (``amount_fen``, ``spend_fen``) shown in yuan."""
    return EMPTY if fen is None else format_yuan(fen_to_yuan(fen))


class AmountError(ValueError):
    """Why a text is not an amount. ``template`` is the translated message with %(value)s left
    open, for callers that place the value themselves; str() has it filled in."""

    def __init__(self, template: str, text: str):
        super().__init__(template % {"value": text})
        self.template = template


def parse_amount(text: str) -> int:
    """A positive amount in plain decimal notation, returned in fen: ``1234.5``, ``1234.50``,
    with thousands separators ``1,234.50``, optionally after ``¥`` or ``￥``.

    Everything else is refused, because every other form has meant a wrong value in someone's
    file: scientific notation (``1.23457E+11`` is what a spreadsheet makes of a long number),
    ``1_000``, full-width or other non-ASCII digits, NaN and infinities, negatives, zero, more
    than 2 decimals. Raises ``AmountError`` saying why, in words fit for a person."""
    text = text.strip()
    # Fast path for the plain form nearly every row has (it runs a million times per import).
    plain = _PLAIN_AMOUNT.fullmatch(text)
    if plain:
        fen = int(plain[1]) * 100 + int((plain[2] or "").ljust(2, "0"))
        if 0 < fen < MAX_AMOUNT_FEN:
            return fen
    body = text[1:].lstrip() if text[:1] in _CURRENCY_SIGNS else text
    if not body.isascii():
        if any(char.isdigit() and not char.isascii() for char in body):
            raise AmountError(
                gettext('amount "%(value)s" has digits other than 0-9 (full-width digits?)'),
                text,
            )
        raise AmountError(gettext('amount "%(value)s" is not a number'), text)
    if _SCIENTIFIC.fullmatch(body):
        raise AmountError(
            gettext('amount "%(value)s" is in scientific notation; write the digits in full'),
            text,
        )
    written = _WRITTEN_AMOUNT.fullmatch(body)
    if written is None:
        raise AmountError(gettext('amount "%(value)s" is not a number'), text)
    sign, whole, decimals = written.groups()
    decimals = (decimals or "").rstrip("0")
    if len(decimals) > 2:
        raise AmountError(gettext('amount "%(value)s" has more than 2 decimal places'), text)
    fen = int(whole.replace(",", "")) * 100 + int(decimals.ljust(2, "0"))
    if sign == "+":
        raise AmountError(gettext('amount "%(value)s" has a sign: write it without one'), text)
    if sign or fen == 0:
        raise AmountError(gettext('amount "%(value)s" is not positive'), text)
    if fen >= MAX_AMOUNT_FEN:
        raise AmountError(gettext('amount "%(value)s" is too large'), text)
    return fen
