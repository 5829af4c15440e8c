"""CSV imports from other systems (POS, e-commerce, CRM): members, transactions, referrals,
activities and blacklist entries.

A file is imported whole or not at all, and importing it again changes nothing. Each import
runs in three steps, the same for every kind:

1. read: stream the file once, parse each row into a compact tuple and catch what the row or
   the file alone shows (bad fields, an identity seen earlier in the file);
2. check: look up, in batches, what the rows refer to and what is already stored, and catch
   what needs the database (unknown members, a known identity with different data, refunds
   beyond their purchase's amount);
3. write: only when no row is bad, insert the new rows set-based (COPY on PostgreSQL).

Steps 2 and 3 share one transaction. Importing stores facts and evaluates nobody: tiers move at
the next evaluation.
"""

from __future__ import annotations

import csv
import datetime
import heapq
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Lookup, Model, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.bulk import analyze, insert_rows, update_rows
from loyalty.exceptions import DomainError
from loyalty.money import AmountError, fen_to_yuan, parse_amount

from .models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction

# Every bad row is shown, up to this many (a bound on memory for a file of garbage); the count
# of bad rows is always exact.
MAX_SHOWN_ERRORS = 1_000_000
PROGRESS_EVERY = 100_000
# Keys per look-up query on PostgreSQL (one array parameter); on SQLite, which allows 999
# parameters per query, a little less than that.
_LARGE_BATCH = 100_000
# After writing this many rows on PostgreSQL, refresh the table's planner statistics.
_ANALYZE_AFTER = 10_000
# The PostgreSQL advisory lock key that makes imports run one at a time.
_IMPORT_LOCK = 7_314_001

Progress = Callable[[str], None]


class ImportFailed(DomainError):
    """The file has bad rows or a bad header; nothing was written.

    ``lines`` are the messages to show, "line N: why" in line order, at most MAX_SHOWN_ERRORS
    of them and then "... and N more"."""

    def __init__(self, bad_rows: int, lines: list[str]):
        self.bad_rows = bad_rows
        self.lines = lines
        super().__init__(
            ngettext(
                "%(count)d bad row; nothing was imported",
                "%(count)d bad rows; nothing was imported",
                bad_rows,
            )
            % {"count": bad_rows}
        )


@dataclass(frozen=True)
class ImportResult:
    kind: str
    path: str
    new: int
    existing: int
    seconds: float

    def __str__(self) -> str:
        summary = gettext(
            "Imported %(new)d %(things)s (%(existing)d already imported) from %(path)s "
            "in %(seconds).1f s"
        ) % {
            "new": self.new,
            "things": _IMPORTERS[self.kind].things,
            "existing": self.existing,
            "path": self.path,
            "seconds": self.seconds,
        }
        if self.new == 0 and self.existing:
            summary += "\n" + gettext("Nothing changed: 0 new, %(existing)d already imported.") % {
                "existing": self.existing
            }
        return summary


def import_csv(
    kind: str, path: str | os.PathLike, *, progress: Progress | None = None
) -> ImportResult:
    """Import the CSV file at ``path`` as ``kind`` (one of KINDS), all rows or none.

    Raises ``ImportFailed`` listing the bad rows, or ``DomainError`` when the kind is unknown or
    the file cannot be read as UTF-8 CSV."""
    try:
        importer = _IMPORTERS[kind]
    except KeyError:
        raise DomainError(
            gettext('unknown kind "%(kind)s"; choose one of: %(kinds)s')
            % {"kind": kind, "kinds": ", ".join(KINDS)}
        ) from None
    return importer(Path(path), progress or (lambda message: None)).run()


# The framework: reading, errors, batched look-ups, writing.


