"""Admin: notification templates are edited here (each change audited through the service);
the outbox is read-only (staff resend from the member's notifications page)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from loyalty.admin import ReadOnlyAdminMixin
from loyalty.exceptions import DomainError

from .models import Notification, NotificationTemplate
from .services import template_check, template_update


class TemplateForm(forms.ModelForm):
    class Meta:
        model = NotificationTemplate
        fields = ("subject", "body")

    def clean(self):
        cleaned = super().clean()
        for name in ("subject", "body"):
            try:
                template_check(cleaned.get(name, ""), self.instance.kind)
            except DomainError as exc:
                self.add_error(name, str(exc))
        return cleaned


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    form = TemplateForm
    list_display = ("kind", "language", "subject", "updated_at")
    list_filter = ("kind", "language")
    readonly_fields = ("kind", "language", "updated_at")
    fields = ("kind", "language", "subject", "body", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        template_update(
            template=NotificationTemplate.objects.get(pk=obj.pk),
            subject=form.cleaned_data["subject"],
            body=form.cleaned_data["body"],
            actor=request.user,
        )


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("member", "kind", "channel", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "channel", "kind")
    search_fields = ("member__member_no",)
    raw_id_fields = ("member",)
    list_select_related = ("member",)
