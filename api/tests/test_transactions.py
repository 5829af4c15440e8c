from __future__ import annotations

import datetime
import json
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from api.services import api_key_create
from api.tests.helpers import sent_at_once
from members.importers import import_csv
from members.models import Member, Transaction
from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.models import MemberEvaluation, TierChange, TierPolicy

pytestmark = pytest.mark.django_db


def moment(days_ago: int) -> str:
    local = timezone.localtime() - datetime.timedelta(days=days_ago)
    return local.replace(microsecond=0).isoformat()


def purchase(external_id="T1", member_no="M1", amount="100.00", days_ago=5, **extra) -> dict:
    return {
        "external_id": external_id,
        "member_no": member_no,
        "kind": "purchase",
        "amount": amount,
        "occurred_at": moment(days_ago),
        **extra,
    }


def refund(external_id, of, amount, days_ago=2, member_no="M1") -> dict:
    return {
        **purchase(external_id, member_no, amount, days_ago),
        "kind": "refund",
        "refund_of": of,
    }


@pytest.fixture
def member():
    return MemberFactory(member_no="M1", joined_on=timezone.localdate())


def test_a_purchase_upgrades_the_member_at_once_and_answers_with_the_tier(api, member):
    response = api.post("/api/v1/transactions/", purchase(amount="20000.00"), format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["external_id"], body["amount"], body["refund_of"]) == ("T1", "20000.00", None)
    assert body["member"]["current_tier"] == "gold"
    assert TierChange.objects.filter(member=member, to_tier__code="gold").exists()


def test_a_policy_version_taking_effect_is_used_by_the_very_next_transaction(api, member):
    # Each process keeps the policy in force between requests: a version whose effective date
    # has come must apply to the next transaction, not after a restart.
    first = api.post("/api/v1/transactions/", purchase("T1", amount="20000.00"), format="json")
    assert first.json()["member"]["qualified_tier"] == "gold"
    stricter = TierPolicy.objects.get(version=1).rules
    stricter["gold"] = {"metric": "spend", "min": "30000.00"}
    TierPolicy.objects.create(
        version=2,
        name="v2",
        status=TierPolicy.Status.PUBLISHED,
        effective_from=timezone.localdate(),
        rules=stricter,
    )

    second = api.post("/api/v1/transactions/", purchase("T2", amount="1.00"), format="json")

    assert second.json()["member"]["qualified_tier"] == "silver"
    assert MemberEvaluation.objects.get(member=member).policy.version == 2


@pytest.mark.postgres_only
def test_a_client_sending_transactions_reuses_prepared_statements(api, member):
    # Planning the member's row with its figures cost more than running it: the hot path's
    # statements are prepared on the connection after a few runs (loyalty/rows.py).
    if not settings.DATABASES["default"]["OPTIONS"].get("prepare_threshold"):
        pytest.skip("prepared statements are turned off (DB_PREPARE_THRESHOLD=0)")
    for n in range(8):
        response = api.post("/api/v1/transactions/", purchase(f"T{n}"), format="json")
        assert response.status_code == 201

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = " ".join(row[0] for row in cursor.fetchall())
    assert "FOR UPDATE" in prepared and "members_transaction" in prepared


def test_a_new_purchase_finds_and_locks_its_member_in_one_statement(api, member):
    # Every statement is a round trip on every purchase a till sends: the member is found and
    # locked together, and the rules are checked against their stored rows in one statement.
    api.post("/api/v1/transactions/", purchase("T0"), format="json")  # the key's first use
    with CaptureQueriesContext(connection) as captured:
        response = api.post("/api/v1/transactions/", purchase("T1"), format="json")

    assert response.status_code == 201
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    member_reads = [sql for sql in statements if 'FROM "members_member" m WHERE' in sql]
    assert len(member_reads) == 1
    if connection.vendor == "postgresql":
        assert member_reads[0].endswith("FOR UPDATE")
    assert len(statements) <= 9, "\n".join(statements)


