"""Admin for members and what other systems push about them.

Members can number in the millions: foreign keys to a member are raw-id inputs (a select would
load every member), searches start from indexed columns, and list pages skip the full count.
A member's status and tier state are read-only here: status changes (blacklisting, lifting it,
converting an experience member) are audited actions with their own rules, and the tier state is
written only by the evaluation (tiers.services). Transactions, referrals, activities and
blacklist entries come from imports and services, which check what a plain form would not
(a refund's purchase and remaining amount, the local date), so the admin only shows them.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.admin import ReadOnlyAdminMixin
from tiers.templatetags.tier_display import fen_as_yuan

from .models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction

TIER_STATE_FIELDS = ("current_tier", "tier_year_start", "tier_year_end", "downgrade_warned_on")
EVALUATION_FIELDS = (
    "evaluated_on",
    "evaluated_policy",
    "qualified_tier",
    "spend",
    "frequency",
    "tenure_years",
    "contribution",
)


def _evaluation_value(attribute: str, description, ordering: str | None = None):
    """An admin column showing one figure of the member's last evaluation (blank before it)."""

    @admin.display(description=description, ordering=ordering)
    def value(self, member: Member):
        evaluation = member.last_evaluation
        return getattr(evaluation, attribute) if evaluation else None

    return value


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = (
        "member_no",
        "name",
        "phone",
        "status",
        "current_tier",
        "qualified_tier",
        "tier_year_end",
        "spend",
        "evaluated_on",
    )
    list_filter = ("status", "current_tier", "evaluation__qualified_tier")
    list_select_related = ("current_tier", "evaluation__qualified_tier")
    # "^" and "=" keep member number and phone searches on their indexes' prefix.
    search_fields = ("^member_no", "name", "^phone", "=email")
    show_full_result_count = False
    readonly_fields = ("status", *TIER_STATE_FIELDS, *EVALUATION_FIELDS, "created_at")
    fieldsets = (
        (None, {"fields": ("member_no", "name", "status", "joined_on", "created_at")}),
        (_("Contact"), {"fields": ("phone", "email", "birthday")}),
        (
            _("Tier (set by the evaluation)"),
            {"fields": (*TIER_STATE_FIELDS, *EVALUATION_FIELDS)},
        ),
    )

    evaluated_on = _evaluation_value("evaluated_on", _("evaluated on"), "evaluation__evaluated_on")
    evaluated_policy = _evaluation_value("policy", _("evaluated with policy"))
    qualified_tier = _evaluation_value("qualified_tier", _("qualified tier"))
    frequency = _evaluation_value("frequency", _("frequency"))
    tenure_years = _evaluation_value("tenure_years", _("tenure (years)"))
    contribution = _evaluation_value("contribution", _("contribution"))

    @admin.display(description=_("spend"), ordering="evaluation__spend_fen")
    def spend(self, member: Member) -> str:
        evaluation = member.last_evaluation
        return fen_as_yuan(evaluation.spend_fen if evaluation else None)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("external_id", "member", "kind", "amount", "occurred_on", "refund_of")
    list_filter = ("kind", "occurred_on")
    list_select_related = ("member", "refund_of")
    search_fields = ("=external_id", "=member__member_no")
    raw_id_fields = ("member", "refund_of")
    show_full_result_count = False

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, transaction: Transaction) -> str:
        return fen_as_yuan(transaction.amount_fen)


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("occurred_on", "referrer", "referred")
    list_filter = ("occurred_on",)
    list_select_related = ("referrer", "referred")
    search_fields = ("=referrer__member_no", "=referred__member_no")
    raw_id_fields = ("referrer", "referred")
    show_full_result_count = False


@admin.register(ActivityParticipation)
class ActivityParticipationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("occurred_on", "member", "activity")
    list_filter = ("occurred_on",)
    list_select_related = ("member",)
    search_fields = ("=member__member_no", "activity")
    raw_id_fields = ("member",)
    show_full_result_count = False


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("member", "occurred_at", "short_reason", "created_by", "lifted_at")
    list_filter = (("lifted_at", admin.EmptyFieldListFilter), "occurred_at")
    list_select_related = ("member", "created_by")
    search_fields = ("=member__member_no", "reason")
    raw_id_fields = ("member",)
    show_full_result_count = False

    @admin.display(description=_("reason"))
    def short_reason(self, entry: BlacklistEntry) -> str:
        return entry.reason if len(entry.reason) <= 40 else f"{entry.reason[:40]}…"
