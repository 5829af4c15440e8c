"""Texts the system writes into the database for people to read later (a decision's reason, why
a notice was not sent). They are stored in English, the source language, whoever's request
wrote them, and translated when shown, so that each reader sees their own language. Text staff
typed is shown as it is.

Mark such a text with ``gettext_noop`` where it is stored, list it where it is shown, and show
it through ``shown``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from django.utils import translation
from django.utils.translation import gettext


def shown(stored: str, system_texts: Iterable[str]) -> str:
    """``stored`` in the reader's language when it is one of ``system_texts`` (English source
    texts, some with named ``%(name)d`` / ``%(name)s`` fields filled in when stored), also as
    earlier versions stored it (translated into Chinese); otherwise as it is."""
    for source in system_texts:
        if "%(" not in source:
            if stored in (source, _chinese(source)):
                return gettext(source)
            continue
        for pattern in (_pattern(source), _pattern(_chinese(source))):
            found = pattern.fullmatch(stored)
            if found:
                return gettext(source) % _typed(source, found.groupdict())
    return stored


_FIELD = re.compile(r"%\\\((\w+)\\\)([ds])")


@cache
def _pattern(text: str) -> re.Pattern[str]:
    """``text`` with its fields as named groups: "case #%(id)d" matches "case #12"."""
    return re.compile(
        _FIELD.sub(
            lambda m: rf"(?P<{m[1]}>\d+)" if m[2] == "d" else rf"(?P<{m[1]}>.+?)", re.escape(text)
        )
    )


def _typed(source: str, values: dict[str, str]) -> dict[str, object]:
    kinds = dict(re.findall(r"%\((\w+)\)([ds])", source))
    return {name: int(value) if kinds[name] == "d" else value for name, value in values.items()}


@cache
def _chinese(source: str) -> str:
    with translation.override("zh-hans"):
        return gettext(source)
