"""Pages without counting: fetch one row more than a page to know whether a next page exists.

``COUNT(*)`` over a million filtered members costs more than the page itself, and staff need
"next" and "previous", not "page 7 of 20,000"."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from loyalty.exceptions import NotFound
from loyalty.paging import page_number


@dataclass(frozen=True)
class LookaheadPage:
    object_list: list
    number: int
    per_page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.object_list else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.object_list)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)


def lookahead_page(queryset, raw_number, per_page: int) -> LookaheadPage:
    """One page of an ordered queryset in one query; a page number that is not one gives the
    first page; a page past the end is not found (except the first, which may be empty)."""
    number = page_number(raw_number)
    offset = (number - 1) * per_page
    rows = list(queryset[offset : offset + per_page + 1])
    if not rows and number > 1:
        raise NotFound(_("That page is empty."))
    return LookaheadPage(rows[:per_page], number, per_page, len(rows) > per_page)
