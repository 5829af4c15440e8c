"""The CSV importer, kind by kind: what is stored, idempotency, and every bad row by its line."""

from __future__ import annotations

import datetime
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone, translation

from members.models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction
from members.services import member_convert, member_create
from members.tests.factories import (
    ActivityFactory,
    BlacklistEntryFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
    RefundFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MEMBERS = "member_no,name,phone,email,joined_on,member_type,birthday"
TRANSACTIONS = "external_id,member_no,kind,amount,occurred_at,refund_of"
REFERRALS = "referrer_no,referred_no,occurred_at"
ACTIVITIES = "member_no,activity,occurred_at"
BLACKLIST = "member_no,reason,occurred_at"


@pytest.fixture(autouse=True)
def english():
    # Messages are asserted in English whatever LANGUAGE_CODE the settings carry.
    with translation.override("en"):
        yield


@pytest.fixture
def csv_file(tmp_path):
    """Write lines (header first) to a UTF-8 file and return its path."""

    def write(*lines: str) -> str:
        path = tmp_path / "import.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    return write


def run(kind: str, path: str) -> str:
    out = io.StringIO()
    call_command("import_csv", kind, path, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def failures(kind: str, path: str) -> tuple[str, list[str]]:
    """The command's error and the lines it printed about bad rows."""
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_csv", kind, path, stdout=io.StringIO(), stderr=err)
    return str(raised.value), err.getvalue().splitlines()


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


# Members


def test_members_are_stored_with_exactly_the_values_of_the_file(csv_file):
    path = csv_file(
        MEMBERS,
        "M1,张三,13800000000,zhang@example.com,2024-01-31,regular,1990-05-01",
        "M2,李四,,,2025-02-28,experience,",
    )

    summary = run("members", path)

    assert summary.startswith(f"Imported 2 members (0 already imported) from {path} in ")
    first, second = Member.objects.order_by("member_no")
    assert (first.member_no, first.name, first.phone, first.email) == (
        "M1",
        "张三",
        "13800000000",
        "zhang@example.com",
    )
    assert (first.joined_on, first.birthday, first.status) == (
        datetime.date(2024, 1, 31),
        datetime.date(1990, 5, 1),
        Member.Status.ACTIVE,
    )
    assert (second.phone, second.email, second.birthday, second.status) == (
        "",
        "",
        None,
        Member.Status.EXPERIENCE,
    )
    assert first.created_at is not None


def test_importing_the_same_members_again_changes_nothing_and_says_so(csv_file):
    path = csv_file(
        MEMBERS, "M1,张三,13800000000,,2024-01-31,regular,", "M2,李四,,,2024-02-01,regular,"
    )
    run("members", path)

    summary = run("members", path)

    assert "Imported 0 members (2 already imported)" in summary
    assert "0 new, 2 already imported" in summary
    assert Member.objects.count() == 2


def test_a_member_stored_with_different_data_is_a_bad_row_naming_the_stored_values(csv_file):
    MemberFactory(
        member_no="M1", name="张三", phone="13800000000", email="", joined_on="2024-01-31"
    )
    path = csv_file(
        MEMBERS, "M2,李四,,,2024-02-01,regular,", "M1,张三丰,13800000000,,2024-01-31,regular,"
    )

    error, lines = failures("members", path)

    assert lines == ['line 3: member M1 already imported with different data (name "张三")']
    assert error == "1 bad row; nothing was imported"
    assert not Member.objects.filter(member_no="M2").exists()


def test_phones_and_emails_are_stored_in_one_form_however_the_file_writes_them(csv_file):
    path = csv_file(
        MEMBERS,
        "M1,张三,１３８００１３８０００,Zhang@Example.COM,2024-01-31,regular,",
        'M2,李四,"+86 139-0013-9000",ｌｉ＠ｅｘａｍｐｌｅ．ｃｏｍ,2024-01-31,regular,',
        "M3,王五,+852 9123 4567,,2024-01-31,regular,",
    )

    run("members", path)

    assert list(Member.objects.order_by("member_no").values_list("phone", "email")) == [
        ("13800138000", "Zhang@example.com"),
        ("13900139000", "li@example.com"),
        ("+85291234567", ""),
    ]


def test_a_member_registered_with_a_differently_written_phone_and_email_is_already_imported(
    csv_file,
):
    member_create(
        member_no="M1",
        name="张三",
        phone="＋86 138-0013-8000",
        email="zhang@EXAMPLE.com",
        joined_on=datetime.date(2024, 1, 31),
    )

    summary = run(
        "members", csv_file(MEMBERS, "M1,张三,13800138000,zhang@example.com,2024-01-31,regular,")
    )

    assert "(1 already imported)" in summary


def test_a_phone_that_is_not_one_is_a_bad_row_naming_its_line_and_column(csv_file):
    path = csv_file(
        MEMBERS,
        "M1,张三,13800138000,,2024-01-31,regular,",
        "M2,李四,010-6552,,2024-01-31,regular,",
        "M3,王五,138,,2024-01-31,regular,",
    )

    _error, lines = failures("members", path)

    formats = (
        "Enter an 11-digit mainland mobile number (138 0013 8000, +86 may come first), "
        "a mainland landline with its area code (010-6552-9988), or for another country + "
        "and the country code (+852 9123 4567)."
    )
    assert lines == [
        f'line 3: phone "010-6552" is not a phone number. {formats}',
        f'line 4: phone "138" is not a phone number. {formats}',
    ]
    assert not Member.objects.exists()


def test_a_blacklisted_member_sent_again_with_its_old_type_is_already_imported(csv_file):
    MemberFactory(
        member_no="M1",
        name="张三",
        phone="",
        email="",
        joined_on="2024-01-31",
        status=Member.Status.BLACKLISTED,
    )

    summary = run("members", csv_file(MEMBERS, "M1,张三,,,2024-01-31,regular,"))

    assert "(1 already imported)" in summary
    assert Member.objects.get().status == Member.Status.BLACKLISTED


def test_a_member_converted_since_sent_again_as_experience_is_already_imported(csv_file):
    # The CRM's daily file still says "experience" after staff converted the member.
    path = csv_file(MEMBERS, "M1,张三,,,2024-01-31,experience,")
    run("members", path)
    member_convert(member=Member.objects.get(), actor=None)

    summary = run("members", path)

    assert "(1 already imported)" in summary
    assert Member.objects.get().status == Member.Status.ACTIVE
    # A mistake in the same row is still named, without the member type.
    _error, lines = failures("members", csv_file(MEMBERS, "M1,张三丰,,,2024-01-31,experience,"))
    assert lines == ['line 2: member M1 already imported with different data (name "张三")']


@pytest.mark.parametrize(
    ("status", "sent", "stored"),
    [
        # A regular member never converted, sent as experience.
        (Member.Status.ACTIVE, "experience", "regular"),
        # A file would convert an experience member: that is a staff or API action.
        (Member.Status.EXPERIENCE, "regular", "experience"),
    ],
)
def test_a_member_type_the_member_never_had_is_a_bad_row(csv_file, status, sent, stored):
    MemberFactory(
        member_no="M1", name="张三", phone="", email="", joined_on="2024-01-31", status=status
    )

    _error, lines = failures("members", csv_file(MEMBERS, f"M1,张三,,,2024-01-31,{sent},"))

    assert lines == [
        f'line 2: member M1 already imported with different data (member_type "{stored}")'
    ]


def test_bad_member_values_are_reported_with_their_line_numbers(csv_file):
    path = csv_file(
        MEMBERS,
        "M1,张三,,,2024-01-31,regular,",
        "M2,,,,2024-02-30,vip,",
        "M3,王五,,not-an-email,2024-01-31,regular,1990.05.01",
        "M1,赵六,,,2024-01-31,regular,",
        "M4,钱七,,,,regular,",
    )

    error, lines = failures("members", path)

    assert lines == [
        'line 3: name is empty; joined_on "2024-02-30" is not a date like 2026-06-30; '
        'member_type "vip" is not one of: regular, experience',
        'line 4: email "not-an-email" is not an email address; '
        'birthday "1990.05.01" is not a date like 2026-06-30',
        "line 5: member M1 appears again (first on line 2)",
        "line 6: joined_on is empty",
    ]
    assert error == "4 bad rows; nothing was imported"
    assert not Member.objects.exists()


def test_a_joined_date_after_tomorrow_or_a_birthday_after_today_is_a_bad_row(csv_file):
    today = timezone.localdate()
    tomorrow, later = today + datetime.timedelta(days=1), today + datetime.timedelta(days=2)
    path = csv_file(
        MEMBERS,
        f"M1,张三,,,{tomorrow},regular,{today}",
        f"M2,李四,,,{later},regular,",
        f"M3,王五,,,2024-01-31,regular,{tomorrow}",
    )

    error, lines = failures("members", path)

    assert lines == [
        f'line 3: joined_on "{later}" cannot be in the future (later than tomorrow)',
        f'line 4: birthday "{tomorrow}" cannot be in the future',
    ]
    assert error == "2 bad rows; nothing was imported"
    assert not Member.objects.exists()


def test_a_joined_date_of_tomorrow_and_a_birthday_of_today_are_imported(csv_file):
    today = timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)

    run("members", csv_file(MEMBERS, f"M1,张三,,,{tomorrow},regular,{today}"))

    assert Member.objects.values_list("joined_on", "birthday").get() == (tomorrow, today)


# Transactions


@pytest.fixture
def member():
    return MemberFactory(member_no="M1")


def test_purchases_and_refunds_are_stored_to_the_fen_with_their_local_dates(csv_file, member):
    path = csv_file(
        TRANSACTIONS,
        "T1,M1,purchase,1234.56,2026-06-30T23:30:00+08:00,",
        "T2,M1,purchase,0.01,2026-06-30T16:30:00Z,",
        "T3,M1,refund,0.1,2026-07-02T09:00:00+08:00,T1",
        "T4,M1,refund,1234.46,2026-07-03T09:00:00+08:00,T1",
    )

    summary = run("transactions", path)

    assert "Imported 4 transactions (0 already imported)" in summary
    stored = {t.external_id: t for t in Transaction.objects.all()}
    assert stored["T1"].amount_fen == 123456 and stored["T1"].kind == "purchase"
    assert stored["T1"].occurred_at == at("2026-06-30T15:30:00+00:00")
    assert stored["T1"].occurred_on == datetime.date(2026, 6, 30)
    # 16:30 UTC is 00:30 the next day in Shanghai.
    assert stored["T2"].amount_fen == 1
    assert stored["T2"].occurred_on == datetime.date(2026, 7, 1)
    assert (stored["T3"].kind, stored["T3"].amount_fen, stored["T3"].refund_of_id) == (
        "refund",
        10,
        stored["T1"].pk,
    )
    assert stored["T4"].amount_fen == 123446 and stored["T4"].refund_of_id == stored["T1"].pk
    assert {t.member_id for t in stored.values()} == {member.pk}
    assert stored["T1"].refund_of_id is None and stored["T1"].created_at is not None


def test_importing_the_same_transactions_again_changes_nothing_and_says_so(csv_file, member):
    path = csv_file(
        TRANSACTIONS,
        "T1,M1,purchase,100,2026-06-30T23:30:00+08:00,",
        "T2,M1,refund,100.00,2026-07-01T10:00:00+08:00,T1",
    )
    run("transactions", path)

    summary = run("transactions", path)

    assert "Imported 0 transactions (2 already imported)" in summary
    assert "0 new, 2 already imported" in summary
    assert Transaction.objects.count() == 2


def test_a_file_mixing_new_and_imported_transactions_adds_only_the_new(csv_file, member):
    run("transactions", csv_file(TRANSACTIONS, "T1,M1,purchase,100,2026-06-30T10:00:00+08:00,"))

    summary = run(
        "transactions",
        csv_file(
            TRANSACTIONS,
            "T1,M1,purchase,100.00,2026-06-30T02:00:00Z,",
            "T2,M1,refund,40,2026-07-01T10:00:00+08:00,T1",
        ),
    )

    assert "Imported 1 transaction (1 already imported)" in summary
    refund = Transaction.objects.get(external_id="T2")
    assert refund.refund_of == Transaction.objects.get(external_id="T1")


GOOD_PURCHASE = "T1,M1,purchase,100.00,2026-06-30T10:00:00+08:00,"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("T2,M9,purchase,10,2026-06-30T10:00:00+08:00,", "unknown member M9"),
        (
            "T2,M1,purchase,12.345,2026-06-30T10:00:00+08:00,",
            'amount "12.345" has more than 2 decimal places',
        ),
        ("T2,M1,purchase,-5,2026-06-30T10:00:00+08:00,", 'amount "-5" is not positive'),
        ("T2,M1,purchase,abc,2026-06-30T10:00:00+08:00,", 'amount "abc" is not a number'),
        ("T2,M1,purchase,,2026-06-30T10:00:00+08:00,", "amount is empty"),
        (
            "T2,M1,purchase,10,yesterday,",
            'occurred_at "yesterday" is neither a date like 2026-06-30 nor a date and time like '
            "2026-06-30T14:05:00+08:00",
        ),
        (
            "T2,M1,sale,10,2026-06-30T10:00:00+08:00,",
            'kind "sale" is not one of: purchase, refund',
        ),
        (",M1,purchase,10,2026-06-30T10:00:00+08:00,", "external_id is empty"),
        ("T2,M1,purchase,10,2026-06-30T10:00:00+08:00,T1", "refund_of is set on a purchase"),
        (
            "T2,M1,refund,10,2026-06-30T10:00:00+08:00,",
            "refund_of is empty: a refund names the purchase it refunds",
        ),
        (
            "T1,M1,purchase,100.00,2026-06-30T10:00:00+08:00,",
            "external id T1 appears again (first on line 2)",
        ),
        ("T2,M1,refund,10,2026-06-30T11:00:00+08:00,T99", "refund of unknown purchase T99"),
        ("T2,M1,refund,10,2026-06-30T09:59:59+08:00,T1", "refund dated before its purchase T1"),
        (
            "T2,M1,refund,100.01,2026-06-30T11:00:00+08:00,T1",
            "refunds of T1 would total ¥100.01, more than its amount ¥100.00",
        ),
        (
            "T2,M2,refund,10,2026-06-30T11:00:00+08:00,T1",
            "refund by member M2 of purchase T1, which is member M1's",
        ),
        (
            "T2,M1,refund,10,2026-06-30T11:00:00+08:00,T2",
            "refund_of T2 is a refund, not a purchase: a refund cannot be refunded",
        ),
    ],
)
def test_a_bad_transaction_among_good_ones_is_reported_by_line_and_nothing_is_written(
    csv_file, member, row, message
):
    MemberFactory(member_no="M2")
    path = csv_file(TRANSACTIONS, GOOD_PURCHASE, row, "T3,M1,purchase,5,2026-07-01T10:00:00+08:00,")

    error, lines = failures("transactions", path)

    assert lines == [f"line 3: {message}"]
    assert error == "1 bad row; nothing was imported"
    assert not Transaction.objects.exists()


