"""``Authorization: Api-Key <key>``: the client system's key, checked against its digest."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .selectors import api_key_for

KEYWORD = "Api-Key"


class ApiKeyAuthentication(BaseAuthentication):
    """Sets ``request.user`` to the key's account (writes are recorded under it) and
    ``request.auth`` to the ``ApiKey`` (its scopes decide what it may do)."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Send the key as: Authorization: Api-Key <key>.")
            )
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raw_key = ""
        api_key = api_key_for(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked API key."))
        return api_key.user, api_key

    def authenticate_header(self, request) -> str:
        # Makes a request without credentials a 401 (with this challenge), not a 403.
        return KEYWORD