class _Errors:
    """Bad rows, one message each. Only the MAX_SHOWN_ERRORS lowest line numbers are kept, so a
    file of millions of bad rows does not fill the memory."""

    def __init__(self) -> None:
        self.count = 0
        self._kept: list[tuple[int, str]] = []  # a heap of (-line, message): the last line on top

    def add(self, line: int, message: str) -> None:
        self.count += 1
        item = (-line, message)
        if len(self._kept) < MAX_SHOWN_ERRORS:
            heapq.heappush(self._kept, item)
        elif item > self._kept[0]:
            heapq.heapreplace(self._kept, item)

    def raise_if_any(self) -> None:
        if not self.count:
            return
        lines = [
            gettext("line %(line)d: %(problem)s") % {"line": -line, "problem": message}
            for line, message in sorted(self._kept, reverse=True)
        ]
        if self.count > len(lines):
            lines.append(gettext("... and %(count)d more") % {"count": self.count - len(lines)})
        raise ImportFailed(self.count, lines)


def _shown(value: object) -> str:
    """A stored or given value as it reads in a message."""
    if value is None or value == "":
        return gettext("empty")
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _parse_date(text: str) -> datetime.date | None:
    # date.fromisoformat also takes 20260630 and week dates; the interface says YYYY-MM-DD.
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


# Field converters: stripped text in, value out, or ``_Bad``. They run for every row, so the
# good path does as little as possible and messages are only built for bad values.

Converter = Callable[[str], object]


class _Bad(ValueError):
    """A value that does not convert; the message may use %(column)s and %(value)s."""

    def __init__(self, message: str, **params: object):
        super().__init__(message)
        self.message = message
        self.params = params

    def describe(self, column: str, value: str) -> str:
        return self.message % {"column": column, "value": value, **self.params}


def _empty() -> _Bad:
    return _Bad(gettext("%(column)s is empty"))


def _text(max_length: int | None, *, required: bool = True) -> Converter:
    def convert(text: str) -> str:
        if not text:
            if required:
                raise _empty()
        elif max_length is not None and len(text) > max_length:
            raise _Bad(gettext("%(column)s is longer than %(max)d characters"), max=max_length)
        return text

    return convert


_member_no_text = _text(32)


def _member_no(text: str) -> str:
    # Interned: a member's number repeats on many rows of a file, one copy is enough.
    return sys.intern(_member_no_text(text))


def _choice(choices: dict[str, str]) -> Converter:
    def convert(text: str) -> str:
        try:
            return choices[text]
        except KeyError:
            if not text:
                raise _empty() from None
            raise _Bad(
                gettext('%(column)s "%(value)s" is not one of: %(choices)s'),
                choices=", ".join(choices),
            ) from None

    return convert


def _email(text: str) -> str:
    if text:
        try:
            validate_email(text)
        except ValidationError:
            raise _Bad(gettext('%(column)s "%(value)s" is not an email address')) from None
    return text


def _amount(text: str) -> int:
    if not text:
        raise _empty()
    try:
        return parse_amount(text)
    except AmountError as exc:
        raise _Bad(exc.template) from None


def _date(*, required: bool = True) -> Converter:
    def convert(text: str) -> datetime.date | None:
        if not text:
            if required:
                raise _empty()
            return None
        day = _parse_date(text)
        if day is None:
            raise _Bad(gettext('%(column)s "%(value)s" is not a date like 2026-06-30'))
        return day

    return convert


def _date_or_moment(text: str) -> datetime.datetime:
    """An aware date and time: ISO 8601, read in the configured time zone when it has no UTC
    offset (domain.md: all dates are local dates), or a date YYYY-MM-DD meaning local midnight."""
    if not text:
        raise _empty()
    local = timezone.get_default_timezone()
    if (day := _parse_date(text)) is not None:
        return datetime.datetime.combine(day, datetime.time(), tzinfo=local)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise _Bad(
            gettext(
                '%(column)s "%(value)s" is neither a date like 2026-06-30 nor a date '
                "and time like 2026-06-30T14:05:00+08:00"
            )
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=local)


def _local_day(text: str) -> datetime.date:
    """A date YYYY-MM-DD, or the local date of a date and time with a UTC offset."""
    return _date_or_moment(text).astimezone(timezone.get_default_timezone()).date()


