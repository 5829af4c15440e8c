"""Field types of the API, with the import's rules (members/importers.py, README's import_csv):
amounts as plain decimal strings with at most 2 places, moments as ISO 8601 or a local date."""

from __future__ import annotations

import datetime
import re

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loyalty.money import AmountError, fen_to_yuan, parse_amount

AMOUNT_PATTERN = r"^\d{1,13}(\.\d{1,2})?$"
_PLAIN = re.compile(AMOUNT_PATTERN, re.ASCII)
# Far enough back for any real record, and safe to shift between time zones.
EARLIEST = datetime.date(1900, 1, 1)
LATEST = datetime.date(9000, 1, 1)


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
    default_error_messages = {
        "invalid": _(
            '"%(value)s" is neither a date like 2026-06-30 nor a date and time like '
            "2026-06-30T14:05:00+08:00"
        ),
        "range": _("The date must be between 1900 and 9000."),
    }

    def to_internal_value(self, data) -> datetime.datetime:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        text = data.strip()
        local = timezone.get_default_timezone()
        try:
            if len(text) == 10 and text[4] == "-" and text[7] == "-":
                moment = datetime.datetime.combine(
                    datetime.date.fromisoformat(text), datetime.time(), tzinfo=local
                )
            else:
                moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid", value=data)
        if not EARLIEST <= moment.date() <= LATEST:
            self.fail("range")
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=local)

    def to_representation(self, value: datetime.datetime) -> str:
        return timezone.localtime(value).isoformat()


class DayField(serializers.DateField):
    """A date YYYY-MM-DD within a plausible range."""

    default_error_messages = {
        "range": _("The date must be between 1900 and 9000."),
    }

    def to_internal_value(self, value) -> datetime.date:
        day = super().to_internal_value(value)
        if not EARLIEST <= day <= LATEST:
            self.fail("range")
        return day
