"""Forms of the policy pages: a version's settings, the structured rule editor, publishing, and
tier names and benefits.

The rule editor is a tree of form fields, not raw JSON: every node of a tier's rule has a
prefix ``r-<path>`` (``r-diamond``, ``r-diamond.1``, ``r-diamond.1.0``), a group node a kind
(all / any / at least N of) and a count, a condition a metric and a minimum. Buttons that add
or remove nodes post the form back with ``op`` and the page is drawn again without saving, so
it works without JavaScript. The rules read back from the fields are validated by
``tiers.policy`` like any other rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiers import engine
from tiers.models import Benefit, Tier, TierPolicy
from tiers.policy import PolicyError, form_path
from tiers.services import (
    benefit_value_refusal,
    policy_draft_stamp,
    policy_effective_date_refusal,
    tier_name_taken,
    tier_page_stamp,
)
from tiers.templatetags.tier_display import METRIC_LABELS

from .forms import DateField, date_input

GROUP_KINDS = [
    ("all", _("all of these")),
    ("any", _("any one of these")),
    ("at_least", _("at least N of these")),
]
METRIC_CHOICES = [(metric.value, label) for metric, label in METRIC_LABELS.items()]
# Groups nest to this depth (the tier's own rule is 0): the default rules use two levels.
MAX_GROUP_DEPTH = 2
_PATH = re.compile(r"^[a-z0-9_-]+(\.\d+)*$")


class _LoadedStamp(forms.ModelForm):
    """Carries the fingerprint of what the page showed (``stamp`` of the instance), so that a
    save after someone else's is refused instead of undoing it."""

    loaded = forms.CharField(widget=forms.HiddenInput, required=False)
    stamp = None  # a function of the instance

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["loaded"].initial = type(self).stamp(self.instance)


class PolicySettingsForm(_LoadedStamp):
    stamp = staticmethod(policy_draft_stamp)

    class Meta:
        model = TierPolicy
        fields = (
            "name",
            "notes",
            "window_kind",
            "downgrade_step",
            "referral_points",
            "activity_points",
            "warning_lead_days",
            "notice_days",
        )
        widgets = {
            "window_kind": forms.RadioSelect,
            "downgrade_step": forms.RadioSelect,
            "notes": forms.Textarea(attrs={"rows": 2}),
        }


@dataclass
class RuleNode:
    """One node of a tier's rule as the editor shows it; values stay text until validated."""

    path: str
    kind: str  # "threshold", "all", "any" or "at_least"
    depth: int
    count: str = ""
    metric: str = ""
    minimum: str = ""
    children: list[RuleNode] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"r-{self.path}"

    @property
    def is_group(self) -> bool:
        return self.kind != "threshold"

    @property
    def may_add_group(self) -> bool:
        return self.depth < MAX_GROUP_DEPTH

    @property
    def position(self) -> int:
        return int(self.path.rsplit(".", 1)[1]) + 1 if "." in self.path else 0

    def find(self, path: str) -> RuleNode | None:
        if self.path == path:
            return self
        for child in self.children:
            if path == child.path or path.startswith(child.path + "."):
                return child.find(path)
        return None

    def renumber(self, path: str) -> None:
        self.path = path
        for i, child in enumerate(self.children):
            child.depth = self.depth + 1
            child.renumber(f"{path}.{i}")


def node_from_data(data: object, path: str, depth: int = 0) -> RuleNode:
    if isinstance(data, dict) and "metric" in data:
        node = RuleNode(
            path, "threshold", depth, metric=str(data["metric"]), minimum=str(data.get("min"))
        )
        if depth == 0:
            # The editor shows a tier's own rule as a group: "all of" one condition is the same.
            node.renumber(f"{path}.0")
            node.depth = 1
            return RuleNode(path, "all", 0, children=[node])
        return node
    data = data if isinstance(data, dict) else {}
    if "any" in data:
        kind, children, count = "any", data["any"], ""
    elif "at_least" in data:
        kind, children, count = "at_least", data.get("of", []), str(data["at_least"])
    else:
        kind, children, count = "all", data.get("all", []), ""
    return RuleNode(
        path,
        kind,
        depth,
        count=count,
        children=[
            node_from_data(child, f"{path}.{i}", depth + 1) for i, child in enumerate(children)
        ],
    )


def node_from_post(post, path: str, depth: int = 0) -> RuleNode:
    prefix = f"r-{path}"
    kind = post.get(f"{prefix}-kind", "all")
    if kind == "threshold":
        return RuleNode(
            path,
            kind,
            depth,
            metric=post.get(f"{prefix}-metric", ""),
            minimum=post.get(f"{prefix}-min", "").strip(),
        )
    if kind not in {"all", "any", "at_least"}:
        kind = "all"
    children = []
    while f"r-{path}.{len(children)}-kind" in post and depth < MAX_GROUP_DEPTH + 1:
        children.append(node_from_post(post, f"{path}.{len(children)}", depth + 1))
    return RuleNode(
        path, kind, depth, count=post.get(f"{prefix}-count", "").strip(), children=children
    )


def _number(text: str) -> object:
    """A whole number where the text is one, else the text itself, for the validation to name."""
    return int(text) if text.isascii() and text.isdigit() else text


def node_to_data(node: RuleNode) -> dict:
    if node.kind == "threshold":
        minimum: object = node.minimum.replace(",", "").strip().lstrip("¥￥").strip()
        if node.metric != engine.Metric.SPEND:
            minimum = _number(minimum)
        return {"metric": node.metric, "min": minimum}
    children = [node_to_data(child) for child in node.children]
    if node.kind == "at_least":
        return {"at_least": _number(node.count), "of": children}
    return {node.kind: children}


