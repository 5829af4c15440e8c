"""Confirmation pages: what the first POST decided is signed into the page, so the confirming
POST carries it back unchanged and nothing is kept on the server in between."""

from __future__ import annotations

from django.core import signing

CONFIRM_MAX_AGE = 30 * 60  # seconds a confirmation page stays valid


def confirmation_token(payload: dict, *, salt: str) -> str:
    """``payload`` signed for the confirmation page; ``salt`` names the kind of confirmation,
    so a token of one kind is never taken for another."""
    return signing.dumps(payload, salt=salt, compress=True)


def confirmed_payload(token: str, *, salt: str) -> dict | None:
    """The payload of a token made by ``confirmation_token`` with the same ``salt`` within
    ``CONFIRM_MAX_AGE``; None when it is forged, altered or too old."""
    try:
        return signing.loads(token, salt=salt, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one
        return None
