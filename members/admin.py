"""Admin for members and what other systems push about them.

Members can number in the millions: foreign keys to a member are raw-id inputs (a select would
load every member), searches start from indexed columns, and list pages skip the full count.
A member's contact details are saved through the audited ``member_update``; status and tier
state are read-only here: status changes (blacklisting, lifting it, converting an experience
member) are audited actions with their own rules, and the tier state is written only by the
evaluation (tiers.services). Members are neither added nor deleted here. Transactions,
referrals, activities and blacklist entries come from imports and services, which check what a
plain form would not (a refund's purchase and remaining amount, the local date), so the admin
only shows them.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from loyalty.admin import ReadOnlyAdminMixin
from loyalty.masking import contacts_visible, mask_email, mask_phone
from loyalty.money import format_fen

from .contacts import ContactRefused, email_normalised, phone_normalised
from .models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction
from .services import birthday_refusal, member_update


class MemberForm(forms.ModelForm):
    """A phone and an e-mail address read as every other way in reads them, refused here on
    the form rather than by ``member_update`` after it."""

    def _normalised(self, field: str, normalise) -> str:
        try:
            return normalise(self.cleaned_data[field])
        except ContactRefused as refused:
            raise forms.ValidationError(str(refused)) from None

    def clean_phone(self) -> str:
        return self._normalised("phone", phone_normalised)

    def clean_email(self) -> str:
        return self._normalised("email", email_normalised)

    def clean_birthday(self):
        birthday = self.cleaned_data["birthday"]
        if refusal := birthday_refusal(birthday, self.instance.joined_on):
            raise forms.ValidationError(refusal)
        return birthday


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    form = MemberForm
    list_display = ("member_no", "name", "phone", "status", "joined_on")
    list_filter = ("status",)
    # "^" and "=" keep member number and phone searches on their indexes' prefix.
    search_fields = ("^member_no", "name", "^phone", "=email")
    show_full_result_count = False
    # Other records hang on the member number and tenure counts from the joined date, so both
    # are identity here; status changes are audited actions in the back office.
    readonly_fields = ("member_no", "joined_on", "status", "created_at")
    fieldsets = (
        (None, {"fields": ("member_no", "name", "status", "joined_on", "created_at")}),
        (_("Contact"), {"fields": ("phone", "email", "birthday", "language")}),
    )

    # Staff who may not see contact details in full (members.view_member_contact) see them
    # masked, as in the back office, and cannot change them.
    _MASKED = {"phone": "masked_phone", "email": "masked_email"}

    def _masks(self, request) -> bool:
        return not contacts_visible(request.user)

    def get_search_fields(self, request):
        # A phone's start tried digit by digit, or the whole number tried for each middle the
        # mask leaves, would unmask it (backoffice.selectors); an e-mail likewise.
        if self._masks(request):
            return ("^member_no", "name")
        return self.search_fields

    def get_list_display(self, request):
        if self._masks(request):
            return [self._MASKED.get(name, name) for name in self.list_display]
        return self.list_display

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._masks(request):
            return fieldsets
        return [
            (title, {**options, "fields": [self._MASKED.get(f, f) for f in options["fields"]]})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *self._MASKED.values())

    @admin.display(description=_("phone"))
    def masked_phone(self, member: Member) -> str:
        return mask_phone(member.phone)

    @admin.display(description=_("email"))
    def masked_email(self, member: Member) -> str:
        return mask_email(member.email)

    def has_add_permission(self, request) -> bool:
        # Members arrive through the import, the API or the back office, which check them.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # A member's facts and history hang on the row; a privacy request erases the personal
        # data (audited) and keeps the rest anonymously.
        return False

    def save_model(self, request, obj, form, change):
        member_update(
            member=obj,
            actor=request.user,
            **{name: form.cleaned_data[name] for name in form.changed_data},
        )


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
        return format_fen(transaction.amount_fen)


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
