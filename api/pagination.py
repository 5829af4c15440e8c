from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination


class _Cursor(CursorPagination):
    """DRF's cursor, whose position a client can forge (it is only base64): one the ordering's
    column cannot hold is refused as DRF refuses a cursor it cannot read, instead of failing in
    the database."""

    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"

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
