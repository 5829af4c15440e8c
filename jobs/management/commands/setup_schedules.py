from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext

from jobs.schedules import schedules_sync
from loyalty.management.batch import BatchCommand


class Command(BatchCommand):
    @property
    def help(self) -> str:  # a real str: argparse's description takes no lazy one
        return gettext("Create or update the scheduled jobs (idempotent; run by `make run`).")

    def handle(self, *args, **options):
        for schedule in schedules_sync():
            local = timezone.localtime(schedule.next_run)
            self.stdout.write(
                gettext("%(name)s: next run %(when)s")
                % {"name": schedule.name, "when": f"{local:%Y-%m-%d %H:%M %Z}"}
            )
