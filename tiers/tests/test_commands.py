from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import translation

from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory, RefundFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
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


def test_recompute_rejects_a_malformed_date():
    with translation.override("en"), pytest.raises(Exception, match="not a date"):
        run("recompute_tiers", "--as-of", "30/06/2026")