class _AnyOf(Lookup):
    """``field = ANY(%s)`` with one array parameter: ``__in`` sends one parameter per key, and
    building and parsing tens of thousands of them costs far more than the query."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*params, self.rhs)


def _one_import_at_a_time() -> None:
    """Hold, until the transaction ends, a lock every import takes: two imports checking at the
    same time would each miss the other's rows (refunds could together exceed a purchase).
    SQLite needs none: its write transactions already run one at a time (IMMEDIATE mode)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK])


def _batch_size() -> int:
    limit = connection.features.max_query_params
    return _LARGE_BATCH if limit is None else min(_LARGE_BATCH, limit - 99)


def _chunks(rows: list, size: int) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _fetch(queryset: QuerySet, field: str, keys: Iterable) -> Iterator[tuple]:
    """The rows of ``queryset`` (a ``values_list``) whose ``field`` is one of ``keys``: one
    query per batch of keys, never one per row."""
    queryset = queryset.order_by()
    for batch in _chunks(list(keys), _batch_size()):
        if connection.vendor == "postgresql":
            yield from queryset.filter(_AnyOf(F(field), batch))
        else:
            yield from queryset.filter(**{f"{field}__in": batch})


def _by_first(rows: Iterable[tuple]) -> dict:
    """Stored rows by their first value, the identity."""
    return {row[0]: row for row in rows}


def _member_ids(member_nos: Iterable[str]) -> dict[str, int]:
    return dict(_fetch(Member.objects.values_list("member_no", "id"), "member_no", member_nos))


class _Fen(int):
    """An amount in fen that reads as yuan in messages."""

    def __str__(self) -> str:
        return str(fen_to_yuan(self))


def _first_undecodable_line(path: Path) -> int:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


