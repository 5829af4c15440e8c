"""The base of the batch commands that cron, the jobs and operators run over the data."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class BatchCommand(BaseCommand):
    # Django's system checks load every URL pattern and view before a command starts: about half
    # a second of every run (4% of a nightly recompute of a million members), spent on what
    # `migrate` and the deployment's `manage.py check --deploy` check once per release.
    requires_system_checks = []
