"""Admin: committee seats are edited here (through the audited services); cases, votes and
transitions are read-only records (the case pages and the services write them)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from loyalty.admin import ReadOnlyAdminMixin

from .models import CaseTransition, CommitteeMember, ReviewCase, Vote
from .services import committee_member_remove, committee_member_set


class CommitteeMemberForm(forms.ModelForm):
    class Meta:
        model = CommitteeMember
        fields = ("user", "department", "is_chair")

    def _get_validation_exclusions(self):
        # Naming a new chair replaces the old one (committee_member_set), so the one-chair
        # constraint is not a form error here; the database still holds it.
        return super()._get_validation_exclusions() | {"is_chair"}


@admin.register(CommitteeMember)
class CommitteeMemberAdmin(admin.ModelAdmin):
    form = CommitteeMemberForm
    list_display = ("user", "department", "is_chair", "created_at")
    list_filter = ("department", "is_chair")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__first_name", "user__last_name")
    raw_id_fields = ("user",)
    fields = ("user", "department", "is_chair")

    def get_readonly_fields(self, request, obj=None):
        # A seat belongs to one user; move someone by removing the seat and adding another.
        return ("user",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        seat = committee_member_set(
            user=obj.user, department=obj.department, is_chair=obj.is_chair, actor=request.user
        )
        obj.pk = seat.pk

    def delete_model(self, request, obj):
        committee_member_remove(seat=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for seat in queryset.select_related("user"):
            committee_member_remove(seat=seat, actor=request.user)


class VoteInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Vote
    fields = ("department", "voter", "choice", "comment", "updated_at")
    readonly_fields = fields
    extra = 0


class TransitionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CaseTransition
    fields = ("created_at", "from_state", "to_state", "actor", "note")
    readonly_fields = fields
    extra = 0


@admin.register(ReviewCase)
class ReviewCaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "member", "quarter", "state", "profiles", "granted_tier", "due_on")
    list_filter = ("state", "quarter")
    list_select_related = ("member", "granted_tier")
    search_fields = ("=member__member_no",)
    raw_id_fields = ("member",)
    inlines = (VoteInline, TransitionInline)
    show_full_result_count = False
