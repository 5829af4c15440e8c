from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class _Cursor(CursorPagination):
    """DRF's cursor, whose position a client can forge (it is only base64): one the ordering's
    column cannot hold is refused as DRF refuses a cursor it cannot read, instead of failing in
    the database. A ``page_size`` that is not a whole number from 1 is refused too (DRF would
    silently give 50); above the most it gives the most."""

    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
    page_size_query_description = "Results per page, 1 to 500 (default 50; more gives 500)."

    def get_page_size(self, request):
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return self.page_size
        digits = given.lstrip("0") if given.isascii() and given.isdigit() else ""
        if not digits:
            message = _("Give a whole number from 1 to %(most)d.") % {"most": self.max_page_size}
            raise ValidationError({self.page_size_query_param: [message]})
        # A long string of digits is simply more than the most (and too long for int()).
        return self.max_page_size if len(digits) > 9 else min(int(digits), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not self.position_valid(position):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def position_valid(self, position: str) -> bool:
        return "\x00" not in position  # PostgreSQL's text cannot hold NUL


class MemberCursor(_Cursor):
    """Stable under inserts: a client walking all members never sees one twice or misses one."""

    ordering = "member_no"


class HistoryCursor(_Cursor):
    ordering = "-id"

    def position_valid(self, position: str) -> bool:
        return position.isascii() and position.isdigit() and len(position) <= 18
