"""Money is CNY, exact to the fen. The database keeps integer fen (exact on SQLite and PostgreSQL
alike, see stack-notes.md); Python works in ``Decimal`` yuan; these are the only conversions."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext

CENT = Decimal("0.01")
_PLAIN_AMOUNT = re.compile(r"(\d{1,13})(?:\.(\d{1,2}))?", re.ASCII)
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
    """A positive amount written like ``1234.5`` or ``1234.50``, returned in fen.

    Raises ``AmountError`` saying why, in words fit for a person."""
    text = text.strip()
    # Fast path for the plain form nearly every row has (it runs a million times per import).
    plain = _PLAIN_AMOUNT.fullmatch(text)
    if plain:
        fen = int(plain[1]) * 100 + int((plain[2] or "").ljust(2, "0"))
        if 0 < fen < MAX_AMOUNT_FEN:
            return fen
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise AmountError(gettext('amount "%(value)s" is not a number'), text)
    if amount <= 0:
        raise AmountError(gettext('amount "%(value)s" is not positive'), text)
    if amount != amount.quantize(CENT):
        raise AmountError(gettext('amount "%(value)s" has more than 2 decimal places'), text)
    fen = int(amount * 100)
    if fen >= MAX_AMOUNT_FEN:
        raise AmountError(gettext('amount "%(value)s" is too large'), text)
    return fen
