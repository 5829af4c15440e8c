"""A policy version side by side with another: its settings and each tier's rule in plain
words, line by line, with what changed marked. Display data only; no queries."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .models import TierPolicy
from .templatetags.tier_display import metric_label, metric_value

# The fields of a version besides its rules that staff edit, in the order the pages show them.
SETTINGS = (
    "name",
    "window_kind",
    "referral_points",
    "activity_points",
    "warning_lead_days",
    "notice_days",
    "downgrade_step",
    "notes",
)


@dataclass(frozen=True)
class RuleLine:
    depth: int
    text: str


@dataclass(frozen=True)
class DiffRow:
    """One line of each side (None where the other side has a line this one has not)."""

    old: RuleLine | None
    new: RuleLine | None

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class SettingRow:
    label: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class TierDiff:
    code: str
    rows: list[DiffRow]

    @property
    def changed(self) -> bool:
        return any(row.changed for row in self.rows)


@dataclass(frozen=True)
class PolicyDiff:
    old: TierPolicy
    new: TierPolicy
    settings: list[SettingRow]
    tiers: list[TierDiff]

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.settings) or any(t.changed for t in self.tiers)


def rule_lines(data: object, depth: int = 0) -> list[RuleLine]:
    """A rule (its JSON data) in plain words, one line per node, children indented."""
    if not isinstance(data, dict):
        return [RuleLine(depth, repr(data))]
    if "metric" in data:
        minimum = metric_value(data.get("min"), data.get("metric"))
        return [RuleLine(depth, f"{metric_label(data.get('metric'))} ≥ {minimum}")]
    if "all" in data:
        children = data["all"] or []
        heading = _("All of these") if children else _("No conditions: every member qualifies")
    elif "any" in data:
        children = data["any"] or []
        heading = _("Any one of these")
    else:
        children = data.get("of") or []
        count = data.get("at_least")
        heading = ngettext(
            "At least %(count)s of these", "At least %(count)s of these", count or 0
        ) % {"count": count}
    lines = [RuleLine(depth, heading)]
    for child in children:
        lines.extend(rule_lines(child, depth + 1))
    return lines


def _side_by_side(old: list[RuleLine], new: list[RuleLine]) -> list[DiffRow]:
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = old[i1:i2], new[j1:j2]
        for k in range(max(len(left), len(right))):
            rows.append(
                DiffRow(left[k] if k < len(left) else None, right[k] if k < len(right) else None)
            )
    return rows


def _setting(policy: TierPolicy, field: str) -> str:
    display = getattr(policy, f"get_{field}_display", None)
    return str(display()) if display else str(getattr(policy, field))


def policy_diff(old: TierPolicy, new: TierPolicy, tier_codes: list[str]) -> PolicyDiff:
    """``new`` against ``old``; ``tier_codes`` from the highest tier down."""
    settings = [
        SettingRow(
            str(TierPolicy._meta.get_field(field).verbose_name),
            _setting(old, field),
            _setting(new, field),
        )
        for field in SETTINGS
    ]
    tiers = [
        TierDiff(
            code,
            _side_by_side(
                rule_lines(old.rules.get(code, {"all": []})),
                rule_lines(new.rules.get(code, {"all": []})),
            ),
        )
        for code in tier_codes
    ]
    return PolicyDiff(old=old, new=new, settings=settings, tiers=tiers)
