"""Member sign-in. Members are not Django users: a member account never reaches the back office
or the admin, because nothing here can make ``request.user`` anything but anonymous."""

from __future__ import annotations

from django.contrib.auth.hashers import is_password_usable
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MemberAccount(models.Model):
    """A member's sign-in state: an optional password (set after a first sign-in with an SMS
    code), the last sign-in and the count of password failures that pauses password sign-in for
    a while (SMS codes still work)."""

    member = models.OneToOneField(
        "members.Member",
        verbose_name=_("member"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="portal_account",
    )
    # A django.contrib.auth.hashers hash; empty until the member sets a password.
    password = models.CharField(_("password"), max_length=128, blank=True)
    password_changed_at = models.DateTimeField(_("password changed at"), null=True, blank=True)
    last_login = models.DateTimeField(_("last sign-in"), null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(_("failed attempts"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    # members.privacy: the account goes with an erasure; its password hash is never exported.
    PRIVACY_ERASE = "member"
    PRIVACY_EXPORT_OMITS = ("password",)

    class Meta:
        verbose_name = _("member account")
        verbose_name_plural = _("member accounts")

    def __str__(self) -> str:
        return str(self.member_id)

    @property
    def has_password(self) -> bool:
        return bool(self.password) and is_password_usable(self.password)


class SignInCode(models.Model):
    """One request for an SMS sign-in code. A request for a number that matches no member is
    kept too, with a code that is never sent, so the limits per phone and per address count
    every request and neither the answer nor a guessed code tells who is a member."""

    phone = models.CharField(_("phone"), max_length=32)  # normalised: 11 digits
    client_ip = models.GenericIPAddressField(_("client address"))
    # HMAC of the code with the site's secret key (empty in rows of older versions, which
    # kept no code for a number that is not a single active member's).
    code_hash = models.CharField(_("code hash"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    # members.privacy: the requests for an erased member's number go (with the addresses).
    PRIVACY_ERASE = "phone"

    class Meta:
        verbose_name = _("sign-in code")
        verbose_name_plural = _("sign-in codes")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["phone", "created_at"], name="signincode_phone_time"),
            models.Index(fields=["client_ip", "created_at"], name="signincode_address_time"),
        ]

    def __str__(self) -> str:
        return f"{self.phone[:3]}****{self.phone[-4:]} {self.created_at:%Y-%m-%d %H:%M}"