def test_a_refund_of_a_stored_refund_is_refused_as_the_api_refuses_it(csv_file, member):
    purchase = PurchaseFactory(member=member, external_id="T1", amount_fen=10_000)
    RefundFactory(refund_of=purchase, external_id="R1", amount_fen=1_000)
    path = csv_file(TRANSACTIONS, "R2,M1,refund,10,2026-06-30T11:00:00+08:00,R1")

    _error, lines = failures("transactions", path)

    assert lines == [
        "line 2: refund_of R1 is a refund, not a purchase: a refund cannot be refunded"
    ]
    assert Transaction.objects.count() == 2


def test_every_bad_transaction_row_is_reported_not_only_the_first(csv_file, member):
    path = csv_file(
        TRANSACTIONS,
        "T1,M1,purchase,100,2026-06-30T10:00:00+08:00,",
        "T2,M1,refund,60,2026-07-01T10:00:00+08:00,T1",
        "T3,M7,purchase,1,2026-07-01T10:00:00+08:00,",
        "T4,M1,refund,60,2026-07-01T10:00:00+08:00,T1",
        "T5,M1,refund,1,2026-07-01T10:00:00+08:00,T3",
        "T6,M1,purchase,1.001,2026-07-01T10:00:00,",
    )

    error, lines = failures("transactions", path)

    assert lines == [
        "line 4: unknown member M7",
        "line 5: refunds of T1 would total ¥120.00, more than its amount ¥100.00",
        "line 6: refund of T3, which is itself a bad row (line 4)",
        'line 7: amount "1.001" has more than 2 decimal places',
    ]
    assert error == "4 bad rows; nothing was imported"


