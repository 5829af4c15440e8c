"""What real files hold: odd amounts, dates and identifiers, encodings, delimiters, blank
lines, contradictory facts; and the import's shape: chunks, all or nothing, one at a time."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone, translation

from members import importers
from members.importers import (
    ImportFailed,
    ValueRefused,
    external_id_value,
    import_csv,
    member_name_value,
    member_no_value,
)
from members.models import BlacklistEntry, Member, Referral, Transaction
from members.tests.factories import MemberFactory, ReferralFactory

pytestmark = pytest.mark.django_db

MEMBERS = "member_no,name,phone,email,joined_on,member_type,birthday"
TRANSACTIONS = "external_id,member_no,kind,amount,occurred_at,refund_of"
REFERRALS = "referrer_no,referred_no,occurred_at"
BLACKLIST = "member_no,reason,occurred_at"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def csv_file(tmp_path):
    def write(*lines: str, encoding: str = "utf-8", ending: str = "\n") -> str:
        path = tmp_path / "import.csv"
        path.write_bytes((ending.join(lines) + ending).encode(encoding))
        return str(path)

    return write


def failures(kind: str, path: str) -> list[str]:
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_csv", kind, path, stdout=io.StringIO(), stderr=err)
    return err.getvalue().splitlines()


def run(kind: str, path: str) -> str:
    out = io.StringIO()
    call_command("import_csv", kind, path, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def member():
    return MemberFactory(member_no="M001", joined_on=datetime.date(2020, 1, 1))


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1e3", 'amount "1e3" is in scientific notation; write the digits in full'),
        (
            "1.23457E+11",
            'amount "1.23457E+11" is in scientific notation; write the digits in full',
        ),
        ("1_000", 'amount "1_000" is not a number'),
        ("１２３", 'amount "１２３" has digits other than 0-9 (full-width digits?)'),
        ("١٢٣", 'amount "١٢٣" has digits other than 0-9 (full-width digits?)'),
        ("NaN", 'amount "NaN" is not a number'),
        ("Infinity", 'amount "Infinity" is not a number'),
        ("-5", 'amount "-5" is not positive'),
        ("+12", 'amount "+12" has a sign: write it without one'),
        ("12.30元", 'amount "12.30元" is not a number'),
        ("0", 'amount "0" is not positive'),
        ("0.00", 'amount "0.00" is not positive'),
        ('"1,23"', 'amount "1,23" is not a number'),
        ("12.345", 'amount "12.345" has more than 2 decimal places'),
    ],
)
def test_an_amount_in_anything_but_plain_decimal_notation_is_a_bad_line(
    csv_file, member, amount, message
):
    path = csv_file(TRANSACTIONS, f"T1,M001,purchase,{amount},2026-06-30,")

    assert failures("transactions", path) == [f"line 2: {message}"]
    assert not Transaction.objects.exists()


def test_amounts_with_thousands_separators_and_a_yuan_sign_are_exact(csv_file, member):
    path = csv_file(
        TRANSACTIONS,
        'T1,M001,purchase,"1,234.50",2026-06-30,',
        "T2,M001,purchase,¥12.5,2026-06-30,",
        'T3,M001,purchase,"￥1,000,000",2026-06-30,',
    )

    run("transactions", path)

    assert dict(Transaction.objects.values_list("external_id", "amount_fen")) == {
        "T1": 123450,
        "T2": 1250,
        "T3": 100_000_000,
    }


BEYOND = "has a UTC offset beyond ±14:00, which no place uses"
NEITHER = "is neither a date like 2026-06-30 nor a date and time like 2026-06-30T14:05:00+08:00"


@pytest.mark.parametrize(
    ("occurred_at", "message"),
    [
        ("2026-W02-6", f'occurred_at "2026-W02-6" {NEITHER}'),
        ("20260630", f'occurred_at "20260630" {NEITHER}'),
        ("0001-01-01", 'occurred_at "0001-01-01" is before 1900'),
        ("1899-12-31T23:00:00", 'occurred_at "1899-12-31T23:00:00" is before 1900'),
        # 1899-12-31 in China, where its date is counted.
        ("1900-01-01T00:00+14:00", 'occurred_at "1900-01-01T00:00+14:00" is before 1900'),
        ("9999-12-31T23:59:59-12:00", 'occurred_at "9999-12-31T23:59:59-12:00" is after 2999'),
        # PostgreSQL refused these in the import's COPY, where SQLite stored them.
        ("2025-06-01T10:00:00+18:00", f'occurred_at "2025-06-01T10:00:00+18:00" {BEYOND}'),
        ("2025-06-01T10:00-14:01", f'occurred_at "2025-06-01T10:00-14:01" {BEYOND}'),
        ("2026-02-30", 'occurred_at "2026-02-30" is not a date like 2026-06-30'),
        ("2999-01-01", 'occurred_at "2999-01-01" is in the future (later than tomorrow)'),
    ],
)
def test_a_date_in_a_refused_form_or_out_of_range_is_a_bad_line(
    csv_file, member, occurred_at, message
):
    path = csv_file(TRANSACTIONS, f"T1,M001,purchase,10,{occurred_at},")

    assert failures("transactions", path) == [f"line 2: {message}"]


def test_slashed_dates_space_separated_times_and_tomorrow_are_accepted(csv_file, member):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    path = csv_file(
        TRANSACTIONS,
        "T1,M001,purchase,10,2026/6/3,",
        "T2,M001,purchase,10,2026-06-30 14:05:00,",
        "T3,M001,purchase,10,2026-06-30T06:05:00Z,",
        f"T4,M001,purchase,10,{tomorrow.isoformat()},",
    )

    run("transactions", path)

    days = dict(Transaction.objects.values_list("external_id", "occurred_on"))
    assert days["T1"] == datetime.date(2026, 6, 3)
    assert days["T2"] == days["T3"] == datetime.date(2026, 6, 30)
    assert days["T4"] == tomorrow


def test_member_numbers_are_nfkc_normalised_so_a_full_width_number_finds_its_member(
    csv_file, member
):
    run("transactions", csv_file(TRANSACTIONS, "Ｔ１,Ｍ００１,purchase,10,2026-06-30,"))

    assert Transaction.objects.get().external_id == "T1"
    assert Transaction.objects.get().member == member


@pytest.mark.parametrize(
    ("external_id", "message"),
    [
        ('"T 1"', 'external_id "T 1" contains a space'),
        ("T\u200b1", "external_id contains a control or invisible character (U+200B)"),
        ("T\u00071", "external_id contains a control or invisible character (U+0007)"),
        ("T\u30001", 'external_id "T\u30001" contains a space'),
    ],
)
def test_an_identifier_with_inner_space_or_an_invisible_character_is_a_bad_line(
    csv_file, member, external_id, message
):
    path = csv_file(TRANSACTIONS, f"{external_id},M001,purchase,10,2026-06-30,")

    assert failures("transactions", path) == [f"line 2: {message}"]


def test_names_with_control_characters_or_bidi_overrides_and_overlong_emails_are_bad_lines(
    csv_file,
):
    email = "a" * 250 + "@example.com"
    path = csv_file(
        MEMBERS,
        "M1,张\u202e三,,,2024-01-01,regular,",
        "M2,李\u0008四,,,2024-01-01,regular,",
        f"M3,王五,,{email},2024-01-01,regular,",
    )

    assert failures("members", path) == [
        "line 2: name contains a control or invisible character (U+202E)",
        "line 3: name contains a control or invisible character (U+0008)",
        "line 4: email is longer than 254 characters",
    ]
    assert not Member.objects.exists()


def test_a_referred_member_who_joined_before_the_referrer_is_refused(csv_file):
    MemberFactory(member_no="A", joined_on=datetime.date(2020, 1, 1))
    MemberFactory(member_no="B", joined_on=datetime.date(2021, 1, 1))
    path = csv_file(REFERRALS, "A,B,2021-01-01", "B,A,2021-01-01")

    assert failures("referrals", path) == [
        "line 3: member A joined on 2020-01-01, before the referrer B joined (2021-01-01)"
    ]
    assert not Referral.objects.exists()


SAME_DAY = datetime.date(2021, 1, 1)


@pytest.fixture
def same_day():
    """Members A to E, all joined on one day: referrals among them pass the joined-date check."""
    return {no: MemberFactory(member_no=no, joined_on=SAME_DAY) for no in "ABCDE"}


def test_a_referral_back_to_ones_referrer_in_the_same_file_is_refused_on_its_line(
    csv_file, same_day
):
    path = csv_file(REFERRALS, "A,B,2021-01-01", "B,A,2021-01-01")

    assert failures("referrals", path) == [
        "line 3: member A already referred B, directly or through other members: referrals "
        "cannot go round in a circle (see line 2)"
    ]
    assert not Referral.objects.exists()
    with translation.override("zh-hans"):
        assert failures("referrals", path)[0].endswith("推荐关系不能形成循环（见第 2 行）")


def test_a_referral_back_to_a_stored_referrer_is_refused(csv_file, same_day):
    ReferralFactory(referrer=same_day["A"], referred=same_day["B"], occurred_on=SAME_DAY)

    assert failures("referrals", csv_file(REFERRALS, "B,A,2021-01-01")) == [
        "line 2: member A already referred B, directly or through other members: referrals "
        "cannot go round in a circle"
    ]
    assert Referral.objects.count() == 1


def test_a_circle_through_stored_referrals_and_earlier_lines_is_refused_where_it_closes(
    csv_file, same_day
):
    # A→B stored; B→C on line 2; C→D on line 3; D→A on line 4 closes A→B→C→D→A.
    ReferralFactory(referrer=same_day["A"], referred=same_day["B"], occurred_on=SAME_DAY)
    path = csv_file(REFERRALS, "B,C,2021-01-01", "C,D,2021-01-01", "D,A,2021-01-01")

    assert failures("referrals", path) == [
        "line 4: member A already referred D, directly or through other members: referrals "
        "cannot go round in a circle (see line 3)"
    ]
    assert Referral.objects.count() == 1


def test_a_circle_is_reported_once_not_on_the_referrals_below_it(csv_file, same_day):
    # Lines 4 and 5 hang below the circle A→B→A of lines 2 and 3: in no circle themselves.
    path = csv_file(
        REFERRALS, "A,B,2021-01-01", "B,A,2021-01-01", "A,C,2021-01-01", "C,D,2021-01-01"
    )

    assert failures("referrals", path) == [
        "line 3: member A already referred B, directly or through other members: referrals "
        "cannot go round in a circle (see line 2)"
    ]


def test_same_day_chains_and_trees_of_referrals_are_no_circle(csv_file, same_day):
    ReferralFactory(referrer=same_day["A"], referred=same_day["B"], occurred_on=SAME_DAY)
    path = csv_file(REFERRALS, "B,C,2021-01-01", "A,D,2021-01-01", "C,E,2021-01-01")

    assert "Imported 3 referrals" in run("referrals", path)


def test_a_blacklist_entry_dated_in_the_future_is_refused(csv_file, member):
    later = timezone.localdate() + datetime.timedelta(days=2)

    assert failures("blacklist", csv_file(BLACKLIST, f"M001,欺诈,{later.isoformat()}")) == [
        f'line 2: occurred_at "{later.isoformat()}" is in the future (later than tomorrow)'
    ]
    assert not BlacklistEntry.objects.exists()


@pytest.mark.parametrize(("separator", "shown"), [(";", '";"'), ("\t", "tabs")])
def test_a_file_with_another_delimiter_says_so_instead_of_listing_missing_columns(
    csv_file, separator, shown
):
    path = csv_file(MEMBERS.replace(",", separator), separator.join(["M1", "张三"]))

    assert failures("members", path) == [
        f"line 1: the columns are separated by {shown}, not commas: save the file as "
        "comma-separated CSV"
    ]


def test_blank_lines_before_the_header_and_rows_of_only_commas_are_skipped(csv_file):
    path = csv_file("", ",,,", MEMBERS, "M1,张三,,,2024-01-01,regular,", ",,,,,,", "M2,,,,x,y,")

    assert failures("members", path) == [
        'line 6: name is empty; joined_on "x" is not a date like 2026-06-30; '
        'member_type "y" is not one of: regular, experience'
    ]


def test_a_gb18030_file_with_windows_line_endings_and_trailing_spaces_is_imported(csv_file):
    path = csv_file(
        MEMBERS, "M1 ,王小明  ,,,2024-01-01,regular,", encoding="gb18030", ending="\r\n"
    )

    run("members", path)

    assert Member.objects.get().name == "王小明" and Member.objects.get().member_no == "M1"


def test_a_utf8_file_with_a_bom_is_imported(csv_file):
    run("members", csv_file(MEMBERS, "M1,张三,,,2024-01-01,regular,", encoding="utf-8-sig"))

    assert Member.objects.get().member_no == "M1"


def test_a_broken_file_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(b"\xff\xfe\x00\x01\x80\x81\xfe\xff" * 10)

    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_csv", "members", str(path), stdout=io.StringIO(), stderr=err)

    assert str(raised.value).startswith(f"{path} is not UTF-8 text (line 1)")


@override_settings(IMPORT_CHUNK_SIZE=2)
def test_a_file_is_staged_in_chunks_and_one_bad_row_in_the_last_chunk_stops_everything(
    csv_file, member
):
    good = [f"T{n},M001,purchase,10,2026-06-30," for n in range(7)]

    result = import_csv("transactions", csv_file(TRANSACTIONS, *good))
    assert (result.new, result.chunks) == (7, 4)

    bad = [f"U{n},M001,purchase,10,2026-06-30," for n in range(6)] + ["U9,M001,purchase,x,,"]
    with pytest.raises(ImportFailed) as raised:
        import_csv("transactions", csv_file(TRANSACTIONS, *bad))
    assert raised.value.lines == ['line 8: amount "x" is not a number; occurred_at is empty']
    assert Transaction.objects.count() == 7


@override_settings(IMPORT_CHUNK_SIZE=3)
def test_reimporting_a_file_of_several_chunks_changes_nothing(csv_file, member):
    path = csv_file(
        TRANSACTIONS,
        *[f"T{n},M001,purchase,10,2026-06-30," for n in range(5)],
        "R1,M001,refund,5,2026-07-01,T1",
    )
    import_csv("transactions", path)

    again = import_csv("transactions", path)

    assert (again.new, again.existing) == (0, 6)
    assert Transaction.objects.count() == 6


def test_refunds_over_several_chunks_count_stored_refunds_and_earlier_lines(csv_file, member):
    import_csv(
        "transactions",
        csv_file(
            TRANSACTIONS, "P1,M001,purchase,100,2026-06-30,", "R1,M001,refund,30,2026-07-01,P1"
        ),
    )

    with override_settings(IMPORT_CHUNK_SIZE=1), pytest.raises(ImportFailed) as raised:
        import_csv(
            "transactions",
            csv_file(
                TRANSACTIONS,
                "R2,M001,refund,50,2026-07-01,P1",
                "R3,M001,refund,20.01,2026-07-01,P1",
            ),
        )

    assert raised.value.lines == [
        "line 3: refunds of P1 would total ¥100.01, more than its amount ¥100.00"
    ]


def test_a_second_import_is_refused_at_once_while_another_holds_the_sqlite_database(
    csv_file, monkeypatch
):
    from django.db import OperationalError, connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL imports wait for the advisory lock instead")

    def locked(self):
        raise OperationalError("database is locked")

    monkeypatch.setattr(importers._MemberImporter, "_stage", locked)

    with pytest.raises(importers.DomainError, match="another import"):
        import_csv("members", csv_file(MEMBERS, "M1,张三,,,2024-01-01,regular,"))


def test_ctrl_c_during_an_import_prints_one_line_and_writes_nothing(csv_file, monkeypatch):
    def interrupted(self, now):
        raise KeyboardInterrupt

    monkeypatch.setattr(importers._MemberImporter, "write", interrupted)

    with pytest.raises(CommandError) as raised:
        run("members", csv_file(MEMBERS, "M1,张三,,,2024-01-01,regular,"))

    assert str(raised.value) == "Interrupted: nothing was imported."
    assert raised.value.returncode == 130
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    "number",
    [
        "QA\ufe0fVS",  # a variation selector
        "QA\u034fVS",  # the combining grapheme joiner
        "QA\u17b4VS",  # a Khmer inherent vowel
        "QA\u2800VS",  # the braille blank
        "QA\u3164VS",  # a Hangul filler
        "QA\ue000VS",  # private use
        "QA\uffffVS",  # a noncharacter
        "\u0301QAVS",  # a combining mark alone
    ],
)
def test_an_identifier_that_would_look_like_another_is_refused(number):
    with pytest.raises(ValueRefused, match="contains a control or invisible character"):
        member_no_value(number)
    with pytest.raises(ValueRefused, match="contains a control or invisible character"):
        external_id_value(number)


@pytest.mark.parametrize("name", ["\u3164\u3164", "\u2800", "张\u2028三", "张\u2029三"])
def test_a_name_of_blank_looking_characters_or_with_a_line_separator_is_refused(name):
    with pytest.raises(ValueRefused, match="contains a control or invisible character"):
        member_name_value(name)


def test_a_name_with_an_emoji_in_its_presentation_form_is_kept():
    assert member_name_value("小红\u2764\ufe0f") == "小红\u2764\ufe0f"
