from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from loyalty.exceptions import DomainError
from reviews.quarters import Quarter
from reviews.services import cases_nominate


class Command(BaseCommand):
    help = (
        "Nominate the quarter's atypical high-value members for special review: evaluated as "
        "of the quarter's last day with the policy in force then. Prints one line per "
        "nomination, 'member_no profile', then a summary. Running it again opens nothing new."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--quarter", help="the quarter, e.g. 2026Q2 (default: the quarter that just ended)"
        )

    def handle(self, *args, quarter=None, **options):
        try:
            quarter = (
                Quarter.parse(quarter) if quarter else Quarter.just_ended(timezone.localdate())
            )
            result = cases_nominate(quarter=quarter)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        for member_no, profile in result.nominations:
            self.stdout.write(f"{member_no} {profile}")
        lines = [
            f"Nominated for {result.quarter} as of {result.as_of} with policy version "
            f"{result.policy_version}",
            f"  members evaluated:             {result.evaluated:,}",
            f"  cases opened:                  {result.cases:,}",
            f"  nominations (member, profile): {len(result.nominations):,}",
            f"  skipped, open case:            {result.skipped_open_case:,}",
            f"  skipped, case this quarter:    {result.skipped_this_quarter:,}",
            f"  skipped, exceptional upgrade:  {result.skipped_exceptional_upgrade:,}",
            f"  skipped, rejected recently:    {result.skipped_cooldown:,}",
        ]
        self.stdout.write("\n".join(lines))