def test_the_same_transaction_sent_again_returns_the_stored_one_and_changes_nothing(api, member):
    data = purchase()
    first = api.post("/api/v1/transactions/", data, format="json")
    history = TierChange.objects.count()
    again = api.post("/api/v1/transactions/", data, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["recorded_at"] == first.json()["recorded_at"]
    assert Transaction.objects.count() == 1
    assert TierChange.objects.count() == history


def test_the_same_external_id_with_different_data_is_a_conflict(api, member):
    api.post("/api/v1/transactions/", purchase(), format="json")
    response = api.post("/api/v1/transactions/", purchase(amount="99.00"), format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "External id T1 was already recorded with different data."}
    assert Transaction.objects.get().amount_fen == 10000


def test_an_external_id_taken_by_another_member_is_a_conflict_and_leaves_both_alone(api, member):
    MemberFactory(member_no="M2", joined_on=timezone.localdate())
    api.post("/api/v1/transactions/", purchase(), format="json")
    evaluated = MemberEvaluation.objects.count()

    response = api.post("/api/v1/transactions/", purchase(member_no="M2"), format="json")

    assert response.status_code == 409
    assert Transaction.objects.get().member == member
    assert MemberEvaluation.objects.count() == evaluated  # M2 is not evaluated


def test_a_refund_sent_again_returns_the_stored_one_though_it_used_up_the_purchase(api, member):
    api.post("/api/v1/transactions/", purchase("P1", amount="100.00"), format="json")
    data = refund("R1", of="P1", amount="100.00")
    first = api.post("/api/v1/transactions/", data, format="json")

    again = api.post("/api/v1/transactions/", data, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["recorded_at"] == first.json()["recorded_at"]


def test_a_refund_names_the_purchase_and_lowers_the_spend(api, member):
    api.post("/api/v1/transactions/", purchase(amount="20000.00"), format="json")
    response = api.post("/api/v1/transactions/", refund("R1", "T1", "0.01"), format="json")

    assert response.status_code == 201
    assert response.json()["refund_of"] == "T1"
    tier = api.get("/api/v1/members/M1/tier").json()
    assert tier["spend"] == "19999.99"
    # The upgrade stays for the tier year; the member now qualifies for silver only.
    assert (tier["current_tier"], tier["qualified_tier"]) == ("gold", "silver")


def test_a_refund_of_a_refund_is_refused_saying_a_refund_cannot_be_refunded(api, member):
    api.post("/api/v1/transactions/", purchase(), format="json")
    api.post("/api/v1/transactions/", refund("R1", "T1", "10.00"), format="json")

    response = api.post("/api/v1/transactions/", refund("R2", "R1", "1.00"), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "refund_of": ["R1 is a refund, not a purchase: a refund cannot be refunded"]
    }
    assert not Transaction.objects.filter(external_id="R2").exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (refund("R1", "T1", "100.01"), "detail", "more than its amount ¥100.00"),
        (refund("R1", "NOPE", "1.00"), "refund_of", "Refund of unknown purchase NOPE"),
        ({**refund("R1", "T1", "1.00"), "refund_of": ""}, "refund_of", "must name the purchase"),
        (purchase("T2", refund_of="T1"), "refund_of", "Only a refund names a purchase"),
        (purchase("T2", amount="12.345"), "amount", "more than 2 decimal places"),
        (purchase("T2", amount="1e3"), "amount", "scientific notation"),
        (purchase("T2", amount="1,234.50"), "amount", "not a plain decimal"),
        (purchase("T2", amount="-5"), "amount", "not positive"),
        (purchase("T2", amount=12.5), "amount", "as a string"),
        (purchase("T2", amount="0"), "amount", "not positive"),
        (purchase("T2", days_ago=-3), "occurred_at", "cannot be dated later than tomorrow"),
        ({**purchase("T2"), "occurred_at": "yesterday"}, "occurred_at", "neither a date"),
        ({**purchase("T2"), "kind": "gift"}, "kind", "not a valid choice"),
    ],
)
def test_bad_transactions_are_refused_with_a_reason_and_write_nothing(
    api, member, data, field, message
):
    api.post("/api/v1/transactions/", purchase(), format="json")
    response = api.post("/api/v1/transactions/", data, format="json")

    assert response.status_code == 400
    reason = response.json()[field]
    assert message in (reason if isinstance(reason, str) else reason[0])
    assert Transaction.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (purchase("T2", days_ago=-3), "occurred_at", "交易的日期不能晚于明天。"),
        (refund("R1", "NOPE", "1.00"), "refund_of", "退款对应的消费 NOPE 不存在。"),
    ],
)
def test_a_rule_about_one_field_answers_under_that_field_in_the_requests_language(
    make_client, member, data, field, message
):
    api = make_client(language="zh-hans")

    response = api.post("/api/v1/transactions/", data, format="json")

    assert response.status_code == 400
    assert response.json() == {field: [message]}


