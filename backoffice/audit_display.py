"""An audit entry's before and after in words staff read. The log stores stable keys and codes
(``tier_year_end``, ``gold``, ``blacklisted``); the page shows each key by the label of the model
field it holds (or of the few keys that are not fields), in the reader's language, and each
value as the other pages show it: a choice by its label, a tier by its name, yes or no, a reason
the system wrote translated. The stored key stays in the label's title, for those who look for
the raw data."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.masking import mask_contact
from loyalty.stored_text import shown
from reviews.models import SYSTEM_TEXTS as REVIEW_TEXTS
from reviews.models import Department, Profile, Vote
from tiers.diff import RuleLine, rule_lines
from tiers.models import COMMITTEE_DECISION, OVERRIDE_REPLACED, OVERRIDE_REVOKED
from tiers.templatetags.tier_display import metric_value

# Reasons the system writes into audit entries (in English, translated when shown).
SYSTEM_REASONS = (COMMITTEE_DECISION, OVERRIDE_REPLACED, OVERRIDE_REVOKED, *REVIEW_TEXTS)
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
    "evidence": _("evidence"),
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
    # A policy's special review settings.
    "profiles": _("nomination profiles"),
    "quorum": _("approvals needed per department"),
    "cooldown_quarters": _("quarters before renomination"),
    "validity_months": _("months an exceptional upgrade lasts"),
    "min_tenure_years": _("tenure at least (years)"),
    "max_qualified_tier": _("qualified tier at most"),
    "min_purchase": _("one purchase at least"),
    "max_frequency": _("purchases at most"),
    "min_referrals": _("referrals at least"),
    "spend_below": _("spend below"),
}

# Nested objects that are a row of a model, whose fields label their keys.
NESTED_MODELS = {"replaced_override": "tiers.TierOverride"}
# Keys of a nested object that mean more than their field's label, as ACTION_KEY_LABELS.
NESTED_LABELS = {("replaced_override", "tier"): _("tier of the override")}

# Keys of a nested object that name a code with a label of its own.
NESTED_KEY_LABELS = {**dict(Profile.choices), **dict(Department.choices)}
_AMOUNTS = {"min_purchase", "spend_below"}

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
    """A stored value under its label: as words (``value``), a nested object as labelled
    ``parts``, or a policy's rule as ``lines`` of plain words."""

    key: str  # as stored
    label: str
    value: str = ""
    parts: tuple[AuditField, ...] = ()
    lines: tuple[RuleLine, ...] = ()


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
    if key in ("tier", "max_qualified_tier") and value in tier_names:
        return str(tier_names[value])
    if key == "accepted_warnings" and isinstance(value, str):
        # "gold>silver": Gold was let give less of a benefit than Silver (tiers.benefits).
        return " > ".join(str(tier_names.get(code, code)) for code in value.split(">"))
    if key in _AMOUNTS and isinstance(value, str | int) and _is_number(value):
        return metric_value(value, "spend")
    if key in _TEXTS and isinstance(value, str):
        profiles = dict(Profile.choices)
        codes = value.split(", ")
        if all(code in profiles for code in codes):
            # A nomination's note: the profiles it matched.
            return ", ".join(str(profiles[code]) for code in codes)
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
        rows.append(_audit_field(key, str(label), snapshot[key], field, tier_names))
    return rows


def _is_number(value: str | int) -> bool:
    try:
        Decimal(str(value))
    except InvalidOperation:
        return False
    return True


def _audit_field(
    key: str, label: str, value: object, field: models.Field | None, tier_names: dict
) -> AuditField:
    """A value that may be nested: a list of plain values as one line, an object as labelled
    parts (a policy's ``rules`` as each tier's rule in words, tiers in rank order)."""
    if key == "rules" and isinstance(value, dict):
        codes = [code for code in tier_names if code in value]
        codes += sorted(code for code in value if code not in tier_names)
        return AuditField(key, label, parts=tuple(
            AuditField(code, str(tier_names.get(code, code)), lines=tuple(rule_lines(value[code])))
            for code in codes
        ))  # fmt: skip
    if isinstance(value, dict) and value:
        model = _model(NESTED_MODELS.get(key, ""))
        parts = []
        for inner in sorted(value):
            inner_field = _field(model, inner)
            inner_label = NESTED_LABELS.get((key, inner)) or (
                inner_field.verbose_name if inner_field else _nested_label(inner, tier_names)
            )
            parts.append(
                _audit_field(inner, str(inner_label), value[inner], inner_field, tier_names)
            )
        return AuditField(key, label, parts=tuple(parts))
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        return AuditField(key, label, parts=tuple(
            _audit_field(key, str(n), item, field, tier_names)
            for n, item in enumerate(value, start=1)
        ))  # fmt: skip
    if isinstance(value, list):
        shown_items = [_value(key, item, field, tier_names) for item in value]
        return AuditField(key, label, ", ".join(shown_items) or EMPTY)
    if isinstance(value, dict):
        return AuditField(key, label, EMPTY)
    return AuditField(key, label, _value(key, value, field, tier_names))


def _nested_label(key: str, tier_names: dict) -> str:
    if key in tier_names:
        return str(tier_names[key])
    if (model := _model(".".join(key.split(".")[:2]))) is not None:
        # A privacy export's counts, by model ("members.transaction.member"): its name.
        return str(model._meta.verbose_name_plural)
    return str(KEY_LABELS.get(key) or NESTED_KEY_LABELS.get(key) or key)