class _Importer:
    """What every kind shares. A kind declares ``fields`` (column → converter, in the order
    ``parse`` receives the values) and ``model`` (the table it fills), and three steps:

    - ``parse(line, values, problems)``: checks across one row's values and within the file
      (duplicates), appending to ``problems``; returns the row as a compact tuple whose first
      item is the line number. Runs once per row while the file streams; a value that did not
      convert is None.
    - ``check()``: look-ups for ``self.rows``, in chunks (``self.chunks()``) to bound memory
      and queries; a bad row goes to ``self.errors``, one already stored counts in
      ``self.existing``, a new one is kept for
    - ``write(now)``: insert the new rows; returns how many."""

    kind: str
    things: str  # the plural noun of the summary, "transactions"
    model: type[Model]
    fields: dict[str, Converter]

    def __init__(self, path: Path, progress: Progress):
        self.path = path
        self.progress = progress
        self.tz = timezone.get_default_timezone()
        self.errors = _Errors()
        self.rows: list[tuple] = []
        self.seen: dict = {}  # an identity within the file → the line it first appears on
        self.existing = 0
        self._written = 0

    def parse(self, line: int, values: list, problems: list[str]) -> tuple:
        raise NotImplementedError

    def check(self) -> None:
        raise NotImplementedError

    def write(self, now: datetime.datetime) -> int:
        raise NotImplementedError

    def run(self) -> ImportResult:
        started = time.monotonic()
        self._read()
        try:
            with transaction.atomic():
                _one_import_at_a_time()
                self.check()
                self.rows, self.seen = [], {}
                self.errors.raise_if_any()
                new = self.write(timezone.now())
        except IntegrityError as exc:
            # Every constraint was checked before writing: only a concurrent writer gets here.
            raise DomainError(
                gettext(
                    "the database refused the rows (%(error)s), probably because another "
                    "import of the same data ran at the same time; nothing was imported, run "
                    "the import again"
                )
                % {"error": exc}
            ) from exc
        if new >= _ANALYZE_AFTER:
            # Fresh planner statistics, or the next look-ups scan a table thought to be small.
            analyze(self.model)
        return ImportResult(
            kind=self.kind,
            path=str(self.path),
            new=new,
            existing=self.existing,
            seconds=time.monotonic() - started,
        )

    # Step 1: read.

    def _read(self) -> None:
        reader = None
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle)
                header = self._header(next(reader, None))
                self._read_rows(reader, header)
        except FileNotFoundError:
            raise DomainError(gettext("%(path)s: no such file") % {"path": self.path}) from None
        except UnicodeDecodeError:
            raise DomainError(
                gettext("%(path)s is not UTF-8 text (line %(line)d)")
                % {"path": self.path, "line": _first_undecodable_line(self.path)}
            ) from None
        except csv.Error as exc:
            raise DomainError(
                gettext("%(path)s is not valid CSV at line %(line)d: %(error)s")
                % {"path": self.path, "line": reader.line_num if reader else 1, "error": exc}
            ) from None
        except OSError as exc:
            raise DomainError(
                gettext("%(path)s cannot be read: %(error)s")
                % {"path": self.path, "error": exc.strerror}
            ) from None

    def _header(self, names: list[str] | None) -> list[str]:
        if names is None:
            raise DomainError(
                gettext("%(path)s is empty: it needs a header row") % {"path": self.path}
            )
        names = [name.strip() for name in names]
        problems = [
            gettext('missing column "%(column)s"') % {"column": column}
            for column in self.fields
            if column not in names
        ]
        for name in dict.fromkeys(names):
            if name not in self.fields:
                problems.append(gettext('unknown column "%(column)s"') % {"column": name})
            elif names.count(name) > 1:
                problems.append(gettext('column "%(column)s" appears twice') % {"column": name})
        if problems:
            self.errors.add(1, "; ".join(problems))
            self.errors.raise_if_any()
        return names

    def _read_rows(self, reader, header: list[str]) -> None:
        width = len(header)
        columns = [
            (column, header.index(column), convert) for column, convert in self.fields.items()
        ]
        converters = [(index, convert) for _column, index, convert in columns]
        parse, errors, rows = self.parse, self.errors, self.rows
        end = reader.line_num
        count = 0
        for raw in reader:
            # A quoted value may span lines: a record starts on the line after the last one.
            line, end = end + 1, reader.line_num
            if not raw:
                continue
            count += 1
            if count % PROGRESS_EVERY == 0:
                self.progress(gettext("  validated %(count)s rows") % {"count": f"{count:,}"})
            if len(raw) != width:
                errors.add(
                    line,
                    gettext("%(found)d values where the header has %(expected)d columns")
                    % {"found": len(raw), "expected": width},
                )
                continue
            problems: list[str] = []
            try:
                values = [convert(raw[index].strip()) for index, convert in converters]
            except _Bad:
                values = self._convert_each(raw, columns, problems)
            parsed = parse(line, values, problems)
            if problems:
                errors.add(line, "; ".join(problems))
            else:
                rows.append(parsed)

    @staticmethod
    def _convert_each(raw: list[str], columns: list[tuple], problems: list[str]) -> list:
        """The slow way, for a row with a bad value: every problem, None for each bad value."""
        values = []
        for column, index, convert in columns:
            text = raw[index].strip()
            try:
                values.append(convert(text))
            except _Bad as bad:
                problems.append(bad.describe(column, text))
                values.append(None)
        return values

    def first_line(self, key: object, line: int) -> int | None:
        """The line where ``key`` first appeared in the file, when it is not ``line``."""
        first = self.seen.setdefault(key, line)
        return None if first == line else first

    # Step 2: check, shared pieces.

    def chunks(self) -> Iterator[list[tuple]]:
        """``self.rows`` in chunks of one look-up query each."""
        return _chunks(self.rows, _batch_size())

    def unknown(self, line: int, *member_nos: str) -> None:
        self.errors.add(
            line, "; ".join(gettext("unknown member %(no)s") % {"no": no} for no in member_nos)
        )

    def same_as_stored(
        self,
        line: int,
        columns: tuple[str, ...],
        stored: tuple,
        given: tuple,
        message: str,
        **params: object,
    ) -> bool:
        """For a row whose identity is already stored: True when the stored values are the
        given ones (the row was imported before); else the row is bad, and ``message`` (with
        %(stored)s for the stored values that differ) says why."""
        if stored == given:
            self.existing += 1
            return True
        different = ", ".join(
            f"{column} {_shown(old)}"
            for column, old, new in zip(columns, stored, given, strict=True)
            if old != new
        )
        self.errors.add(line, message % {**params, "stored": different})
        return False

    # Step 3: write.

    def insert(self, fields: tuple[str, ...], rows: Iterable[tuple]) -> int:
        return insert_rows(self.model, fields, self._counted(rows))

    def _counted(self, rows: Iterable[tuple]) -> Iterator[tuple]:
        for row in rows:
            yield row
            self._written += 1
            if self._written % PROGRESS_EVERY == 0:
                self.progress(gettext("  wrote %(count)s rows") % {"count": f"{self._written:,}"})