def test_a_refund_refused_as_over_its_purchase_is_not_counted_against_the_later_ones(
    csv_file, member
):
    rows = [
        "T1,M1,purchase,100,2026-06-30T10:00:00+08:00,",
        "R1,M1,refund,150,2026-07-01T10:00:00+08:00,T1",
        "R2,M1,refund,30,2026-07-01T10:00:00+08:00,T1",
        "R3,M1,refund,50,2026-07-01T10:00:00+08:00,T1",
        "R4,M1,refund,30,2026-07-01T10:00:00+08:00,T1",
    ]

    _error, lines = failures("transactions", csv_file(TRANSACTIONS, *rows))
    # The two lines reported, fixed: R1 was 15, R4 was not this purchase's.
    run(
        "transactions",
        csv_file(TRANSACTIONS, rows[0], rows[1].replace(",150,", ",15,"), *rows[2:4]),
    )

    # R2 and R3 fit (30 + 50), R1 alone does not; R4 does not fit beside R2 and R3.
    assert lines == [
        "line 3: refunds of T1 would total ¥150.00, more than its amount ¥100.00",
        "line 6: refunds of T1 would total ¥110.00, more than its amount ¥100.00",
    ]
    assert Transaction.objects.filter(kind="refund").count() == 3


def test_a_refund_may_follow_its_purchase_later_in_the_file(csv_file, member):
    path = csv_file(
        TRANSACTIONS,
        "T2,M1,refund,10,2026-07-01T10:00:00+08:00,T1",
        "T1,M1,purchase,100,2026-06-30T10:00:00+08:00,",
    )

    run("transactions", path)

    assert Transaction.objects.get(external_id="T2").refund_of.external_id == "T1"


