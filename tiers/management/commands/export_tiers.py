from __future__ import annotations

import csv
import os
import stat
import sys
import tempfile
from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext, ngettext

from loyalty.management.batch import BatchCommand
from loyalty.spreadsheet import csv_safe
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

SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}


def _not_written(path: Path, error: OSError, *, changed: bool) -> CommandError:
    """``changed``: a device or pipe written in place may have taken part of the export."""
    values = {"path": path, "error": error.strerror or error}
    if changed:
        return CommandError(gettext("%(path)s cannot be written: %(error)s") % values)
    return CommandError(
        gettext("%(path)s cannot be written: %(error)s; nothing was changed") % values
    )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


class Command(BatchCommand):
    @property
    def help(self) -> str:  # a real str: argparse's description takes no lazy one
        return gettext(
            "Write every member's status, tiers and figures of the last evaluation as CSV."
        )

    def add_arguments(self, parser):
        parser.add_argument("--output", help=gettext("file to write (default: standard output)"))
        parser.add_argument(
            "--force", action="store_true", help=gettext("overwrite the output file if it exists")
        )
        parser.add_argument(
            "--excel",
            action="store_true",
            help=gettext("UTF-8 with a byte order mark, so Excel shows Chinese text correctly"),
        )

    def handle(self, *args, output=None, force=False, excel=False, **options):
        encoding = "utf-8-sig" if excel else "utf-8"
        if not output:
            try:
                self._write_stdout(encoding)
            except BrokenPipeError:
                # Piped into `head`: the reader has what it wanted. Stop quietly, and keep
                # Python from complaining again when it flushes stdout at exit.
                if self.stdout._out is sys.stdout:
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        path = Path(output)
        if path.suffix.lower() in SPREADSHEET_SUFFIXES:
            # Excel refuses a CSV saved under a workbook's name; say so before writing.
            raise CommandError(
                gettext(
                    "%(path)s: export_tiers writes CSV, not an Excel workbook; name the file "
                    ".csv (add --excel so Excel shows Chinese text correctly)"
                )
                % {"path": path}
            )
        if not path.parent.is_dir():
            raise CommandError(
                gettext("%(path)s is not a directory: nothing was written") % {"path": path.parent}
            )
        if not force and (path.exists() or path.is_symlink()):
            raise CommandError(
                gettext(
                    "%(path)s already exists: choose another file or add --force to overwrite it"
                )
                % {"path": path}
            )
        if path.exists() and not path.is_file():
            # A device or a pipe (/dev/stdout, a FIFO): written as it is, never replaced.
            try:
                with path.open("w", newline="", encoding=encoding) as handle:
                    count = self._write(handle)
            except OSError as exc:
                raise _not_written(path, exc, changed=True) from None
        else:
            count = self._write_replacing(path.resolve(), encoding, replace=force)
        self.stderr.write(
            ngettext(
                "Wrote %(count)s member to %(path)s", "Wrote %(count)s members to %(path)s", count
            )
            % {"count": f"{count:,}", "path": output}
        )

    def _write_replacing(self, path: Path, encoding: str, *, replace: bool) -> int:
        """Write a file beside ``path`` (a link's target: the link stays), then put it in
        ``path``'s place in one step: a failure (a full disk) leaves no half-written export,
        and an earlier one (``replace``) as it was. The file gets the earlier one's mode, or
        the one a new file gets (the umask's), not the private mode of a temporary file."""
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed or removed below
            "w", dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False,
            newline="", encoding=encoding,
        )  # fmt: skip
        part = Path(handle.name)
        try:
            with handle:
                count = self._write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            part.chmod(mode)
            if replace:
                os.replace(part, path)
            else:
                # Never over a file made meanwhile: a link fails where the name is taken.
                os.link(part, path)
        except FileExistsError:
            raise CommandError(
                gettext(
                    "%(path)s already exists: choose another file or add --force to overwrite it"
                )
                % {"path": path}
            ) from None
        except OSError as exc:
            raise _not_written(path, exc, changed=False) from None
        finally:
            part.unlink(missing_ok=True)
        return count

    def _write_stdout(self, encoding: str) -> None:
        if self.stdout._out is sys.stdout:
            stream = open(  # noqa: SIM115 - wraps stdout, which stays open
                sys.stdout.fileno(), "w", encoding=encoding, newline="", closefd=False
            )
            try:
                with stream:
                    self._write(stream)
            except BrokenPipeError:
                raise
            except OSError as exc:  # e.g. redirected to a full disk
                raise CommandError(
                    gettext("The export cannot be written: %(error)s")
                    % {"error": exc.strerror or exc}
                ) from None
        else:
            self.stdout.ending = ""
            self._write(self.stdout)

    def _write(self, handle) -> int:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        count = 0
        for row in export_rows():
            writer.writerow([csv_safe(value) for value in row])
            count += 1
        return count
