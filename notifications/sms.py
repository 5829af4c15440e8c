"""Sending SMS: ``send_sms(phone, text)`` through the backend named by ``SMS_BACKEND``.

``console`` (the default) only logs the message; ``locmem`` keeps it in ``outbox`` (tests);
``http`` posts it as JSON to an SMS gateway (``SMS_GATEWAY_URL``, with ``SMS_GATEWAY_KEY`` as a
bearer token); any other value is the dotted path of a class whose instances have
``send(phone, text)``. A backend raises ``SmsError`` when the message was not accepted, so the
caller can retry.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """The message was not accepted by the gateway."""


class ConsoleBackend:
    """Development default: the message goes to the log, nowhere else."""

    def send(self, phone: str, text: str) -> None:
        logger.info("SMS to %s: %s", phone, text)


class HttpGatewayBackend:
    """POST ``{"phone": ..., "text": ...}`` to the gateway; any 2xx answer is success."""

    def __init__(self, url: str | None = None, key: str | None = None, timeout: int | None = None):
        self.url = url or settings.SMS_GATEWAY_URL
        self.key = key if key is not None else settings.SMS_GATEWAY_KEY
        self.timeout = timeout or settings.SMS_GATEWAY_TIMEOUT
        if not self.url:
            raise SmsError("SMS_GATEWAY_URL is not set")

    def send(self, phone: str, text: str) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"phone": phone, "text": text}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise SmsError(f"SMS gateway answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SmsError(f"SMS gateway unreachable: {exc}") from None
        if not 200 <= status < 300:
            raise SmsError(f"SMS gateway answered {status}")


# Messages the "locmem" backend kept, as (phone, text) pairs: like Django's locmem e-mail
# backend, for tests and for trying sign-in codes out without a gateway.
outbox: list[tuple[str, str]] = []


class LocmemBackend:
    def send(self, phone: str, text: str) -> None:
        outbox.append((phone, text))


_ALIASES = {"console": ConsoleBackend, "http": HttpGatewayBackend, "locmem": LocmemBackend}


def get_backend():
    name = settings.SMS_BACKEND
    backend_class = _ALIASES.get(name) or import_string(name)
    return backend_class()


def send_sms(phone: str, text: str) -> None:
    """Send one SMS with the configured backend; raises ``SmsError`` when it was refused."""
    get_backend().send(phone, text)
