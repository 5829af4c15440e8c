"""Text messages (SMS) to members.

Development backend: the text is logged at INFO (so ``runserver``'s console shows a sign-in
code) and the last messages are kept in ``outbox`` for tests. A real gateway replaces the body
of ``send_sms``; its signature stays."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

OUTBOX_SIZE = 100

# The last messages sent by this process, oldest first: (phone, text).
outbox: list[tuple[str, str]] = []


def send_sms(phone: str, text: str) -> None:
    logger.info("SMS to %s: %s", phone, text)
    outbox.append((phone, text))
    del outbox[:-OUTBOX_SIZE]
