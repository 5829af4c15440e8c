"""``import_csv legacy_tiers``: members carried over from a previous programme keep the tier they
held there for one tier year from the day it was granted, then the normal lifecycle applies.

Columns ``member_no,tier,granted_on``. All or nothing: every line is checked first and each bad
one is named ("line 7: unknown member M0000123"); importing the same file again changes nothing.
Writes are set-based: one upsert of the members' tier states (tier year ``granted_on`` to
``granted_on`` + 1 year) and one insert of their history rows (cause ``legacy``; none for a
member who held the tier already, whose tier does not change). A legacy grant never shortens a
tier year the member holds at the same or a higher tier: such a line is a bad line.
"""

from __future__ import annotations

import csv
import datetime
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.bulk import insert_rows, upsert_rows
from loyalty.exceptions import DomainError
from loyalty.money import grouped
from loyalty.words import clauses

# The other kinds' encoding rules (detection, the GB18030 hint), so that every kind reads and
# refuses a file alike.
from members import importers
from members.importers import ImportFailed
from members.models import Member

from .engine import add_years
from .models import MemberTier, TierChange, TierPolicy
from .selectors import tiers_by_code

LEGACY_KIND = "legacy_tiers"
COLUMNS = ("member_no", "tier", "granted_on")
_CHUNK = 500  # members looked up and locked per query (well under every parameter limit)
_STATE_FIELDS = [
    "current_tier", "tier_year_start", "tier_year_end", "downgrade_warned_on", "earned_tier",
    "earned_until",
]  # fmt: skip
_HISTORY_FIELDS = ["member", "from_tier", "to_tier", "cause", "policy", "effective_on"]
_HISTORY_FIELDS += ["created_at", "note"]
NOTE = "legacy programme"


