"""Bulk work: one override or one blacklist entry, with one reason, for many members.

The preview says who changes and who is skipped and why; applying runs the same preview again
inside one transaction, under the members' locks (each service takes them), and calls the
service for each member who changes: the whole batch lands, or none of it does."""

from __future__ import annotations

import csv
import datetime
import io
import re
from dataclasses import dataclass, field

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils.translation import gettext as _

from loyalty.confirm import fingerprint
from loyalty.exceptions import DomainError
from loyalty.money import grouped
from members.importers import header_column
from members.models import Member
from members.services import member_lock_many
from reviews import services as review_services
from tiers.models import MemberTier, Tier, TierOverride
from tiers.services import override_replacement_refusal, tier_override_set

from .selectors import member_state_key, members_by_number

OVERRIDE = "override"
BLACKLIST = "blacklist"
MAX_BATCH = 5000
_CHUNK = 500


@dataclass(frozen=True)
class BulkRow:
    member_no: str
    member: Member | None
    change: str = ""
    skipped: str = ""


@dataclass
class BulkPlan:
    action: str
    rows: list[BulkRow] = field(default_factory=list)
    # Each listed member's state the rows were decided from: status, tier, open override.
    states: list[tuple] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """What the preview showed, in no language: the same digest at the confirmation means
        the same members in the same states, so the same changes."""
        return fingerprint([self.states, self.changing_numbers])

    @property
    def changes(self) -> list[BulkRow]:
        return [row for row in self.rows if not row.skipped]

    @property
    def skipped(self) -> list[BulkRow]:
        return [row for row in self.rows if row.skipped]

    @property
    def changing_numbers(self) -> list[str]:
        return [row.member_no for row in self.changes]


_SEPARATORS = re.compile(r"[\s,;，；]+")


def numbers_from_text(text: str) -> list[str]:
    """Member numbers typed or pasted: one per line, or separated by commas or spaces."""
    return [number for number in _SEPARATORS.split(text or "") if number]


