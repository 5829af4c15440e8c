from __future__ import annotations

import csv

from django.core.management.base import BaseCommand

from tiers.selectors import export_rows

HEADER = [
    "member_no",
    "status",
    "qualified_tier",
    "current_tier",
    "spend",
    "frequency",
    "tenure_years",
    "contribution",
]


class Command(BaseCommand):
    help = "Write every member's status, tiers and figures of the last evaluation as CSV."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, output=None, **options):
        if output:
            with open(output, "w", newline="", encoding="utf-8") as handle:
                count = self._write(handle)
            self.stderr.write(f"Wrote {count:,} members to {output}")
        else:
            self.stdout.ending = ""
            self._write(self.stdout)

    def _write(self, handle) -> int:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        count = 0
        for row in export_rows():
            writer.writerow(row)
            count += 1
        return count
