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
def audit_redact(
    *,
    target: models.Model,
    keys: frozenset[str],
    linked: models.Q | None = None,
    values: frozenset[str] = frozenset(),
) -> int:
    """Blank the values of ``keys`` in the before/after snapshots of every entry about
    ``target``, and, in the entries ``linked`` selects (about rows that belong to the target,
    such as its transactions), every value equal to one of ``values`` (the target's personal
    values as they were): the one change the audit log allows, for PIPL erasure. Who did what,
    to which row and when stays; only the personal values go. Returns the number of entries
    changed.

    On PostgreSQL the append-only trigger lets an UPDATE through only inside a transaction that
    set ``loyalty.audit_redaction`` (SET LOCAL ends with the transaction), and only if it leaves
    every column but before/after as it was."""
    own = models.Q(target_type=target._meta.label_lower, target_id=str(target.pk))
    values = frozenset(value for value in values if value)
    condition = own | linked if linked is not None and values else own
    entries = AuditEntry.objects.filter(condition).values_list(
        "pk", "target_type", "target_id", "before", "after"
    )
    rows = {}
    for pk, target_type, target_id, before, after in entries:
        if (target_type, target_id) == (target._meta.label_lower, str(target.pk)):
            new = (_blank(before, keys), _blank(after, keys))
        else:
            new = (_blank_values(before, values), _blank_values(after, values))
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


def _blank_values(snapshot: dict | None, values: frozenset[str]) -> dict | None:
    """A linked row's snapshot names the member by value (``member_no``, a referral's
    ``referrer``/``referred``), next to other people's: only the member's own values go."""
    if not isinstance(snapshot, dict):
        return snapshot
    return {
        key: (REDACTED if isinstance(value, str) and value in values else value)
        for key, value in snapshot.items()
    }
