"""The admin site's titles, the shared read-only mixin, and the audit log (append-only)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .masking import mask_contact
from .models import AuditEntry

# Staff without it see phone numbers and e-mail addresses masked, in the admin as everywhere.
CONTACT_PERMISSION = "members.view_member_contact"

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
    readonly_fields = ("masked_before", "masked_after")

    def get_fields(self, request, obj=None):
        changes = ["before", "after"]
        if not request.user.has_perm(CONTACT_PERMISSION):
            changes = ["masked_before", "masked_after"]
        return ["created_at", "actor", "action", "target_type", "target_id", *changes]

    @admin.display(description=_("before"))
    def masked_before(self, entry: AuditEntry) -> str:
        return _masked_json(entry.before)

    @admin.display(description=_("after"))
    def masked_after(self, entry: AuditEntry) -> str:
        return _masked_json(entry.after)


def _masked_json(snapshot) -> str:
    if snapshot is None:
        return "-"
    return json.dumps(mask_contact(snapshot), ensure_ascii=False, sort_keys=True)
