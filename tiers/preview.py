"""Impact preview of a draft policy version (before it is published): for every member who
takes part, the tier they qualify for under the version in force and under the draft, both as
of one date and from the same figures, counted as a migration matrix with a sample of the
members who would move.

Set-based like the recompute: the window figures come from one grouped SQL pass into a
temporary table (``metrics.window_figures_table``), members and their figures are streamed from
one cursor, and the same engine (``engine.qualify``) decides both tiers. No query per member:
the number of queries is fixed (two passes when the draft changes the window kind). The engine
runs once per group of members whose figures reach the same thresholds (see ``_qualified``)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db import connection

from members.models import Member

from . import engine
from .metrics import window_figures_table
from .models import Tier, TierPolicy
from .policy import RankFinder
from .selectors import engine_policy, policy_in_force, tiers_by_code

SAMPLE_SIZE = 10
_FETCH = 5000


@dataclass(frozen=True)
class PreviewCell:
    from_tier: Tier
    to_tier: Tier
    count: int

    @property
    def direction(self) -> str:
        if self.to_tier.rank > self.from_tier.rank:
            return "up"
        if self.to_tier.rank < self.from_tier.rank:
            return "down"
        return "stay"


@dataclass(frozen=True)
class PreviewRow:
    tier: Tier
    cells: list[PreviewCell]
    up: int
    down: int
    stay: int

    @property
    def total(self) -> int:
        return self.up + self.down + self.stay


@dataclass
class PolicyPreview:
    """``matrix[(from code, to code)]``: members qualifying for ``from`` under ``baseline`` and
    for ``to`` under ``draft``; ``samples`` holds a few of the members of each moving cell."""

    draft: TierPolicy
    baseline: TierPolicy
    as_of: date
    tiers: list[Tier]  # highest first
    matrix: Counter = field(default_factory=Counter)
    samples: dict[tuple[str, str], list[Member]] = field(default_factory=dict)
    members: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> list[PreviewRow]:
        rows = []
        for source in self.tiers:
            cells = [
                PreviewCell(source, target, self.matrix[source.code, target.code])
                for target in self.tiers
            ]
            moves = Counter()
            for cell in cells:
                moves[cell.direction] += cell.count
            rows.append(PreviewRow(source, cells, moves["up"], moves["down"], moves["stay"]))
        return rows

    def _count(self, direction: str) -> int:
        return sum(getattr(row, direction) for row in self.rows)

    @property
    def up(self) -> int:
        return self._count("up")

    @property
    def down(self) -> int:
        return self._count("down")

    @property
    def stay(self) -> int:
        return self._count("stay")

    @property
    def moving_samples(self) -> list[tuple[PreviewCell, list[Member]]]:
        """The sampled members of each cell that moves, biggest moves first."""
        by_code = {t.code: t for t in self.tiers}
        cells = [PreviewCell(by_code[a], by_code[b], self.matrix[a, b]) for (a, b) in self.samples]
        cells.sort(key=lambda c: (-abs(c.to_tier.rank - c.from_tier.rank), -c.count))
        return [(c, self.samples[c.from_tier.code, c.to_tier.code]) for c in cells]


def _stream(figures_table: str, as_of: date):
    """(member id, joined on, spend fen, frequency, referrals, activities) of every member who
    takes part and had joined by ``as_of``, in id order, read in blocks from one cursor."""
    qn = connection.ops.quote_name
    sql = (
        "SELECT m.id, m.joined_on, COALESCE(f.spend_fen, 0), COALESCE(f.frequency, 0), "
        "COALESCE(f.referrals, 0), COALESCE(f.activities, 0) "
        f"FROM {qn(Member._meta.db_table)} m "
        f"LEFT JOIN {qn(figures_table)} f ON f.member_id = m.id "
        "WHERE m.status = %s AND m.joined_on <= %s ORDER BY m.id"
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [Member.Status.ACTIVE, as_of])
        while rows := cursor.fetchmany(_FETCH):
            yield from rows


def _qualified(policies: list[engine.Policy], window: engine.Window, as_of: date):
    """For each member: (member id, [qualified rank under each policy]); the policies share
    ``window`` and may differ in points and rules."""
    finder = RankFinder(*policies)
    completed_years = engine.completed_years
    with window_figures_table(window) as table:
        for member_id, joined_on, spend_fen, frequency, referrals, activities in _stream(
            table, as_of
        ):
            tenure = completed_years(joined_on, as_of)
            yield member_id, finder.ranks(spend_fen, frequency, tenure, referrals, activities)


def policy_preview(
    *,
    draft: TierPolicy,
    as_of: date,
    baseline: TierPolicy | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> PolicyPreview:
    """What ``draft`` would change if it were in force on ``as_of``, against ``baseline`` (the
    version in force on ``as_of`` by default), from the figures as of ``as_of``.

    Raises ``PolicyError`` if the draft's rules are not valid."""
    started = time.monotonic()
    baseline = baseline or policy_in_force(as_of)
    tiers = tiers_by_code()
    old, new = engine_policy(baseline, tiers), engine_policy(draft, tiers)
    code_by_rank = {t.rank: t.code for t in tiers.values()}
    preview = PolicyPreview(
        draft=draft,
        baseline=baseline,
        as_of=as_of,
        tiers=sorted(tiers.values(), key=lambda t: t.rank, reverse=True),
    )
    matrix = Counter()
    sampled: dict[tuple[int, int], list[int]] = defaultdict(list)

    def count(member_id: int, old_rank: int, new_rank: int) -> None:
        matrix[old_rank, new_rank] += 1
        if old_rank != new_rank and len(sampled[old_rank, new_rank]) < sample_size:
            sampled[old_rank, new_rank].append(member_id)

    old_window = engine.window_for(as_of, old.window)
    new_window = engine.window_for(as_of, new.window)
    if old_window == new_window:
        for member_id, (old_rank, new_rank) in _qualified([old, new], new_window, as_of):
            count(member_id, old_rank, new_rank)
    else:
        # Different windows need different figures: two passes, the first kept as ranks only.
        before = {member_id: ranks[0] for member_id, ranks in _qualified([old], old_window, as_of)}
        for member_id, (new_rank,) in _qualified([new], new_window, as_of):
            count(member_id, before[member_id], new_rank)

    preview.members = sum(matrix.values())
    preview.matrix = Counter(
        {(code_by_rank[a], code_by_rank[b]): n for (a, b), n in matrix.items()}
    )
    ids = [member_id for members in sampled.values() for member_id in members]
    found = Member.objects.only("id", "member_no", "name").in_bulk(ids)
    preview.samples = {
        (code_by_rank[a], code_by_rank[b]): [found[i] for i in members if i in found]
        for (a, b), members in sampled.items()
    }
    preview.seconds = time.monotonic() - started
    return preview
