"""Confirmation pages: what the first POST decided is signed into the page, so the confirming
POST carries it back unchanged and nothing is kept on the server in between — except, once it
is confirmed, the token's nonce, so that the same page confirmed again (Back, then Confirm) does
not do the action twice."""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .exceptions import DomainError
from .models import UsedConfirmation

CONFIRM_MAX_AGE = 30 * 60  # seconds a confirmation page stays valid
_NONCE = "confirm_nonce"


def fingerprint(shown) -> str:
    """A short fingerprint of what a page showed (JSON-ready values; dates as text), carried by
    the page and compared at saving or confirming: the same means nothing changed since."""
    text = json.dumps(shown, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ConfirmationUsed(DomainError):
    """The token was confirmed once already: its action ran (or is running) and is not
    repeated."""


def confirmation_token(payload: dict, *, salt: str) -> str:
    """``payload`` signed for the confirmation page, with a nonce of its own; ``salt`` names
    the kind of confirmation, so a token of one kind is never taken for another."""
    return signing.dumps({**payload, _NONCE: secrets.token_hex(16)}, salt=salt, compress=True)


def confirmation_use(token: str, *, salt: str) -> dict | None:
    """The payload of a token made by ``confirmation_token`` with the same ``salt`` within
    ``CONFIRM_MAX_AGE``, marked used; None when it is forged, altered or too old. Raises
    ``ConfirmationUsed`` when it was used already.

    The mark is a unique row written in the caller's transaction: call this in the same
    ``transaction.atomic()`` block as the action, and an action that fails rolls the mark back
    with it, so the same confirmation can be tried again; two requests confirming the same
    token at once meet on the row's key, and the second is refused once the first commits."""
    try:
        payload = signing.loads(token, salt=salt, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    nonce = payload.get(_NONCE)
    if not isinstance(nonce, str) or not nonce:
        return None
    now = timezone.now()
    with transaction.atomic():
        # A mark outlives its token by nothing: a token used before this moment was signed
        # before it too, so it has expired by now.
        UsedConfirmation.objects.filter(
            used_at__lt=now - datetime.timedelta(seconds=CONFIRM_MAX_AGE)
        ).delete()
        try:
            with transaction.atomic():
                UsedConfirmation.objects.create(nonce=nonce, used_at=now)
        except IntegrityError:
            raise ConfirmationUsed(
                _(
                    "This confirmation was already used: the action was done once and is not "
                    "repeated. To do it again, fill in the form again."
                )
            ) from None
    return payload