# The five kinds.

_DUPLICATE_MEMBER = _("member %(no)s appears again (first on line %(line)d)")
_MEMBER_DIFFERS = _("member %(no)s already imported with different data (%(stored)s)")
_TRANSACTION_DIFFERS = _("external id %(id)s already imported with different data (%(stored)s)")
_REFERRAL_DIFFERS = _("member %(no)s was already referred, with different data (%(stored)s)")
_BLACKLIST_DIFFERS = _(
    "member %(no)s already has an open blacklist entry with different data (%(stored)s)"
)


class _MemberImporter(_Importer):
    kind = "members"
    things = _("members")
    model = Member
    STATUS_OF_TYPE = {"regular": Member.Status.ACTIVE, "experience": Member.Status.EXPERIENCE}
    TYPE_OF_STATUS = {status: kind for kind, status in STATUS_OF_TYPE.items()}
    fields = {
        "member_no": _member_no,
        "name": _text(128),
        "phone": _text(32, required=False),
        "email": _email,
        "joined_on": _date(),
        "member_type": _choice(STATUS_OF_TYPE),
        "birthday": _date(required=False),
    }
    COMPARED = ("name", "phone", "email", "joined_on", "birthday", "member_type")

    def parse(self, line: int, values: list, problems: list[str]) -> tuple:
        member_no = values[0]
        if member_no and (first := self.first_line(member_no, line)):
            problems.append(_DUPLICATE_MEMBER % {"no": member_no, "line": first})
        return (line, *values)

    def check(self) -> None:
        stored_members = Member.objects.values_list(
            "member_no", "name", "phone", "email", "joined_on", "birthday", "status"
        )
        self.new = []
        for chunk in self.chunks():
            stored = _by_first(_fetch(stored_members, "member_no", [row[1] for row in chunk]))
            for line, member_no, name, phone, email, joined_on, status, birthday in chunk:
                if member_no not in stored:
                    self.new.append((member_no, name, phone, email, joined_on, status, birthday))
                    continue
                _no, *old, old_status = stored[member_no]
                # A blacklisted member's type is no longer the sender's to state.
                if old_status == Member.Status.BLACKLISTED:
                    old_status = status
                self.same_as_stored(
                    line,
                    self.COMPARED,
                    (*old, self.TYPE_OF_STATUS[old_status]),
                    (name, phone, email, joined_on, birthday, self.TYPE_OF_STATUS[status]),
                    _MEMBER_DIFFERS,
                    no=member_no,
                )

    def write(self, now: datetime.datetime) -> int:
        return self.insert(
            (
                "member_no",
                "name",
                "phone",
                "email",
                "joined_on",
                "status",
                "birthday",
                "created_at",
            ),
            ((*row, now) for row in self.new),
        )


# Looked up once: reading an enum member off its class costs, and these are read per row.
_PURCHASE, _REFUND = Transaction.Kind.PURCHASE, Transaction.Kind.REFUND


