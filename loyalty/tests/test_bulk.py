"""The set-based writers behind imports and recomputes, on both their paths: a few rows go
through plain statements, many through COPY and a staging table on PostgreSQL."""

from __future__ import annotations

import datetime

import pytest
from django.db import DataError, connection, transaction

from loyalty.bulk import (
    analyze,
    analyze_grown,
    insert_rows,
    insert_rows_skipping_existing,
    postgres_settings,
    rows_estimate,
    update_rows,
    upsert_rows,
)
from members.models import Member, Transaction
from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.models import MemberEvaluation, Tier, TierPolicy

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 6, 30)


@pytest.mark.parametrize("count", [3, 600])
def test_insert_rows_stores_text_with_tabs_newlines_and_backslashes_exactly(count):
    awkward = "王\t小\\明\n第二行"
    rows = [(f"B{i}", awkward, DAY, Member.Status.ACTIVE, "", "") for i in range(count)]

    insert_rows(
        Member,
        ["member_no", "name", "joined_on", "status", "phone", "email", "created_at"],
        _with_now(rows),
    )

    assert Member.objects.count() == count
    assert set(Member.objects.values_list("name", flat=True)) == {awkward}


def _with_now(rows):
    from django.utils import timezone

    now = timezone.now()
    for row in rows:
        yield (*row, now)


@pytest.mark.parametrize("count", [3, 600])
def test_update_rows_changes_only_the_named_fields_of_the_named_rows(count):
    members = MemberFactory.create_batch(count + 1)
    untouched = members.pop()
    update_rows(
        Member,
        ["name", "joined_on"],
        [(m.pk, "renamed", DAY) for m in members],
    )

    assert Member.objects.filter(name="renamed", joined_on=DAY).count() == count
    untouched.refresh_from_db()
    assert untouched.name != "renamed" and untouched.joined_on != DAY


@pytest.mark.parametrize("count", [3, 600])
def test_upsert_rows_inserts_new_keys_and_updates_existing_ones(count):
    members = MemberFactory.create_batch(count)
    policy = TierPolicy.objects.get(version=1)
    silver, gold = Tier.objects.get(code="silver"), Tier.objects.get(code="gold")
    fields = [
        "evaluated_on",
        "policy",
        "qualified_tier",
        "spend_fen",
        "frequency",
        "tenure_years",
        "contribution",
    ]
    half = members[: count // 2 + 1]
    upsert_rows(
        MemberEvaluation, fields, [(m.pk, DAY, policy.pk, silver.pk, 1, 1, 1, 1) for m in half]
    )

    later = DAY + datetime.timedelta(days=1)
    upsert_rows(
        MemberEvaluation,
        fields,
        [(m.pk, later, policy.pk, gold.pk, 2_000_000, 3, 0, 0) for m in members],
    )

    assert MemberEvaluation.objects.count() == count
    assert set(
        MemberEvaluation.objects.values_list("evaluated_on", "qualified_tier", "spend_fen")
    ) == {(later, gold.pk, 2_000_000)}


@pytest.mark.parametrize("count", [3, 600])
def test_insert_rows_skipping_existing_leaves_stored_rows_as_they_were(count):
    stored = MemberFactory(member_no="B0", name="stored")
    rows = [(f"B{i}", f"new {i}", DAY, Member.Status.ACTIVE, "", "") for i in range(count)]

    insert_rows_skipping_existing(
        Member,
        ["member_no", "name", "joined_on", "status", "phone", "email", "created_at"],
        list(_with_now(rows)),
    )

    assert Member.objects.count() == count
    stored.refresh_from_db()
    assert stored.name == "stored"
    assert Member.objects.get(member_no=f"B{count - 1}").name == f"new {count - 1}"


def test_rows_estimate_follows_the_table():
    # PostgreSQL reckons from the last ANALYZE (exact here: it reads a small table whole);
    # SQLite counts.
    MemberFactory.create_batch(50)
    analyze(Member)

    assert rows_estimate(Member) == 50


def planner_rows(model) -> float:
    """What PostgreSQL's statistics say the table holds (-1: never analysed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
        )
        return cursor.fetchone()[0]


def emptied_to_no_pages(model) -> None:
    """The table without a page (earlier tests' rolled-back rows leave pages behind), in this
    test's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {connection.ops.quote_name(model._meta.db_table)}")


@pytest.mark.postgres_only
def test_a_table_is_analysed_after_growing_by_a_tenth_and_not_after_less():
    member = MemberFactory()
    emptied_to_no_pages(Transaction)
    analyze(Transaction)
    PurchaseFactory.create_batch(40, member=member)  # one page

    analyze_grown(Transaction, least_pages=2)  # too small to matter
    assert planner_rows(Transaction) == 0
    analyze_grown(Transaction, least_pages=1)  # from no pages to one
    assert planner_rows(Transaction) == 40

    PurchaseFactory.create_batch(3, member=member)  # the same page
    analyze_grown(Transaction, least_pages=1)
    assert planner_rows(Transaction) == 40


@pytest.mark.postgres_only
def test_settings_for_a_block_are_set_back_after_it_within_the_transaction():
    def work_mem() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW work_mem")
            return cursor.fetchone()[0]

    before = work_mem()
    with transaction.atomic():
        with postgres_settings({"work_mem": "77MB"}):
            inside = work_mem()
        after = work_mem()

    assert (inside, after) == ("77MB", before)


@pytest.mark.postgres_only
def test_a_database_error_in_a_settings_block_comes_out_as_itself():
    # Not "current transaction is aborted" from setting them back: the import's Ctrl-C and
    # errors in its long statements are told as what they are.
    with (
        pytest.raises(DataError, match="division by zero"),
        transaction.atomic(),
        postgres_settings({"work_mem": "77MB"}),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1 / 0")