def test_a_moment_out_of_range_names_the_field_in_chinese(make_client, member):
    api = make_client(language="zh-hans")

    response = api.post(
        "/api/v1/transactions/", {**purchase(), "occurred_at": "1800-01-01"}, format="json"
    )

    assert response.json() == {"occurred_at": ["发生时间“1800-01-01”早于 1900 年"]}


def test_a_batch_item_refused_by_a_rule_about_one_field_names_the_field(api, member):
    items = [purchase("B1"), purchase("B2", days_ago=-3)]
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "occurred_at": ["A transaction cannot be dated later than tomorrow."]
    }
    assert not Transaction.objects.exists()


def test_a_transaction_for_an_unknown_member_is_404(api):
    response = api.post("/api/v1/transactions/", purchase(member_no="NOPE"), format="json")
    assert response.status_code == 404


def test_a_transaction_is_read_back_by_its_external_id(api, member):
    api.post("/api/v1/transactions/", purchase("POS/1"), format="json")
    assert api.get("/api/v1/transactions/POS/1/").json()["external_id"] == "POS/1"
    assert api.get("/api/v1/transactions/NOPE/").status_code == 404


def test_a_transaction_whose_external_id_is_batch_is_read_back_at_the_batch_address(
    make_client, member
):
    """The batch endpoint's address is also that of the transaction ``batch``: a GET reads
    it, with the read scope, and a POST is still a batch."""
    api = make_client()
    assert api.get("/api/v1/transactions/batch/").status_code == 404
    api.post("/api/v1/transactions/", purchase("batch"), format="json")
    reader = make_client(scopes="transactions:read")
    response = reader.get("/api/v1/transactions/batch/")
    assert (response.status_code, response.json()["external_id"]) == (200, "batch")
    batch = {"transactions": [purchase("B1")]}
    assert reader.post("/api/v1/transactions/batch/", batch, format="json").status_code == 403
    assert api.post("/api/v1/transactions/batch/", batch, format="json").status_code == 201


# --- Batches ------------------------------------------------------------------------------


def test_a_batch_records_every_item_in_order_refunds_included(api, member):
    MemberFactory(member_no="M2")
    items = [
        purchase("B1", amount="5000.00"),
        refund("B2", "B1", "1000.00"),
        purchase("B3", member_no="M2", amount="20000.00"),
    ]
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["already_recorded"]) == (3, 0)
    assert [t["external_id"] for t in body["transactions"]] == ["B1", "B2", "B3"]
    assert body["transactions"][2]["member"]["current_tier"] == "gold"

    again = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["already_recorded"]) == (0, 3)
    assert Transaction.objects.count() == 3


def test_a_refund_may_come_before_its_purchase_in_a_batch_as_in_an_import_file(api, member):
    items = [refund("R1", "P1", "1000.00"), purchase("P1", amount="5000.00")]

    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")

    assert response.status_code == 201
    assert [t["external_id"] for t in response.json()["transactions"]] == ["R1", "P1"]
    assert Transaction.objects.get(external_id="R1").refund_of.external_id == "P1"


def test_a_batch_with_one_bad_item_writes_nothing_and_names_the_item(api, member):
    items = [purchase(f"B{n}") for n in range(5)]
    items[3]["amount"] = "12.345"
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["index"] == 3
    assert "more than 2 decimal places" in body["errors"]["amount"][0]
    assert "Item 4 (index 3) was refused" in body["detail"]
    assert not Transaction.objects.exists()


def test_a_misspelt_field_is_refused_by_name_alone_or_in_a_batch(api, member):
    single = api.post("/api/v1/transactions/", purchase(refund_off="T0"), format="json")
    items = [purchase("B1"), purchase("B2", note="gift")]
    batch = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")
    outer = api.post(
        "/api/v1/transactions/batch/", {"transactions": [purchase("B3")], "dry_run": True},
        format="json",
    )  # fmt: skip

    assert single.status_code == 400
    assert single.json() == {"refund_off": ["This field is not taken here."]}
    assert batch.status_code == 400 and batch.json()["index"] == 1
    assert batch.json()["errors"] == {"note": ["This field is not taken here."]}
    assert outer.status_code == 400 and list(outer.json()) == ["dry_run"]
    assert not Transaction.objects.exists()


