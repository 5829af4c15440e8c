"""``create_api_key NAME --scopes all``: a key for a client system, printed once, alone on the
last line (scripts take it with ``tail -n 1``)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext

from api.models import Scope
from api.services import api_key_create
from loyalty.exceptions import DomainError
from loyalty.management.batch import BatchCommand


class Command(BatchCommand):
    @property
    def help(self) -> str:  # a real str: argparse's description takes no lazy one
        return gettext(
            "Create an API key for a client system and print it (it is shown only once)."
        )

    def add_arguments(self, parser):
        parser.add_argument("name", help=gettext("the client system, e.g. POS"))
        parser.add_argument(
            "--scopes",
            required=True,
            help=gettext("comma-separated: %(scopes)s; or all")
            % {"scopes": ", ".join(Scope.values)},
        )
        parser.add_argument(
            "--rate",
            type=int,
            default=None,
            help=gettext("requests per minute (default: the setting)"),
        )

    def handle(self, *args, name, scopes, rate, **options):
        try:
            api_key, raw_key = api_key_create(name=name, scopes=scopes, requests_per_minute=rate)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            gettext(
                "API key %(prefix)s for %(name)s: scopes %(scopes)s, %(rate)s requests per "
                "minute. Store it now; it is not shown again."
            )
            % {
                "prefix": api_key.prefix,
                "name": api_key.name,
                "scopes": ", ".join(api_key.scopes),
                "rate": api_key.requests_per_minute,
            }
        )
        self.stdout.write(raw_key)