@dataclass
class TierRuleEditor:
    tier: Tier
    root: RuleNode
    fixed: bool  # the lowest tier: no conditions, every member qualifies

    @property
    def errors(self) -> list[str]:
        found = []

        def walk(node):
            found.extend(node.errors)
            for child in node.children:
                walk(child)

        walk(self.root)
        return found


class RulesEditor:
    """Every tier's rule, highest tier first, from a version's data or from a posted form."""

    def __init__(self, tiers: list[Tier], roots: dict[str, RuleNode]):
        lowest = min(tiers, key=lambda t: t.rank)
        self.tiers = [
            TierRuleEditor(tier, roots[tier.code], fixed=tier == lowest)
            for tier in sorted(tiers, key=lambda t: t.rank, reverse=True)
        ]
        self.general_errors: list[str] = []

    @classmethod
    def from_policy(cls, policy: TierPolicy, tiers: list[Tier]) -> RulesEditor:
        return cls(tiers, {t.code: node_from_data(policy.rules.get(t.code), t.code) for t in tiers})

    @classmethod
    def from_post(cls, post, tiers: list[Tier]) -> RulesEditor:
        return cls(tiers, {t.code: node_from_post(post, t.code) for t in tiers})

    def rules(self) -> dict:
        return {
            editor.tier.code: {"all": []} if editor.fixed else node_to_data(editor.root)
            for editor in self.tiers
        }

    def _node(self, path: str) -> RuleNode | None:
        code = path.split(".", 1)[0]
        for editor in self.tiers:
            if editor.tier.code == code and not editor.fixed:
                return editor.root.find(path)
        return None

    def apply(self, op: str) -> None:
        """``add-threshold:<path>``, ``add-group:<path>`` or ``remove:<path>``; anything else
        (or a path that is not there) changes nothing."""
        action, _sep, path = op.partition(":")
        if not _PATH.match(path):
            return
        if action == "remove" and "." in path:
            parent = self._node(path.rsplit(".", 1)[0])
            if parent is not None:
                index = int(path.rsplit(".", 1)[1])
                if index < len(parent.children):
                    del parent.children[index]
                    parent.renumber(parent.path)
            return
        node = self._node(path)
        if node is None or not node.is_group:
            return
        child_path = f"{path}.{len(node.children)}"
        if action == "add-threshold":
            node.children.append(
                RuleNode(child_path, "threshold", node.depth + 1, metric="spend", minimum="")
            )
        elif action == "add-group" and node.may_add_group:
            node.children.append(RuleNode(child_path, "any", node.depth + 1))

    def attach(self, errors: list[PolicyError]) -> None:
        """Show each error at its node; errors about the version as a whole go on top."""
        for error in errors:
            node = self._node(form_path(error.path))
            if node is not None:
                node.errors.append(error.message)
            else:
                self.general_errors.append(str(error.message))

    @property
    def has_errors(self) -> bool:
        return bool(self.general_errors) or any(editor.errors for editor in self.tiers)


class PublishForm(forms.Form):
    effective_from = DateField(label=_("In force from"), widget=date_input())
    accept_warnings = forms.BooleanField(
        label=_("I have read the warnings above and publish anyway"), required=False
    )
    confirm = forms.BooleanField(
        label=_("I have checked the impact; a published version cannot be changed or withdrawn"),
        required=True,
    )

    def clean_effective_from(self):
        # Checked here too, so that every mistake of the form is named at once (the service
        # checks it again under its locks).
        effective_from = self.cleaned_data["effective_from"]
        refusal = policy_effective_date_refusal(effective_from, timezone.localdate())
        if refusal:
            raise forms.ValidationError(refusal)
        return effective_from


class TierNamesForm(_LoadedStamp):
    stamp = staticmethod(tier_page_stamp)

    class Meta:
        model = Tier
        fields = ("name_zh", "name_en")

    def _clean_name(self, field: str) -> str:
        name = self.cleaned_data[field]
        taken = tier_name_taken(tier=self.instance, field=field, name=name)
        if taken:
            raise forms.ValidationError(taken)
        return name

    def clean_name_zh(self) -> str:
        return self._clean_name("name_zh")

    def clean_name_en(self) -> str:
        return self._clean_name("name_en")


class BenefitForm(forms.ModelForm):
    """A benefit; a discount is entered as 折 (9.2 for 9.2折) and stored as the percent of the
    price paid (92)."""

    value = forms.DecimalField(
        label=_("Value"),
        required=False,
        max_digits=10,
        decimal_places=2,
        help_text=_("Discount in 折 (9.2 = 9.2折), multiplier (1.5) or points (500)."),
    )

    class Meta:
        model = Benefit
        fields = ("position", "kind", "value", "title_zh", "title_en")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.kind == Benefit.Kind.DISCOUNT and instance.value is not None:
            self.initial["value"] = (instance.value / 10).normalize()

    def clean(self):
        data = super().clean()
        value, kind = data.get("value"), data.get("kind")
        if kind == Benefit.Kind.DISCOUNT:
            if value is None or not Decimal("0") < value < Decimal("10"):
                self.add_error("value", _("Enter the discount in 折, e.g. 9.2 for 9.2折."))
            else:
                data["value"] = value * 10
        elif kind and self.has_changed() and (refusal := benefit_value_refusal(kind, value)):
            # Rows left as they were are not saved, so not refused: a row stored before a rule
            # existed must not keep the rest of the page from being saved.
            self.add_error("value", refusal)
        return data


BenefitFormSet = forms.modelformset_factory(Benefit, form=BenefitForm, extra=1, can_delete=False)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )
