from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Right
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.money import fen_to_yuan

# What ``members.privacy`` puts in place of an erased member's name and number: stored in one
# language for every reader, shown in each reader's (``Member.display_name``).
ERASED_NAME = "[erased]"
ERASED_PREFIX = "ERASED-"


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        EXPERIENCE = "experience", _("experience member")
        BLACKLISTED = "blacklisted", _("blacklisted")

    member_no = models.CharField(_("member number"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("email"), blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    joined_on = models.DateField(_("joined on"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # The language the member's notices are written in: the one they last chose on the member
    # pages (``member_language_record``); empty until then, which is the site's language.
    # A database default too: the import and the benchmark write members by COPY.
    language = models.CharField(
        _("language of notices"),
        max_length=8,
        blank=True,
        choices=settings.LANGUAGES,
        default="",
        db_default="",
    )

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["member_no"]
        permissions = [
            ("view_member_contact", _("Can see members' phone and email unmasked")),
            ("export_member_data", _("Can export everything held about a member (PIPL)")),
            ("erase_member_data", _("Can erase a member's personal data (PIPL)")),
        ]
        # Staff search (backoffice.selectors.member_search): a phone's start (pattern ops, so
        # PostgreSQL serves LIKE 'prefix%'), a phone's last four digits, and the joined-date
        # filter. The name trigram index is PostgreSQL-only, created by migration 0006 alone;
        # a member-number prefix is served by the unique index.
        indexes = [
            models.Index(fields=["status"]),
            models.Index(fields=["joined_on"], name="member_joined_on"),
            models.Index(
                fields=["phone"], name="member_phone_prefix", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(Right("phone", 4), name="member_phone_last4"),
            # The few members who chose a language, for the notices of a range of members
            # (notifications.services.notices_queue).
            models.Index(fields=["id"], condition=~Q(language=""), name="member_language_chosen"),
        ]

    def __str__(self) -> str:
        return f"{self.member_no} {self.display_name}"

    @property
    def is_erased(self) -> bool:
        """Their personal data was erased (``members.privacy.member_erase``)."""
        return self.name == ERASED_NAME and self.member_no.startswith(ERASED_PREFIX)

    @property
    def display_name(self) -> str:
        """The name for pages: an erased member's placeholder in the reader's language."""
        return gettext("[erased]") if self.is_erased else self.name

    @property
    def takes_part(self) -> bool:
        return self.status == self.Status.ACTIVE


class Transaction(models.Model):
    """A purchase or a refund pushed by another system. Amounts are integer fen (exact on both
    databases); ``occurred_on`` is the local date, the one tier windows are counted in."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("purchase")
        REFUND = "refund", _("refund")

    # Indexes are few on purpose: every one is maintained on each of millions of imported rows.
    # The unique constraint (not unique=True) spares PostgreSQL an unused LIKE index, and the
    # (member, occurred_on) index serves every lookup by member.
    external_id = models.CharField(_("external id"), max_length=64)
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="transactions",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    occurred_at = models.DateTimeField(_("occurred at"))
    occurred_on = models.DateField(_("local date"))
    refund_of = models.ForeignKey(
        "self",
        verbose_name=_("refund of"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
        db_index=False,  # the partial index below covers refunds only
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["member", "occurred_on"], name="txn_member_day"),
            models.Index(
                fields=["refund_of"], name="txn_refund_of", condition=Q(refund_of__isnull=False)
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="txn_external_id_unique"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="txn_amount_positive"),
            models.CheckConstraint(
                condition=Q(kind="purchase", refund_of__isnull=True)
                | Q(kind="refund", refund_of__isnull=False),
                name="txn_refund_names_its_purchase",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def amount(self) -> Decimal:
        return fen_to_yuan(self.amount_fen)


class Referral(models.Model):
    """老带新: the referrer earns contribution points on the day the referred member registered."""

    referrer = models.ForeignKey(
        Member,
        verbose_name=_("referrer"),
        on_delete=models.PROTECT,
        related_name="referrals",
        db_index=False,  # served by referral_referrer_day
    )
    referred = models.OneToOneField(
        Member, verbose_name=_("referred member"), on_delete=models.PROTECT, related_name="referral"
    )
    occurred_on = models.DateField(_("date"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-occurred_on", "-id"]
        indexes = [models.Index(fields=["referrer", "occurred_on"], name="referral_referrer_day")]
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=F("referred")), name="referral_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} → {self.referred_id}"


class ActivityParticipation(models.Model):
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="activities",
        db_index=False,  # served by activity_member_day
    )
    activity = models.CharField(_("activity"), max_length=128)
    occurred_at = models.DateTimeField(_("occurred at"))
    occurred_on = models.DateField(_("local date"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("activity participation")
        verbose_name_plural = _("activity participations")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["member", "occurred_on"], name="activity_member_day")]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "activity", "occurred_at"], name="activity_once_per_moment"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.activity}"


class BlacklistEntry(models.Model):
    """Membership revoked for malicious complaints or fraud; lifting it is a separate, more
    privileged and audited action, so the entry keeps who lifted it and when."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="blacklist_entries"
    )
    reason = models.TextField(_("reason"))
    evidence = models.TextField(_("evidence"), blank=True)
    # A screenshot or document kept in the default storage (MEDIA_ROOT); served to staff only
    # through the back office, never from a public URL.
    # db_default: the set-based importer inserts rows without naming this column.
    evidence_file = models.FileField(
        _("evidence file"),
        upload_to="blacklist-evidence/%Y/%m/",
        max_length=255,
        blank=True,
        db_default="",
    )
    occurred_at = models.DateTimeField(_("blacklisted at"))
    previous_status = models.CharField(
        _("status before"), max_length=16, choices=Member.Status.choices
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("lifted by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    lift_reason = models.TextField(_("reason for lifting"), blank=True)

    class Meta:
        verbose_name = _("blacklist entry")
        verbose_name_plural = _("blacklist")
        # Lifting is a separate, more privileged action than blacklisting (domain.md).
        permissions = [("lift_blacklistentry", _("Can lift a blacklist entry"))]
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(lifted_at__isnull=True),
                name="one_open_blacklist_entry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.occurred_at:%Y-%m-%d}"
