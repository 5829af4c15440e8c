"""An audit entry's before and after in words staff read. The log stores stable keys and codes
(``tier_year_end``, ``gold``, ``blacklisted``); the page shows each key by the label of the model
field it holds (or of the few keys that are not fields), in the reader's language, and each
value as the other pages show it: a choice by its label, a tier by its name, yes or no, a reason
the system wrote translated. The stored key stays in the label's title, for those who look for
the raw data."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.masking import mask_contact
from loyalty.stored_text import shown
from reviews.models import SYSTEM_TEXTS as REVIEW_TEXTS
from reviews.models import Department, Vote
from tiers.models import COMMITTEE_DECISION, OVERRIDE_REPLACED

# Reasons the system writes into audit entries (in English, translated when shown).
SYSTEM_REASONS = (COMMITTEE_DECISION, OVERRIDE_REPLACED, *REVIEW_TEXTS)
_TEXTS = {"reason", "note", "comment"}

# Keys that are not a field of the entry's model.
KEY_LABELS = {
    "accepted_warnings": _("warnings acknowledged"),
    "activity": _("activity"),
    "amount": _("amount"),
    "audit_entries_redacted": _("audit entries blanked"),
    "based_on": _("based on version"),
    "changes": _("changes"),
    "choice": _("vote"),
    "chunks": _("chunks"),
    "comment": _("comment"),
    "department": _("department"),
    "ended_on": _("ended on"),
    "ends_on": _("ends on"),
    "entry": _("blacklist entry"),
    "erased": _("erased"),
    "evidence_file": _("evidence file"),
    "format": _("format"),
    "groups": _("groups"),
    "has_password": _("has a password"),
    "locked_until": _("locked until"),
    "member_no": _("member number"),
    "member_told": _("member told"),
    "message": _("message to the member"),
    "note": _("note"),
    "object": _("object"),
    "override": _("override"),
    "permissions": _("permissions"),
    "reason": _("reason"),
    "records": _("records"),
    "referred": _("referred member"),
    "referrer": _("referrer"),
    "replaced_override": _("override replaced"),
    "scopes": _("scopes"),
    "tier": _("tier"),
    "tier_year_end": _("tier year end"),
}

# Keys whose meaning depends on the action: an override's entry keeps the member's tier before
# and the override's own tier after (which may be below the tier the member keeps).
ACTION_KEY_LABELS = {
    ("tier.override.manual", "after", "tier"): _("tier of the override"),
    ("tier.override.committee", "after", "tier"): _("tier of the override"),
}

# Codes stored under a key that is not a field of the entry's model (a vote on a case).
KEY_CHOICES = {"department": dict(Department.choices), "choice": dict(Vote.Choice.choices)}

EMPTY = "—"


@dataclass(frozen=True)
class AuditField:
    key: str  # as stored
    label: str
    value: str


def _model(target_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(target_type)
    except (LookupError, ValueError):
        return None


def _field(model: type[models.Model] | None, key: str) -> models.Field | None:
    if model is None:
        return None
    try:
        field = model._meta.get_field(key)
    except FieldDoesNotExist:
        return None
    return field if hasattr(field, "verbose_name") else None


def _value(key: str, value: object, field: models.Field | None, tier_names: dict) -> str:
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if key == "tier" and value in tier_names:
        return str(tier_names[value])
    if key in _TEXTS and isinstance(value, str):
        return shown(value, SYSTEM_REASONS)
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field is None and key in KEY_CHOICES:
        return str(KEY_CHOICES[key].get(value, value))
    return str(value)


def audit_fields(entry, side: str, *, unmasked: bool, tier_names: dict) -> list[AuditField]:
    """One side of an entry (``side``: "before" or "after") as labelled values, by stored key;
    phone and e-mail masked for readers who may not see them. ``tier_names``: tier code →
    name in the reader's language."""
    target_type, snapshot = entry.target_type, getattr(entry, side)
    if snapshot in (None, "", {}):
        return []
    if not unmasked:
        snapshot = mask_contact(snapshot)
    if not isinstance(snapshot, dict):
        return [AuditField("", "", _value("", snapshot, None, tier_names))]
    model = _model(target_type)
    rows = []
    for key in sorted(snapshot):
        field = _field(model, key)
        label = ACTION_KEY_LABELS.get((entry.action, side, key)) or (
            field.verbose_name if field is not None else KEY_LABELS.get(key, key)
        )
        rows.append(AuditField(key, str(label), _value(key, snapshot[key], field, tier_names)))
    return rows