class _TransactionImporter(_Importer):
    kind = "transactions"
    things = _("transactions")
    model = Transaction
    fields = {
        "external_id": _text(64),
        "member_no": _member_no,
        "kind": _choice({"purchase": _PURCHASE, "refund": _REFUND}),
        "amount": _amount,
        "occurred_at": _date_or_moment,
        "refund_of": _text(64, required=False),
    }
    COMPARED = ("member_no", "kind", "amount", "occurred_at", "refund_of")
    COLUMNS = (
        "external_id",
        "member",
        "kind",
        "amount_fen",
        "occurred_at",
        "occurred_on",
        "refund_of",
        "created_at",
    )

    def parse(self, line: int, values: list, problems: list[str]) -> tuple:
        external_id, _member_no, kind, _amount, _occurred_at, refund_of = values
        if kind == _PURCHASE and refund_of:
            problems.append(gettext("refund_of is set on a purchase"))
        elif kind == _REFUND and refund_of == "":
            problems.append(gettext("refund_of is empty: a refund names the purchase it refunds"))
        if external_id and (first := self.first_line(external_id, line)):
            problems.append(
                gettext("external id %(id)s appears again (first on line %(line)d)")
                % {"id": external_id, "line": first}
            )
        return (line, *values)

    def check(self) -> None:
        member_ids = _member_ids({row[2] for row in self.rows})
        stored_transactions = Transaction.objects.values_list(
            "external_id",
            "member__member_no",
            "kind",
            "amount_fen",
            "occurred_at",
            "refund_of__external_id",
        )
        self.bad: set[str] = set()  # external ids of the rows found bad here
        self.purchases: list[tuple] = []
        refunds: list[tuple] = []
        for chunk in self.chunks():
            stored = _by_first(_fetch(stored_transactions, "external_id", [r[1] for r in chunk]))
            for row in chunk:
                member_id = self._check_row(row, member_ids, stored)
                if member_id is None:
                    continue
                if row[3] == _PURCHASE:
                    self.purchases.append((row[1], member_id, row[4], row[5]))
                else:
                    refunds.append((*row, member_id))
        # Refunds last: their checks need to know which purchases of the file are bad.
        self.refunds: list[tuple] = []
        if refunds:
            self._check_refunds(refunds)

    def _check_row(self, row: tuple, member_ids: dict, stored: dict) -> int | None:
        """What purchases and refunds share; the member's id when the row is new."""
        line, external_id, member_no, kind, amount, occurred_at, refund_of = row
        member_id = member_ids.get(member_no)
        if member_id is None:
            self.unknown(line, member_no)
        elif external_id not in stored:
            return member_id
        else:
            _id, old_member_no, old_kind, old_amount, old_at, old_refund_of = stored[external_id]
            if self.same_as_stored(
                line,
                self.COMPARED,
                (old_member_no, old_kind, _Fen(old_amount), old_at, old_refund_of or ""),
                (member_no, kind, amount, occurred_at, refund_of),
                _TRANSACTION_DIFFERS,
                id=external_id,
            ):
                return None
        self.bad.add(external_id)
        return None

    def _check_refunds(self, refunds: list[tuple]) -> None:
        targets = {row[6] for row in refunds}
        # The refunded purchases: (external_id, member_no, kind, amount, occurred_at), from the
        # file, else from the database; and how much of each the database holds as refunded.
        purchases = _by_first(
            _fetch(
                Transaction.objects.values_list(
                    "external_id", "member__member_no", "kind", "amount_fen", "occurred_at"
                ),
                "external_id",
                targets,
            )
        )
        purchases.update((row[1], row[1:6]) for row in self.rows if row[1] in targets)
        refunded = dict(
            _fetch(
                Transaction.objects.filter(kind=_REFUND)
                .values_list("refund_of__external_id")
                .annotate(Sum("amount_fen")),
                "refund_of__external_id",
                targets,
            )
        )
        for row in refunds:
            problem = self._refund_problem(row, purchases, refunded)
            if problem:
                self.errors.add(row[0], problem)
            else:
                self.refunds.append((row[1], row[7], row[4], row[5], row[6]))

    def _refund_problem(self, row: tuple, purchases: dict, refunded: dict) -> str | None:
        """Why a new refund cannot be, or None (and its amount counts as refunded)."""
        _line, _id, member_no, _kind, amount, occurred_at, target, _member_id = row
        first = self.seen.get(target)
        if target in self.bad or (first is not None and target not in purchases):
            return gettext("refund of %(id)s, which is itself a bad row (line %(line)d)") % {
                "id": target,
                "line": first,
            }
        if target not in purchases:
            return gettext("refund of unknown purchase %(id)s") % {"id": target}
        _id, owner, kind, purchase_amount, purchase_at = purchases[target]
        if kind != _PURCHASE:
            return gettext("refund of %(id)s, which is a refund, not a purchase") % {"id": target}
        if owner != member_no:
            return gettext(
                "refund by member %(no)s of purchase %(id)s, which is member %(owner)s's"
            ) % {"no": member_no, "id": target, "owner": owner}
        if occurred_at < purchase_at:
            return gettext("refund dated before its purchase %(id)s") % {"id": target}
        total = refunded.get(target, 0) + amount
        if total > purchase_amount:
            return gettext(
                "refunds of %(id)s would total %(total)s, more than its amount %(amount)s"
            ) % {"id": target, "total": _Fen(total), "amount": _Fen(purchase_amount)}
        refunded[target] = total
        return None

    def write(self, now: datetime.datetime) -> int:
        tz = self.tz
        count = self.insert(
            self.COLUMNS,
            (
                (external_id, member_id, _PURCHASE, amount, at, at.astimezone(tz).date(), None, now)
                for external_id, member_id, amount, at in self.purchases
            ),
        )
        # A refund needs its purchase's id, known only now for the purchases of this file.
        ids = dict(
            _fetch(
                Transaction.objects.values_list("external_id", "id"),
                "external_id",
                {row[4] for row in self.refunds},
            )
        )
        return count + self.insert(
            self.COLUMNS,
            (
                (
                    external_id,
                    member_id,
                    _REFUND,
                    amount,
                    at,
                    at.astimezone(tz).date(),
                    ids[of],
                    now,
                )
                for external_id, member_id, amount, at, of in self.refunds
            ),
        )


