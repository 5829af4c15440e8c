from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused an action; the message is shown to the person who asked."""
