"""import_csv legacy_tiers: a carried-over tier holds for one tier year from granted_on, then
the normal lifecycle; all or nothing, every bad line named, importing again changes nothing."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.legacy import LegacyResult
from tiers.models import MemberTier, Tier, TierChange
from tiers.services import member_evaluate, tiers_recompute

pytestmark = pytest.mark.django_db
HEADER = "member_no,tier,granted_on"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def csv_file(tmp_path):
    def write(*lines: str) -> str:
        path = tmp_path / "legacy.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    return write


def run(path: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_csv", "legacy_tiers", path, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_legacy_tier_holds_for_one_tier_year_then_the_lifecycle_applies(csv_file):
    member = MemberFactory(member_no="L1", joined_on=datetime.date(2025, 1, 1))
    path = csv_file(HEADER, "L1,gold,2025-09-01")

    out, _err = run(path)

    assert "Imported 1 legacy tier (0 already imported)" in out
    state = MemberTier.objects.get(member=member)
    assert state.current_tier.code == "gold"
    assert (state.tier_year_start, state.tier_year_end) == (
        datetime.date(2025, 9, 1),
        datetime.date(2026, 9, 1),
    )
    change = TierChange.objects.get(member=member)
    assert change.cause == TierChange.Cause.LEGACY and change.effective_on == datetime.date(
        2025, 9, 1
    )

    # Within the tier year the member keeps Gold though they qualify for Silver (tenure) only.
    tiers_recompute(as_of=datetime.date(2026, 3, 1))
    assert MemberTier.objects.get(member=member).current_tier.code == "gold"
    # From 30 days before the end: warned; downgraded once the notice has passed.
    tiers_recompute(as_of=datetime.date(2026, 8, 10))
    assert MemberTier.objects.get(member=member).downgrade_warned_on == datetime.date(2026, 8, 10)
    tiers_recompute(as_of=datetime.date(2026, 9, 10))
    assert MemberTier.objects.get(member=member).current_tier.code == "silver"


def test_a_legacy_tier_is_exported_as_held_before_the_first_evaluation(csv_file):
    MemberFactory(member_no="L1")
    MemberFactory(member_no="L2")
    run(csv_file(HEADER, "L1,gold,2025-09-01"))
    out = io.StringIO()

    call_command("export_tiers", stdout=out, stderr=io.StringIO())

    rows = {row["member_no"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    # Held as the staff page and the API show it; no evaluation yet, so no figures.
    assert rows["L1"] == {
        "member_no": "L1",
        "status": "active",
        "qualified_tier": "",
        "current_tier": "gold",
        "spend": "",
        "frequency": "",
        "tenure_years": "",
        "contribution": "",
    }
    assert rows["L2"]["current_tier"] == ""


def test_importing_the_same_file_again_changes_nothing(csv_file):
    MemberFactory(member_no="L1")
    path = csv_file(HEADER, "L1,gold,2025-09-01")
    run(path)

    out, _err = run(path)

    assert "Imported 0 legacy tiers (1 already imported)" in out
    assert TierChange.objects.count() == 1


def test_the_summary_counts_by_thousands_in_both_languages():
    result = LegacyResult("legacy.csv", new=1_200, existing=3_400, seconds=1.5)

    assert str(result).startswith("Imported 1,200 legacy tiers (3,400 already imported) from ")
    with translation.override("zh-hans"):
        assert "导入原有等级 1,200 条（另有 3,400 条此前已导入）" in str(result)


def test_every_bad_line_is_named_and_nothing_is_imported(csv_file):
    MemberFactory(member_no="L1")
    MemberFactory(member_no="L2", status=Member.Status.EXPERIENCE)
    MemberFactory(member_no="L3")
    MemberFactory(member_no="L4", joined_on=datetime.date(2024, 1, 5))
    path = csv_file(
        HEADER,
        "L1,gold,2025-09-01",
        "L2,gold,2025-09-01",
        "L9,gold,2025-09-01",
        "L3,vip,2025-09-01",
        "L3,gold,2025/09/01",
        "L1,silver,2025-09-01",
        "L3,gold,2999-01-01",
        "L4,gold,2020-01-01",
    )

    with pytest.raises(CommandError, match="7 bad rows; nothing was imported") as caught:
        out = io.StringIO()
        err = io.StringIO()
        try:
            call_command("import_csv", "legacy_tiers", path, stdout=out, stderr=err)
        finally:
            caught.lines = err.getvalue()

    assert caught.lines.splitlines() == [
        'line 3: member L2 has the status "experience member": only active members hold a tier',
        "line 4: unknown member L9",
        'line 5: unknown tier "vip"; choose one of: diamond, platinum, gold, silver, regular',
        'line 6: granted_on "2025/09/01" is not a date YYYY-MM-DD',
        "line 7: member L1 appears again (first on line 2)",
        "line 8: granted_on 2999-01-01 is in the future",
        "line 9: granted_on 2020-01-01 is before member L4 joined (2024-01-05)",
    ]
    assert not MemberTier.objects.exists() and not TierChange.objects.exists()


def test_a_wrong_header_is_named(csv_file):
    with pytest.raises(CommandError):
        err = io.StringIO()
        try:
            call_command("import_csv", "legacy_tiers", csv_file("member_no,level"), stderr=err)
        finally:
            message = err.getvalue()

    assert "missing column(s): tier, granted_on" in message
    assert "unknown column(s): level" in message


def test_a_different_legacy_tier_for_an_imported_member_is_a_bad_line(csv_file):
    MemberFactory(member_no="L1")
    run(csv_file(HEADER, "L1,gold,2025-09-01"))

    with pytest.raises(CommandError):
        err = io.StringIO()
        try:
            call_command(
                "import_csv", "legacy_tiers", csv_file(HEADER, "L1,platinum,2025-09-01"), stderr=err
            )
        finally:
            message = err.getvalue()

    assert "line 2: member L1 already has a legacy tier (Gold from 2025-09-01)" in message


def gb18030_file(tmp_path, *lines: str) -> str:
    path = tmp_path / "legacy-gb.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return str(path)


def test_a_gb18030_file_is_read_with_the_encoding_given(tmp_path):
    member = MemberFactory(member_no="会员1", joined_on=datetime.date(2025, 1, 1))
    path = gb18030_file(tmp_path, HEADER, "会员1,gold,2025-09-01")
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "import_csv", "legacy_tiers", path, "--encoding", "gb18030", stdout=out, stderr=err
    )

    assert "Imported 1 legacy tier" in out.getvalue()
    assert MemberTier.objects.get(member=member).current_tier.code == "gold"


def test_a_gb18030_file_is_detected_as_for_the_other_kinds_and_says_so(tmp_path):
    member = MemberFactory(member_no="会员2", joined_on=datetime.date(2025, 1, 1))
    path = gb18030_file(tmp_path, HEADER, "会员2,silver,2025-09-01")

    _out, err = run(path)

    assert "reading the file as GB18030 (it is not UTF-8)" in err
    assert MemberTier.objects.get(member=member).current_tier.code == "silver"


def test_a_gb18030_file_read_as_utf8_names_the_line_and_hints_at_gb18030(tmp_path):
    MemberFactory(member_no="会员3", joined_on=datetime.date(2025, 1, 1))
    path = gb18030_file(tmp_path, HEADER, "会员3,gold,2025-09-01")

    with pytest.raises(CommandError) as raised:
        call_command(
            "import_csv", "legacy_tiers", path, "--encoding", "utf-8", stderr=io.StringIO()
        )

    assert str(raised.value) == (
        f"{path} is not UTF-8 text (line 2); it reads as GB18030: run again with --encoding gb18030"
    )
    assert not MemberTier.objects.exists()


def test_an_unknown_encoding_for_legacy_tiers_is_a_clear_error(csv_file):
    path = csv_file(HEADER)

    with pytest.raises(CommandError, match='unknown encoding "klingon"'):
        call_command("import_csv", "legacy_tiers", path, "--encoding", "klingon")


def test_a_member_number_is_read_as_every_import_reads_it(csv_file):
    # README: Ｍ001 is M001 everywhere; a space or an invisible character is refused.
    MemberFactory(member_no="A002")
    path = csv_file(
        HEADER, "Ａ002,silver,2026-01-01", "A 3,gold,2026-01-01", "A\u200b4,gold,2026-01-01"
    )

    with pytest.raises(CommandError, match="2 bad rows"):
        err = io.StringIO()
        try:
            call_command("import_csv", "legacy_tiers", path, stdout=io.StringIO(), stderr=err)
        finally:
            lines = err.getvalue().splitlines()

    assert lines == [
        'line 3: member_no "A 3" contains a space',
        "line 4: member_no contains a control or invisible character (U+200B)",
    ]

    out, _err = run(csv_file(HEADER, "Ａ002,silver,2026-01-01"))

    assert "Imported 1 legacy tier" in out
    assert MemberTier.objects.get(member__member_no="A002").current_tier.code == "silver"


def test_a_member_not_active_is_named_by_the_status_label_in_chinese(csv_file):
    MemberFactory(member_no="A003", status=Member.Status.EXPERIENCE)

    with translation.override("zh-hans"), pytest.raises(CommandError):
        err = io.StringIO()
        try:
            call_command(
                "import_csv", "legacy_tiers", csv_file(HEADER, "A003,gold,2025-09-01"), stderr=err
            )
        finally:
            lines = err.getvalue().splitlines()

    assert lines == ["第 2 行：会员 A003 的状态为“体验会员”：只有正式会员才能持有等级"]


def test_a_tier_above_the_legacy_one_is_named_in_the_readers_language(csv_file):
    member = MemberFactory(member_no="L5", joined_on=datetime.date(2025, 1, 1))
    MemberTier.objects.create(member=member, current_tier=Tier.objects.get(code="platinum"))
    path = csv_file(HEADER, "L5,gold,2025-09-01")

    with translation.override("zh-hans"), pytest.raises(CommandError):
        err = io.StringIO()
        try:
            call_command("import_csv", "legacy_tiers", path, stderr=err)
        finally:
            message = err.getvalue()

    assert "第 2 行：会员 L5 已持有铂金会员，高于金卡会员" in message


def gold_earned(member_no: str, joined_on: datetime.date, on: datetime.date) -> Member:
    """A member who earned Gold on ``on`` (20,000.00 spent that day): tier year to a year on."""
    member = MemberFactory(member_no=member_no, joined_on=joined_on)
    PurchaseFactory(member=member, amount_fen=2_000_000, day=on)
    member_evaluate(member=member, as_of=on)
    assert MemberTier.objects.get(member=member).current_tier.code == "gold"
    return member


def test_a_legacy_year_that_would_shorten_the_tier_year_held_at_its_tier_is_a_bad_line(csv_file):
    member = gold_earned("G1", datetime.date(2025, 1, 1), datetime.date(2026, 6, 1))
    history_before = list(TierChange.objects.values_list("pk", flat=True))

    with pytest.raises(CommandError, match="1 bad row; nothing was imported"):
        err = io.StringIO()
        try:
            call_command(
                "import_csv", "legacy_tiers", csv_file(HEADER, "G1,gold,2025-01-01"), stderr=err
            )
        finally:
            lines = err.getvalue().splitlines()

    assert lines == [
        "line 2: member G1 already holds Gold until 2027-06-01, no shorter than the legacy "
        "tier year (until 2026-01-01)"
    ]
    state = MemberTier.objects.get(member=member)
    assert (state.tier_year_start, state.tier_year_end) == (
        datetime.date(2026, 6, 1),
        datetime.date(2027, 6, 1),
    )
    assert list(TierChange.objects.values_list("pk", flat=True)) == history_before


def test_a_legacy_year_at_the_tier_held_that_ends_later_extends_it_without_a_history_row(
    csv_file,
):
    member = gold_earned("G2", datetime.date(2025, 1, 1), datetime.date(2025, 3, 1))
    path = csv_file(HEADER, "G2,gold,2025-09-01")

    out, _err = run(path)

    assert "Imported 1 legacy tier (0 already imported)" in out
    state = MemberTier.objects.get(member=member)
    assert (state.current_tier.code, state.tier_year_start, state.tier_year_end) == (
        "gold",
        datetime.date(2025, 9, 1),
        datetime.date(2026, 9, 1),
    )
    # Gold → Gold is no change of tier: the history keeps only the Gold earned.
    assert list(TierChange.objects.filter(member=member).values_list("cause", flat=True)) == [
        TierChange.Cause.QUALIFIED
    ]

    out, _err = run(path)

    assert "Imported 0 legacy tiers (1 already imported)" in out
    assert TierChange.objects.filter(member=member).count() == 1
