"""Texts the system writes into the database for people to read later (a decision's reason, why
a notice was not sent). They are stored in English, the source language, whoever's request
wrote them, and translated when shown, so that each reader sees their own language. Text staff
typed is shown as it is.

Mark such a text with ``gettext_noop`` where it is stored, list it where it is shown, and show
it through ``shown``."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from django.utils import translation
from django.utils.translation import gettext


def shown(stored: str, system_texts: Iterable[str]) -> str:
    """``stored`` in the reader's language when it is one of ``system_texts`` (English source
    texts), also as earlier versions stored it (translated into Chinese); otherwise as it is."""
    for source in system_texts:
        if stored in (source, _chinese(source)):
            return gettext(source)
    return stored


@cache
def _chinese(source: str) -> str:
    with translation.override("zh-hans"):
        return gettext(source)
