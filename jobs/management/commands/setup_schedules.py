from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext

from jobs.schedules import schedules_sync


class Command(BaseCommand):
    @property
    def help(self) -> str:  # a real str: argparse's description takes no lazy one
        return gettext("Create or update the scheduled jobs (idempotent; run by `make run`).")

    def handle(self, *args, **options):
        for schedule in schedules_sync():
            local = timezone.localtime(schedule.next_run)
            self.stdout.write(f"{schedule.name}: next run {local:%Y-%m-%d %H:%M %Z}")
