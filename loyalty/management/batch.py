"""The base of the batch commands that cron, the jobs and operators run over the data."""

from __future__ import annotations

import socket

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, ProgrammingError
from django.utils.translation import gettext

_NOT_A_FILE = (ConnectionError, TimeoutError, socket.gaierror, socket.herror)

# PostgreSQL's code for a table that does not exist; SQLite says it in words.
_UNDEFINED_TABLE = "42P01"


def _table_missing(error: Exception) -> bool:
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) == _UNDEFINED_TABLE or "no such table" in str(error)


def _first_line(error: Exception) -> str:
    """PostgreSQL's message without the SQL it quotes on the lines after."""
    return (str(error).strip().splitlines() or [""])[0]


class BatchCommand(BaseCommand):
    """A command whose failures outside the data are one line for the operator, not a
    traceback (``--traceback`` still shows one): a database that cannot be reached or was
    never migrated, a file the system cannot read."""

    # Django's system checks load every URL pattern and view before a command starts: about half
    # a second of every run (4% of a nightly recompute of a million members), spent on what
    # `migrate` and the deployment's `manage.py check --deploy` check once per release.
    requires_system_checks = []

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except (OperationalError, ProgrammingError) as error:
            if options.get("traceback"):
                raise
            if _table_missing(error):
                raise CommandError(
                    gettext(
                        "The database has no tables yet (%(error)s): run python manage.py "
                        "migrate first"
                    )
                    % {"error": _first_line(error)}
                ) from None
            if isinstance(error, OperationalError):
                raise CommandError(
                    gettext("The database failed: %(error)s") % {"error": _first_line(error)}
                ) from None
            raise
        except OSError as error:
            # A file's failure; a network one (a mail server refusing, say) is none to name.
            if options.get("traceback") or isinstance(error, _NOT_A_FILE):
                raise
            reason = error.strerror or str(error)
            if error.filename:
                message = gettext("%(path)s cannot be read or written: %(error)s") % {
                    "path": error.filename,
                    "error": reason,
                }
            else:
                message = gettext("A file cannot be read or written: %(error)s") % {"error": reason}
            raise CommandError(message) from None
