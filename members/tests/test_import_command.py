"""``manage.py import_csv``: arguments, files that cannot be read, headers, line numbers."""

from __future__ import annotations

import codecs
import io
import signal
import threading
from signal import SIGINT

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from loyalty.exceptions import DomainError
from members import importers
from members.importers import KINDS, ImportFailed, import_csv
from members.models import Member, Transaction
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MEMBERS = "member_no,name,phone,email,joined_on,member_type,birthday"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def call(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_csv", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fail(*args: str) -> tuple[str, str]:
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_csv", *args, stdout=io.StringIO(), stderr=err)
    return str(raised.value), err.getvalue()


def test_the_kinds_are_the_five_of_the_interface():
    assert KINDS == ("members", "transactions", "referrals", "activities", "blacklist")


def test_an_unknown_kind_lists_the_valid_ones(tmp_path):
    error, _ = fail("points", str(tmp_path / "x.csv"))

    assert "'members', 'transactions', 'referrals', 'activities', 'blacklist'" in error


def test_the_import_function_refuses_an_unknown_kind_too(tmp_path):
    with pytest.raises(DomainError, match="choose one of: members, transactions"):
        import_csv("points", tmp_path / "x.csv")


def test_a_missing_file_is_a_clear_error(tmp_path):
    error, _ = fail("members", str(tmp_path / "nowhere.csv"))

    assert error == f"{tmp_path / 'nowhere.csv'}: no such file"


def test_a_file_utf8_at_first_and_gbk_later_names_the_line_and_hints_at_gb18030(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(importers, "_SNIFF_BYTES", 16)  # detection reads only the start
    path = tmp_path / "gbk.csv"
    path.write_bytes(
        (MEMBERS + "\nM1,Ann,,,2024-01-01,regular,\nM2,张三,,,2024-01-01,regular,\n").encode("gbk")
    )

    error, _ = fail("members", str(path))

    assert error == (
        f"{path} is not UTF-8 text (line 3); it reads as GB18030: run again with --encoding gb18030"
    )
    assert not Member.objects.exists()


MIXED = (
    "other lines are Chinese text in UTF-8, so this line is damaged or in another encoding: "
    'correct it, or save the file again in one encoding (in Excel, "CSV UTF-8")'
)
TRANSACTIONS = "external_id,member_no,kind,amount,occurred_at,refund_of"


def _utf8_then_gb18030(kind: str) -> tuple[bytes, int]:
    """A file of UTF-8 lines with Chinese text, then one GB18030 line; and that line's number.
    The transactions are canonical, so on PostgreSQL they take the COPY path."""
    if kind == "members":
        header = MEMBERS
        utf8 = ["M1,张伟,,,2024-01-01,regular,", "M2,Ann,,,2024-01-01,regular,"]
        gb = "M3,李四,,,2024-01-01,regular,"
    else:
        header = TRANSACTIONS
        utf8 = [
            "T0,M1,purchase,1.00,2026-06-01,",
            *(f"T{n},M1,purchase,{n}.50,2026-06-01T10:00:00+08:00," for n in range(1, 40)),
        ]
        utf8[0] = "单号0,M1,purchase,1.00,2026-06-01,"
        gb = "单号99,M1,purchase,2.00,2026-06-01,"
    text = "\n".join([header, *utf8]).encode() + b"\n" + (gb + "\n").encode("gb18030")
    return text, len(utf8) + 2


@pytest.mark.parametrize("kind", ["members", "transactions"])
@pytest.mark.parametrize("sniffed", [16, importers._SNIFF_BYTES])
def test_a_file_of_utf8_text_then_a_gb18030_line_is_refused_as_mixed_without_the_gb18030_hint(
    tmp_path, monkeypatch, kind, sniffed
):
    # Whether detection sees only the ASCII header or the whole file: following a GB18030 hint
    # would import the UTF-8 lines garbled (张伟 as 寮犱紵).
    monkeypatch.setattr(importers, "_SNIFF_BYTES", sniffed)
    MemberFactory(member_no="M1")
    path = tmp_path / "mixed.csv"
    text, bad_line = _utf8_then_gb18030(kind)
    path.write_bytes(text)

    error, _ = fail(kind, str(path))

    assert error == f"{path} is not UTF-8 text (line {bad_line}); {MIXED}"
    assert Member.objects.count() == 1
    assert not Transaction.objects.exists()


def test_a_mixed_file_is_refused_in_chinese_too(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(_utf8_then_gb18030("members")[0])

    with translation.override("zh-hans"):
        error, _ = fail("members", str(path))

    assert error.endswith(
        "（第 4 行）；其他行是 UTF-8 编码的中文，因此该行已损坏或使用了其他编码："
        "请更正该行，或以同一种编码重新保存文件（在 Excel 中另存为“CSV UTF-8”）"
    )
    assert "GB18030" not in error


def test_a_gb18030_file_with_windows_line_endings_is_detected_and_imported(tmp_path):
    path = tmp_path / "gb.csv"
    path.write_bytes(
        (
            MEMBERS + "\r\nM1,王小明 ,,,2024-01-01,regular,\r\nM2,张三丰,,,2024/1/2,regular,\r\n"
        ).encode("gb18030")
    )

    call("members", str(path))

    assert dict(Member.objects.values_list("member_no", "name")) == {"M1": "王小明", "M2": "张三丰"}


def test_the_encoding_can_be_given_and_a_wrong_one_names_the_line(tmp_path):
    path = tmp_path / "gb.csv"
    path.write_bytes((MEMBERS + "\nM1,王小明,,,2024-01-01,regular,\n").encode("gb18030"))

    error, _ = fail("members", str(path), "--encoding", "utf-8")
    assert error.startswith(f"{path} is not UTF-8 text (line 2); it reads as GB18030")

    call("members", str(path), "--encoding", "gbk")
    assert Member.objects.get().name == "王小明"


def test_a_utf8_file_with_one_damaged_byte_is_never_sent_to_a_western_code_page(tmp_path):
    """One Latin-1 byte in a UTF-8 file of Chinese names: reading it all as cp1251, as a
    guess would have it, would store every name garbled. The line is named instead."""
    path = tmp_path / "damaged.csv"
    path.write_bytes(
        MEMBERS.encode()
        + b"\nY1,Ren\xe9,,,2020-01-01,regular,\n"
        + "Y2,张伟,,,2020-01-01,regular,\nY3,李娜,,,2020-01-01,regular,\n".encode()
    )

    error, _ = fail("members", str(path))

    assert error == f"{path} is not UTF-8 text (line 2); {MIXED}"
    assert not Member.objects.exists()


def test_a_gb18030_file_with_one_damaged_line_names_it_and_hints_at_gb18030(tmp_path):
    lines = [f"W{n},李娜{n},,,2020-01-01,regular,\n".encode("gbk") for n in range(1, 60)]
    lines[40] = lines[40].replace(b",,,", b"\xff,,,")  # line 42: a byte GB18030 does not have
    path = tmp_path / "damaged-gbk.csv"
    path.write_bytes(MEMBERS.encode() + b"\n" + b"".join(lines))

    error, _ = fail("members", str(path))

    assert error == (
        f"{path} is not UTF-8 text (line 2); it reads as GB18030 up to line 42, which is not "
        "GB18030 either: correct that line, then run again with --encoding gb18030"
    )
    assert fail("members", str(path), "--encoding", "gb18030")[0].startswith(
        f"{path} is not GB18030 text (line 42)"
    )


def test_an_excel_csv_utf8_file_reads_with_the_encoding_given_as_utf8(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text(MEMBERS + "\nM1,张三,,,2024-01-01,regular,\n", encoding="utf-8-sig")

    for given in ("utf-8", "UTF8"):
        call("members", str(path), "--encoding", given)

    assert Member.objects.get().name == "张三"


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("rot13", '"rot13" is not an encoding of text files'),
        ("base64", '"base64" is not an encoding of text files'),
        ("undefined", '"undefined" is not an encoding of text files'),
        ("utf-16", "is not UTF-16 text (line 1)"),
        ("punycode", "is not PUNYCODE text (line "),
    ],
)
def test_an_encoding_that_cannot_read_the_file_is_one_line_not_a_traceback(tmp_path, given, said):
    path = tmp_path / "members.csv"
    path.write_text(MEMBERS + "\nM1,张三,,,2024-01-01,regular,\n", encoding="utf-8")

    error, _ = fail("members", str(path), "--encoding", given)

    assert said in error
    assert not Member.objects.exists()


def test_an_empty_file_needs_a_header(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")

    error, _ = fail("members", str(path))

    assert "is empty: it needs a header row" in error


def test_a_utf8_bom_is_accepted_and_columns_may_come_in_any_order(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text(
        "birthday,member_type,joined_on,email,phone,name,member_no\n"
        ",regular,2024-01-01,,,张三,M1\n",
        encoding="utf-8-sig",
    )

    out, _ = call("members", str(path))

    assert out.startswith(f"Imported 1 member (0 already imported) from {path} in ")
    assert Member.objects.get().name == "张三"


def test_a_header_may_name_the_columns_in_chinese_or_in_any_case(tmp_path):
    members = tmp_path / "members.csv"
    members.write_text(
        "会员编号,姓名,手机号,电子邮箱,入会日期,会员类型,生日\nM1,张三,,,2024-01-01,regular,\n",
        encoding="utf-8-sig",
    )
    transactions = tmp_path / "transactions.csv"
    transactions.write_text(
        "External_ID,MEMBER_NO,Kind,Amount,Occurred_At,Refund_Of\n"
        "T1,M1,purchase,10.00,2026-06-01T10:00:00+08:00,\n",
        encoding="utf-8",
    )
    activities = tmp_path / "activities.csv"
    activities.write_text("会员编号,活动,发生时间\nM1,直播互动,2026-06-02\n", encoding="utf-8")

    for kind, path in [("members", members), ("transactions", transactions),
                       ("activities", activities)]:  # fmt: skip
        call(kind, str(path))

    assert Member.objects.get().name == "张三"
    assert Transaction.objects.get().external_id == "T1"
    assert Member.objects.get().activities.get().activity == "直播互动"


def test_a_header_with_missing_unknown_or_repeated_columns_names_them(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("member_no,name,phone,mail,joined_on,member_type,birthday,name\n")

    error, err = fail("members", str(path))

    assert err.splitlines() == [
        'line 1: missing column "email"; column "name" appears twice; unknown column "mail"'
    ]
    assert error == "1 bad row; nothing was imported"


def test_a_header_ending_in_a_comma_says_a_column_has_no_name(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(f"{MEMBERS},\nM1,张三,,,2024-01-01,regular,,\n")

    _error, err = fail("members", str(path))

    assert err.splitlines() == [
        "line 1: a column has no name: is there a comma too many in the header?"
    ]


def test_line_numbers_are_physical_lines_counting_blank_lines_and_quoted_newlines(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(
        MEMBERS + "\n"
        '"M1","张\n三",,,2024-01-01,regular,\n'  # lines 2-3
        "\n"  # line 4, blank: skipped
        "M2,李四,,,2024-13-01,regular,\n"  # line 5
        "M3,王五,,,2024-01-01,regular\n",  # line 6
        encoding="utf-8",
    )

    _error, err = fail("members", str(path))

    assert err.splitlines() == [
        "line 2: name contains a control or invisible character (U+000A)",
        'line 5: joined_on "2024-13-01" is not a date like 2026-06-30',
        "line 6: 6 values where the header has 7 columns",
    ]


def test_printed_errors_stop_at_the_cap_with_a_count_of_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(importers, "MAX_SHOWN_ERRORS", 1_100)  # the real cap is a million
    bad_rows = importers.MAX_SHOWN_ERRORS + 1_200
    path = tmp_path / "many.csv"
    path.write_text(
        MEMBERS + "\n" + "".join(f"M{n},,,,2024-01-01,regular,\n" for n in range(bad_rows)),
        encoding="utf-8",
    )

    error, err = fail("members", str(path))

    lines = err.splitlines()
    cap = importers.MAX_SHOWN_ERRORS
    assert len(lines) == cap + 1
    assert lines[0] == "line 2: name is empty"
    # Counts read with thousands separators; a line number as an editor shows it.
    assert lines[cap - 1] == "line 1101: name is empty"
    assert lines[-1] == "... and 1,200 more"
    assert error == "2,300 bad rows; nothing was imported"


def test_the_counts_of_a_failed_import_are_grouped_in_chinese_too(monkeypatch):
    monkeypatch.setattr(importers, "MAX_SHOWN_ERRORS", 1)
    errors = importers._Errors()
    with translation.override("zh-hans"):
        for line in range(2, 1_203):
            errors.add(line, "x")
        with pytest.raises(ImportFailed) as raised:
            errors.raise_if_any()

        assert str(raised.value) == "1,201 行有误，未导入任何数据"
    assert raised.value.lines == ["第 2 行：x", "……另有 1,200 条"]


def test_the_summary_of_an_import_counts_by_thousands_in_both_languages():
    done = importers.ImportResult("members", "m.csv", new=1_200, existing=3_400, seconds=1.5)
    again = importers.ImportResult("members", "m.csv", new=0, existing=1_200, seconds=1.5)

    assert str(done).startswith("Imported 1,200 members (3,400 already imported) from m.csv")
    assert str(again).endswith("\nNothing changed: 0 new, 1,200 already imported.")
    with translation.override("zh-hans"):
        assert "（另有 3,400 条此前已导入）" in str(done) and " 1,200 条" in str(done)
        assert str(again).endswith("\n没有任何变化：新增 0 条，1,200 条此前已导入。")


@pytest.mark.parametrize(
    ("kind", "one", "two"),
    [
        ("members", "1 member ", "2 members "),
        ("transactions", "1 transaction ", "2 transactions "),
        ("referrals", "1 referral ", "2 referrals "),
        ("activities", "1 activity ", "2 activities "),
        ("blacklist", "1 blacklist entry ", "2 blacklist entries "),
    ],
)
def test_the_summary_says_one_row_in_the_singular(kind, one, two):
    single = importers.ImportResult(kind, "f.csv", new=1, existing=0, seconds=0.1)
    double = importers.ImportResult(kind, "f.csv", new=2, existing=0, seconds=0.1)

    assert str(single).startswith(f"Imported {one}(0 already imported) from f.csv")
    assert str(double).startswith(f"Imported {two}(0 already imported) from f.csv")
    with translation.override("zh-hans"):
        assert str(single).startswith("已从 f.csv 导入") and " 1 条（另有 0 条" in str(single)


def test_an_unclosed_quote_is_named_as_the_cause_of_too_few_values(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text(
        MEMBERS + "\n"
        "M1,张三,,,2024-01-01,regular,\n"
        'M2,"李四,,,2024-01-01,regular,\n'  # line 3: the quote is never closed
        "M3,王五,,,2024-01-01,regular,\n",
        encoding="utf-8",
    )

    error, err = fail("members", str(path))

    assert err.splitlines() == [
        "line 3: 2 values where the header has 7 columns; a quoted value runs over several "
        'lines: is a closing quote (") missing?'
    ]
    assert error == "1 bad row; nothing was imported"


def test_a_row_with_too_many_values_counts_them_by_thousands(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(MEMBERS + "\n" + ",".join(["x"] * 1_200) + "\n", encoding="utf-8")

    _error, err = fail("members", str(path))

    assert err.splitlines() == ["line 2: 1,200 values where the header has 7 columns"]


def test_the_import_function_reports_bad_rows_in_the_exception(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text(MEMBERS + "\nM1,张三,,,2024-01-01,vip,\n", encoding="utf-8")

    with pytest.raises(ImportFailed) as raised:
        import_csv("members", path)

    assert raised.value.bad_rows == 1
    assert raised.value.lines == ['line 2: member_type "vip" is not one of: regular, experience']


def test_progress_goes_to_the_callback_every_hundred_thousand_rows(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(MEMBERS + "\n" + "x\n" * 100_000, encoding="utf-8")
    messages: list[str] = []

    with pytest.raises(ImportFailed):
        import_csv("members", path, progress=messages.append)

    assert messages == ["  validated 100,000 rows"]


def test_the_progress_of_a_transactions_import_counts_purchases_and_refunds(tmp_path):
    MemberFactory(member_no="M1")
    path = tmp_path / "t.csv"
    path.write_text(
        "external_id,member_no,kind,amount,occurred_at,refund_of\n"
        "T1,M1,purchase,10.00,2026-01-05T10:00:00+08:00,\n"
        + "".join(f"R{n},M1,refund,1.00,2026-01-06T10:00:00+08:00,T1\n" for n in range(3)),
        encoding="utf-8",
    )
    messages: list[str] = []

    import_csv("transactions", path, progress=messages.append)

    assert messages[-2:] == ["  wrote 1 purchase", "  wrote 3 refunds"]


@pytest.mark.postgres_only
@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_while_postgresql_checks_the_file_imports_nothing_and_says_so(tmp_path, monkeypatch):
    from members.models import Transaction
    from members.tests.factories import MemberFactory

    MemberFactory(member_no="M1")
    path = tmp_path / "t.csv"
    path.write_text(
        "external_id,member_no,kind,amount,occurred_at,refund_of\n"
        "T1,M1,purchase,10.00,2026-01-05T10:00:00+08:00,\n",
        encoding="utf-8",
    )
    classify = importers._TransactionImporter.classify
    # The classification, made long enough to be interrupted in the database.
    monkeypatch.setattr(
        importers._TransactionImporter,
        "classify",
        lambda self: classify(self).replace(
            "FROM {typed} s", "FROM (SELECT * FROM {typed} s, pg_sleep(5)) s"
        ),
    )
    timer = threading.Timer(0.5, signal.pthread_kill, [threading.main_thread().ident, SIGINT])
    timer.start()
    try:
        message, _ = fail("transactions", str(path))
    finally:
        timer.cancel()

    assert message == "Interrupted: nothing was imported."
    assert not Transaction.objects.exists()


def _gb18030_then_utf8(kind: str) -> tuple[bytes, int]:
    """A file of GB18030 lines with Chinese text, then one UTF-8 line; and that line's number.
    The transactions start with canonical lines, so on PostgreSQL they take the COPY path."""
    if kind == "members":
        header = MEMBERS
        gb = ["E001,李娜,,,2024-01-01,regular,", "E003,伟强,,,2024-01-01,regular,"]
        utf8 = "E002,张伟,,,2024-01-01,regular,"
    else:
        header = TRANSACTIONS
        gb = [
            *(f"T{n},M1,purchase,{n}.50,2026-06-01T10:00:00+08:00," for n in range(1, 40)),
            "单号1,M1,purchase,1.00,2026-06-01,",
        ]
        utf8 = "单号2,M1,purchase,2.00,2026-06-01,"
    text = "\r\n".join([header, *gb, ""]).encode("gb18030") + (utf8 + "\r\n").encode()
    return text, len(gb) + 2


GB_THEN_UTF8 = (
    "the line is UTF-8, so the file mixes encodings: save it again in one encoding "
    '(in Excel, "CSV UTF-8")'
)


@pytest.mark.parametrize("kind", ["members", "transactions"])
@pytest.mark.parametrize("given", [False, True])
def test_a_file_of_gb18030_text_then_a_utf8_line_is_refused_as_mixed(tmp_path, kind, given):
    # Read as GB18030, the UTF-8 line would be stored garbled (张伟 as 寮犱紵).
    MemberFactory(member_no="M1")
    path = tmp_path / "mixed.csv"
    text, bad_line = _gb18030_then_utf8(kind)
    path.write_bytes(text)

    error, _ = fail(kind, str(path), *(["--encoding", "gb18030"] if given else []))

    assert error == f"{path} is not GB18030 text (line {bad_line}); {GB_THEN_UTF8}"
    assert Member.objects.count() == 1
    assert not Transaction.objects.exists()


def test_a_gb18030_file_mixed_with_utf8_is_refused_in_chinese_too(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(_gb18030_then_utf8("members")[0])

    with translation.override("zh-hans"):
        error, _ = fail("members", str(path))

    assert error.endswith(
        "不是 GB18030 编码的文本（第 4 行）；该行是 UTF-8 编码，该文件混用了多种编码："
        "请以同一种编码重新保存（在 Excel 中另存为“CSV UTF-8”）"
    )


def test_gb18030_names_whose_bytes_happen_to_be_valid_utf8_are_imported(tmp_path):
    # 伟强 in GB18030 is valid UTF-8 (ΰǿ), but no Chinese text: the file is not mixed.
    path = tmp_path / "gb.csv"
    path.write_bytes(
        (MEMBERS + "\nE001,李娜,,,2024-01-01,regular,\nE003,伟强,,,2024-01-01,regular,\n").encode(
            "gb18030"
        )
    )

    call("members", str(path))

    assert dict(Member.objects.values_list("member_no", "name")) == {"E001": "李娜", "E003": "伟强"}


def _gb18030_with(first: str) -> bytes:
    # 谢 is D0 BB and 直 D6 B1 in GB18030: valid UTF-8 (л, a Hebrew point), and the name's next
    # character is not, so the bytes before the first that is not UTF-8 are not ASCII.
    return (
        MEMBERS + f"\r\nE001,{first},,,2024-01-01,regular,\r\nE002,李娜,,,2024-01-01,regular,\r\n"
    ).encode("gb18030")


@pytest.mark.parametrize("first", ["谢娜", "直子", "小谢"])
def test_a_gb18030_file_whose_first_chinese_is_also_valid_utf8_is_read_as_gb18030(tmp_path, first):
    path = tmp_path / "gb.csv"
    path.write_bytes(_gb18030_with(first))

    result = import_csv("members", path)

    assert result.encoding == "gb18030"
    assert dict(Member.objects.values_list("member_no", "name")) == {"E001": first, "E002": "李娜"}


def test_such_a_file_read_as_utf8_is_pointed_to_gb18030_not_called_mixed(tmp_path):
    path = tmp_path / "gb.csv"
    path.write_bytes(_gb18030_with("谢娜"))

    error, _ = fail("members", str(path), "--encoding", "utf-8")

    assert error == (
        f"{path} is not UTF-8 text (line 2); it reads as GB18030: run again with --encoding gb18030"
    )
    assert not Member.objects.exists()


def test_a_gb18030_file_starting_with_such_a_name_and_then_a_utf8_line_is_still_mixed(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(_gb18030_with("谢娜") + "E003,张伟,,,2024-01-01,regular,\r\n".encode())

    error, _ = fail("members", str(path))

    assert error == f"{path} is not GB18030 text (line 4); {GB_THEN_UTF8}"
    assert not Member.objects.exists()


@pytest.mark.parametrize("name", ["伟强", "谢"])
def test_a_small_gb18030_file_that_is_also_valid_utf8_is_refused_naming_both_readings(
    tmp_path, name
):
    # Every Chinese byte of the file is valid UTF-8: read as UTF-8 it would store ΰǿ or л.
    path = tmp_path / "gb.csv"
    path.write_bytes((MEMBERS + f"\nWQ2,{name},,,2024-01-01,regular,\n").encode("gbk"))
    as_utf8 = name.encode("gbk").decode("utf-8")

    error, _ = fail("members", str(path))

    assert error == (
        f"{path} reads both as UTF-8 and as GB18030 (line 2: “{as_utf8}” or “{name}”): run "
        "again with --encoding gb18030 or --encoding utf-8"
    )
    assert not Member.objects.exists()
    call("members", str(path), "--encoding", "gb18030")
    assert Member.objects.get().name == name


@pytest.mark.parametrize(
    "name",
    ["José Ångström", "Nguyễn Văn An", "李娜", "张伟 José", "Ｍａｒｙ", "Ольга Петрова", "Σοφία"],
    ids=["latin", "vi", "zh", "both", "full-width", "russian", "greek"],
)
def test_utf8_files_of_latin_or_chinese_names_are_read_as_utf8_without_asking(tmp_path, name):
    path = tmp_path / "utf8.csv"
    path.write_bytes((MEMBERS + f"\nU001,{name},,,2024-01-01,regular,\n").encode())

    call("members", str(path))

    assert Member.objects.get().name == name


def test_a_latin_1_file_is_pointed_to_cp1252_first_not_to_a_code_page_that_garbles_it(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (
            MEMBERS + "\nL001,José Müller,,,2024-01-05,regular,"
            '\nL003,"Ångström, A",,,2024-01-01,regular,\n'
        ).encode("latin-1")
    )

    error, _ = fail("members", str(path))

    # Whichever Latin code page the statistics guess (cp1250 reads Å as Ĺ), cp1252 is named.
    assert "cp1252 (Western Europe)" in error and "--encoding cp1252" in error
    assert error.endswith("then check a few names with accents")
    call("members", str(path), "--encoding", "cp1252")
    assert set(Member.objects.values_list("name", flat=True)) == {"Ångström, A", "José Müller"}


@pytest.mark.parametrize(
    ("given", "name", "garbled"),
    [
        ("cp1252", "Zoë Müller", "ZoÃ«"),
        ("latin-1", "José", "JosÃ©"),
        ("cp1251", "Ольга", "РћР»СЊРіР°"),
    ],
)
def test_utf8_text_given_a_single_byte_encoding_is_refused_not_stored_garbled(
    tmp_path, given, name, garbled
):
    path = tmp_path / "utf8.csv"
    path.write_bytes((MEMBERS + f"\nU001,{name},,,2024-01-01,regular,\n").encode())

    error, _ = fail("members", str(path), "--encoding", given)

    first = name.split()[0]
    assert error == (
        f"{path} is UTF-8 text (line 2: “{first}”), which --encoding "
        f"{codecs.lookup(given).name} would store as “{garbled}”: run again without --encoding"
    )
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    ("given", "name"), [("cp1252", "José Müller"), ("koi8-r", "Ольга"), ("cp1251", "Ольга")]
)
def test_a_file_in_the_single_byte_encoding_given_is_read_in_it(tmp_path, given, name):
    path = tmp_path / "local.csv"
    path.write_bytes((MEMBERS + f"\nU001,{name},,,2024-01-01,regular,\n").encode(given))

    call("members", str(path), "--encoding", given)

    assert Member.objects.get().name == name


def test_a_latin_1_file_that_reads_as_gb18030_is_not_taken_for_chinese(tmp_path):
    # Each accented letter and the ASCII letter after it read as one rare Chinese character.
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (MEMBERS + "\nL001,Anna Ångström,,,2024-01-05,regular,\nL002,Bösendörfer,,,2024-01-05,"
         "regular,\n").encode("latin-1")
    )  # fmt: skip

    error, _ = fail("members", str(path))

    assert error == (
        f"{path} is not UTF-8, and read as GB18030 it holds no common Chinese character "
        "(line 2: “舗gstr鰉”, or “Ångström” in cp1252): run again with --encoding cp1252 (or "
        "the file's own encoding) or --encoding gb18030"
    )
    assert not Member.objects.exists()
    call("members", str(path), "--encoding", "cp1252")
    assert set(Member.objects.values_list("name", flat=True)) == {"Anna Ångström", "Bösendörfer"}


def test_a_utf8_file_with_a_byte_order_mark_is_utf8_whatever_it_holds(tmp_path):
    # 伟强's GB18030 bytes as UTF-8 (ΰǿ), behind a BOM: the file says it is UTF-8.
    path = tmp_path / "bom.csv"
    path.write_bytes(
        codecs.BOM_UTF8 + (MEMBERS + "\nWQ2,ΰǿ,,,2024-01-01,regular,\n").encode("utf-8")
    )

    call("members", str(path))

    assert Member.objects.get().name == "ΰǿ"
