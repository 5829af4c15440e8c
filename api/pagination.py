from __future__ import annotations

from rest_framework.pagination import CursorPagination


class MemberCursor(CursorPagination):
    """Stable under inserts: a client walking all members never sees one twice or misses one."""

    ordering = "member_no"
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"


class HistoryCursor(CursorPagination):
    ordering = "-id"
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
