from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory, RefundFactory
from tiers.models import MemberEvaluation

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    """The command's output in English (the source language)."""
    out = io.StringIO()
    with translation.override("en"):
        call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def exported() -> dict[str, dict[str, str]]:
    return {row["member_no"]: row for row in csv.DictReader(io.StringIO(run("export_tiers")))}


def test_recompute_then_export_shows_tiers_and_exact_spend():
    gold = MemberFactory(member_no="A1", joined_on=datetime.date(2026, 1, 1))
    purchase = PurchaseFactory(member=gold, amount_fen=2_000_050, day=datetime.date(2026, 3, 1))
    RefundFactory(refund_of=purchase, amount_fen=25, day=datetime.date(2026, 3, 2))
    MemberFactory(member_no="E1", status=Member.Status.EXPERIENCE)
    MemberFactory(member_no="N1", joined_on=datetime.date(2026, 7, 1))

    summary = run("recompute_tiers", "--as-of", "2026-06-30")

    assert "members evaluated:   1" in summary
    assert "not yet joined:      1" in summary
    rows = exported()
    assert rows["A1"] == {
        "member_no": "A1",
        "status": "active",
        "qualified_tier": "gold",
        "current_tier": "gold",
        "spend": "20000.25",
        "frequency": "1",
        "tenure_years": "0",
        "contribution": "0",
    }
    assert rows["E1"]["status"] == "experience" and rows["E1"]["current_tier"] == ""
    assert rows["N1"]["current_tier"] == "" and rows["N1"]["spend"] == ""


@pytest.mark.parametrize("given", ["30/06/2026", ""])
def test_recompute_rejects_a_malformed_or_empty_date(given):
    # An empty one (a script's unset variable) is not today: nothing is evaluated.
    MemberFactory(joined_on=datetime.date(2020, 1, 1))
    with translation.override("en"), pytest.raises(Exception, match="not a date"):
        run("recompute_tiers", "--as-of", given)
    assert not MemberEvaluation.objects.exists()


def test_recompute_prints_its_progress_and_summary_in_chinese():
    MemberFactory(member_no="A1", joined_on=datetime.date(2026, 1, 1))
    MemberFactory(member_no="N1", joined_on=datetime.date(2026, 7, 1))
    out, err = io.StringIO(), io.StringIO()

    with translation.override("zh-hans"):
        call_command("recompute_tiers", "--as-of", "2026-06-30", stdout=out, stderr=err)

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("已按 2026-06-30 重算等级，政策版本 ")
    assert "  已评估会员： 1" in lines
    assert "  尚未入会：   1" in lines
    assert lines[-1].startswith("  耗时：") and lines[-1].endswith(" 秒")
    assert "  2/2 名会员（100%）" in err.getvalue()
    assert "members" not in out.getvalue() + err.getvalue()


def test_progress_reaches_every_member_when_some_were_evaluated_later(tmp_path):
    for n in range(3):
        MemberFactory(member_no=f"A{n}", joined_on=datetime.date(2026, 1, 1))
    run("recompute_tiers", "--as-of", "2026-06-30")
    err = io.StringIO()

    with translation.override("en"):
        call_command("recompute_tiers", "--as-of", "2026-05-31", stdout=io.StringIO(), stderr=err)

    assert "3/3 members (100%)" in err.getvalue()


def test_export_says_what_it_wrote_and_refuses_to_overwrite_in_chinese(tmp_path):
    MemberFactory(member_no="A1")
    path = tmp_path / "tiers.csv"
    err = io.StringIO()

    with translation.override("zh-hans"):
        call_command("export_tiers", "--output", str(path), stderr=err)
        with pytest.raises(CommandError) as exists:
            call_command("export_tiers", "--output", str(path), stderr=io.StringIO())
        with pytest.raises(CommandError) as nowhere:
            call_command("export_tiers", "--output", str(tmp_path / "no" / "t.csv"))

    assert err.getvalue().strip() == f"已将 1 名会员写入 {path}"
    assert str(exists.value) == f"{path} 已存在：请换一个文件，或加上 --force 覆盖它"
    assert str(nowhere.value) == f"{tmp_path / 'no'} 不是目录：未写入任何内容"


def test_export_says_what_it_wrote_in_english(tmp_path):
    MemberFactory.create_batch(2)
    err = io.StringIO()

    with translation.override("en"):
        call_command("export_tiers", "--output", str(tmp_path / "t.csv"), stderr=err)

    assert err.getvalue().strip() == f"Wrote 2 members to {tmp_path / 't.csv'}"
