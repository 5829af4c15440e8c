"""Django's CommonMiddleware, without its redirect to the address with a slash under the API's
paths: a client that follows a 301 after a POST sends a GET, so the write would be lost behind
a 405. The API answers 404 naming the address it meant instead (``loyalty.error_pages``)."""

from __future__ import annotations

from django.middleware.common import CommonMiddleware

from .error_pages import is_api


class ApiSlashMiddleware(CommonMiddleware):
    def should_redirect_with_slash(self, request) -> bool:
        return not is_api(request) and super().should_redirect_with_slash(request)
