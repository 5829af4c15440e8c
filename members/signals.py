"""Signals the members app sends to apps above it, which it cannot import."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by ``privacy.member_erase`` inside its transaction, once the member's row is erased, with
# ``member`` (as erased) and ``phone`` (the number it had): apps keeping personal data of their
# own about the member delete it (the member pages: the sign-in account and codes).
member_erased = Signal()
