"""Joining words as the reader's language does: a list ("a, b" / "a，b") and the clauses of one
message ("a; b" / "a；b"). The separators are translated, so a Chinese page gets Chinese
punctuation."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import pgettext


def listed(parts: Iterable[str]) -> str:
    return pgettext("between the parts of a list", ", ").join(parts)


def clauses(parts: Iterable[str]) -> str:
    return pgettext("between the parts of a message", "; ").join(parts)
