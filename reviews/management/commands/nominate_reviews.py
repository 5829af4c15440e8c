from __future__ import annotations

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext

from loyalty.exceptions import DomainError
from loyalty.management.batch import BatchCommand
from reviews.quarters import Quarter
from reviews.services import cases_nominate


class Command(BatchCommand):
    @property
    def help(self) -> str:  # a real str: argparse's description takes no lazy one
        return gettext(
            "Nominate the quarter's atypical high-value members for special review: evaluated as "
            "of the quarter's last day with the policy in force then. Prints one line per "
            "nomination, 'member_no profile', then a summary. Running it again opens nothing new."
        )

    def add_arguments(self, parser):
        parser.add_argument(
            "--quarter",
            help=gettext("the quarter, e.g. 2026Q2 (default: the quarter that just ended)"),
        )

    def handle(self, *args, quarter=None, **options):
        try:
            if quarter is None:
                quarter = Quarter.just_ended(timezone.localdate())
            else:
                quarter = Quarter.parse(quarter)
            result = cases_nominate(quarter=quarter)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        for member_no, profile in result.nominations:
            self.stdout.write(f"{member_no} {profile}")
        counts = [
            (gettext("  members evaluated:             %(count)s"), result.evaluated),
            (gettext("  cases opened:                  %(count)s"), result.cases),
            (gettext("  nominations (member, profile): %(count)s"), len(result.nominations)),
            (gettext("  skipped, open case:            %(count)s"), result.skipped_open_case),
            (gettext("  skipped, case this quarter:    %(count)s"), result.skipped_this_quarter),
            (
                gettext("  skipped, exceptional upgrade:  %(count)s"),
                result.skipped_exceptional_upgrade,
            ),
            (gettext("  skipped, rejected recently:    %(count)s"), result.skipped_cooldown),
        ]
        lines = [
            gettext("Nominated for %(quarter)s as of %(date)s with policy version %(version)s")
            % {"quarter": result.quarter, "date": result.as_of, "version": result.policy_version},
            *(line % {"count": f"{count:,}"} for line, count in counts),
        ]
        self.stdout.write("\n".join(lines))
