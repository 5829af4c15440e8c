"""The request body's parser: DRF's JSON parser, refusing a broken body in the request's
language and saying where it breaks (DRF's message is English, with Python's wording)."""

from __future__ import annotations

import json
import re

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Half of a UTF-16 pair, which JSON's \ud800 escapes can name but no text holds.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_check(data) -> None:
    """Refuse a body holding a lone surrogate anywhere (a key or a value): no field could take
    it, and echoing it in a message would fail to encode the answer."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise ParseError(
                    _(
                        "The body is not valid text: it holds half of a UTF-16 surrogate pair "
                        "(an escape like \\ud800 alone)."
                    )
                )
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # JSON between systems is UTF-8 (RFC 8259: a charset parameter has no effect); a
        # byte-order mark, as Windows tools write before it, is not part of the JSON.
        parser_context = {**(parser_context or {}), "encoding": "utf-8-sig"}
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Nested deeper than Python's parser recurses (thousands of brackets).
            raise ParseError(_("The body is not valid JSON: it is nested too deeply.")) from None
        except ParseError as error:
            cause = error.__context__
            if isinstance(cause, json.JSONDecodeError):
                raise ParseError(
                    _("The body is not valid JSON (line %(line)d, column %(column)d).")
                    % {"line": cause.lineno, "column": cause.colno}
                ) from cause
            raise ParseError(_("The body is not valid JSON.")) from cause
        _surrogate_check(data)
        return data
