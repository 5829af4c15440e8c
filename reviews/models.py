"""The special review channel (特殊评审通道): committee members, review cases, votes and the
record of every state a case went through. Written only by ``reviews.services``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from loyalty.stored_text import shown
from loyalty.words import listed
from tiers.review_settings import BIG_ONE_OFF, LOYAL_VETERAN, REFERRAL_CHAMPION

# Reasons and notes the system records (stored in English, shown in the reader's language).
QUORUM_REACHED = gettext_noop("Quorum reached.")
QUORUM_OVERRIDE_HELD = gettext_noop(
    "Quorum reached, but approving would replace a stronger override the member holds: the "
    "chair decides."
)
MEMBER_ERASED = gettext_noop(
    "Withdrawn: the member's personal data was erased, so no one votes on, grants or tells "
    "them anything."
)
MEMBER_BLACKLISTED = gettext_noop(
    "Withdrawn: the member was blacklisted, so no one votes on, grants or tells them anything."
)
SYSTEM_TEXTS = (QUORUM_REACHED, QUORUM_OVERRIDE_HELD, MEMBER_ERASED, MEMBER_BLACKLISTED)


class Department(models.TextChoices):
    CUSTOMER_OPS = "customer_ops", _("customer operations")
    SALES = "sales", _("sales")
    CUSTOMER_SERVICE = "customer_service", _("customer service")


class Profile(models.TextChoices):
    """The typical atypical customers the rules miss (domain.md); thresholds are policy data."""

    LOYAL_VETERAN = LOYAL_VETERAN, _("loyal veteran")
    BIG_ONE_OFF = BIG_ONE_OFF, _("big one-off purchase")
    REFERRAL_CHAMPION = REFERRAL_CHAMPION, _("referral champion")


def profiles_text(codes: list[str]) -> str:
    """The profiles by their labels, as a list in the reader's language (an unknown code as it
    is)."""
    labels = {code: str(label) for code, label in Profile.choices}
    return listed(labels.get(c, c) for c in codes)


class CommitteeMember(models.Model):
    """A staff user on the review committee, with the department they vote for; the chair
    decides the cases in discussion."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="committee_seat",
    )
    department = models.CharField(_("department"), max_length=32, choices=Department.choices)
    is_chair = models.BooleanField(_("chair"), default=False)
    created_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("committee member")
        verbose_name_plural = _("committee members")
        ordering = ["department", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_chair"], condition=Q(is_chair=True), name="one_committee_chair"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_department_display()})"


class ReviewCase(models.Model):
    """One member's special review: who nominated them and why, the evidence frozen at
    nomination, the proposal (uplift, validity, message), the votes and the decision.

    nominated → voting → approved / rejected / withdrawn, with discussion between voting and the
    decision when anyone rejects. At most one open case per member."""

    class State(models.TextChoices):
        NOMINATED = "nominated", _("nominated")
        VOTING = "voting", _("voting")
        DISCUSSION = "discussion", _("in discussion")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        WITHDRAWN = "withdrawn", _("withdrawn")

    OPEN_STATES = (State.NOMINATED, State.VOTING, State.DISCUSSION)

    class Uplift(models.IntegerChoices):
        ONE = 1, _("+1 tier")
        TWO = 2, _("+2 tiers")

    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="review_cases",
    )
    # The nomination round (``2026Q2``): the quarter evaluated, or the quarter of a hand
    # nomination. A case is due by the end of the quarter it was opened in.
    quarter = models.CharField(_("quarter"), max_length=6)
    due_on = models.DateField(_("decide by"))
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.NOMINATED
    )
    # The profile codes the member matched; empty for a hand nomination.
    profiles = models.JSONField(_("profiles"), default=list, blank=True)
    nominated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("nominated by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    justification = models.TextField(_("justification"), blank=True)
    # The evidence as of ``as_of`` with the policy in force then, frozen at nomination.
    as_of = models.DateField(_("evidence as of"))
    policy = models.ForeignKey(
        "tiers.TierPolicy", verbose_name=_("policy"), on_delete=models.PROTECT, related_name="+"
    )
    qualified_tier = models.ForeignKey(
        "tiers.Tier",
        verbose_name=_("qualified tier at nomination"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    evidence = models.JSONField(_("evidence"))
    uplift = models.PositiveSmallIntegerField(
        _("proposed uplift"), choices=Uplift.choices, default=Uplift.ONE
    )
    validity_months = models.PositiveSmallIntegerField(_("validity (months)"), default=12)
    message = models.TextField(_("message to the member"), blank=True)
    created_at = models.DateTimeField(_("nominated at"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decision_reason = models.TextField(_("reason for the decision"), blank=True)
    granted_tier = models.ForeignKey(
        "tiers.Tier",
        verbose_name=_("granted tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    override = models.OneToOneField(
        "tiers.TierOverride",
        verbose_name=_("exceptional upgrade"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="review_case",
    )

    class Meta:
        verbose_name = _("review case")
        verbose_name_plural = _("review cases")
        ordering = ["-created_at", "-id"]
        permissions = [("vote_reviewcase", _("Can vote on special review cases"))]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(state__in=["nominated", "voting", "discussion"]),
                name="one_open_review_case",
            ),
            models.CheckConstraint(condition=Q(uplift__in=[1, 2]), name="review_uplift_1_or_2"),
        ]
        indexes = [
            models.Index(fields=["quarter", "state"], name="reviewcase_quarter_state"),
            models.Index(fields=["state", "due_on"], name="reviewcase_state_due"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.member_id} {self.quarter}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def is_hand_nomination(self) -> bool:
        return not self.profiles

    @property
    def decision_reason_display(self) -> str:
        """The reason as the reader reads it: the system's ("Quorum reached.") in their
        language, what the chair or ops wrote as it is."""
        return shown(self.decision_reason, SYSTEM_TEXTS)


class Vote(models.Model):
    """One committee member's vote on one case; changeable until the case is decided."""

    class Choice(models.TextChoices):
        APPROVE = "approve", _("approve")
        REJECT = "reject", _("reject")

    case = models.ForeignKey(
        ReviewCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="votes"
    )
    voter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("voter"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The voter's department when they voted: the quorum counts departments.
    department = models.CharField(_("department"), max_length=32, choices=Department.choices)
    choice = models.CharField(_("vote"), max_length=8, choices=Choice.choices)
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("voted at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("changed at"), auto_now=True)

    class Meta:
        verbose_name = _("vote")
        verbose_name_plural = _("votes")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "voter"], name="one_vote_per_person_per_case")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.voter_id} {self.choice}"


class CaseTransition(models.Model):
    """Append-only: every state a case entered, who moved it and when (also in the audit log)."""

    case = models.ForeignKey(
        ReviewCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="transitions"
    )
    from_state = models.CharField(
        _("from"), max_length=16, choices=ReviewCase.State.choices, blank=True
    )
    to_state = models.CharField(_("to"), max_length=16, choices=ReviewCase.State.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("case transition")
        verbose_name_plural = _("case transitions")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.from_state} → {self.to_state}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("case transitions are append-only")
        super().save(*args, **kwargs)

    @property
    def note_display(self) -> str:
        """The note in the reader's language: a quarterly nomination's note is the profiles
        it matched, stored as their codes (``loyal_veteran, big_one_off``), shown by their
        labels; what staff wrote (a justification, a reason) is shown as it is."""
        profiles = self.case.profiles
        if not self.from_state and profiles and self.note == ", ".join(profiles):
            return profiles_text(profiles)
        return shown(self.note, SYSTEM_TEXTS)
