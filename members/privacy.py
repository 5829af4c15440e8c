"""Privacy requests under PIPL (个人信息保护法): export everything held about one member, and
erase a member's personal data while keeping the anonymous facts the statistics need.

Both are staff actions with their own permissions (``members.export_member_data``,
``members.erase_member_data``) and both are audited.

What "everything held" means is read from the models, not listed here: the member's row and
every row of every model that points at the member (transactions, referrals, activities,
blacklist entries, and the tier state, evaluation, history, overrides and warnings of the
apps above), so a model added later is exported without changing this module. The audit
entries about the member are included (action, time, what changed), without staff names.

Erasure (decided for this project, see README "Privacy requests"):
- name, phone, email and birthday are replaced (``[erased]``, empty, empty, none);
- the member number is replaced by a random anonymous one (``ERASED-…``): it is the key other
  systems know the person by, so keeping it would keep the person identifiable. Every record
  hangs on the member's internal id, so transactions, referrals, activities, tier history and
  evaluations stay attached to the now anonymous member and keep counting in the statistics;
  the joined date and status stay too (tenure and tier statistics);
- the personal values in the audit entries about the member are blanked (loyalty.audit_redact);
- free-text staff notes (blacklist reasons, override reasons) are kept: write no contact data
  in them.
The member's notices (sent and unsent, with the name in their text) are in ``notifications``,
above this app: ``notifications.privacy.member_erase`` calls ``member_erase`` here and then
clears the notices, and the erasure staff run, ``reviews.privacy.member_erase``, calls that and
withdraws the member's open review case.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import secrets
from collections.abc import Iterable
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.audit import audit_record, audit_redact
from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from loyalty.money import fen_to_yuan
from loyalty.spreadsheet import csv_safe

from .models import ERASED_NAME, ERASED_PREFIX, Member
from .services import member_lock

OTHER_MEMBER = "(another member)"
STAFF = "(staff)"
# Keys whose values are personal data in audit snapshots of a member.
PERSONAL_KEYS = frozenset({"member_no", "name", "phone", "email", "birthday"})
# Spreadsheet programs run a cell starting with these as a formula (CSV injection).


# --- Export -------------------------------------------------------------------------------


def _plain(value):
    """A JSON-ready value: dates as ISO text, money (integer fen) left as stored."""
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return str(value)
    return value


def _row(obj: models.Model, skip: str | None = None) -> dict:
    row = {}
    # Secrets of the member's own (a password's hash) are not data about them to hand out.
    omitted = {skip, *getattr(type(obj), "PRIVACY_EXPORT_OMITS", ())}
    for field in obj._meta.concrete_fields:
        if field.name in omitted:
            continue
        if field.is_relation and field.related_model is get_user_model():
            # Who at the company recorded something: staff, not named (as in the audit part).
            row[field.name] = None if getattr(obj, field.attname) is None else STAFF
        elif field.is_relation and field.related_model is Member:
            # The other side of a referral is another person: their data is not the
            # requester's to receive.
            row[field.name] = None if getattr(obj, field.attname) is None else OTHER_MEMBER
        elif field.is_relation:
            row[field.name] = _plain(getattr(obj, field.name))
        else:
            value = row[field.name] = _plain(field.value_from_object(obj))
            if field.name.endswith("_fen") and isinstance(value, int):
                # Money is stored in fen; the requester reads yuan ("amount": "41.62").
                row[field.name.removesuffix("_fen")] = str(fen_to_yuan(value))
    return row


def _relations() -> list[models.ForeignObjectRel]:
    """Every relation pointing at Member (reverse one-to-one and foreign keys), hidden ones too."""
    return [
        field
        for field in Member._meta.get_fields(include_hidden=True)
        if field.auto_created and not field.concrete and (field.one_to_many or field.one_to_one)
    ]


def member_data(member: Member, *, audit_about: Q | None = None) -> dict:
    """Everything held about ``member``, as plain data (the content of both exports).
    ``audit_about`` selects the audit entries to include (the apps above know every row linked
    to the member, e.g. ``backoffice.selectors.about_member``); by default the member's own."""
    records: dict[str, list[dict]] = {}
    for relation in _relations():
        model = relation.related_model
        fk_name = relation.field.name
        related = [
            f.name
            for f in model._meta.concrete_fields
            if f.is_relation and f.name != fk_name and f.related_model is not Member
        ]
        rows = (
            model._default_manager.filter(**{fk_name: member})
            .select_related(*related)
            .order_by("pk")
        )
        key = f"{model._meta.label_lower}.{fk_name}"
        records[key] = [_row(obj, skip=fk_name) for obj in rows]
    own = Q(target_type=Member._meta.label_lower, target_id=str(member.pk))
    audit = AuditEntry.objects.filter(own if audit_about is None else audit_about).order_by(
        "created_at", "pk"
    )
    records["loyalty.auditentry"] = [
        {
            "time": _plain(entry.created_at),
            "about": entry.target_type,
            "action": entry.action,
            "before": entry.before,
            "after": entry.after,
        }
        for entry in audit
    ]
    return {
        "exported_at": _plain(timezone.now()),
        "member": _row(member),
        "records": records,
    }


