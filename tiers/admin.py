"""Admin for tiers, their benefits, policy versions and the tier history.

Every staff change is audited, so the admin writes nothing the audited services would not:
tier names and benefits are shown here and edited on the back office's tier pages
(``tier_rename``, ``benefit_save``, ``benefit_delete``); a policy version is drafted and
published in the back office (``policy_draft_create``, ``policy_publish``), and a draft's
settings saved here go through ``policy_draft_update``, which records them. A published version
is never edited (evaluations name the version that produced them). Tier history and downgrade
warnings are append-only records of what the evaluation did, so they are read-only here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from loyalty.admin import ReadOnlyAdminMixin
from loyalty.money import format_fen

from . import engine
from .models import (
    Benefit,
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    Tier,
    TierChange,
    TierOverride,
    TierPolicy,
)
from .policy import PolicyError, build_policy
from .review_settings import review_settings_from_data
from .services import POLICY_DRAFT_FIELDS, policy_draft_update


class BenefitInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Benefit
    fields = ("position", "kind", "value", "title_zh", "title_en")
    readonly_fields = fields
    extra = 0


@admin.register(Tier)
class TierAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: names and benefits are edited, with a reason and an audit entry, on the back
    office's tier page. Policy rules are keyed by code and ordered by rank, so neither ever
    changes, and tiers are never added or removed."""

    list_display = ("code", "rank", "name_zh", "name_en")
    search_fields = ("code", "name_zh", "name_en")
    inlines = (BenefitInline,)
    readonly_fields = ("code", "rank")


# What a policy version decides besides its name and dates: edited together, shown together.
_EVALUATION_SETTINGS = (
    "window_kind",
    "referral_points",
    "activity_points",
    "warning_lead_days",
    "notice_days",
    "downgrade_step",
    "rules",
    "review_settings",
)


class TierPolicyAdminForm(forms.ModelForm):
    class Meta:
        model = TierPolicy
        fields = ("version", "name", "effective_from", "notes", *_EVALUATION_SETTINGS)

    def clean(self):
        data = super().clean()
        tier_ranks = dict(Tier.objects.values_list("code", "rank"))
        try:
            # Fields that failed their own validation are left out here and reported there.
            build_policy(
                version=data.get("version") or 0,
                rules=data.get("rules"),
                tier_ranks=tier_ranks,
                window_kind=data.get("window_kind") or engine.WindowKind.ROLLING_YEAR,
                downgrade_step=data.get("downgrade_step") or engine.DowngradeStep.TO_QUALIFIED,
            )
        except PolicyError as error:
            raise ValidationError({"rules": str(error)}) from None
        return data

    def clean_review_settings(self):
        value = self.cleaned_data.get("review_settings")
        try:
            review_settings_from_data(value, set(Tier.objects.values_list("code", flat=True)))
        except PolicyError as error:
            raise ValidationError(str(error)) from None
        return value


@admin.register(TierPolicy)
class TierPolicyAdmin(admin.ModelAdmin):
    """A draft's settings (the special review settings among them) are saved through the
    audited ``policy_draft_update``. Versions are added (as drafts) and published in the back
    office; none is deleted here: the audit log and the diff pages refer to every version."""

    form = TierPolicyAdminForm
    list_display = ("version", "name", "status", "effective_from", "window_kind", "published_at")
    list_filter = ("status", "window_kind")
    search_fields = ("name", "=version")
    list_select_related = ("published_by",)
    readonly_fields = (
        "version",
        "status",
        "effective_from",
        "created_at",
        "published_at",
        "published_by",
    )
    fieldsets = (
        (None, {"fields": ("version", "name", "status", "effective_from", "notes")}),
        (_("Evaluation"), {"fields": _EVALUATION_SETTINGS}),
        (_("Record"), {"fields": ("created_at", "published_at", "published_by")}),
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.status == TierPolicy.Status.PUBLISHED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        policy_draft_update(
            policy=obj,
            actor=request.user,
            **{name: form.cleaned_data[name] for name in POLICY_DRAFT_FIELDS},
        )


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "effective_on",
        "member",
        "from_tier",
        "to_tier",
        "cause",
        "policy",
        "spend",
        "frequency",
        "tenure_years",
        "contribution",
        "actor",
    )
    list_filter = ("cause", "to_tier", "effective_on")
    list_select_related = ("member", "from_tier", "to_tier", "policy", "actor")
    search_fields = ("=member__member_no",)
    raw_id_fields = ("member",)
    show_full_result_count = False

    @admin.display(description=_("spend"), ordering="spend_fen")
    def spend(self, change: TierChange) -> str:
        return format_fen(change.spend_fen)


@admin.register(DowngradeWarning)
class DowngradeWarningAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "warned_on",
        "member",
        "tier",
        "qualified_tier",
        "tier_year_end",
        "downgrade_not_before",
        "notified_at",
    )
    list_filter = ("tier", ("notified_at", admin.EmptyFieldListFilter), "warned_on")
    list_select_related = ("member", "tier", "qualified_tier")
    search_fields = ("=member__member_no",)
    raw_id_fields = ("member",)
    show_full_result_count = False


@admin.register(MemberEvaluation)
class MemberEvaluationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "member",
        "evaluated_on",
        "policy",
        "qualified_tier",
        "spend",
        "frequency",
        "tenure_years",
        "contribution",
    )
    list_filter = ("qualified_tier", "evaluated_on")
    list_select_related = ("member", "policy", "qualified_tier")
    search_fields = ("=member__member_no",)
    raw_id_fields = ("member",)
    show_full_result_count = False

    @admin.display(description=_("spend"), ordering="spend_fen")
    def spend(self, evaluation: MemberEvaluation) -> str:
        return format_fen(evaluation.spend_fen)


@admin.register(MemberTier)
class MemberTierAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "member",
        "current_tier",
        "tier_year_start",
        "tier_year_end",
        "downgrade_warned_on",
    )
    list_filter = ("current_tier",)
    list_select_related = ("member", "current_tier")
    search_fields = ("=member__member_no",)
    raw_id_fields = ("member",)
    show_full_result_count = False


@admin.register(TierOverride)
class TierOverrideAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("member", "kind", "tier", "starts_on", "ends_on", "ended_on", "created_by")
    list_filter = ("kind", "tier")
    list_select_related = ("member", "tier", "created_by")
    search_fields = ("=member__member_no",)
    raw_id_fields = ("member",)
    show_full_result_count = False
