"""The transaction import's fast path (PostgreSQL): runs of canonical lines go to PostgreSQL as
written and PostgreSQL converts them. Whatever the path a line takes, it is staged, stored and
reported exactly as the Python converters would have it."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.bulk import postgres_settings
from members import importers
from members.importers import ImportFailed, import_csv
from members.models import Transaction
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

COLUMNS = ("external_id", "member_no", "kind", "amount", "occurred_at", "refund_of")
TRANSACTIONS = ",".join(COLUMNS)
# More canonical lines in a row than the fast path needs to take them.
RUN = importers._FAST_RUN_MIN + 4


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def member():
    return MemberFactory(member_no="M001", joined_on=datetime.date(2020, 1, 1))


@pytest.fixture
def python_way(monkeypatch):
    """Imports without the fast path: every line converted in Python."""

    def disable():
        monkeypatch.setattr(importers._TransactionImporter, "canonical", None)

    return disable


def write(path: Path, lines: list[str], ending: str = "\n") -> str:
    path.write_bytes((ending.join(lines) + ending).encode())
    return str(path)


def purchases(prefix: str, count: int, day: str = "2026-06-01") -> list[str]:
    return [
        f"{prefix}{n},M001,purchase,{n + 1}.50,{day}T10:{n % 60:02d}:00+08:00,"
        for n in range(count)
    ]


def stored() -> list[tuple]:
    return list(
        Transaction.objects.order_by("external_id").values_list(
            "external_id",
            "member__member_no",
            "kind",
            "amount_fen",
            "occurred_at",
            "occurred_on",
            "refund_of__external_id",
        )
    )


def staged(path: str, *, fast: bool) -> tuple[list[tuple], int]:
    """The staging table after step 1 of an import of ``path`` (rolled back), and how many
    lines the fast path took."""
    importer = importers._TransactionImporter(Path(path), lambda message: None, None)
    taken = 0
    if fast:
        stage_fast = importer.stage_fast

        def counting(header, text, first_line):
            nonlocal taken
            taken += text.count("\n")
            stage_fast(header, text, first_line)

        importer.stage_fast = counting
    else:
        importer.canonical = None
    with transaction.atomic():
        importer._stage()
        # As the checks read them: the fast path stages text, converted in SQL.
        with connection.cursor() as cursor, postgres_settings(importer.classification_settings()):
            cursor.execute(
                "SELECT line, problem, external_id, member_no, kind, amount_fen, occurred_at, "
                "occurred_on, refund_of FROM {typed} s ORDER BY line".format(**importer.names)
            )
            rows = cursor.fetchall()
        transaction.set_rollback(True)
    return rows, taken


def canonical(name: str) -> st.SearchStrategy[str]:
    return st.from_regex(
        re.compile(importers._TransactionImporter.canonical[name], re.ASCII), fullmatch=True
    )


canonical_rows = st.lists(
    st.tuples(
        canonical("external_id"),
        canonical("member_no"),
        st.sampled_from(["purchase", "refund"]),
        canonical("amount"),
        canonical("occurred_at"),
        canonical("external_id"),
    ),
    min_size=1,
    max_size=30,
)


@pytest.mark.postgres_only
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=canonical_rows, order=st.permutations(COLUMNS))
def test_postgresql_reads_canonical_values_exactly_as_the_python_converters_do(
    tmp_path, rows, order
):
    # Fen, the aware moment and its local date; a future moment or a zero amount is restated
    # with the Python way's message.
    lines = [",".join(order)]
    for external_id, member_no, kind, amount, occurred_at, refund_of in rows:
        values = dict(
            zip(
                COLUMNS, (external_id, member_no, kind, amount, occurred_at, refund_of), strict=True
            )
        )
        if kind == "purchase":
            values["refund_of"] = ""
        lines.append(",".join(values[column] for column in order))
    path = write(tmp_path / "canonical.csv", lines)

    by_postgresql, taken = staged(path, fast=True)
    by_python, _ = staged(path, fast=False)

    assert taken == len(rows)
    assert by_postgresql == by_python


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_canonical_and_odd_lines_in_one_file_are_stored_as_the_python_way_stores_them(
    tmp_path, member, python_way, ending
):
    lines = [
        TRANSACTIONS,
        *purchases("A", RUN),
        'B1,Ｍ001,purchase,"¥1,234.50",2026/6/3,',  # full-width member number, written amount
        "",
        "B2, M001 ,purchase,12,2026-06-03 09:30,",
        *purchases("C", RUN, day="2026-05-31"),
        "R1,M001,refund,0.5,2026-06-04T00:00:00Z,A3",
        "R2,M001,refund,1.25,2026-06-04,B1",
        ",,,,,",
        "D1,M001,purchase,7,2026-06-05T23:59:59.123456-05:00,",
        *purchases("E", RUN, day="2024-02-29"),  # a leap day
        "F1,M001,refund,1,2026-06-06 08:00,C4",
    ]
    path = write(tmp_path / "mixed.csv", lines, ending)

    # On PostgreSQL the A run, the C run with R1 and R2, and F1 (the rest of the file) take the
    # fast path; D1 alone is cheaper the Python way; 29 February is never canonical.
    taken = staged(path, fast=True)[1]
    import_csv("transactions", path)
    fast = stored()
    Transaction.objects.filter(kind="refund").delete()
    Transaction.objects.all().delete()
    python_way()
    import_csv("transactions", path)

    assert fast == stored()
    assert len(fast) == 3 * RUN + 6
    assert taken == (2 * RUN + 3 if connection.vendor == "postgresql" else 0)
    assert fast[RUN][:4] == ("B1", "M001", "purchase", 123450)


def test_bad_values_in_canonical_shape_are_named_by_their_line_as_the_python_way_names_them(
    tmp_path, member, python_way
):
    later = timezone.localdate() + datetime.timedelta(days=3)
    lines = [
        TRANSACTIONS,
        *purchases("A", RUN),  # lines 2-21
        "X1,M001,purchase,10,2026-02-30,",  # 22: no such day
        *purchases("B", RUN),  # 23-42
        f"X2,M001,purchase,10,{later}T10:00:00+08:00,",  # 43: in the future
        *purchases("C", RUN),  # 44-63
        '"X3\nX3",M001,purchase,0.00,2026-06-01,',  # 64-65: a quoted line break, zero
        *purchases("D", RUN),  # 66-85
        "X4,M001,purchase,0.00,2026-06-01T10:00,",  # 86: zero
        "X5,M001,purchase,10,2026-06-01T24:00,",  # 87: no such hour
        "X6,M001,purchase,10,1899-12-31T10:00:00+08:00,",  # 88: before 1900
        *purchases("E", RUN),  # 89-108
        "X7,M001,purchase,10,1900-01-01T00:00:00+14:00,",  # 109: 1899 in China
        "X8,M001,purchase,10,2026-06-01T10:00:00+14:30,",  # 110: no place keeps it
        "X9,M001,purchase,10,2026-06-01T10:00:00+14:00,",  # 111: Kiribati, a good line
    ]
    path = write(tmp_path / "bad.csv", lines)

    with pytest.raises(ImportFailed) as fast:
        import_csv("transactions", path)
    python_way()
    with pytest.raises(ImportFailed) as python:
        import_csv("transactions", path)

    assert fast.value.lines == python.value.lines
    assert fast.value.lines == [
        'line 22: occurred_at "2026-02-30" is not a date like 2026-06-30',
        f'line 43: occurred_at "{later}T10:00:00+08:00" is in the future (later than tomorrow)',
        'line 64: external_id "X3\nX3" contains a space; amount "0.00" is not positive',
        'line 86: amount "0.00" is not positive',
        'line 87: occurred_at "2026-06-01T24:00" is not a valid date and time',
        'line 88: occurred_at "1899-12-31T10:00:00+08:00" is before 1900',
        'line 109: occurred_at "1900-01-01T00:00:00+14:00" is before 1900',
        'line 110: occurred_at "2026-06-01T10:00:00+14:30" has a UTC offset beyond ±14:00, '
        "which no place uses",
    ]
    assert not Transaction.objects.exists()


def test_more_flagged_lines_than_a_chunk_are_each_named(tmp_path, member, settings):
    """Lines only SQL finds bad (zero amounts) are staged again while their cursor is open,
    a chunk at a time: more of them than a chunk used to end in PostgreSQL's refusal of
    COPY FREEZE, with no line named."""
    settings.IMPORT_CHUNK_SIZE = 3
    zero = [f"Z{n},M001,purchase,0.00,2026-06-01T10:{n:02d}:00+08:00," for n in range(RUN)]
    path = write(tmp_path / "zeros.csv", [TRANSACTIONS, *purchases("A", RUN), *zero])

    with pytest.raises(ImportFailed) as failed:
        import_csv("transactions", path)

    assert failed.value.lines[:2] == [
        f'line {RUN + 2}: amount "0.00" is not positive',
        f'line {RUN + 3}: amount "0.00" is not positive',
    ]
    assert failed.value.bad_rows == RUN
    assert not Transaction.objects.exists()


def test_a_chinese_header_takes_the_fast_path_like_the_english_one(tmp_path, member):
    header = "外部编号,会员编号,类型,金额,发生时间,退款对应消费"
    path = write(tmp_path / "zh.csv", [header, *purchases("A", RUN)])

    assert staged(path, fast=True)[1] == (RUN if connection.vendor == "postgresql" else 0)
    result = import_csv("transactions", path)

    assert result.new == RUN
    assert Transaction.objects.count() == RUN


def test_reimporting_a_canonical_file_changes_nothing(tmp_path, member):
    path = write(
        tmp_path / "again.csv",
        [TRANSACTIONS, *purchases("A", RUN), "R1,M001,refund,1.00,2026-06-02,A1"],
    )
    first = import_csv("transactions", path)

    again = import_csv("transactions", path)

    assert (first.new, again.new, again.existing) == (RUN + 1, 0, RUN + 1)
    assert Transaction.objects.count() == RUN + 1