def test_a_refund_of_a_stored_purchase_counts_the_refunds_already_stored(csv_file, member):
    purchase = PurchaseFactory(external_id="P1", member=member, amount_fen=10000)
    RefundFactory(external_id="R1", refund_of=purchase, amount_fen=3000)

    _error, lines = failures(
        "transactions",
        csv_file(
            TRANSACTIONS,
            "R2,M1,refund,50,2026-02-01T10:00:00+08:00,P1",
            "R3,M1,refund,20.01,2026-02-01T10:00:00+08:00,P1",
        ),
    )
    assert lines == ["line 3: refunds of P1 would total ¥100.01, more than its amount ¥100.00"]

    run("transactions", csv_file(TRANSACTIONS, "R2,M1,refund,70,2026-02-01T10:00:00+08:00,P1"))
    assert Transaction.objects.get(external_id="R2").refund_of == purchase


def test_a_transaction_stored_with_different_data_is_a_bad_row(csv_file, member):
    PurchaseFactory(
        external_id="T1",
        member=member,
        amount_fen=10000,
        occurred_at=at("2026-06-30T10:00:00+08:00"),
    )

    _error, lines = failures(
        "transactions", csv_file(TRANSACTIONS, "T1,M1,purchase,120,2026-06-30T10:00:00+08:00,")
    )

    assert lines == ["line 2: external id T1 already imported with different data (amount 100.00)"]


