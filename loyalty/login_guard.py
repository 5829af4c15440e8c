"""Login rate limiting with django-axes: the client address behind proxies, the audit entry
when a client is locked out, and the test-client backend.

Any login form (the staff login here, the member login of the member pages) is protected as
long as it authenticates with ``django.contrib.auth.authenticate(request=request, ...)``:
``axes.backends.AxesStandaloneBackend`` (first in ``AUTHENTICATION_BACKENDS``) refuses a
locked-out client, axes counts every failure, and ``AxesMiddleware`` answers a lockout with
``lockout_response`` (HTTP 429).
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.shortcuts import render

from .models import AuditEntry


def client_ip(request) -> str | None:
    """The client's address. Behind ``TRUSTED_PROXY_COUNT`` reverse proxies, each appending the
    address it saw to X-Forwarded-For, the client is the entry the outermost trusted proxy
    added; entries further left were sent by the client and can be forged."""
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    return forwarded[-count] if len(forwarded) >= count else remote


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """The lockout page (HTTP 429 Too Many Requests), in the reader's language."""
    cool_off = get_cool_off(request)
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
    }
    return render(request, "registration/locked_out.html", context, status=429)


def audit_lockout(sender, request, username, ip_address, **kwargs) -> None:
    """One audit entry when a client is locked out (axes sends the signal again for each try
    during the lockout; those are in axes' own attempt records)."""
    credentials = getattr(request, "axes_credentials", None)
    if getattr(request, "axes_failures_since_start", None) != get_failure_limit(
        request, credentials
    ):
        return
    user = get_user_model().objects.filter(username=username).first() if username else None
    # Plumbing rather than a domain service: the target may be a user name nobody has.
    AuditEntry.objects.create(
        actor=None,
        action="login.locked_out",
        target_type="auth.user",
        target_id=str(user.pk) if user else "",
        after={
            "username": username or "",
            "ip_address": ip_address or "",
            "path": request.path,
            "failures": request.axes_failures_since_start,
        },
    )


class TestClientAxesBackend(AxesStandaloneBackend):
    """For the test settings only: Django's test ``Client.login()`` authenticates without a
    request, which axes refuses; such calls skip the rate limit, every real login (which
    passes the request) is still checked."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