def test_a_batch_whose_item_breaks_a_rule_late_writes_nothing(api, member):
    items = [purchase("B1"), purchase("B2"), refund("B3", "B1", "500.00")]
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")

    assert response.status_code == 400
    assert response.json()["index"] == 2
    assert "more than its amount" in response.json()["errors"]["detail"]
    assert not Transaction.objects.exists()
    assert not TierChange.objects.filter(member=member).exists()


def test_a_batch_item_conflicting_with_a_stored_transaction_is_a_409(api, member):
    api.post("/api/v1/transactions/", purchase("T1"), format="json")
    items = [purchase("B1"), purchase("T1", amount="1.00")]
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")
    assert response.status_code == 409 and response.json()["index"] == 1
    assert list(Transaction.objects.values_list("external_id", flat=True)) == ["T1"]


def test_a_refused_batch_item_is_counted_from_one_in_chinese_too(make_client, member):
    items = [purchase("B1"), purchase("B2", amount="-5")]
    response = make_client(language="zh-hans").post(
        "/api/v1/transactions/batch/", {"transactions": items}, format="json"
    )

    assert response.status_code == 400 and response.json()["index"] == 1
    assert response.json()["detail"] == "第 2 项（索引 1）被拒绝；未记录任何数据。"


def test_an_external_id_repeated_in_a_batch_with_other_data_is_a_400_naming_both_items(api, member):
    items = [purchase("B1"), purchase("B2"), purchase("B1", amount="1.00")]
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["index"] == 2 and "Item 3 (index 2) was refused" in body["detail"]
    assert body["errors"] == {
        "external_id": [
            "External id B1 was already given to item 1 (index 0) of this batch, "
            "with different data."
        ]
    }
    assert not Transaction.objects.exists()


def test_an_external_id_repeated_in_a_batch_with_the_same_data_is_recorded_once(api, member):
    items = [purchase("B1"), purchase("B1")]
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")

    assert response.status_code == 201
    assert (response.json()["created"], response.json()["already_recorded"]) == (1, 1)
    assert Transaction.objects.count() == 1


def test_a_batch_naming_an_unknown_member_names_the_item(api, member):
    items = [purchase("B1"), purchase("B2", member_no="NOPE")]
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")
    assert response.status_code == 400 and response.json()["index"] == 1
    assert response.json()["errors"] == {"member_no": ["No member has number NOPE."]}


def test_a_batch_holds_at_most_a_thousand_items(api, member):
    items = [purchase(f"B{n}") for n in range(1001)]
    response = api.post("/api/v1/transactions/batch/", {"transactions": items}, format="json")
    assert response.status_code == 400
    assert "transactions" in response.json()
    assert (
        api.post("/api/v1/transactions/batch/", {"transactions": []}, format="json").status_code
        == 400
    )


# --- Two identical requests at the same moment (PostgreSQL) -------------------------------


# Transactional: real commits, seen by both threads (the root conftest restores the migrated
# tiers and policy before every transactional test).
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_at_the_same_moment_store_one_row_and_both_get_it():
    MemberFactory(member_no="M1", joined_on=datetime.date(2020, 1, 1))
    _key, raw_key = api_key_create(name="POS", scopes="all")
    data = purchase("SAME-1", amount="20000.00")
    answers = sent_at_once(
        raw_key, 2, lambda client: client.post("/api/v1/transactions/", data, format="json")
    )

    assert sorted(a.status_code for a in answers) == [200, 201]
    assert answers[0].json()["recorded_at"] == answers[1].json()["recorded_at"]
    assert Transaction.objects.filter(external_id="SAME-1").count() == 1
    assert TierChange.objects.filter(member__member_no="M1", to_tier__code="gold").count() == 1
    assert Member.objects.count() == 1


