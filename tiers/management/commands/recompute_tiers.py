from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext

from loyalty.dates import DateError, parse_date
from loyalty.exceptions import DomainError
from members.models import Member
from tiers.services import tiers_recompute


def _local_date(text: str, today: datetime.date) -> datetime.date:
    # The importer's strict parser: 2026-06-30 or 2026/6/30, years 1900-2999.
    try:
        day = parse_date(text)
    except DateError as exc:
        raise CommandError(exc.describe("--as-of", text)) from None
    if day > today:
        # Evaluations never go backwards: a run dated in the future would leave every member
        # as they are in all later runs until that day comes.
        raise CommandError(
            gettext(
                '--as-of "%(value)s" is after today (%(today)s): a recompute dated in the '
                "future would keep every later run from evaluating anyone until that day"
            )
            % {"value": text, "today": today}
        )
    return day


def _at_least_one(option: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise CommandError(
            gettext("%(option)s %(value)d: give a whole number of at least 1")
            % {"option": option, "value": value}
        )


class Command(BaseCommand):
    help = (
        "Evaluate every member as of one local date (default today) with the policy in force "
        "on it, and apply upgrades, downgrade warnings and downgrades."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="local date YYYY-MM-DD")
        parser.add_argument("--chunk-size", type=int, help="members per range (bounds memory)")
        parser.add_argument(
            "--workers",
            type=int,
            help="ranges evaluated at once on PostgreSQL, each on its own connection "
            "(default RECOMPUTE_WORKERS)",
        )

    def handle(self, *args, as_of=None, chunk_size=None, workers=None, **options):
        _at_least_one("--chunk-size", chunk_size)
        _at_least_one("--workers", workers)
        today = timezone.localdate()
        as_of = _local_date(as_of, today) if as_of else today
        total = Member.objects.count()
        verbose = options["verbosity"] >= 1

        def progress(done: int) -> None:
            if verbose and total > 0:
                self.stderr.write(f"  {done:,}/{total:,} members ({done * 100 // total}%)")

        try:
            summary = tiers_recompute(
                as_of=as_of, chunk_size=chunk_size, progress=progress, workers=workers
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None

        if summary.evaluated_later_before:
            self.stderr.write(
                self.style.WARNING(
                    f"{summary.evaluated_later_before:,} members were left as they are: their "
                    f"last evaluation is dated after {as_of}, and evaluations never go backwards."
                )
            )
        events = summary.events
        lines = [
            f"Recomputed tiers as of {as_of} with policy version {summary.policy_version}",
            f"  members evaluated:   {summary.evaluated:,}",
            f"  first tiers:         {events['qualified']:,}",
            f"  upgrades:            {summary.upgrades:,}",
            f"  downgrade warnings:  {events['warning']:,}",
            f"  downgrades:          {summary.downgrades:,}",
            f"  tiers retained:      {events['retained']:,}",
            f"  tiers revoked:       {events['revoked']:,} (experience or blacklisted)",
            f"  not taking part:     {summary.not_taking_part:,} (experience or blacklisted)",
            f"  not yet joined:      {summary.not_yet_joined:,}",
            f"  time taken:          {summary.seconds:.2f} s",
        ]
        self.stdout.write("\n".join(lines))