@dataclass(frozen=True)
class LegacyResult:
    path: str
    new: int
    existing: int
    seconds: float

    def __str__(self) -> str:
        return ngettext(
            "Imported %(new)s legacy tier (%(existing)s already imported) from %(path)s "
            "in %(seconds).1f s",
            "Imported %(new)s legacy tiers (%(existing)s already imported) from %(path)s "
            "in %(seconds).1f s",
            self.new,
        ) % {
            "new": grouped(self.new),
            "existing": grouped(self.existing),
            "path": self.path,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class _Row:
    line: int
    member_no: str
    tier_code: str
    granted_on: datetime.date


def _open(
    path: Path, encoding: str | None, progress: Callable[[str], object]
) -> tuple[io.TextIOWrapper, str]:
    """The file as text in ``encoding``, or in the one detected (UTF-8, else GB18030)."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise DomainError(
            _("cannot read %(path)s: %(why)s") % {"path": path, "why": exc.strerror}
        ) from None
    return importers.text_opened(raw, path, encoding, progress)


def _read(
    path: Path, encoding: str | None, progress: Callable[[str], object]
) -> tuple[list[_Row], list[tuple[int, str]]]:
    """The file's rows and the errors found without the database (header, values, repeats)."""
    handle, encoding = _open(path, encoding, progress)
    rows: list[_Row] = []
    errors: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    today = timezone.localdate()
    with handle:
        try:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            missing = [c for c in COLUMNS if c not in header]
            unknown = [c for c in header if c not in COLUMNS]
            repeated = sorted({c for c in header if header.count(c) > 1})
            if missing or unknown or repeated:
                problems = []
                if missing:
                    problems.append(_("missing column(s): %s") % ", ".join(missing))
                if unknown:
                    problems.append(_("unknown column(s): %s") % ", ".join(unknown))
                if repeated:
                    problems.append(_("repeated column(s): %s") % ", ".join(repeated))
                raise ImportFailed(1, [_("line 1: ") + clauses(problems)])
            position = {name: header.index(name) for name in COLUMNS}
            for values in reader:
                line = reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    errors.append((line, _("expected %d values") % len(header)))
                    continue
                given_no, tier_code, granted = (values[position[c]].strip() for c in COLUMNS)
                try:
                    # As every kind reads a member number: Ｍ001 is M001.
                    member_no = importers.member_no_value(given_no)
                except importers.ValueRefused as refused:
                    errors.append((line, refused.describe("member_no", given_no)))
                    continue
                try:
                    granted_on = datetime.date.fromisoformat(granted)
                except ValueError:
                    errors.append((line, _('granted_on "%s" is not a date YYYY-MM-DD') % granted))
                    continue
                if granted_on > today:
                    errors.append((line, _("granted_on %s is in the future") % granted_on))
                    continue
                if member_no in first_line:
                    errors.append(
                        (
                            line,
                            _("member %(no)s appears again (first on line %(line)d)")
                            % {"no": member_no, "line": first_line[member_no]},
                        )
                    )
                    continue
                first_line[member_no] = line
                rows.append(_Row(line, member_no, tier_code, granted_on))
        except UnicodeDecodeError:
            raise importers.not_decodable(path, encoding) from None
    return rows, errors


def legacy_tiers_import(
    path: str | Path,
    *,
    encoding: str | None = None,
    progress: Callable[[str], object] | None = None,
) -> LegacyResult:
    """Import the legacy tiers in ``path`` whole or not at all; raises ``ImportFailed`` naming
    every bad line, or ``DomainError`` for a file that cannot be read. ``encoding`` overrides
    detection (UTF-8 with or without a BOM, else GB18030), as for the other kinds."""
    started = time.monotonic()
    encoding = importers.encoding_named(encoding)
    rows, errors = _read(Path(path), encoding, progress or (lambda message: None))
    tiers = tiers_by_code()
    today = timezone.localdate()
    policy = (
        TierPolicy.objects.filter(status=TierPolicy.Status.PUBLISHED, effective_from__lte=today)
        .order_by("-effective_from", "-version")
        .first()
    )
    new_states, history, existing = [], [], 0
    with transaction.atomic():
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            # Locked as every writer of a member's tier locks it, so an evaluation running now
            # cannot interleave with these writes.
            members = {
                m.member_no: m
                for m in Member.objects.select_for_update(of=("self",))
                .select_related("tier_state__current_tier")
                .filter(member_no__in=[r.member_no for r in chunk])
            }
            granted = {
                change.member_id: change
                for change in TierChange.objects.select_related("to_tier").filter(
                    member__in=members.values(), cause=TierChange.Cause.LEGACY
                )
            }
            for row in chunk:
                problem, is_existing = _check(row, members.get(row.member_no), tiers, granted)
                if problem:
                    errors.append((row.line, problem))
                elif is_existing:
                    existing += 1
                elif not errors:
                    member, tier = members[row.member_no], tiers[row.tier_code]
                    held = _held(member)
                    year_end = add_years(row.granted_on, 1)
                    # A new tier year: no warning, no year earned below an override.
                    new_states.append(
                        (member.pk, tier.pk, row.granted_on, year_end, None, None, None)
                    )
                    if held != tier:
                        # History records changes of tier: a longer year at the tier held
                        # is not one.
                        history.append(
                            (
                                member.pk, held.pk if held else None, tier.pk,
                                TierChange.Cause.LEGACY, policy.pk if policy else None,
                                row.granted_on, timezone.now(), NOTE,
                            )
                        )  # fmt: skip
        if errors:
            errors.sort()
            shown = [_("line %(line)d: %(why)s") % {"line": n, "why": w} for n, w in errors]
            raise ImportFailed(len(errors), shown)
        upsert_rows(MemberTier, _STATE_FIELDS, new_states)
        insert_rows(TierChange, _HISTORY_FIELDS, history)
    return LegacyResult(str(path), len(new_states), existing, time.monotonic() - started)


def _held(member: Member):
    try:
        return member.tier_state.current_tier
    except MemberTier.DoesNotExist:
        return None


def _check(row: _Row, member: Member | None, tiers: dict, granted: dict) -> tuple[str, bool]:
    """(why the row is bad, or "", and whether it is already imported)."""
    if member is None:
        return _("unknown member %s") % row.member_no, False
    tier = tiers.get(row.tier_code)
    if tier is None:
        return _('unknown tier "%(code)s"; choose one of: %(codes)s') % {
            "code": row.tier_code,
            "codes": ", ".join(tiers),
        }, False
    stored = granted.get(member.pk)
    if stored is not None:
        if stored.to_tier_id == tier.pk and stored.effective_on == row.granted_on:
            return "", True
        return _(
            "member %(no)s already has a legacy tier (%(tier)s from %(date)s), different data"
        ) % {"no": row.member_no, "tier": stored.to_tier.name, "date": stored.effective_on}, False
    if row.granted_on < member.joined_on:
        # A tier of the previous programme is held as a member: not before joining.
        return _("granted_on %(date)s is before member %(no)s joined (%(joined)s)") % {
            "date": row.granted_on,
            "no": row.member_no,
            "joined": member.joined_on,
        }, False
    if member.status != Member.Status.ACTIVE:
        return _('member %(no)s has the status "%(status)s": only active members hold a tier') % {
            "no": row.member_no,
            "status": member.get_status_display(),
        }, False
    held = _held(member)
    if held is not None and held.rank > tier.rank:
        return _("member %(no)s already holds %(held)s, above %(tier)s") % {
            "no": row.member_no,
            "held": held.name,
            "tier": tier.name,
        }, False
    if held == tier:
        # A legacy grant never shortens (or moves back) a tier year the member holds at its
        # tier: it may only give them that tier for longer.
        state = member.tier_state
        legacy_end = add_years(row.granted_on, 1)
        if (state.tier_year_start, state.tier_year_end) == (row.granted_on, legacy_end):
            return "", True  # imported before at the tier held: nothing left to write
        if state.tier_year_end is not None and state.tier_year_end >= legacy_end:
            return _(
                "member %(no)s already holds %(tier)s until %(end)s, no shorter than the "
                "legacy tier year (until %(legacy_end)s)"
            ) % {
                "no": row.member_no,
                "tier": tier.name,
                "end": state.tier_year_end,
                "legacy_end": legacy_end,
            }, False
    return "", False
