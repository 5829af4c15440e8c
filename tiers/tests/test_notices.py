"""Each notice fills only the variables its kind's editable text may name (the template check
refuses any other, notifications.models.VARIABLES): both lists are kept in step."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

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
        notices.downgrade_warning(ROW, DAY, GOLD, SILVER, DAY, DAY, DAY, {}),
        notices.downgrade(ROW, DAY, GOLD, SILVER),
        notices.blacklist(ROW, DAY),
        notices.reinstated(ROW, DAY, GOLD, DAY),
        notices.exceptional_upgrade(ROW, DAY, override),
        notices.review_declined(ROW, DAY, 7, "不符合条件"),
    ]

    assert {notice.kind for notice in built} == set(Kind)
    for notice in built:
        assert set(notice.context) == VARIABLES[notice.kind], notice.kind
