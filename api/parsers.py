"""The request body's parser: DRF's JSON parser, refusing a broken body in the request's
language and saying where it breaks (DRF's message is English, with Python's wording)."""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        if codecs.lookup(encoding).name == "utf-8":
            # A byte-order mark, as Windows tools write before UTF-8, is not part of the JSON.
            parser_context = {**parser_context, "encoding": "utf-8-sig"}
        try:
            return super().parse(stream, media_type, parser_context)
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
