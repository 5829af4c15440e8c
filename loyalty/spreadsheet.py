"""CSV cells that spreadsheets open safely: one rule for every export (members, tiers, the
committee's quarter summary, privacy requests)."""

from __future__ import annotations

# A spreadsheet (Excel, WPS) runs a cell starting with one of these as a formula (CSV
# injection): such a value is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
