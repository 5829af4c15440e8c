"""The admin site's titles, the shared read-only mixin, the audit log (append-only), and the
audit entries of what is changed in Django's and the libraries' admins."""

from __future__ import annotations

import json

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_q.models import Failure, OrmQ, Schedule, Success

from .audit import audit_record
from .masking import contacts_visible, mask_contact
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
    readonly_fields = ("masked_before", "masked_after")

    def get_fields(self, request, obj=None):
        changes = ["before", "after"]
        if not contacts_visible(request.user):
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


# --- Django's and the libraries' admins ----------------------------------------------------


class AuditedAdminMixin:
    """For admins with no audited service behind them (staff accounts and groups, the task
    schedules and queue, axes' records of login attempts; superusers only): every addition,
    change and deletion made there is written to the audit log too (``admin.add``,
    ``admin.change``, ``admin.delete``), with the admin's own account of what changed and the
    row as it was and as it is."""

    def audit_snapshot(self, obj) -> dict:
        return {"object": str(obj)}

    def save_model(self, request, obj, form, change):
        if change:
            # Read before the row is saved, and its many-to-many fields after it (save_related).
            stored = type(obj)._default_manager.get(pk=obj.pk)
            obj._audit_before = self.audit_snapshot(stored)
        super().save_model(request, obj, form, change)

    def log_addition(self, request, obj, message):
        audit_record(
            actor=request.user,
            action="admin.add",
            target=obj,
            after={**self.audit_snapshot(obj), "changes": message},
        )
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        audit_record(
            actor=request.user,
            action="admin.change",
            target=obj,
            before=getattr(obj, "_audit_before", None),
            after={**self.audit_snapshot(obj), "changes": message},
        )
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            audit_record(
                actor=request.user,
                action="admin.delete",
                target=obj,
                before=self.audit_snapshot(obj),
            )
        return super().log_deletions(request, queryset)


def _permissions(permissions) -> list[str]:
    return sorted(
        f"{p.content_type.app_label}.{p.codename}"
        for p in permissions.select_related("content_type")
    )


class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    def audit_snapshot(self, user) -> dict:
        # Never the password (its change is named in "changes").
        return {
            "username": user.username,
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "groups": sorted(user.groups.values_list("name", flat=True)),
            "permissions": _permissions(user.user_permissions),
        }


class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    def audit_snapshot(self, group) -> dict:
        return {"name": group.name, "permissions": _permissions(group.permissions)}


def _audited(model, model_admin: type | None = None) -> None:
    """Register ``model`` again, its admin with the audit mixin in front."""
    current = type(admin.site._registry[model])
    admin.site.unregister(model)
    admin.site.register(
        model,
        model_admin
        or type(current.__name__, (AuditedAdminMixin, current), {"__module__": __name__}),
    )


class AuditedAccessAttemptAdmin(AuditedAdminMixin, axes_admin.AccessAttemptAdmin):
    """axes' login attempts, with the two texts axes leaves out of any catalog (the status
    column's heading, a method's name; the clean-up's message, formatted before gettext) and
    its clean-up action mended: axes reads the time of the request's login attempt, which only
    a login request has, so the action failed (a server error) on every admin request."""

    @admin.display(description=_("status"))
    def status(self, obj: AccessAttempt) -> str:
        return super().status(obj)

    @admin.action(description=_("Clean up expired attempts"))
    def cleanup_expired_attempts(self, request, queryset) -> None:
        if not hasattr(request, "axes_attempt_time"):
            request.axes_attempt_time = None  # axes then counts the cool-off back from now
        count = self.handler.clean_expired_user_attempts(request=request)
        self.message_user(
            request,
            ngettext(
                "Cleaned up %(count)d expired login attempt.",
                "Cleaned up %(count)d expired login attempts.",
                count,
            )
            % {"count": count},
        )


_audited(get_user_model(), AuditedUserAdmin)
_audited(Group, AuditedGroupAdmin)
_audited(AccessAttempt, AuditedAccessAttemptAdmin)
for _model in (Schedule, Success, Failure, OrmQ, AccessLog, AccessFailureLog):
    _audited(_model)
