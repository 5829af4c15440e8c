"""A large first load of transactions (PostgreSQL) writes with the table's indexes and keys set
aside and makes them again: the stored rows, the refunds' links and the table's definition come
out as the row-by-row way leaves them, and anything going wrong leaves the table as it was."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction

from loyalty.bulk import KeysSetAside, analyze
from loyalty.exceptions import DomainError
from members import importers
from members.importers import ImportFailed, import_csv
from members.models import Member, Transaction
from members.tests.factories import MemberFactory, PurchaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

HEADER = "external_id,member_no,kind,amount,occurred_at,refund_of"


@pytest.fixture
def members():
    return [MemberFactory(member_no=f"M{n}", joined_on=datetime.date(2020, 1, 1)) for n in range(3)]


@pytest.fixture
def large_from(monkeypatch):
    """Counts an import of at least ``rows`` new rows as large (the real threshold is 100,000),
    with the table's statistics fresh (earlier tests leave them stale, and the import compares
    its rows with the table's estimated size)."""

    def lower(rows: int) -> None:
        monkeypatch.setattr(importers, "KEYS_ASIDE_MIN_ROWS", rows)
        analyze(Transaction)

    return lower


def table_definition(model=Transaction) -> list[tuple]:
    """The table's indexes and constraints, as PostgreSQL describes them."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
            "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass ORDER BY 1, 2",
            [table, table],
        )
        return cursor.fetchall()


def history(path: Path) -> str:
    lines = [HEADER]
    for n in range(12):
        lines.append(f"P{n},M{n % 3},purchase,{n + 10}.25,2026-05-0{1 + n % 9}T10:00:00+08:00,")
    lines += [
        "R1,M1,refund,3.00,2026-06-01T09:00:00+08:00,P1",
        "R2,M1,refund,2.00,2026-06-02T09:00:00+08:00,P1",
        "R4,M1,refund,14.25,2026-06-02T09:00:00+08:00,P4",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def with_lines(path: Path, *lines: str) -> str:
    path.write_text(path.read_text() + "".join(f"{line}\n" for line in lines), encoding="utf-8")
    return str(path)


def stored() -> list[tuple]:
    return list(
        Transaction.objects.order_by("external_id").values_list(
            "external_id", "member__member_no", "kind", "amount_fen", "occurred_on",
            "refund_of__external_id",
        )
    )  # fmt: skip


@pytest.mark.postgres_only
def test_a_large_first_load_stores_what_the_row_by_row_way_stores(tmp_path, members, large_from):
    path = history(tmp_path / "history.csv")
    before = table_definition()
    import_csv("transactions", path)
    row_by_row = stored()
    Transaction.objects.filter(kind="refund").delete()
    Transaction.objects.all().delete()

    large_from(1)
    said: list[str] = []
    result = import_csv("transactions", path, progress=said.append)

    assert result.new == 15
    assert stored() == row_by_row
    assert ("R4", "M1", "refund", 1425, datetime.date(2026, 6, 2), "P4") in row_by_row
    assert any("indexes are made again" in line for line in said)
    # Every index, unique constraint and foreign key is back, as it was.
    assert table_definition() == before


@pytest.mark.postgres_only
def test_the_keys_made_again_hold(tmp_path, members, large_from):
    large_from(1)
    import_csv("transactions", history(tmp_path / "history.csv"))

    with pytest.raises(IntegrityError), transaction.atomic():
        PurchaseFactory(external_id="P1", member=members[0])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Transaction._meta.db_table} SET member_id = -1 WHERE external_id = 'P2'"
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.postgres_only
def test_a_table_bigger_than_the_file_keeps_its_indexes_while_writing(
    tmp_path, members, large_from
):
    for n in range(20):
        PurchaseFactory(external_id=f"OLD{n}", member=members[0])
    large_from(1)
    said: list[str] = []

    import_csv("transactions", history(tmp_path / "history.csv"), progress=said.append)

    assert Transaction.objects.count() == 35
    assert not any("indexes are made again" in line for line in said)


@pytest.mark.postgres_only
def test_a_failure_after_the_keys_were_set_aside_restores_them_with_the_rest(members):
    PurchaseFactory(external_id="KEEP", member=members[0])
    before = table_definition()

    with pytest.raises(IntegrityError), transaction.atomic():
        keys = KeysSetAside(Transaction)
        keys.drop()
        assert len(table_definition()) < len(before)
        # A second row with the same external id: the unique constraint cannot come back.
        PurchaseFactory(external_id="KEEP", member=members[1])
        keys.restore()

    assert table_definition() == before
    assert list(Transaction.objects.values_list("external_id", flat=True)) == ["KEEP"]


def test_a_file_with_bad_rows_writes_nothing_however_large(tmp_path, members, large_from):
    path = with_lines(
        Path(history(tmp_path / "history.csv")),
        "X1,NOBODY,purchase,1.00,2026-06-01T09:00:00+08:00,",
    )
    large_from(1)
    said: list[str] = []

    with pytest.raises(ImportFailed) as failed:
        import_csv("transactions", path, progress=said.append)

    assert failed.value.lines == ["line 17: unknown member NOBODY"]
    assert not Transaction.objects.exists()
    # No repeat among the bad rows: they are told as found, the file is not checked again.
    assert not any("checking the file again" in line for line in said)


def test_a_large_load_links_refunds_to_their_purchases(tmp_path, members, large_from):
    # On SQLite nothing is set aside; on PostgreSQL the refunds follow the keys' return.
    large_from(1)

    result = import_csv("transactions", history(tmp_path / "history.csv"))

    assert result.new == 15
    assert Transaction.objects.get(external_id="R2").refund_of.external_id == "P1"


def test_an_import_stores_each_members_purchases_together_in_date_order(tmp_path, members):
    # Lines come member after member in turn, days out of order; stored rows (by id, which is
    # how a fresh table lies on disk) come member by member, day by day: a member's page and
    # the recompute's grouping read neighbouring rows.
    import_csv("transactions", history(tmp_path / "history.csv"))

    purchases = list(
        Transaction.objects.filter(kind="purchase")
        .order_by("id")
        .values_list("member_id", "occurred_on")
    )
    assert purchases == sorted(purchases)
    assert len({member for member, _ in purchases}) == 3


def primary_key_of(model) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [model._meta.db_table],
        )
        return [name for (name,) in cursor.fetchall()]


@pytest.mark.postgres_only
def test_the_primary_key_is_set_aside_only_when_no_other_table_refers_to_it(members):
    PurchaseFactory(external_id="BEFORE", member=members[0])
    before = table_definition()
    with transaction.atomic():
        # Members first, while transactions still refer to them; tier states, referrals ...
        # refer to them too, so their primary key stays.
        member_keys = KeysSetAside(Member)
        member_keys.drop()
        transaction_keys = KeysSetAside(Transaction)
        transaction_keys.drop()  # only its own refunds refer to it
        assert primary_key_of(Transaction) == []
        assert primary_key_of(Member) == [f"{Member._meta.db_table}_pkey"]
        transaction_keys.restore()
        member_keys.restore()

    assert table_definition() == before
    # The identity column goes on counting from where it was.
    after = PurchaseFactory(external_id="AFTER", member=members[0])
    assert after.pk > Transaction.objects.get(external_id="BEFORE").pk


def test_a_large_load_links_refunds_to_purchases_stored_before(tmp_path, members, large_from):
    old = PurchaseFactory(
        external_id="OLD",
        member=members[1],
        amount_fen=5000,
        occurred_at=datetime.datetime(2026, 1, 5, 10, tzinfo=datetime.UTC),
    )
    path = Path(history(tmp_path / "history.csv"))
    path.write_text(
        path.read_text() + "R9,M1,refund,20.00,2026-06-03T09:00:00+08:00,OLD\n", encoding="utf-8"
    )
    large_from(1)

    said: list[str] = []

    import_csv("transactions", str(path), progress=said.append)

    assert Transaction.objects.get(external_id="R9").refund_of == old
    if connection.vendor == "postgresql":
        assert any("indexes are made again" in line for line in said)


@pytest.mark.postgres_only
def test_a_refund_whose_purchase_vanishes_while_writing_fails_the_whole_import(
    tmp_path, members, large_from, monkeypatch
):
    # Only a concurrent writer can take a purchase away after the checks: played here by a
    # link query that loses one refund.
    monkeypatch.setattr(
        importers._TransactionImporter,
        "_LINKED_REFUNDS",
        importers._TransactionImporter._LINKED_REFUNDS + " WHERE c.external_id <> 'R2'",
    )
    large_from(1)

    with pytest.raises(DomainError, match="wrote 2 refunds, expected 3"):
        import_csv("transactions", history(tmp_path / "history.csv"))

    assert not Transaction.objects.exists()


@pytest.mark.postgres_only
def test_a_unique_constraint_another_table_refers_to_stays():
    table = Transaction._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE receipt_note (external_id varchar(64) REFERENCES {table} "
                "(external_id) DEFERRABLE INITIALLY DEFERRED)"
            )
        kept = {name for name, _definition in table_definition()}
        KeysSetAside(Transaction).drop()
        left = {name for name, _definition in table_definition()}
        transaction.set_rollback(True)

    assert "txn_external_id_unique" in kept
    assert "txn_external_id_unique" in left
    assert f"{table}_pkey" not in left


@pytest.mark.parametrize("large", [False, True])
def test_a_repeated_external_id_in_a_first_load_is_named_as_in_any_import(
    tmp_path, members, large_from, large
):
    # A first large load leaves repeats to the unique index, then looks for them when it
    # refuses the file: the messages are the ones every import gives.
    path = with_lines(
        Path(history(tmp_path / "history.csv")),
        "P3,M0,purchase,13.25,2026-05-04T10:00:00+08:00,",
        "X1,NOBODY,purchase,1.00,2026-06-01T09:00:00+08:00,",
    )
    if large:
        large_from(1)
    said: list[str] = []

    with pytest.raises(ImportFailed) as failed:
        import_csv("transactions", path, progress=said.append)

    assert failed.value.lines == [
        "line 17: external id P3 appears again (first on line 5)",
        "line 18: unknown member NOBODY",
    ]
    assert not Transaction.objects.exists()
    checked_again = any("checking the file again" in line for line in said)
    assert checked_again == (large and connection.vendor == "postgresql")


@pytest.mark.parametrize("large", [False, True])
def test_a_repeat_that_is_the_only_fault_of_a_first_load_is_found(
    tmp_path, members, large_from, large
):
    # Every line is good on its own: the unique index refuses the second P3 after writing.
    path = with_lines(
        Path(history(tmp_path / "history.csv")), "P3,M0,purchase,13.25,2026-05-04T10:00:00+08:00,"
    )
    if large:
        large_from(1)

    with pytest.raises(ImportFailed) as failed:
        import_csv("transactions", path)

    assert failed.value.lines == ["line 17: external id P3 appears again (first on line 5)"]
    assert not Transaction.objects.exists()


@pytest.mark.postgres_only
def test_a_large_first_load_of_members_makes_their_search_indexes_again(tmp_path, monkeypatch):
    path = tmp_path / "members.csv"
    path.write_text(
        "member_no,name,phone,email,joined_on,member_type,birthday\n"
        + "".join(f"N{n},会员{n},1390000000{n},,2024-01-0{n + 1},regular,\n" for n in range(5)),
        encoding="utf-8",
    )
    before = table_definition(Member)
    monkeypatch.setattr(importers, "KEYS_ASIDE_MIN_ROWS", 1)
    analyze(Member)
    said: list[str] = []

    result = import_csv("members", str(path), progress=said.append)

    assert result.new == 5
    assert any("indexes are made again" in line for line in said)
    assert table_definition(Member) == before
    assert list(Member.objects.order_by("member_no").values_list("member_no", "name")) == [
        (f"N{n}", f"会员{n}") for n in range(5)
    ]
    # The unique member number made again holds.
    with pytest.raises(IntegrityError), transaction.atomic():
        MemberFactory(member_no="N1")