# Control characters other than tabs and line ends: no text file holds them.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def numbers_from_csv(content: bytes) -> list[str]:
    """Member numbers from a CSV file: the ``member_no`` column if the header names one, else
    the first column of every line (a header-less list). UTF-8, or GB18030 (GBK), what Excel
    on Chinese Windows saves as plain "CSV"."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError:
            raise DomainError(
                _('The file is neither UTF-8 nor GBK text. In Excel, save it as "CSV UTF-8".')
            ) from None
    if _NOT_TEXT.search(text):
        # A picture or a workbook decodes as GB18030 often enough: its "numbers" are noise.
        raise DomainError(_('The file is not a CSV text file. In Excel, save it as "CSV UTF-8".'))
    # Any line ends: \r alone is what "CSV (Macintosh)" saves.
    reader = csv.reader(io.StringIO(text, newline=None))
    try:
        rows = [row for row in reader if any(map(str.strip, row))]
    except csv.Error as error:
        if "field limit" in str(error):
            raise DomainError(
                _("Line %(line)d of the file holds a value too long for a member number.")
                % {"line": reader.line_num}
            ) from None
        raise DomainError(
            _("Line %(line)d of the file is not CSV as expected: save the file again as CSV.")
            % {"line": reader.line_num}
        ) from None
    if not rows:
        return []
    # The header names the column as the import's files do: in any case, or in Chinese (会员编号).
    header = [header_column(cell.strip(), ["member_no"]) for cell in rows[0]]
    if "member_no" in header:
        column = header.index("member_no")
        rows = rows[1:]
    else:
        column = 0
    return [row[column].strip() for row in rows if len(row) > column and row[column].strip()]


def _open_overrides(members: list[Member]) -> dict[int, TierOverride]:
    ids = [m.pk for m in members]
    found: dict[int, TierOverride] = {}
    for start in range(0, len(ids), _CHUNK):
        found.update(
            (o.member_id, o)
            for o in TierOverride.objects.select_related("tier").filter(
                member_id__in=ids[start : start + _CHUNK], ended_on__isnull=True
            )
        )
    return found


def _state(member: Member) -> MemberTier | None:
    try:
        return member.tier_state
    except ObjectDoesNotExist:  # not evaluated yet
        return None


def _held(member: Member):
    state = _state(member)
    return state.current_tier if state else None


def bulk_preview(
    *,
    action: str,
    member_nos: list[str],
    tier: Tier | None = None,
    ends_on: datetime.date | None = None,
) -> BulkPlan:
    """Who would change and who is skipped, and why; reads only."""
    if len(member_nos) > MAX_BATCH:
        raise DomainError(
            _("At most %(max)s members at a time; this batch has %(n)s.")
            % {"max": grouped(MAX_BATCH), "n": grouped(len(member_nos))}
        )
    # Numbers are read as the search reads them (m001 and full-width Ｍ００１ are M001); a
    # member listed under two spellings is listed twice.
    members = members_by_number(member_nos, chunk=_CHUNK)
    overrides = _open_overrides(list(members.values())) if action == OVERRIDE else {}
    plan = BulkPlan(action=action)
    seen: set[object] = set()
    for given in member_nos:
        member = members.get(given)
        number = member.member_no if member is not None else given
        key = member.pk if member is not None else given
        if key in seen:
            plan.rows.append(BulkRow(number, member, skipped=_("listed more than once")))
            continue
        seen.add(key)
        if member is None:
            plan.rows.append(BulkRow(number, None, skipped=_("unknown member number")))
            continue
        held = _held(member)
        held_name = held.name if held else "—"
        current = overrides.get(member.pk)
        plan.states.append((member.pk, member_state_key(member, _state(member), current)))
        if action == OVERRIDE:
            if member.status != Member.Status.ACTIVE:
                plan.rows.append(
                    BulkRow(number, member, skipped=_("not an active member: holds no tier"))
                )
            elif current is not None and current.tier_id == tier.pk and current.ends_on == ends_on:
                plan.rows.append(BulkRow(number, member, skipped=_("already has this override")))
            elif refusal := override_replacement_refusal(
                current, tier=tier, ends_on=ends_on, kind=TierOverride.Kind.MANUAL
            ):
                plan.rows.append(BulkRow(number, member, skipped=refusal))
            elif (
                current is not None
                and held is not None
                and current.tier_id == held.pk
                and (held.rank > tier.rank)
            ):
                # The override holding the tier ends: warned now, the tier kept for the notice.
                plan.rows.append(
                    BulkRow(
                        number,
                        member,
                        change=_(
                            "keeps %(held)s for the notice period after its override ends, "
                            "then at least %(tier)s"
                        )
                        % {"held": held_name, "tier": tier.name},
                    )
                )
            elif held is not None and held.rank >= tier.rank:
                # A floor under a tier the member holds already: no move now.
                plan.rows.append(
                    BulkRow(
                        number,
                        member,
                        change=_("stays %(held)s, never below %(tier)s while the override lasts")
                        % {"held": held_name, "tier": tier.name},
                    )
                )
            else:
                plan.rows.append(
                    BulkRow(number, member, change=f"{held_name} → {tier.name}")
                )  # fmt: skip
        else:
            if member.status == Member.Status.BLACKLISTED:
                plan.rows.append(BulkRow(number, member, skipped=_("already blacklisted")))
            else:
                plan.rows.append(
                    BulkRow(
                        number,
                        member,
                        change=_("%(status)s → blacklisted; tier %(tier)s revoked")
                        % {"status": member.get_status_display(), "tier": held_name},
                    )
                )
    return plan


@transaction.atomic
def bulk_apply(
    *,
    action: str,
    member_nos: list[str],
    confirmed: str,
    reason: str,
    actor,
    tier: Tier | None = None,
    ends_on: datetime.date | None = None,
    evidence: str = "",
) -> int:
    """Apply the batch whole or not at all; ``confirmed`` is the ``digest`` of the plan the
    preview showed. If the members changed since then (a colleague set an override, say),
    nothing is applied: the preview is made again under the members' locks and compared."""
    if not reason.strip():
        raise DomainError(_("A reason is required."))
    members = members_by_number(member_nos[:MAX_BATCH], chunk=_CHUNK)
    member_lock_many(member.pk for member in members.values())
    plan = bulk_preview(action=action, member_nos=member_nos, tier=tier, ends_on=ends_on)
    if plan.digest != confirmed:
        # Said after "Nothing was applied:" by the page, so it does not say so itself.
        raise DomainError(_("the members changed since the preview. Preview again."))
    for row in plan.changes:
        if action == OVERRIDE:
            tier_override_set(
                member=row.member, tier=tier, reason=reason, ends_on=ends_on, actor=actor
            )
        else:
            review_services.member_blacklist(
                member=row.member, reason=reason, evidence=evidence, actor=actor
            )
    return len(plan.changes)
