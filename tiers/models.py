from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext_lazy as _

from loyalty.money import fen_to_yuan
from loyalty.stored_text import shown
from members.models import Member

from . import engine
from .review_settings import default_review_settings


class BilingualNameMixin:
    """Data staff edit in both languages; show the one the reader uses."""

    def localized(self, field: str) -> str:
        english = (get_language() or "").startswith("en")
        return getattr(self, f"{field}_en" if english else f"{field}_zh") or getattr(
            self, f"{field}_zh"
        )


class Tier(BilingualNameMixin, models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    rank = models.PositiveSmallIntegerField(
        _("rank"), unique=True, help_text=_("Higher is better; the entry tier has the lowest rank.")
    )
    name_zh = models.CharField(_("Chinese name"), max_length=64)
    name_en = models.CharField(_("English name"), max_length=64)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["-rank"]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.localized("name")


class Benefit(BilingualNameMixin, models.Model):
    class Kind(models.TextChoices):
        DISCOUNT = "discount", _("price discount")
        POINTS_MULTIPLIER = "points_multiplier", _("points multiplier")
        BIRTHDAY_BONUS = "birthday_bonus", _("birthday-month bonus")
        WELCOME_POINTS = "welcome_points", _("welcome points")
        SERVICE = "service", _("service")

    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.CASCADE, related_name="benefits"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    # Discount in percent of the price paid (95 = 9.5折), a multiplier, or a number of points.
    value = models.DecimalField(_("value"), max_digits=10, decimal_places=2, null=True, blank=True)
    title_zh = models.CharField(_("Chinese title"), max_length=128)
    title_en = models.CharField(_("English title"), max_length=128)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["tier", "position", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return self.localized("title")


# Upper bounds of a policy's settings: a warning or notice longer than the tier year itself,
# or points beyond any threshold, can only be a typing slip.
MAX_POLICY_DAYS = 365
# domain.md: "no downgrade takes effect sooner than 30 days after that warning".
MIN_NOTICE_DAYS = 30
MAX_POINTS = 1_000_000


class TierPolicy(models.Model):
    """One version of the tier rules. Drafts are edited; a published version is never edited,
    and is in force from its effective date until a later published version takes over."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        PUBLISHED = "published", _("published")

    version = models.PositiveIntegerField(_("version"), unique=True)
    name = models.CharField(_("name"), max_length=128)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    window_kind = models.CharField(
        _("window"),
        max_length=16,
        choices=[
            (engine.WindowKind.ROLLING_YEAR.value, _("rolling year")),
            (engine.WindowKind.CALENDAR_YEAR.value, _("calendar year")),
        ],
        default=engine.WindowKind.ROLLING_YEAR.value,
    )
    referral_points = models.PositiveIntegerField(
        _("points per referral"), default=200, validators=[MaxValueValidator(MAX_POINTS)]
    )
    activity_points = models.PositiveIntegerField(
        _("points per activity"), default=100, validators=[MaxValueValidator(MAX_POINTS)]
    )
    warning_lead_days = models.PositiveSmallIntegerField(
        _("warning lead days"),
        default=30,
        validators=[MaxValueValidator(MAX_POLICY_DAYS)],
        help_text=_("How long before the tier year ends a member below their tier is warned."),
    )
    notice_days = models.PositiveSmallIntegerField(
        _("notice days"),
        default=30,
        validators=[
            MinValueValidator(
                MIN_NOTICE_DAYS,
                _(
                    "Members are promised at least %(limit_value)s days after a warning to make "
                    "up what is missing."
                ),
            ),
            MaxValueValidator(MAX_POLICY_DAYS),
        ],
        help_text=_("No downgrade takes effect sooner than this many days after the warning."),
    )
    downgrade_step = models.CharField(
        _("downgrade"),
        max_length=16,
        choices=[
            (engine.DowngradeStep.TO_QUALIFIED.value, _("straight to the qualified tier")),
            (engine.DowngradeStep.ONE_TIER.value, _("one tier at a time")),
        ],
        default=engine.DowngradeStep.TO_QUALIFIED.value,
    )
    # {tier code: rule}; see tiers/policy.py for the shape and its validation.
    rules = models.JSONField(_("rules"))
    # Nomination profiles, quorum, cooldown, validity; see tiers/review_settings.py.
    review_settings = models.JSONField(
        _("special review settings"), default=default_review_settings, blank=True
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The published version a draft was copied from, and is compared with; empty for the first
    # version and for drafts made before this was recorded.
    based_on = models.ForeignKey(
        "self",
        verbose_name=_("based on"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("tier policy")
        verbose_name_plural = _("tier policies")
        permissions = [("publish_tierpolicy", _("Can publish a tier policy version"))]
        ordering = ["-version"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft") | Q(effective_from__isnull=False),
                name="published_policy_has_effective_date",
            ),
        ]
        indexes = [models.Index(fields=["status", "effective_from"])]

    def __str__(self) -> str:
        return f"v{self.version} {self.name}"


class TierChange(models.Model):
    """Append-only history of every change of a member's current tier, with the numbers that
    were evaluated, so "why am I Gold?" can be answered from the data."""

    class Cause(models.TextChoices):
        QUALIFIED = "qualified", _("first evaluation")
        UPGRADE = "upgrade", _("upgrade")
        DOWNGRADE = "downgrade", _("downgrade")
        REVOKED = "revoked", _("no longer takes part")
        OVERRIDE = "override", _("manual override")
        COMMITTEE = "committee", _("committee decision")
        # Back after a blacklist entry was lifted: the tier the member qualifies for that day.
        REINSTATED = "reinstated", _("membership restored")
        # Carried over from a previous programme (import_csv legacy_tiers): held for one tier
        # year from the day it was granted there.
        LEGACY = "legacy", _("carried over from the previous programme")

    # History is written in bulk (a row for every member on a first evaluation): it has one
    # index, (member, effective_on), and no foreign-key checks in the database. Tiers and
    # policy versions are never deleted (PROTECT, and the admin offers no delete); members are
    # never deleted either (privacy erasure keeps the row), every writer here holds the
    # member's row locked, and a delete through Django would still cascade. A check per row
    # re-proved that at about 8 µs a row: a third of a first evaluation of a million members.
    # The actor and override keys have none either, though they are mostly empty: PostgreSQL
    # still queues a deferred check for every row inserted and runs them all at commit (0.8 s
    # for a million rows).
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        related_name="tier_changes",
        db_index=False,  # the (member, effective_on) index serves it
        db_constraint=False,
    )
    from_tier = models.ForeignKey(
        Tier,
        verbose_name=_("from"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    to_tier = models.ForeignKey(
        Tier,
        verbose_name=_("to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    cause = models.CharField(_("cause"), max_length=16, choices=Cause.choices)
    policy = models.ForeignKey(
        TierPolicy,
        verbose_name=_("policy"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    effective_on = models.DateField(_("effective on"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    spend_fen = models.BigIntegerField(_("spend (fen)"), null=True, blank=True)
    frequency = models.PositiveIntegerField(_("frequency"), null=True, blank=True)
    tenure_years = models.PositiveIntegerField(_("tenure (years)"), null=True, blank=True)
    contribution = models.PositiveIntegerField(_("contribution"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    # The override or exceptional upgrade that caused the change, if any.
    override = models.ForeignKey(
        "TierOverride",
        verbose_name=_("override"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier history")
        ordering = ["-effective_on", "-id"]
        indexes = [models.Index(fields=["member", "-effective_on"])]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier_id} → {self.to_tier_id} ({self.cause})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("tier history is append-only")
        super().save(*args, **kwargs)

    @property
    def note_display(self) -> str:
        """The note as people read it: a revoked tier's note is the member's status code
        (stored as data, in no language), shown by its label."""
        if self.cause == self.Cause.REVOKED and self.note in Member.Status.values:
            return Member.Status(self.note).label
        return shown(self.note, (COMMITTEE_DECISION,))


class MemberTier(models.Model):
    """What a member holds: the current tier, its tier year and this year's downgrade warning.

    Owned by tiers and written only by tiers.services (see engine.advance); one narrow row per
    member who has held a tier, so members (facts about customers) know nothing of tiers and
    recomputes never rewrite the wide member rows."""

    member = models.OneToOneField(
        "members.Member",
        verbose_name=_("member"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="tier_state",
        db_constraint=False,  # see TierChange.member
    )
    current_tier = models.ForeignKey(
        Tier,
        verbose_name=_("current tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # tierstate_tier below
        db_constraint=False,  # see TierChange.member
    )
    tier_year_start = models.DateField(_("tier year start"), null=True, blank=True)
    # Usually one year after the start; an override or an exceptional upgrade ends it on its own
    # end date, which then counts as the tier-year end for the warning and the notice.
    tier_year_end = models.DateField(_("tier year end"), null=True, blank=True)
    downgrade_warned_on = models.DateField(_("downgrade warned on"), null=True, blank=True)
    # The lower tier the member had earned, and its tier year's end, when an override lifted
    # them above it (engine.TierState.earned): when the override's tier year ends they go back
    # to it for what is left of that year, not below. Cleared by the next new tier year.
    earned_tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier earned below the override"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,  # see TierChange.member
    )
    earned_until = models.DateField(_("earned tier held until"), null=True, blank=True)

    class Meta:
        verbose_name = _("tier state")
        verbose_name_plural = _("tier states")
        indexes = [
            models.Index(fields=["current_tier"], name="tierstate_tier"),
            models.Index(fields=["tier_year_end"], name="tierstate_year_end"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.current_tier_id}"


# Why an override ended when a new one replaced it: stored in English, shown translated.
OVERRIDE_REPLACED = gettext_noop("replaced by a new override")
# Why an override ended when its member was blacklisted (membership revoked: no tier, no floor).
OVERRIDE_REVOKED = gettext_noop("ended with the membership (blacklisted)")
# The reason of the committee's exceptional upgrade (its override and its tier change), filled
# in when stored: in English, shown translated.
COMMITTEE_DECISION = gettext_noop("Committee decision, review case #%(id)d")


class TierOverride(models.Model):
    """A floor under a member's tier: a manual override set by staff, or an exceptional upgrade
    granted by the committee. The member holds at least ``tier`` from ``starts_on`` until
    ``ends_on`` (open-ended when empty) and still moves up when the rules give more; the end date
    counts as the tier-year end, so the warning and the notice apply after it. At most one is
    open per member: a new one closes the previous one."""

    class Kind(models.TextChoices):
        MANUAL = "manual", _("manual override")
        COMMITTEE = "committee", _("exceptional upgrade")

    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        related_name="tier_overrides",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("reason"))
    # Shown to the member (an exceptional upgrade's message); empty for most manual overrides.
    message = models.TextField(_("message to the member"), blank=True)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("set by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    # Set when the override ends: on its date (the daily expiry), early by staff, or replaced.
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("ended by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    end_reason = models.TextField(_("reason for ending"), blank=True)

    class Meta:
        verbose_name = _("tier override")
        verbose_name_plural = _("tier overrides")
        ordering = ["-starts_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=Q(ended_on__isnull=True), name="one_open_override"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gt=F("starts_on")),
                name="override_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(
                fields=["ends_on"], name="override_open_end", condition=Q(ended_on__isnull=True)
            )
        ]

    def __str__(self) -> str:
        # Read by people: the admin, a privacy export's history rows ("钻石会员 2026-12-01 – …").
        return f"{self.tier.name} {self.starts_on} – {self.ends_on or '…'}"

    @property
    def reason_display(self) -> str:
        """Why it was set: the committee's reason in the reader's language (stored in English,
        ``loyalty.stored_text``); staff's own reason as they typed it."""
        return shown(self.reason, (COMMITTEE_DECISION,))

    @property
    def end_reason_display(self) -> str:
        """Why it ended, in the reader's language when the system wrote it (stored in English,
        ``loyalty.stored_text``); staff's own reason as they typed it."""
        return shown(self.end_reason, (OVERRIDE_REPLACED, OVERRIDE_REVOKED))

    def active_on(self, day) -> bool:
        return (
            self.starts_on <= day
            and (self.ends_on is None or day < self.ends_on)
            and (self.ended_on is None or day < self.ended_on)
        )


class MemberEvaluation(models.Model):
    """A member's last evaluation: its date, policy version, qualified tier and the four figures.

    One narrow row per member with a single index, rewritten by every recompute: rewriting a
    million of these is several times faster than rewriting the wide member rows."""

    member = models.OneToOneField(
        "members.Member",
        verbose_name=_("member"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="evaluation",
        db_constraint=False,  # see TierChange.member
    )
    evaluated_on = models.DateField(_("evaluated on"))
    # No indexes on these keys: nothing looks evaluations up by policy or tier, and each index
    # would be rewritten with every row of every recompute.
    policy = models.ForeignKey(
        TierPolicy,
        verbose_name=_("policy"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,  # see TierChange.member
    )
    qualified_tier = models.ForeignKey(
        Tier,
        verbose_name=_("qualified tier"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,  # see TierChange.member
    )
    spend_fen = models.BigIntegerField(_("spend (fen)"))
    frequency = models.PositiveIntegerField(_("frequency"))
    tenure_years = models.PositiveIntegerField(_("tenure (years)"))
    contribution = models.PositiveIntegerField(_("contribution"))
    # Raised by every write of the row. The recompute reads everyone's figures in one pass
    # before it locks ranges; a member whose revision moved since that pass was evaluated in
    # real time meanwhile, from newer facts, and gets their figures read again under the lock.
    revision = models.PositiveBigIntegerField(_("revision"), db_default=0, editable=False)

    class Meta:
        verbose_name = _("tier evaluation")
        verbose_name_plural = _("tier evaluations")

    def __str__(self) -> str:
        return f"{self.member_id} {self.evaluated_on}"

    @property
    def spend(self) -> Decimal:
        return fen_to_yuan(self.spend_fen)

    @property
    def metrics(self) -> engine.Metrics:
        return engine.Metrics(
            spend=self.spend,
            frequency=self.frequency,
            tenure_years=self.tenure_years,
            contribution=self.contribution,
        )


class DowngradeWarning(models.Model):
    """The notice a member below their tier gets before the tier year ends (保级提醒): what they
    still need, and the first day a downgrade could take effect. At most one per tier year."""

    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        related_name="downgrade_warnings",
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier at risk"), on_delete=models.PROTECT, related_name="+"
    )
    qualified_tier = models.ForeignKey(
        Tier, verbose_name=_("qualified tier"), on_delete=models.PROTECT, related_name="+"
    )
    policy = models.ForeignKey(
        TierPolicy, verbose_name=_("policy"), on_delete=models.PROTECT, related_name="+"
    )
    warned_on = models.DateField(_("warned on"))
    tier_year_start = models.DateField(_("tier year start"))
    tier_year_end = models.DateField(_("tier year end"))
    downgrade_not_before = models.DateField(_("no downgrade before"))
    # The rule of the tier at risk checked against the member's numbers: what is missing.
    gaps = models.JSONField(_("what is missing"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    notified_at = models.DateTimeField(
        _("notified at"),
        null=True,
        blank=True,
        help_text=_(
            "When the member's in-app message about this warning was delivered (it is written "
            "with the warning); empty when none could be written. E-mail and SMS copies are "
            "sent afterwards: see the member's notifications."
        ),
    )

    class Meta:
        verbose_name = _("downgrade warning")
        verbose_name_plural = _("downgrade warnings")
        ordering = ["-warned_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "tier_year_start"], name="one_warning_per_tier_year"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.warned_on}"