# Referrals


def test_referrals_are_stored_on_the_local_day_the_referred_member_registered(csv_file):
    for no in ("A", "B", "C"):
        MemberFactory(member_no=no)
    path = csv_file(REFERRALS, "A,B,2026-06-30", "A,C,2026-06-30T16:30:00Z")

    summary = run("referrals", path)

    assert "Imported 2 referrals (0 already imported)" in summary
    stored = {
        r.referred.member_no: r for r in Referral.objects.select_related("referrer", "referred")
    }
    assert stored["B"].referrer.member_no == "A"
    assert stored["B"].occurred_on == datetime.date(2026, 6, 30)
    assert stored["C"].occurred_on == datetime.date(2026, 7, 1)
    assert "Imported 0 referrals (2 already imported)" in run("referrals", path)


def test_bad_referrals_are_reported_with_their_line_numbers(csv_file):
    for no in ("A", "B", "C", "D"):
        MemberFactory(member_no=no)
    ReferralFactory(
        referrer=Member.objects.get(member_no="C"),
        referred=Member.objects.get(member_no="D"),
        occurred_on=datetime.date(2026, 1, 15),
    )
    path = csv_file(
        REFERRALS,
        "A,B,2026-06-30",
        "A,A,2026-06-30",
        "C,B,2026-06-30",
        "A,X,2026-06-30",
        "A,D,2026-06-30",
        "A,C,30/06/2026",
    )

    error, lines = failures("referrals", path)

    assert lines == [
        "line 3: referrer and referred are the same member",
        "line 4: member B was already referred (line 2)",
        "line 5: unknown member X",
        'line 6: member D was already referred, with different data (referrer_no "C", '
        "occurred_at 2026-01-15)",
        'line 7: occurred_at "30/06/2026" is neither a date like 2026-06-30 nor a date and '
        "time like 2026-06-30T14:05:00+08:00",
    ]
    assert error == "5 bad rows; nothing was imported"
    assert Referral.objects.count() == 1


