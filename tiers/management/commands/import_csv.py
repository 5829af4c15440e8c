"""import_csv: facts from another system's file (members/importers.py), all or nothing.

It lives in tiers, above members, because a blacklist file revokes tiers at once."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.exceptions import DomainError
from loyalty.management.batch import BatchCommand
from loyalty.money import grouped
from members.importers import KINDS, ImportFailed, import_csv
from tiers.legacy import LEGACY_KIND, legacy_tiers_import
from tiers.services import tiers_revoke_not_taking_part


class Command(BatchCommand):
    @property
    def help(self) -> str:
        # A property, not a lazy string: argparse formats the description with a regex, which
        # takes only a real str.
        return gettext(
            "Import members, transactions, referrals, activities, blacklist entries or legacy "
            "tiers from a CSV file with a header row (UTF-8, or GB18030/GBK). The file is "
            "imported whole or not at all; importing it again changes nothing."
        )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[*KINDS, LEGACY_KIND], help=_("what the file holds"))
        parser.add_argument("path", help=_("the CSV file"))
        parser.add_argument(
            "--encoding",
            help=_("the file's encoding, e.g. gb18030 (default: detected, UTF-8 or GB18030)"),
        )

    def handle(self, *args, kind: str, path: str, encoding: str | None = None, **options):
        progress = self.stderr.write if options["verbosity"] >= 1 else None
        try:
            if kind == LEGACY_KIND:
                result = legacy_tiers_import(path, encoding=encoding, progress=progress)
            else:
                result = import_csv(kind, path, progress=progress, encoding=encoding)
        except ImportFailed as exc:
            for line in exc.lines:
                self.stderr.write(line)
            raise CommandError(str(exc)) from None
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            # The transaction was rolled back on the way out: nothing is half-written.
            message = gettext("Interrupted: nothing was imported.")
            raise CommandError(message, returncode=130) from None
        if kind == "blacklist":
            # Blacklisting revokes the tier at once, from a file as from the back office.
            revoked = tiers_revoke_not_taking_part(as_of=timezone.localdate())
            if revoked:
                self.stdout.write(
                    ngettext(
                        "Revoked the tier of %(count)s blacklisted member",
                        "Revoked the tiers of %(count)s blacklisted members",
                        revoked,
                    )
                    % {"count": grouped(revoked)}
                )
        self.stdout.write(str(result))
