from __future__ import annotations

import datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from loyalty.dates import DateError, parse_date
from loyalty.exceptions import DomainError
from loyalty.management.batch import BatchCommand
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


class Command(BatchCommand):
    @property
    def help(self) -> str:  # a real str: argparse's description takes no lazy one
        return gettext(
            "Evaluate every member as of one local date (default today) with the policy in force "
            "on it, and apply upgrades, downgrade warnings and downgrades."
        )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help=gettext("local date YYYY-MM-DD"))
        parser.add_argument(
            "--chunk-size", type=int, help=gettext("members per range (bounds memory)")
        )
        parser.add_argument(
            "--workers",
            type=int,
            help=gettext(
                "ranges evaluated at once on PostgreSQL, each on its own connection "
                "(default RECOMPUTE_WORKERS)"
            ),
        )

    def handle(self, *args, as_of=None, chunk_size=None, workers=None, **options):
        _at_least_one("--chunk-size", chunk_size)
        _at_least_one("--workers", workers)
        today = timezone.localdate()
        as_of = today if as_of is None else _local_date(as_of, today)
        total = Member.objects.count()
        verbose = options["verbosity"] >= 1

        def progress(done: int) -> None:
            if verbose and total > 0:
                self.stderr.write(
                    gettext("  %(done)s/%(total)s members (%(percent)d%%)")
                    % {"done": f"{done:,}", "total": f"{total:,}", "percent": done * 100 // total}
                )

        try:
            summary = tiers_recompute(
                as_of=as_of, chunk_size=chunk_size, progress=progress, workers=workers
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from None

        if summary.evaluated_later_before:
            self.stderr.write(
                self.style.WARNING(
                    ngettext(
                        "%(count)s member was left as they are: their last evaluation is dated "
                        "after %(date)s, and evaluations never go backwards.",
                        "%(count)s members were left as they are: their last evaluation is "
                        "dated after %(date)s, and evaluations never go backwards.",
                        summary.evaluated_later_before,
                    )
                    % {"count": f"{summary.evaluated_later_before:,}", "date": as_of}
                )
            )
        events = summary.events
        counts = [
            (gettext("  members evaluated:   %(count)s"), summary.evaluated),
            (gettext("  first tiers:         %(count)s"), events["qualified"]),
            (gettext("  upgrades:            %(count)s"), summary.upgrades),
            (gettext("  downgrade warnings:  %(count)s"), events["warning"]),
            (gettext("  downgrades:          %(count)s"), summary.downgrades),
            (gettext("  tiers retained:      %(count)s"), events["retained"]),
            (
                gettext("  tiers revoked:       %(count)s (experience or blacklisted)"),
                events["revoked"],
            ),
            (
                gettext("  not taking part:     %(count)s (experience or blacklisted)"),
                summary.not_taking_part,
            ),
            (gettext("  not yet joined:      %(count)s"), summary.not_yet_joined),
        ]
        lines = [
            gettext("Recomputed tiers as of %(date)s with policy version %(version)s")
            % {"date": as_of, "version": summary.policy_version},
            *(line % {"count": f"{count:,}"} for line, count in counts),
            gettext("  time taken:          %(seconds)s s") % {"seconds": f"{summary.seconds:.2f}"},
        ]
        self.stdout.write("\n".join(lines))