# --- 32 clients at once, each transaction sent twice (PostgreSQL) ------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_thirty_two_clients_sending_each_purchase_twice_store_each_once_exact_to_the_cent():
    """Four members; 32 clients, each posting its own purchases for all of them, and every
    purchase sent by two clients at the same moment. Every purchase is stored once, the spend
    is exact to the cent, and the tiers equal a recompute from scratch."""
    from tiers.services import tiers_recompute

    members = [f"C{n}" for n in range(4)]
    for member_no in members:
        MemberFactory(member_no=member_no, joined_on=datetime.date(2020, 1, 1))
    _key, raw_key = api_key_create(name="POS", scopes="all", requests_per_minute=10**6)
    # 16 pairs of clients; each pair sends the same 8 purchases (2 per member) at once.
    pairs = 16
    purchases = {
        pair: [
            purchase(f"P{pair}-{member_no}-{k}", member_no, amount=f"{pair * 37 + k}.{k + 1:02d}")
            for member_no in members
            for k in range(2)
        ]
        for pair in range(pairs)
    }
    barrier = threading.Barrier(2 * pairs)
    statuses = []

    def client_of(pair: int):
        try:
            client = APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
            barrier.wait()
            for data in purchases[pair]:
                statuses.append(
                    client.post("/api/v1/transactions/", data, format="json").status_code
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=client_of, args=(n // 2,)) for n in range(2 * pairs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent = [data for batch in purchases.values() for data in batch]
    assert sorted(set(statuses)) == [200, 201] and statuses.count(201) == len(sent)
    assert Transaction.objects.count() == len(sent)
    for member_no in members:
        expected = sum(Decimal(d["amount"]) for d in sent if d["member_no"] == member_no)
        stored = sum(
            Transaction.objects.filter(member__member_no=member_no).values_list(
                "amount_fen", flat=True
            )
        )
        assert Decimal(stored) / 100 == expected
    live = {
        member_no: (tier["current_tier"], tier["spend"])
        for member_no in members
        for tier in [
            APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
            .get(f"/api/v1/members/{member_no}/tier")
            .json()
        ]
    }
    tiers_recompute(as_of=timezone.localdate())
    again = {
        member_no: (tier["current_tier"], tier["spend"])
        for member_no in members
        for tier in [
            APIClient(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
            .get(f"/api/v1/members/{member_no}/tier")
            .json()
        ]
    }
    assert live == again


@pytest.mark.parametrize(
    ("language", "body", "message"),
    [
        (
            "zh-hans",
            b'{"member_no": "M1",\n "amount": }',
            "请求正文不是有效的 JSON（第 2 行第 12 列）。",
        ),
        (
            "en",
            b'{"member_no": "M1",\n "amount": }',
            "The body is not valid JSON (line 2, column 12).",
        ),
        ("zh-hans", b"\xff\xfe", "请求正文不是有效的 JSON。"),
        (
            "en",
            b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
            "The body is not valid JSON: it is nested too deeply.",
        ),
    ],
)
def test_a_broken_body_is_refused_in_the_requests_language_saying_where(
    make_client, language, body, message
):
    client = make_client(language=language)

    response = client.post("/api/v1/transactions/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": message}
    assert Transaction.objects.count() == 0


def test_a_full_width_member_number_is_the_member_as_in_the_import(api, member):
    # README: Ｍ1 is M1 everywhere, in one transaction as in a batch.
    one = api.post("/api/v1/transactions/", purchase(member_no="Ｍ1"), format="json")
    batch = api.post(
        "/api/v1/transactions/batch/",
        {"transactions": [purchase("T2", member_no="Ｍ1"), purchase("T3", member_no="M1")]},
        format="json",
    )

    assert (one.status_code, batch.status_code) == (201, 201)
    assert one.json()["member_no"] == "M1"
    assert set(member.transactions.values_list("external_id", flat=True)) == {"T1", "T2", "T3"}


def test_a_member_number_with_a_space_is_refused_with_the_imports_message(make_client, member):
    response = make_client(language="zh-hans").post(
        "/api/v1/transactions/", purchase(member_no="M 1"), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"member_no": ["member_no“M 1”含有空格"]}
    assert not Transaction.objects.exists()


def imported(tmp_path, *rows: str) -> None:
    """Import transaction rows with the CSV import itself (``import_csv``)."""
    path = tmp_path / "transactions.csv"
    path.write_text(
        "\n".join(["external_id,member_no,kind,amount,occurred_at,refund_of", *rows]) + "\n",
        encoding="utf-8",
    )
    import_csv("transactions", path)


def test_a_full_width_external_id_is_the_id_the_import_stores(api, member, tmp_path):
    # README: ＴＸ０００１ is TX0001 by CSV and by API, so a purchase imported by CSV and sent
    # again by API is one purchase, and a refund by API finds it.
    sent_at = moment(5)
    imported(tmp_path, f"ＴＸ０００１,M1,purchase,100.00,{sent_at},")
    assert Transaction.objects.get().external_id == "TX0001"

    again = api.post(
        "/api/v1/transactions/",
        purchase("ＴＸ０００１", occurred_at=sent_at),
        format="json",
    )
    # One moment for both sends: computed twice, a second can pass between them and make the
    # repeat "different data".
    refund_data = refund("ＲＦ１", of="ＴＸ０００１", amount="40.00")
    refunded = api.post("/api/v1/transactions/", refund_data, format="json")
    repeated = api.post(
        "/api/v1/transactions/",
        {**refund_data, "external_id": "RF1", "refund_of": "TX0001"},
        format="json",
    )

    assert (again.status_code, refunded.status_code, repeated.status_code) == (200, 201, 200)
    assert again.json()["external_id"] == "TX0001"
    assert (refunded.json()["external_id"], refunded.json()["refund_of"]) == ("RF1", "TX0001")
    assert sorted(Transaction.objects.values_list("external_id", flat=True)) == ["RF1", "TX0001"]
    assert api.get("/api/v1/transactions/ＲＦ１/").json()["refund_of"] == "TX0001"


def test_a_full_width_external_id_repeated_in_a_batch_is_one_transaction(api, member):
    data = purchase("TX1")

    response = api.post(
        "/api/v1/transactions/batch/",
        {"transactions": [data, {**data, "external_id": "ＴＸ１"}]},
        format="json",
    )

    assert response.status_code == 201
    assert (response.json()["created"], response.json()["already_recorded"]) == (1, 1)
    assert Transaction.objects.get().external_id == "TX1"


@pytest.mark.parametrize(
    ("language", "field", "value", "message"),
    [
        ("en", "external_id", "TX 1", 'external_id "TX 1" contains a space'),
        ("zh-hans", "external_id", "TX 1", "external_id“TX 1”含有空格"),
        (
            "en",
            "external_id",
            "TX1\u202c",
            "external_id contains a control or invisible character (U+202C)",
        ),
        (
            "zh-hans",
            "refund_of",
            "P1\u200b",
            "refund_of 含有控制字符或不可见字符（U+200B）",
        ),
        ("en", "refund_of", "P 1", 'refund_of "P 1" contains a space'),
    ],
)
def test_an_id_the_import_refuses_is_refused_under_its_field_with_the_imports_message(
    make_client, member, language, field, value, message
):
    PurchaseFactory(
        member=member, external_id="P1", day=timezone.localdate() - datetime.timedelta(days=9)
    )
    data = {**refund("R1", of="P1", amount="1.00"), field: value}

    one = make_client(language=language).post("/api/v1/transactions/", data, format="json")
    batch = make_client(language=language).post(
        "/api/v1/transactions/batch/", {"transactions": [data]}, format="json"
    )

    assert one.status_code == 400
    assert one.json() == {field: [message]}
    assert batch.status_code == 400
    assert batch.json()["errors"] == {field: [message]}
    assert Transaction.objects.count() == 1


def test_a_moment_sent_as_a_number_is_refused_saying_how_to_send_it(api, member):
    response = api.post("/api/v1/transactions/", purchase(occurred_at=1_700_000_000), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "occurred_at": ["Send the date and time as a string, like 2026-06-30T14:05:00+08:00."]
    }
    assert Transaction.objects.count() == 0


def test_an_address_without_its_slash_is_a_json_404_naming_the_address_not_a_redirect(api, member):
    # A redirect would turn the client's POST into a GET: the purchase would be lost. And the
    # client sends no CSRF token: the answer is still this 404, not CSRF's 403 page.
    api.handler.enforce_csrf_checks = True
    response = api.post("/api/v1/transactions", purchase(), format="json")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "There is nothing at this address. Did you mean /api/v1/transactions/?"
    }
    assert Transaction.objects.count() == 0


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_address_is_a_json_404_and_a_staff_page_still_gets_its_slash(
    api, settings, debug
):
    settings.DEBUG = debug  # with DEBUG on, Django shows its own page instead of handler404

    unknown = api.get("/api/v1/nope")

    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "There is nothing at this address."}
    assert api.get("/members").status_code == 301
    # The API's root without its slash: no redirect either (a POST would fail in Django).
    for method in ("get", "post"):
        root = getattr(api, method)("/api/v1", {}, format="json")
        assert root.status_code == 404 and root.json() == {
            "detail": "There is nothing at this address."
        }, method


@pytest.mark.parametrize("debug", [False, True])  # make run serves with DEBUG on
def test_a_body_over_the_size_limit_is_a_json_413(api, member, settings, debug):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.DEBUG = debug

    response = api.post(
        "/api/v1/transactions/", purchase(external_id="T" + "1" * 2000), format="json"
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "The body is too large: at most 1,000 bytes."}
    assert Transaction.objects.count() == 0


def test_a_failure_of_the_server_is_answered_in_json_and_leaves_nothing_half_written(api, member):
    # Rows no writer of the application accepts (each is over the largest amount): their sum
    # is more than the database's whole numbers hold, and evaluating the member fails.
    for n in range(2):
        PurchaseFactory(member=member, external_id=f"CORRUPT-{n}", amount_fen=5 * 10**18)
    api.raise_request_exception = False

    response = api.post("/api/v1/transactions/", purchase(external_id="T9"), format="json")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("The server failed to answer this request.")
    assert not Transaction.objects.filter(external_id="T9").exists()


def test_a_purchase_may_be_dated_up_to_the_end_of_tomorrow_as_in_the_import(api, member):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    late_tomorrow = f"{tomorrow.isoformat()}T23:59:00+08:00"
    day_after = f"{(tomorrow + datetime.timedelta(days=1)).isoformat()}T00:01:00+08:00"

    accepted = api.post(
        "/api/v1/transactions/", {**purchase("T1"), "occurred_at": late_tomorrow}, format="json"
    )
    refused = api.post(
        "/api/v1/transactions/", {**purchase("T2"), "occurred_at": day_after}, format="json"
    )

    assert accepted.status_code == 201
    assert refused.status_code == 400
    assert refused.json() == {"occurred_at": ["A transaction cannot be dated later than tomorrow."]}
    assert list(Transaction.objects.values_list("external_id", flat=True)) == ["T1"]


def test_a_body_with_a_utf8_byte_order_mark_is_read(api, member):
    body = "\ufeff" + json.dumps(purchase("BOM1"))

    response = api.post(
        "/api/v1/transactions/", body.encode("utf-8"), content_type="application/json"
    )

    assert response.status_code == 201
    assert Transaction.objects.filter(external_id="BOM1").exists()


def test_a_moment_before_1901_is_answered_in_utc_with_a_valid_offset(api, member):
    response = api.post(
        "/api/v1/transactions/", {**purchase("OLD1"), "occurred_at": "1900-01-01"}, format="json"
    )

    # Local midnight in Shanghai's local mean time (+08:05:43), as RFC 3339 can write it.
    assert response.json()["occurred_at"] == "1899-12-31T15:54:17Z"


@pytest.mark.parametrize(
    "body",
    [
        '{"external_id":"S1","member_no":"M1","kind":"purchase","amount":"1\\ud800",'
        '"occurred_at":"2026-12-01"}',
        '{"transactions":[{"\\udfff":1}]}',
    ],
)
def test_a_lone_surrogate_in_the_body_is_a_400_not_a_500(api, body):
    MemberFactory(member_no="M1")

    response = api.post("/api/v1/transactions/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("The body is not valid text")


def test_a_charset_parameter_does_not_change_how_the_json_is_read(api):
    MemberFactory(member_no="M1", name="x")

    response = api.patch(
        "/api/v1/members/M1/",
        '{"name":"张三"}'.encode(),
        content_type="application/json; charset=cp1252",
    )

    assert response.status_code == 200 and response.json()["name"] == "张三"


def test_a_blank_kind_amount_or_moment_gets_the_imports_words(api, member):
    response = api.post(
        "/api/v1/transactions/", purchase(kind="", amount="", occurred_at="  "), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "kind": ["kind is empty"],
        "amount": ["amount is empty"],
        "occurred_at": ["occurred at is empty"],
    }