@pytest.fixture
def joined_in_2024(db):
    """Members by the day they joined."""
    days = {"A": "2024-01-01", "B": "2024-03-01", "C": "2024-03-01", "D": "2024-05-01"}
    days |= {"E": "2024-04-01"}
    return {no: MemberFactory(member_no=no, joined_on=day) for no, day in days.items()}


def test_a_referral_dated_before_the_referred_member_joined_is_a_bad_row(csv_file, joined_in_2024):
    path = csv_file(REFERRALS, "A,B,2024-02-29", "A,C,2024-03-01", "D,E,2024-03-15")

    error, lines = failures("referrals", path)

    assert lines == [
        "line 2: occurred_at 2024-02-29 is before member B joined (2024-03-01)",
        "line 4: member E joined on 2024-04-01, before the referrer D joined (2024-05-01); "
        "occurred_at 2024-03-15 is before member E joined (2024-04-01)",
    ]
    assert error == "2 bad rows; nothing was imported"
    assert not Referral.objects.exists()


def test_a_referral_on_the_local_day_the_referred_member_joined_is_imported(
    csv_file, joined_in_2024
):
    # 16:30 UTC on 29 February is 1 March in Shanghai, the day B joined.
    run("referrals", csv_file(REFERRALS, "A,B,2024-02-29T16:30:00Z", "A,C,2024-03-01"))

    assert Referral.objects.count() == 2


# Activities


def test_activities_are_stored_at_local_midnight_or_their_moment_with_local_dates(csv_file):
    member = MemberFactory(member_no="M1")
    path = csv_file(ACTIVITIES, "M1,直播互动,2026-06-30", "M1,商品评价,2026-06-30T16:30:00Z")

    summary = run("activities", path)

    assert "Imported 2 activities (0 already imported)" in summary
    stored = {a.activity: a for a in ActivityParticipation.objects.all()}
    assert stored["直播互动"].occurred_at == datetime.datetime(2026, 6, 30, tzinfo=SHANGHAI)
    assert stored["直播互动"].occurred_on == datetime.date(2026, 6, 30)
    assert stored["商品评价"].occurred_on == datetime.date(2026, 7, 1)
    assert {a.member_id for a in stored.values()} == {member.pk}
    assert "Imported 0 activities (2 already imported)" in run("activities", path)


def test_an_activity_stored_before_counts_as_already_imported(csv_file):
    ActivityFactory(
        member=MemberFactory(member_no="M1"),
        activity="线下活动",
        occurred_at=at("2026-06-30T12:00:00+08:00"),
    )

    summary = run("activities", csv_file(ACTIVITIES, "M1,线下活动,2026-06-30T04:00:00Z"))

    assert "Imported 0 activities (1 already imported)" in summary


def test_bad_activities_are_reported_with_their_line_numbers(csv_file):
    MemberFactory(member_no="M1")
    path = csv_file(
        ACTIVITIES,
        "M1,直播互动,2026-06-30",
        "M1,直播互动,2026-06-30T00:00:00+08:00",
        "M2,直播互动,2026-06-30",
        "M1,,2026-06-30",
    )

    _error, lines = failures("activities", path)

    assert lines == [
        'line 3: activity "直播互动" of member M1 at 2026-06-30T00:00:00+08:00 appears again '
        "(first on line 2)",
        "line 4: unknown member M2",
        "line 5: activity is empty",
    ]
    assert not ActivityParticipation.objects.exists()


# Blacklist


