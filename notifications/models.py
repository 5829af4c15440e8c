from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from loyalty.stored_text import shown

# Why a notice was not sent, as the system records it (stored in English, shown in the
# reader's language); a backend's own error is kept as it came.
TOO_OLD = gettext_noop("The event is too old to send (a recompute of past dates).")
NO_EMAIL = gettext_noop("The member has no e-mail address.")
NO_PHONE = gettext_noop("The member has no phone number.")
ERASED = gettext_noop("Not sent: the member's personal data was erased.")
NO_TIER = gettext_noop("Not sent: the member holds no tier now (blacklisted since it was written).")
# What replaced a failed delivery's error when the member was erased (it may quote the address).
ERASED_ERROR = gettext_noop("[erased]")
SYSTEM_ERRORS = (TOO_OLD, NO_EMAIL, NO_PHONE, ERASED, ERASED_ERROR, NO_TIER)
# What replaces an erased member's notices, in the notice's own language (``privacy.py``).
ERASED_SUBJECT = gettext_noop("[erased]")
ERASED_BODY = gettext_noop("This message was erased at the member's request (personal data).")


class Kind(models.TextChoices):
    UPGRADE = "upgrade", _("upgrade congratulations")
    TIER_KEPT = "tier_kept", _("tier kept for a new tier year")
    DOWNGRADE_WARNING = "downgrade_warning", _("downgrade warning")
    DOWNGRADE = "downgrade", _("downgrade")
    EXCEPTIONAL_UPGRADE = "exceptional_upgrade", _("exceptional upgrade")
    BLACKLIST = "blacklist", _("membership revoked")
    REINSTATED = "reinstated", _("membership restored")
    REVIEW_DECLINED = "review_declined", _("exceptional upgrade declined")


# The variables each kind's text may use besides ``member_name`` (tiers.notices and the review
# decline fill them; README, "Notifications"): a template naming another would print nothing.
VARIABLES = {
    Kind.UPGRADE: {"tier", "tier_year_end"},
    Kind.TIER_KEPT: {"tier", "tier_year_end"},
    Kind.DOWNGRADE_WARNING: {
        "tier", "qualified_tier", "to_tier", "tier_year_end", "downgrade_not_before", "missing",
    },
    Kind.DOWNGRADE: {"from_tier", "to_tier"},
    Kind.EXCEPTIONAL_UPGRADE: {"tier", "message", "ends_on"},
    Kind.BLACKLIST: set(),
    Kind.REINSTATED: {"tier", "tier_year_end"},
    Kind.REVIEW_DECLINED: {"reason"},
}  # fmt: skip


class Channel(models.TextChoices):
    IN_APP = "in_app", _("in-app message")
    EMAIL = "email", _("e-mail")
    SMS = "sms", _("SMS")


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", _("Simplified Chinese")
    EN = "en", _("English")


class NotificationTemplate(models.Model):
    """The text of one kind of notice in one language, in Django template syntax. Staff edit
    it (audited); the defaults come from a data migration."""

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("notification template")
        verbose_name_plural = _("notification templates")
        ordering = ["kind", "language"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "language"], name="one_template_per_language")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.language})"


class Notification(models.Model):
    """The outbox: one notice to one member on one channel, rendered when it was queued.

    ``dedupe_key`` names the event (e.g. ``warning:gold:2025-03-01:2026-03-01``, the tier
    year warned about), so a member gets at most one notice per kind per event and channel
    however often the evaluation runs. In-app messages are delivered by being stored; e-mail
    and SMS are sent by the delivery task, retried with backoff, then marked failed."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("not sent")

    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,  # served by notification_member_time
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    dedupe_key = models.CharField(_("event"), max_length=128)
    event_on = models.DateField(_("event date"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    created_at = models.DateTimeField(_("queued at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        permissions = [("resend_notification", _("Can resend a notification"))]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "channel", "dedupe_key"], name="one_notice_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="notification_member_time"),
            models.Index(
                fields=["next_attempt_at"],
                name="notification_due",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind} {self.channel} {self.status}"

    @property
    def subject_display(self) -> str:
        """The subject for staff: an erased notice's placeholder in the reader's language."""
        return shown(self.subject, (ERASED_SUBJECT,))

    @property
    def body_display(self) -> str:
        return shown(self.body, (ERASED_BODY,))

    @property
    def last_error_display(self) -> str:
        """The last error as the reader reads it: the system's reasons in their language."""
        return shown(self.last_error, SYSTEM_ERRORS)
