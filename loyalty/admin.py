"""The admin site's titles and the audit log, which is append-only and so read-only here."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import AuditEntry

admin.site.site_header = _("Membership tiers")
admin.site.site_title = _("Membership tiers")
admin.site.index_title = _("Administration")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    list_select_related = ("actor",)
    search_fields = ("=target_id", "action", "=actor__username")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
