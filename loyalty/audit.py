from __future__ import annotations

from django.db import connection, models, transaction

from .bulk import insert_one
from .models import AuditEntry

# What PIPL erasure leaves in place of a personal value in the audit log.
REDACTED = "[erased]"


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Write one audit row; call it inside the service's transaction so both land or neither."""
    entry = AuditEntry(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        before=before,
        after=after,
    )
    insert_one(entry)  # every real-time write has one: a plain INSERT, no ORM compile
    return entry


def _blank(snapshot: dict | None, keys: frozenset[str]) -> dict | None:
    if not isinstance(snapshot, dict):
        return snapshot
    return {
        key: (REDACTED if key in keys and value not in (None, "") else value)
        for key, value in snapshot.items()
    }


@transaction.atomic
def audit_redact(*, target: models.Model, keys: frozenset[str]) -> int:
    """Blank the values of ``keys`` in the before/after snapshots of every entry about
    ``target``: the one change the audit log allows, for PIPL erasure. Who did what, to which
    row and when stays; only the personal values go. Returns the number of entries changed.

    On PostgreSQL the append-only trigger lets an UPDATE through only inside a transaction that
    set ``loyalty.audit_redaction`` (SET LOCAL ends with the transaction), and only if it leaves
    every column but before/after as it was."""
    entries = AuditEntry.objects.filter(
        target_type=target._meta.label_lower, target_id=str(target.pk)
    ).values_list("pk", "before", "after")
    rows = {}
    for pk, before, after in entries:
        new = (_blank(before, keys), _blank(after, keys))
        if new != (before, after):
            rows[pk] = new
    if rows:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL loyalty.audit_redaction = 'on'")
        AuditEntry.objects.all()._redact(rows)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL loyalty.audit_redaction = 'off'")
    return len(rows)
