"""Django's CommonMiddleware, without its redirect to the address with a slash under the API's
paths: a client that follows a 301 after a POST sends a GET, so the write would be lost behind
a 405. The API answers 404 naming the address it meant instead (``loyalty.error_pages``).
And a page for a 405 outside the API, where Django sends an empty body."""

from __future__ import annotations

from django.middleware.common import CommonMiddleware
from django.shortcuts import render

from .error_pages import is_api


class ApiSlashMiddleware(CommonMiddleware):
    def should_redirect_with_slash(self, request) -> bool:
        return not is_api(request) and super().should_redirect_with_slash(request)


class MethodNotAllowedPage:
    """An address that only takes a form's submission, opened directly (a bookmark, Back then
    reload): a page that says so, in the reader's language, instead of a blank one. The API
    keeps its JSON answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or is_api(request) or response.content:
            return response
        page = render(request, "405.html", status=405)
        if "Allow" in response:
            page["Allow"] = response["Allow"]
        return page
