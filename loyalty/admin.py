"""The admin site's titles, the shared read-only mixin, and the audit log (append-only)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import AuditEntry

admin.site.site_header = _("Membership tiers")
admin.site.site_title = _("Membership tiers")
admin.site.index_title = _("Administration")


class ReadOnlyAdminMixin:
    """View only, for every user: these rows are written by imports and audited services (which
    check what the admin's forms would not), or are append-only history."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    list_select_related = ("actor",)
    search_fields = ("=target_id", "action", "=actor__username")
    date_hierarchy = "created_at"
    show_full_result_count = False
