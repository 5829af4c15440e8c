"""Each notice fills only the variables its kind's editable text may name (the template check
refuses any other, notifications.models.VARIABLES): both lists are kept in step."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from django.utils import translation

from notifications.models import VARIABLES, Kind
from tiers import notices

ROW = (1, "孙丽", "13800000000", "")
DAY = datetime.date(2026, 6, 30)
GOLD, SILVER = SimpleNamespace(code="gold"), SimpleNamespace(code="silver")


def test_every_notice_fills_exactly_the_variables_its_kind_allows():
    override = SimpleNamespace(pk=1, tier=GOLD, message="感谢", ends_on=DAY)
    built = [
        notices.upgrade(ROW, DAY, GOLD, DAY),
        notices.tier_kept(ROW, DAY, GOLD, DAY, DAY),
        notices.downgrade_warning(ROW, DAY, GOLD, SILVER, SILVER, DAY, DAY, DAY, {}),
        notices.downgrade(ROW, DAY, GOLD, SILVER),
        notices.blacklist(ROW, DAY),
        notices.reinstated(ROW, DAY, GOLD, DAY),
        notices.exceptional_upgrade(ROW, DAY, override),
        notices.review_declined(ROW, DAY, 7, "不符合条件"),
    ]

    assert {notice.kind for notice in built} == set(Kind)
    for notice in built:
        assert set(notice.context) == VARIABLES[notice.kind], notice.kind


def _short(metric: str, shortfall, value, minimum) -> dict:
    return {
        "kind": "threshold", "metric": metric, "held": False, "shortfall": shortfall,
        "value": value, "minimum": minimum,
    }  # fmt: skip


# Platinum's default rule, missed both ways: (spend and frequency) or (tenure and spend).
PLATINUM_GAPS = {
    "kind": "any",
    "held": False,
    "children": [
        {
            "kind": "all",
            "held": False,
            "children": [
                _short("spend", "10000.00", "40000.00", "50000.00"),
                _short("frequency", 3, 15, 18),
            ],
        },
        {
            "kind": "all",
            "held": False,
            "children": [
                _short("tenure_years", 2, 1, 3),
                _short("spend", "-10000.00", "40000.00", "30000.00") | {"held": True},
            ],
        },
    ],
}


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "en",
            "one of: (spend: ¥10,000.00 more (now ¥40,000.00 of ¥50,000.00) and frequency "
            "(purchases): 3 more (now 15 of 18)) or (tenure (years): 2 more (now 1 of 3))",
        ),
        (
            "zh-hans",
            "满足其一：（消费金额：尚差 ¥10,000.00（当前 ¥40,000.00，要求 ¥50,000.00） 且消费频次",
        ),
    ],
)
def test_a_group_of_gaps_inside_an_alternative_is_bracketed(language, words):
    with translation.override(language):
        text = notices.describe_gaps(PLATINUM_GAPS)

    assert text.startswith(words)