class _ReferralImporter(_Importer):
    kind = "referrals"
    things = _("referrals")
    model = Referral
    fields = {
        "referrer_no": _member_no,
        "referred_no": _member_no,
        # The day the referred member registered, kept as a local date.
        "occurred_at": _local_day,
    }

    def parse(self, line: int, values: list, problems: list[str]) -> tuple:
        referrer_no, referred_no, _occurred_on = values
        if referred_no and referrer_no == referred_no:
            problems.append(gettext("referrer and referred are the same member"))
        elif referred_no and (first := self.first_line(referred_no, line)):
            problems.append(
                gettext("member %(no)s was already referred (line %(line)d)")
                % {"no": referred_no, "line": first}
            )
        return (line, *values)

    def check(self) -> None:
        member_ids = _member_ids({no for row in self.rows for no in row[1:3]})
        stored_referrals = Referral.objects.values_list(
            "referred__member_no", "referrer__member_no", "occurred_on"
        )
        self.new = []
        for chunk in self.chunks():
            stored = _by_first(
                _fetch(stored_referrals, "referred__member_no", [row[2] for row in chunk])
            )
            for line, referrer_no, referred_no, occurred_on in chunk:
                missing = [no for no in (referrer_no, referred_no) if no not in member_ids]
                if missing:
                    self.unknown(line, *missing)
                elif referred_no in stored:
                    self.same_as_stored(
                        line,
                        ("referrer_no", "occurred_at"),
                        stored[referred_no][1:],
                        (referrer_no, occurred_on),
                        _REFERRAL_DIFFERS,
                        no=referred_no,
                    )
                else:
                    self.new.append((member_ids[referrer_no], member_ids[referred_no], occurred_on))

    def write(self, now: datetime.datetime) -> int:
        return self.insert(
            ("referrer", "referred", "occurred_on", "created_at"),
            ((*row, now) for row in self.new),
        )


