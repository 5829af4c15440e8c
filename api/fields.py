"""Field types of the API, with the import's rules (members/importers.py, README's import_csv):
amounts as plain decimal strings with at most 2 places, moments as ISO 8601 or a local date."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loyalty.dates import DateError, parse_date, parse_moment
from loyalty.money import AmountError, fen_to_yuan, parse_amount
from members.importers import ValueRefused

# At most 12 whole digits: loyalty.money refuses ¥1,000,000,000,000 and more (MAX_AMOUNT_FEN).
AMOUNT_PATTERN = r"^\d{1,12}(\.\d{1,2})?$"
_PLAIN = re.compile(AMOUNT_PATTERN, re.ASCII)


@extend_schema_field(
    {
        "type": "string",
        "pattern": AMOUNT_PATTERN,
        "example": "128.50",
        "description": "Yuan, positive, a plain decimal with at most 2 places.",
    }
)
class AmountField(serializers.Field):
    """Yuan in, integer fen inside; out as a string with exactly 2 decimals."""

    default_error_messages = {
        "type": _('Send the amount as a string, like "128.50".'),
        "plain": _('amount "%(value)s" is not a plain decimal like 128.50'),
    }

    def to_internal_value(self, data) -> int:
        if not isinstance(data, str):
            self.fail("type")
        if not data.strip():
            raise serializers.ValidationError(_blank(self.field_name))
        try:
            fen = parse_amount(data)
        except AmountError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if not _PLAIN.match(data.strip()):
            raise serializers.ValidationError(self.error_messages["plain"] % {"value": data})
        return fen

    def to_representation(self, value: int) -> str:
        return str(fen_to_yuan(value))


@extend_schema_field(
    {
        "type": "string",
        "example": "2026-06-30T14:05:00+08:00",
        "description": (
            "ISO 8601 date and time (with a UTC offset, or local time in the configured time "
            "zone), or a date YYYY-MM-DD meaning local midnight."
        ),
    }
)
class MomentField(serializers.Field):
    """A refusal of the text names the field by its ``label`` (give one, translated), as
    ``DayField``; a value that is not a string is refused under the field's name only."""

    def to_internal_value(self, data) -> datetime.datetime:
        if not isinstance(data, str):
            raise serializers.ValidationError(
                _("Send the date and time as a string, like 2026-06-30T14:05:00+08:00.")
            )
        if not data.strip():
            raise serializers.ValidationError(_blank(str(self.label)))
        try:
            return parse_moment(data, timezone.get_default_timezone())
        except DateError as exc:
            raise serializers.ValidationError(exc.describe(str(self.label), data)) from None

    def to_representation(self, value: datetime.datetime) -> str:
        return moment_text(value)


def moment_text(moment: datetime.datetime) -> str:
    """A moment as the API writes it: RFC 3339 in local time with its offset."""
    local = timezone.localtime(moment)
    if local.utcoffset().seconds % 60:
        # Before 1901 Shanghai kept local mean time (+08:05:43): RFC 3339 has no seconds in an
        # offset, so such a moment is given in UTC.
        return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return local.isoformat()


@extend_schema_field({"type": "string", "format": "date", "example": "2026-06-30"})
class DayField(serializers.Field):
    """A calendar date, YYYY-MM-DD (or YYYY/M/D), the import's rule, and the import's ``check``
    for its column when given (``members.importers.member_birthday_check``: not in the future).
    A refusal names the field by its ``label`` (give one, translated), not by its JSON name."""

    def __init__(self, *, check: Callable[..., None] | None = None, **kwargs):
        self.check = check
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> datetime.date:
        if not isinstance(data, str):
            raise serializers.ValidationError(_("Send the date as a string, like 2026-06-30."))
        if not data.strip():
            if self.allow_null:
                return None  # as the import reads an empty optional date (a birthday)
            raise serializers.ValidationError(_blank(str(self.label)))
        try:
            day = parse_date(data)
            if self.check is not None:
                self.check(day, today=timezone.localdate())
        except (DateError, ValueRefused) as exc:
            raise serializers.ValidationError(exc.describe(str(self.label), data)) from None
        return day

    def to_representation(self, value: datetime.date) -> str:
        return value.isoformat()


def _blank(name: str) -> str:
    """A value sent blank, in the import's words ("amount is empty")."""
    return gettext("%(column)s is empty") % {"column": name}


class ChoiceField(serializers.ChoiceField):
    """DRF's choice, a blank one named in the import's words ("kind is empty")."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not data.strip():
            raise serializers.ValidationError(_blank(self.field_name))
        return super().to_internal_value(data)


class ImportedTextField(serializers.CharField):
    """Text read by the import's converter for its column (``members.importers``: a member
    number is NFKC-folded, ``Ｍ001`` being ``M001``, and refused with a space or an invisible
    character; a name is refused with a bidirectional override ...), so the API takes, folds and
    refuses what the import does, with the import's message under the field (named as the
    column it is). An empty value is the converter's to judge too; ``allow_blank`` only tells
    the schema whether one can be accepted (``minLength: 1`` when not). Only a JSON string is
    text: ``12345`` is refused, not read as ``"12345"``."""

    default_error_messages = {"type": _("Send this as a string.")}

    def __init__(self, convert, **kwargs):
        self.convert = convert
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        # A blank value would be refused by DRF's own message or never reach to_internal_value.
        if isinstance(data, str) and (data == "" or (self.trim_whitespace and not data.strip())):
            return self._converted("")
        return super().run_validation(data)

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("type")
        return self._converted(super().to_internal_value(data))

    def _converted(self, text: str) -> str:
        try:
            return self.convert(text)
        except ValueRefused as refused:
            raise serializers.ValidationError(refused.describe(self.field_name, text)) from None
