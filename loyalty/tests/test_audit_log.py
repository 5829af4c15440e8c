"""The audit log cannot be changed or deleted through the application, and on PostgreSQL the
database refuses too; PIPL redaction is the one narrow exception."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from loyalty.audit import REDACTED, audit_record, audit_redact
from loyalty.models import AppendOnlyError, AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry():
    target = Group.objects.create(name="audited")
    return audit_record(
        actor=None,
        action="group.create",
        target=target,
        after={"name": "audited", "phone": "13812348000"},
    )


def test_an_audit_entry_cannot_be_saved_again(entry):
    entry.action = "group.rename"

    with pytest.raises(AppendOnlyError):
        entry.save()

    assert AuditEntry.objects.get(pk=entry.pk).action == "group.create"


def test_an_audit_entry_cannot_be_deleted(entry):
    with pytest.raises(AppendOnlyError):
        entry.delete()

    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_audit_entries_cannot_be_updated_or_deleted_in_bulk(entry):
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()

    assert AuditEntry.objects.get(pk=entry.pk).action == "group.create"


def test_new_audit_entries_are_still_written(entry):
    audit_record(actor=None, action="group.other", target=Group.objects.create(name="second"))

    assert AuditEntry.objects.count() == 2


def test_redaction_blanks_only_the_named_personal_values(entry):
    target = Group.objects.get(name="audited")

    changed = audit_redact(target=target, keys=frozenset({"phone"}))

    entry.refresh_from_db()
    assert changed == 1
    assert entry.after == {"name": "audited", "phone": REDACTED}
    assert entry.action == "group.create"


# --- The database refuses too (PostgreSQL) -----------------------------------------------


def raw(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.postgres_only
def test_the_database_refuses_to_update_an_audit_entry(entry):
    with pytest.raises(DatabaseError, match="append-only"):
        raw("UPDATE loyalty_auditentry SET action = 'forged' WHERE id = %s", [entry.pk])

    assert AuditEntry.objects.get(pk=entry.pk).action == "group.create"


@pytest.mark.postgres_only
def test_the_database_refuses_to_delete_an_audit_entry(entry):
    with pytest.raises(DatabaseError, match="append-only"):
        raw("DELETE FROM loyalty_auditentry WHERE id = %s", [entry.pk])

    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.postgres_only
def test_the_redaction_switch_lets_through_only_before_and_after(entry):
    for sql in (
        "UPDATE loyalty_auditentry SET action = 'forged' WHERE id = %s",
        "DELETE FROM loyalty_auditentry WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET LOCAL loyalty.audit_redaction = 'on'")
            cursor.execute(sql, [entry.pk])

    entry.refresh_from_db()
    assert entry.action == "group.create"


@pytest.mark.postgres_only
def test_the_redaction_switch_ends_with_the_redaction(entry):
    target = Group.objects.get(name="audited")
    with transaction.atomic():
        audit_redact(target=target, keys=frozenset({"phone"}))
        # Later in the same transaction (e.g. the rest of an erasure) the guard is back.
        with pytest.raises(DatabaseError, match="append-only"):
            raw("UPDATE loyalty_auditentry SET action = 'forged' WHERE id = %s", [entry.pk])

    entry.refresh_from_db()
    assert entry.after["phone"] == REDACTED


@pytest.mark.postgres_only
def test_the_trigger_migration_is_reversible():
    # PostgreSQL runs DDL in transactions: the test's rollback undoes both migrations.
    def trigger_exists() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'loyalty_auditentry_append_only'"
            )
            return cursor.fetchone()[0] == 1

    assert trigger_exists()
    try:
        call_command("migrate", "loyalty", "0001", verbosity=0)
        assert not trigger_exists()
    finally:
        call_command("migrate", "loyalty", verbosity=0)
    assert trigger_exists()
