from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """An attempt to change or delete a row of an append-only record."""


class AuditEntryQuerySet(models.QuerySet):
    """Bulk updates and deletes are refused like single ones: the audit log is append-only."""

    def update(self, **kwargs):
        raise AppendOnlyError("the audit log is append-only: entries cannot be changed")

    def delete(self):
        raise AppendOnlyError("the audit log is append-only: entries cannot be deleted")

    def _redact(self, rows: dict[int, tuple[dict | None, dict | None]]) -> None:
        """Replace ``before`` / ``after`` of the given entries; only loyalty.audit.audit_redact
        (PIPL erasure) calls this, and on PostgreSQL only inside its redaction transaction
        does the database allow it (see migration 0002)."""
        for pk, (before, after) in rows.items():
            super(AuditEntryQuerySet, self.filter(pk=pk)).update(before=before, after=after)


class AuditEntry(models.Model):
    """Who changed what, before and after. Append-only: written by services, never changed or
    deleted by the application (the model and its querysets refuse; on PostgreSQL a trigger
    refuses too). The one exception is PIPL erasure, which blanks a member's personal data in
    the entries about that member (loyalty.audit.audit_redact)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=64)
    target_type = models.CharField(_("target type"), max_length=64)
    target_id = models.CharField(_("target id"), max_length=64)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}#{self.target_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("the audit log is append-only: entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("the audit log is append-only: entries cannot be deleted")


class UsedConfirmation(models.Model):
    """The nonce of a confirmation page that was confirmed (loyalty.confirm), so that the same
    page confirmed again does nothing. Rows live no longer than the tokens they name."""

    nonce = models.CharField(_("nonce"), max_length=64, primary_key=True)
    used_at = models.DateTimeField(_("used at"), db_index=True)

    class Meta:
        verbose_name = _("used confirmation")
        verbose_name_plural = _("used confirmations")

    def __str__(self) -> str:
        return self.nonce
