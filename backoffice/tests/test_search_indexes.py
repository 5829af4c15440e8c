"""On PostgreSQL every member search is served by an index: EXPLAIN shows no sequential scan of
the members table for a member-number prefix, a phone's start or its last four digits, and the
trigram index for part of a name."""

from __future__ import annotations

import pytest
from django.db import connection

from backoffice.selectors import member_search

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]

MEMBERS = 50_000


@pytest.fixture
def many_members():
    """Enough members that a scan costs what it would in production (one INSERT ... SELECT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_member "
            "(member_no, name, phone, email, joined_on, status, created_at) "
            "SELECT 'K' || lpad(n::text, 8, '0'), '会员' || lpad(n::text, 6, '0') || '号', "
            "'139' || lpad(n::text, 8, '0'), '', DATE '2024-01-01', 'active', now() "
            "FROM generate_series(0, %s) AS n",
            [MEMBERS - 1],
        )
        cursor.execute("ANALYZE members_member")


def plan(query: str) -> str:
    return member_search(query=query)[:51].explain()


CASES = [
    ("K0001234", "members_member_member_no"),
    ("k000123", "members_member_member_no"),
    ("13900012345", "member_phone_prefix"),
    ("4321", "member_phone_last4"),
    ("000123号", "member_name_trgm"),
]


def test_each_search_uses_its_index_and_finds_the_right_members(many_members):
    # One set-up for every case: filling the table and its trigram index is the slow part.
    for query, index in CASES:
        explained = plan(query)
        assert "Seq Scan on members_member" not in explained, explained
        assert index in explained, explained

    assert [m.member_no for m in member_search(query="k0000123")] == [
        f"K0000123{n}" for n in range(10)
    ]
    assert [m.member_no for m in member_search(query="4321")][:3] == [
        "K00004321",
        "K00014321",
        "K00024321",
    ]
    assert [m.member_no for m in member_search(query="13900012345")] == ["K00012345"]
    assert [m.member_no for m in member_search(query="000123号")] == ["K00000123"]
