"""A job's outcome in words, in the reader's language; old English results read back."""

from __future__ import annotations

import pytest
from django.utils import translation

from jobs import outcomes
from jobs.outcomes import result_text


@pytest.mark.parametrize(
    ("result", "english", "chinese"),
    [
        (
            outcomes.chunks_queued(run=7, chunks=1),
            "run 7: 1 chunk queued",
            "运行记录 7：已排入 1 个分块",
        ),
        (
            outcomes.chunks_queued(run=7, chunks=3),
            "run 7: 3 chunks queued",
            "运行记录 7：已排入 3 个分块",
        ),
        (
            outcomes.chunks_failed(failed=1, chunks=1),
            "1 of 1 chunk failed",
            "1 个分块中有 1 个失败",
        ),
        (
            outcomes.chunks_failed(failed=2, chunks=5),
            "2 of 5 chunks failed",
            "5 个分块中有 2 个失败",
        ),
        (outcomes.overrides_ended(count=1), "1 override ended", "1 项人工调整已结束"),
        (
            outcomes.run_going(run=9),
            "not started: run 9 of today is still going",
            "未启动：今天的运行记录 9 尚未结束",
        ),
        (outcomes.overrides_ended(count=0), "0 overrides ended", "0 项人工调整已结束"),
        # Written before outcomes existed: English sentences of a known format.
        ("run 12: 1 chunks queued", "run 12: 1 chunk queued", "运行记录 12：已排入 1 个分块"),
        ("2 of 4 chunks failed", "2 of 4 chunks failed", "4 个分块中有 2 个失败"),
        ("3 overrides ended", "3 overrides ended", "3 项人工调整已结束"),
        (
            outcomes.deliveries({"sent": 2, "pending": 1}),
            "2 sent, 1 to be tried again",
            "已发送 2 条，1 条待重试",
        ),
        (outcomes.deliveries({}), "no notice due", "没有待发送的通知"),
        (
            outcomes.nomination({"quarter": "2026Q3", "cases": 1, "evaluated": 40}),
            "2026Q3: 1 member nominated",
            "2026Q3：提名 1 位会员",
        ),
        (
            {"kind": "signin_codes_purged", "count": 3},
            "3 expired sign-in code requests deleted",
            "已删除 3 条过期的登录验证码请求",
        ),
        ("sent: 2, failed: 1", "2 sent, 1 failed for good", "已发送 2 条，1 条最终失败"),
        ("none due", "no notice due", "没有待发送的通知"),
        (
            "3 sign-in code requests deleted",
            "3 expired sign-in code requests deleted",
            "已删除 3 条过期的登录验证码请求",
        ),
        # Anything else as it is.
        ("sent: 2, lost: 1", "sent: 2, lost: 1", "sent: 2, lost: 1"),
        (
            {"kind": "deliveries", "counts": {"lost": 1}},
            "{'kind': 'deliveries', 'counts': {'lost': 1}}",
            "{'kind': 'deliveries', 'counts': {'lost': 1}}",
        ),
        ({"kind": "unknown", "n": 1}, "{'kind': 'unknown', 'n': 1}", "{'kind': 'unknown', 'n': 1}"),
        (None, "", ""),
    ],
)
def test_a_result_is_worded_in_the_readers_language(result, english, chinese):
    with translation.override("en"):
        assert result_text(result) == english
    with translation.override("zh-hans"):
        assert result_text(result) == chinese


@pytest.mark.parametrize(
    ("result", "english", "chinese"),
    [
        (
            outcomes.chunks_queued(run=1234, chunks=1200),
            "run 1234: 1,200 chunks queued",  # a run's number is a name, not a count
            "运行记录 1234：已排入 1,200 个分块",
        ),
        (
            outcomes.chunks_failed(failed=1200, chunks=3400),
            "1,200 of 3,400 chunks failed",
            "3,400 个分块中有 1,200 个失败",
        ),
        (outcomes.overrides_ended(count=1200), "1,200 overrides ended", "1,200 项人工调整已结束"),
        (
            outcomes.given_up(hours=36, chunks_left=1200),
            "given up: not finished after 36 hours; 1,200 chunks never ran",
            "已放弃：36 小时后仍未结束；1,200 个分块从未运行",
        ),
        (
            outcomes.nomination({"quarter": "2026Q3", "cases": 1200, "evaluated": 40}),
            "2026Q3: 1,200 members nominated",
            "2026Q3：提名 1,200 位会员",
        ),
        (
            {"kind": "signin_codes_purged", "count": 1200},
            "1,200 expired sign-in code requests deleted",
            "已删除 1,200 条过期的登录验证码请求",
        ),
        (
            outcomes.deliveries({"sent": 1200, "pending": 1}),
            "1,200 sent, 1 to be tried again",
            "已发送 1,200 条，1 条待重试",
        ),
        # Stored before outcomes, digits ungrouped: read back and shown grouped as well.
        ("1200 overrides ended", "1,200 overrides ended", "1,200 项人工调整已结束"),
        ("sent: 1200", "1,200 sent", "已发送 1,200 条"),
    ],
)
def test_counts_in_a_result_are_grouped_by_thousands(result, english, chinese):
    with translation.override("en"):
        assert result_text(result) == english
    with translation.override("zh-hans"):
        assert result_text(result) == chinese