def test_a_blacklist_row_records_the_entry_and_blacklists_the_member(csv_file):
    MemberFactory(member_no="M1", status=Member.Status.EXPERIENCE)
    path = csv_file(BLACKLIST, "M1,恶意投诉,2026-06-30T16:30:00Z")

    summary = run("blacklist", path)

    assert "Imported 1 blacklist entry (0 already imported)" in summary
    entry = BlacklistEntry.objects.select_related("member").get()
    assert (entry.reason, entry.evidence, entry.created_by, entry.lifted_at) == (
        "恶意投诉",
        "",
        None,
        None,
    )
    assert entry.occurred_at == at("2026-07-01T00:30:00+08:00")
    assert entry.previous_status == Member.Status.EXPERIENCE
    assert entry.member.status == Member.Status.BLACKLISTED

    assert "Imported 0 blacklist entries (1 already imported)" in run("blacklist", path)
    assert BlacklistEntry.objects.count() == 1


def test_bad_blacklist_rows_are_reported_with_their_line_numbers(csv_file):
    MemberFactory(member_no="M1")
    BlacklistEntryFactory(
        member=MemberFactory(member_no="M2", status=Member.Status.BLACKLISTED),
        reason="欺诈",
        occurred_at=at("2026-01-15T12:00:00+08:00"),
    )
    path = csv_file(
        BLACKLIST,
        "M1,恶意投诉,2026-06-30",
        "M1,欺诈,2026-07-01",
        "M2,恶意投诉,2026-01-15T12:00:00+08:00",
        "M3,欺诈,2026-06-30",
        "M4,,2026-06-30",
    )

    error, lines = failures("blacklist", path)

    assert lines == [
        "line 3: member M1 appears again (first on line 2)",
        'line 4: member M2 already has an open blacklist entry with different data (reason "欺诈")',
        "line 5: unknown member M3",
        "line 6: reason is empty",
    ]
    assert error == "4 bad rows; nothing was imported"
    assert Member.objects.get(member_no="M1").status == Member.Status.ACTIVE


def test_a_transaction_time_without_offset_or_a_date_alone_is_local_time(csv_file, member):
    run(
        "transactions",
        csv_file(
            TRANSACTIONS,
            "T1,M1,purchase,10,2026-06-30T23:30:00,",
            "T2,M1,purchase,10,2026-06-30,",
        ),
    )

    local = ZoneInfo("Asia/Shanghai")
    stored = dict(Transaction.objects.values_list("external_id", "occurred_at"))
    assert stored["T1"] == datetime.datetime(2026, 6, 30, 23, 30, tzinfo=local)
    assert stored["T2"] == datetime.datetime(2026, 6, 30, 0, 0, tzinfo=local)
    assert set(Transaction.objects.values_list("occurred_on", flat=True)) == {
        datetime.date(2026, 6, 30)
    }


def test_chinese_messages_name_the_columns_and_join_their_parts_in_chinese(csv_file):
    MemberFactory(
        member_no="M1", name="张三", phone="13800000000", email="", joined_on="2024-01-31"
    )
    PurchaseFactory(external_id="T1", member=Member.objects.get(), amount_fen=10000)
    members = csv_file(
        MEMBERS, "M1,张三丰,13900000000,,2024-01-31,regular,", "M2,李四,,x,2024-13-01,regular,"
    )

    with translation.override("zh-hans"):
        _error, lines = failures("members", members)
        _error, transaction_lines = failures(
            "transactions",
            csv_file(TRANSACTIONS, "T1,M1,purchase,99.00,2026-01-01T10:00:00+08:00,"),
        )

    assert lines == [
        '第 2 行：会员 M1 已导入过，但数据不同（已存储：姓名 "张三"，手机号 "13800000000"）',
        "第 3 行：email“x”不是有效的电子邮箱地址；"
        "joined_on“2024-13-01”不是有效日期（格式如 2026-06-30）",
    ]
    assert transaction_lines[0].startswith(
        "第 2 行：外部编号 T1 已导入过，但数据不同（已存储：金额 100.00，发生时间 "
    )


def test_a_birthday_after_the_joined_date_is_a_bad_row(csv_file):
    _error, lines = failures(
        "members", csv_file(MEMBERS, "M1,张三,,,2024-01-31,regular,2024-02-01")
    )

    assert lines == ["line 2: birthday 2024-02-01 is after the joined date 2024-01-31"]
    assert not Member.objects.exists()