def member_export_json(*, member: Member, actor, audit_about: Q | None = None) -> str:
    """The export as JSON (UTF-8 text, Chinese left readable); audited."""
    data = member_data(member, audit_about=audit_about)
    _audit_export(member=member, actor=actor, fmt="json", data=data)
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def _flatten(prefix: str, value) -> Iterable[tuple[str, object]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list):
        yield prefix, json.dumps(value, ensure_ascii=False, default=str)
    else:
        yield prefix, value


def member_export_csv(*, member: Member, actor, audit_about: Q | None = None) -> str:
    """The export as one CSV table ``record,row,field,value`` (every value of every record, one
    per line, which any spreadsheet opens); audited. Starts with a UTF-8 BOM so Excel reads
    the Chinese text correctly."""
    data = member_data(member, audit_about=audit_about)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["record", "row", "field", "value"])
    for field, value in _flatten("", data["member"]):
        writer.writerow(["members.member", 1, csv_safe(field), csv_safe(value)])
    for record, rows in data["records"].items():
        for number, row in enumerate(rows, start=1):
            for field, value in _flatten("", row):
                writer.writerow([record, number, csv_safe(field), csv_safe(value)])
    _audit_export(member=member, actor=actor, fmt="csv", data=data)
    return out.getvalue()


def _audit_export(*, member: Member, actor, fmt: str, data: dict) -> None:
    audit_record(
        actor=actor,
        action="member.privacy_export",
        target=member,
        after={
            "format": fmt,
            "records": {key: len(rows) for key, rows in data["records"].items()},
        },
    )


# --- Erasure ------------------------------------------------------------------------------


def _declared_rows_erase(member: Member, phone: str) -> None:
    """Delete the rows models of apps above keep about the member and declare for erasure,
    read from the models as the export is (``PRIVACY_ERASE``: the name of the field holding
    the member, or the phone; the member pages' sign-in account and SMS code requests). Rows
    by phone stay while another member has the number: they are that member's too."""
    phone_shared = bool(phone) and Member.objects.filter(phone=phone).exclude(pk=member.pk).exists()
    for model in apps.get_models():
        field = getattr(model, "PRIVACY_ERASE", None)
        if field is None:
            continue
        if model._meta.get_field(field).is_relation:
            model._default_manager.filter(**{field: member}).delete()
        elif phone and not phone_shared:
            model._default_manager.filter(**{field: phone}).delete()


def member_is_erased(member: Member) -> bool:
    return member.is_erased


def _anonymous_number() -> str:
    while True:
        number = ERASED_PREFIX + secrets.token_hex(6).upper()
        if not Member.objects.filter(member_no=number).exists():
            return number


@transaction.atomic
def member_erase(*, member: Member, reason: str, actor, linked_audit: Q | None = None) -> Member:
    """Erase the member's personal data (see the module docstring for exactly what changes and
    what stays). The reason (e.g. the request's ticket number) is required and kept in the
    audit entry, which records who erased and when, but no personal value. ``linked_audit``
    selects the audit entries about rows linked to the member (their transactions, referrals,
    ...: the apps above know them all), whose snapshots name the member by number or name:
    those values are blanked too."""
    member = member_lock(member)
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    if member_is_erased(member):
        raise DomainError(_("This member's personal data has already been erased."))
    personal_values = frozenset({member.member_no, member.name, member.phone, member.email})
    phone = member.phone
    member.member_no = _anonymous_number()
    member.name = ERASED_NAME
    member.phone = ""
    member.email = ""
    member.birthday = None
    member.save(update_fields=["member_no", "name", "phone", "email", "birthday"])
    redacted = audit_redact(
        target=member, keys=PERSONAL_KEYS, linked=linked_audit, values=personal_values
    )
    _declared_rows_erase(member, phone)
    audit_record(
        actor=actor,
        action="member.privacy_erase",
        target=member,
        after={
            "reason": reason,
            "erased": sorted(PERSONAL_KEYS),
            "audit_entries_redacted": redacted,
        },
    )
    return member
