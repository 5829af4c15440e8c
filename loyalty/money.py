"""Money is CNY, exact to the fen. The database keeps integer fen (exact on SQLite and PostgreSQL
alike, see stack-notes.md); Python works in ``Decimal`` yuan; these are the only conversions."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
_PLAIN_AMOUNT = re.compile(r"(\d{1,13})(?:\.(\d{1,2}))?", re.ASCII)
# Far above any real purchase, far below what a 64-bit fen column holds.
MAX_AMOUNT_FEN = 10**14


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)


def yuan_to_fen(amount: Decimal) -> int:
    if amount != amount.quantize(CENT):
        raise ValueError(f"{amount} has more than 2 decimal places")
    return int(amount * 100)


def parse_amount(text: str) -> int:
    """A positive amount written like ``1234.5`` or ``1234.50``, returned in fen.

    Raises ``ValueError`` with a message fit for a person."""
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
        raise ValueError(f"amount {text!r} is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"amount {text!r} is not a number")
    if amount <= 0:
        raise ValueError(f"amount {text} must be positive")
    if amount != amount.quantize(CENT):
        raise ValueError(f"amount {text} has more than 2 decimal places")
    fen = int(amount * 100)
    if fen >= MAX_AMOUNT_FEN:
        raise ValueError(f"amount {text} is too large")
    return fen
