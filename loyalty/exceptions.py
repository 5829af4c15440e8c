from __future__ import annotations

from django.http import Http404


class DomainError(Exception):
    """A rule of the domain refused an action; the message is shown to the person who asked.
    ``field`` names the input at fault when one is (the API answers with a message for it)."""

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message)
        self.field = field


class ConflictError(DomainError):
    """The thing was already recorded under the same identity (an external id, a referred
    member) with different data: a repeat that is not a repeat (the API answers 409)."""


class NotFound(Http404):
    """A 404 whose message is written for the reader: the page says why there is nothing
    (other 404s, such as Django's own, carry technical messages and only say "Not found")."""
