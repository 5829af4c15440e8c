from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .outcomes import result_text


class JobRun(models.Model):
    """One run of a scheduled job. A recompute run is split into chunks of members
    (``RecomputeChunk``) that workers on any host take from the queue; its totals grow as chunks
    finish, each counted once, in the chunk's own transaction."""

    class Kind(models.TextChoices):
        RECOMPUTE = "recompute", _("nightly recompute")
        LIFECYCLE = "lifecycle", _("daily lifecycle and warnings")
        OVERRIDES_EXPIRE = "overrides_expire", _("expiry of overrides and exceptional upgrades")
        NOTIFICATION_RETRIES = "notification_retries", _("notification delivery retries")
        NOMINATION = "nomination", _("quarterly special-review nomination")
        SIGNIN_CODES_PURGE = "signin_codes_purge", _("purge of expired sign-in codes")

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("job"), max_length=32, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RUNNING
    )
    as_of = models.DateField(_("as of"), null=True, blank=True)
    scope = models.CharField(_("members"), max_length=8, blank=True)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    evaluated = models.PositiveIntegerField(_("members evaluated"), default=0)
    upgrades = models.PositiveIntegerField(_("upgrades"), default=0)
    downgrades = models.PositiveIntegerField(_("downgrades"), default=0)
    warnings = models.PositiveIntegerField(_("warnings"), default=0)
    errors = models.PositiveIntegerField(_("errors"), default=0)
    message = models.TextField(_("message"), blank=True)
    # What the run did as data (jobs.outcomes), put into words when shown; ``message`` keeps
    # free text: an error's traceback, another app's result.
    outcome = models.JSONField(_("outcome"), default=dict, blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-id"]
        permissions = [("start_jobrun", _("Can start a job run now"))]
        indexes = [models.Index(fields=["kind", "-started_at"], name="jobrun_kind_started")]

    def __str__(self) -> str:
        # Local time (settings.TIME_ZONE), as every other time on the staff pages.
        return f"{self.get_kind_display()} {timezone.localtime(self.started_at):%Y-%m-%d %H:%M}"

    def result_text(self) -> str:
        """What the run did, in the current language (its message as it is, without one)."""
        return result_text(self.outcome or self.message)


class RecomputeChunk(models.Model):
    """The members ``first_id <= id <= last_id`` (no upper bound when empty) of one run: one
    task, one transaction. Done exactly once: the chunk row is locked and marked done in the
    transaction that writes its evaluations, so a retried or redelivered chunk is skipped."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    run = models.ForeignKey(
        JobRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="chunks"
    )
    first_id = models.BigIntegerField(_("first member id"))
    last_id = models.BigIntegerField(_("last member id"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    evaluated = models.PositiveIntegerField(_("members evaluated"), default=0)
    upgrades = models.PositiveIntegerField(_("upgrades"), default=0)
    downgrades = models.PositiveIntegerField(_("downgrades"), default=0)
    warnings = models.PositiveIntegerField(_("warnings"), default=0)
    seconds = models.FloatField(_("seconds"), null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=128, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("recompute chunk")
        verbose_name_plural = _("recompute chunks")
        ordering = ["run", "first_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "first_id"], name="one_chunk_per_start")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.first_id}–{self.last_id or ''}"
