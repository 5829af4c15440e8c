"""Calendar quarters (``2026Q2``): the period each nomination round covers. Pure."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.translation import gettext as _

from loyalty.dates import FIRST_YEAR, LAST_YEAR
from loyalty.exceptions import DomainError

_QUARTER = re.compile(r"(\d{4})Q([1-4])", re.ASCII)


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1..4

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """``2026Q2`` (``2026q2`` too) of a year the product takes dates in
        (``loyalty.dates``: 1900–2999; year 0 has no first day); a ``DomainError`` names
        anything else."""
        match = _QUARTER.fullmatch(text.strip().upper())
        if not match:
            raise DomainError(
                _("%(value)r is not a quarter; write it like 2026Q2.") % {"value": text}
            )
        if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
            raise DomainError(
                _("%(value)r is not a quarter from %(first)sQ1 to %(last)sQ4.")
                % {"value": text, "first": FIRST_YEAR, "last": LAST_YEAR}
            )
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def just_ended(cls, today: date) -> Quarter:
        """The last quarter that ended before ``today``."""
        return cls.of(today).shift(-1)

    @property
    def index(self) -> int:
        return self.year * 4 + self.number - 1

    def shift(self, quarters: int) -> Quarter:
        index = self.index + quarters
        return Quarter(index // 4, index % 4 + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        return self.shift(1).first_day - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, the last day of a shorter month when it has no such day
    (31 January + 1 month = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