class _ActivityImporter(_Importer):
    kind = "activities"
    things = _("activities")
    model = ActivityParticipation
    fields = {
        "member_no": _member_no,
        "activity": _text(128),
        "occurred_at": _date_or_moment,
    }

    def parse(self, line: int, values: list, problems: list[str]) -> tuple:
        key = tuple(values)
        if all(key) and (first := self.first_line(key, line)):
            member_no, activity, occurred_at = key
            problems.append(
                gettext(
                    'activity "%(activity)s" of member %(no)s at %(at)s appears again '
                    "(first on line %(line)d)"
                )
                % {"activity": activity, "no": member_no, "at": _shown(occurred_at), "line": first}
            )
        return (line, *key)

    def check(self) -> None:
        member_ids = _member_ids({row[1] for row in self.rows})
        self.new = []
        for chunk in self.chunks():
            moments = [row[3] for row in chunk]
            stored = set(
                _fetch(
                    ActivityParticipation.objects.filter(
                        occurred_at__range=(min(moments), max(moments))
                    ).values_list("member_id", "activity", "occurred_at"),
                    "member_id",
                    {member_ids[row[1]] for row in chunk if row[1] in member_ids},
                )
            )
            for line, member_no, activity, occurred_at in chunk:
                member_id = member_ids.get(member_no)
                if member_id is None:
                    self.unknown(line, member_no)
                # The identity is the whole row: a stored one always holds the same data.
                elif (member_id, activity, occurred_at) in stored:
                    self.existing += 1
                else:
                    self.new.append((member_id, activity, occurred_at))

    def write(self, now: datetime.datetime) -> int:
        tz = self.tz
        return self.insert(
            ("member", "activity", "occurred_at", "occurred_on", "created_at"),
            (
                (member_id, activity, at, at.astimezone(tz).date(), now)
                for member_id, activity, at in self.new
            ),
        )


class _BlacklistImporter(_Importer):
    kind = "blacklist"
    things = _("blacklist entries")
    model = BlacklistEntry
    fields = {
        "member_no": _member_no,
        "reason": _text(None),
        "occurred_at": _date_or_moment,
    }

    def parse(self, line: int, values: list, problems: list[str]) -> tuple:
        member_no = values[0]
        # A member has at most one open entry, so a member twice in one file is a mistake.
        if member_no and (first := self.first_line(member_no, line)):
            problems.append(_DUPLICATE_MEMBER % {"no": member_no, "line": first})
        return (line, *values)

    def check(self) -> None:
        members = Member.objects.values_list("member_no", "id", "status")
        open_entries = BlacklistEntry.objects.filter(lifted_at__isnull=True).values_list(
            "member__member_no", "reason", "occurred_at"
        )
        self.new = []
        for chunk in self.chunks():
            member_nos = [row[1] for row in chunk]
            stored_members = _by_first(_fetch(members, "member_no", member_nos))
            stored = _by_first(_fetch(open_entries, "member__member_no", member_nos))
            for line, member_no, reason, occurred_at in chunk:
                if member_no not in stored_members:
                    self.unknown(line, member_no)
                elif member_no in stored:
                    self.same_as_stored(
                        line,
                        ("reason", "occurred_at"),
                        stored[member_no][1:],
                        (reason, occurred_at),
                        _BLACKLIST_DIFFERS,
                        no=member_no,
                    )
                else:
                    _no, member_id, status = stored_members[member_no]
                    self.new.append((member_id, reason, occurred_at, status))

    def write(self, now: datetime.datetime) -> int:
        count = self.insert(
            (
                "member",
                "reason",
                "evidence",
                "occurred_at",
                "previous_status",
                "created_at",
                "lift_reason",
            ),
            (
                (member_id, reason, "", at, previous_status, now, "")
                for member_id, reason, at, previous_status in self.new
            ),
        )
        update_rows(Member, ["status"], [(row[0], Member.Status.BLACKLISTED) for row in self.new])
        return count


_IMPORTERS: dict[str, type[_Importer]] = {
    importer.kind: importer
    for importer in (
        _MemberImporter,
        _TransactionImporter,
        _ReferralImporter,
        _ActivityImporter,
        _BlacklistImporter,
    )
}
KINDS = tuple(_IMPORTERS)
