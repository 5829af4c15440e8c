from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused an action; the message is shown to the person who asked."""


class ConflictError(DomainError):
    """The thing was already recorded under the same identity (an external id, a referred
    member) with different data: a repeat that is not a repeat (the API answers 409)."""
