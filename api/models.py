"""API keys: one per client system (POS, e-commerce, CRM), with scopes. The key itself is shown
once, at creation; only its SHA-256 digest and a short lookup prefix are kept."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    MEMBERS_READ = "members:read", _("read members")
    # Includes reading members (IMPLIED): its answers show the member, and a conflict names the
    # fields that differ, so a write-only key could read members through them anyway.
    MEMBERS_WRITE = "members:write", _("create, update and read members")
    TRANSACTIONS_READ = "transactions:read", _("read transactions")
    TRANSACTIONS_WRITE = "transactions:write", _("record transactions")
    REFERRALS_WRITE = "referrals:write", _("record referrals")
    ACTIVITIES_WRITE = "activities:write", _("record activity participations")
    TIERS_READ = "tiers:read", _("read members' tiers and tier history")


# A scope and the one that includes it.
IMPLIED = {Scope.MEMBERS_READ: Scope.MEMBERS_WRITE}


class ApiKey(models.Model):
    name = models.CharField(_("name"), max_length=100, help_text=_("The client system, e.g. POS."))
    # The first characters of the key, stored in clear to find the row; the rest is secret.
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    key_hash = models.CharField(_("key digest (SHA-256)"), max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    requests_per_minute = models.PositiveIntegerField(_("requests per minute"))
    # The account the key's writes are recorded under (audit log, tier history): no password,
    # no group, never a login.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        related_name="api_key",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    revoke_reason = models.TextField(_("reason for revoking"), blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]
        permissions = [("revoke_apikey", _("Can revoke an API key"))]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or IMPLIED.get(scope) in self.scopes


class ApiKeyUsage(models.Model):
    """Requests per key and minute, counted by one atomic upsert per request, so the limit holds
    across every web worker without a shared cache."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    minute = models.BigIntegerField()  # minutes since the epoch
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "minute"], name="api_usage_per_minute")
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} @ {self.minute}: {self.count}"
