from __future__ import annotations

import base64
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from api.pagination import MemberCursor
from api.services import api_key_create
from api.tests.helpers import sent_at_once
from loyalty.models import AuditEntry
from members.models import Member
from members.tests.factories import MemberFactory
from tiers.models import TierChange

pytestmark = pytest.mark.django_db

NEW = {
    "member_no": "M0001234",
    "name": "王芳",
    "phone": "13912345678",
    "email": "wang.fang@example.com",
    "joined_on": "2019-03-15",
    "member_type": "regular",
    "birthday": "1988-08-08",
}


def test_registering_a_member_evaluates_them_at_once(api):
    response = api.post("/api/v1/members/", NEW, format="json")

    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in NEW} == NEW
    # Joined seven years ago: tenure ≥ 1 gives silver at once.
    assert (body["status"], body["current_tier"], body["qualified_tier"]) == (
        "active",
        "silver",
        "silver",
    )
    member = Member.objects.get(member_no="M0001234")
    assert TierChange.objects.filter(member=member).count() == 1
    assert AuditEntry.objects.filter(action="member.create", target_id=str(member.pk)).exists()


def test_the_same_member_sent_again_is_answered_with_the_stored_one(api):
    api.post("/api/v1/members/", NEW, format="json")
    again = api.post("/api/v1/members/", NEW, format="json")
    assert again.status_code == 200
    assert again.json()["member_no"] == "M0001234"
    assert Member.objects.count() == 1


def test_the_same_number_with_different_data_is_a_conflict(api):
    api.post("/api/v1/members/", NEW, format="json")
    response = api.post("/api/v1/members/", {**NEW, "name": "李四"}, format="json")
    assert response.status_code == 409
    assert "name" in response.json()["detail"]
    assert Member.objects.get().name == "王芳"


def test_a_phone_and_email_are_stored_in_one_form_however_they_are_sent(api):
    response = api.post(
        "/api/v1/members/",
        {**NEW, "phone": "＋８６ １３９-1234-5678", "email": "wang.fang@EXAMPLE.com"},
        format="json",
    )

    assert response.status_code == 201
    assert (response.json()["phone"], response.json()["email"]) == (
        "13912345678",
        "wang.fang@example.com",
    )
    assert Member.objects.get().phone == "13912345678"


def test_the_same_member_sent_with_a_differently_written_phone_is_no_conflict(api):
    api.post("/api/v1/members/", {**NEW, "phone": "+86 139-1234-5678"}, format="json")

    again = api.post("/api/v1/members/", {**NEW, "phone": "13912345678"}, format="json")

    assert again.status_code == 200


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_phone_that_is_not_one_is_refused_under_its_field(api, method):
    MemberFactory(member_no="M1", phone="13800000000")
    url, data = ("/api/v1/members/", NEW) if method == "post" else ("/api/v1/members/M1/", {})

    response = getattr(api, method)(url, {**data, "phone": "010-6552"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "phone": [
            'phone "010-6552" is not a phone number. Enter an 11-digit mainland mobile '
            "number (138 0013 8000, +86 may come first), a mainland landline with its area "
            "code (010-6552-9988), or for another country + and the country code "
            "(+852 9123 4567)."
        ]
    }
    assert list(Member.objects.values_list("phone", flat=True)) == ["13800000000"]


def test_bad_fields_get_a_message_each_in_the_requests_language(make_client):
    bad = {**NEW, "email": "not-an-email", "joined_on": "2019-13-01", "member_type": "vip"}
    del bad["name"]
    english = make_client(language="en").post("/api/v1/members/", bad, format="json")
    assert english.status_code == 400
    assert set(english.json()) == {"name", "email", "joined_on", "member_type"}
    assert english.json()["name"] == ["This field is required."]

    chinese = make_client(language="zh-hans").post("/api/v1/members/", bad, format="json")
    assert chinese.json()["name"] == ["该字段是必填项。"]
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    ("language", "field", "message"),
    [
        ("zh-hans", "joined_on", "入会日期“1800-01-01”早于 1900 年"),
        ("en", "joined_on", 'joined on "1800-01-01" is before 1900'),
        ("zh-hans", "birthday", "生日“1800-01-01”早于 1900 年"),
    ],
)
def test_a_date_out_of_range_is_refused_naming_the_field_in_the_requests_language(
    make_client, language, field, message
):
    response = make_client(language=language).post(
        "/api/v1/members/", {**NEW, field: "1800-01-01"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {field: [message]}


@pytest.mark.parametrize(
    ("language", "field", "days", "message"),
    [
        ("en", "joined_on", 2, 'joined on "{day}" cannot be in the future (later than tomorrow)'),
        ("zh-hans", "joined_on", 2, "入会日期“{day}”不能是将来的日期（晚于明天）"),
        ("en", "birthday", 1, 'birthday "{day}" cannot be in the future'),
        ("zh-hans", "birthday", 1, "生日“{day}”不能是将来的日期"),
    ],
)
def test_a_future_joined_date_or_birthday_is_refused_as_the_import_refuses_it(
    make_client, language, field, days, message
):
    day = (timezone.localdate() + datetime.timedelta(days=days)).isoformat()

    response = make_client(language=language).post(
        "/api/v1/members/", {**NEW, field: day}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {field: [message.format(day=day)]}
    assert not Member.objects.exists()


def test_a_future_birthday_is_refused_on_update_too(api):
    MemberFactory(member_no="M1")
    day = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()

    response = api.patch("/api/v1/members/M1/", {"birthday": day}, format="json")

    assert response.status_code == 400
    assert response.json() == {"birthday": [f'birthday "{day}" cannot be in the future']}


def test_a_member_number_with_a_slash_is_read_and_an_unknown_one_is_404(api):
    MemberFactory(member_no="SH/2024/001", name="张三")
    response = api.get("/api/v1/members/SH/2024/001/")
    assert response.status_code == 200 and response.json()["name"] == "张三"
    missing = api.get("/api/v1/members/NOPE/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No member has number NOPE."}


def test_the_member_list_filters_and_walks_pages_with_a_cursor(api):
    for n in range(7):
        MemberFactory(member_no=f"A{n}", status=Member.Status.ACTIVE)
    MemberFactory(member_no="E1", status=Member.Status.EXPERIENCE)

    seen = []
    url = "/api/v1/members/?status=active&page_size=3"
    while url:
        page = api.get(url).json()
        seen += [m["member_no"] for m in page["results"]]
        url = page["next"]
    assert seen == [f"A{n}" for n in range(7)]

    assert [
        m["member_no"] for m in api.get("/api/v1/members/?status=experience").json()["results"]
    ] == ["E1"]
    bad = api.get("/api/v1/members/?status=vip&joined_on_after=yesterday&current_tier=GOLD")
    assert bad.status_code == 400
    assert set(bad.json()) == {"status", "joined_on_after", "current_tier"}
    # A prefix typed with full-width characters, as member numbers are read everywhere.
    for prefix in ("A", "Ａ", " Ａ"):
        found = api.get("/api/v1/members/", {"member_no_prefix": prefix}).json()["results"]
        assert [m["member_no"] for m in found] == [f"A{n}" for n in range(7)][:7], prefix


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/members/?cursor=" + base64.b64encode(b"p=\x00").decode(),
        "/api/v1/members/?cursor=" + base64.b64encode(b"p=%00").decode(),
        "/api/v1/members/M1/tier/history?cursor=" + base64.b64encode(b"p=abc").decode(),
        "/api/v1/members/M1/tier/history?cursor=" + base64.b64encode(b"p=\x00").decode(),
        "/api/v1/members/M1/tier/history?cursor=zzz",
    ],
)
def test_a_forged_cursor_is_refused_as_invalid(api, url):
    MemberFactory(member_no="M1")

    response = api.get(url)

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


def test_the_member_list_runs_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    for n in range(30):
        MemberFactory(member_no=f"Q{n:02d}")
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/members/").json()["results"]) == 30


def test_updating_contact_details_is_audited(api):
    member = MemberFactory(member_no="M1", phone="1")
    response = api.patch(
        "/api/v1/members/M1/", {"phone": "13800000000", "birthday": None}, format="json"
    )
    assert response.status_code == 200 and response.json()["phone"] == "13800000000"
    entry = AuditEntry.objects.get(action="member.update", target_id=str(member.pk))
    assert entry.actor.api_key.name == "POS"


def test_the_joined_date_cannot_be_changed_and_an_experience_member_can_be_converted(api):
    MemberFactory(member_no="M1", status=Member.Status.EXPERIENCE)
    refused = api.patch("/api/v1/members/M1/", {"joined_on": "2000-01-01"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"joined_on": ["The joined date cannot be changed."]}

    converted = api.patch("/api/v1/members/M1/", {"member_type": "regular"}, format="json")
    assert converted.status_code == 200
    assert converted.json()["status"] == "active"
    assert converted.json()["current_tier"] is not None

    back = api.patch("/api/v1/members/M1/", {"member_type": "experience"}, format="json")
    assert back.status_code == 400
    assert back.json() == {
        "member_type": ["Only an experience member can become a regular member here."]
    }


def test_the_status_and_the_tier_are_refused_under_their_names_not_ignored(api):
    MemberFactory(member_no="M1")

    patched = api.patch(
        "/api/v1/members/M1/", {"status": "blacklisted", "name": "王五"}, format="json"
    )
    created = api.post(
        "/api/v1/members/",
        {"member_no": "M2", "name": "李四", "joined_on": "2025-01-01", "current_tier": "gold"},
        format="json",
    )

    assert patched.status_code == 400 and list(patched.json()) == ["status"]
    assert "staff blacklist members" in patched.json()["status"][0]
    assert created.status_code == 400
    assert created.json() == {
        "current_tier": ["The tier is decided by the evaluation; it cannot be set here."]
    }
    member = Member.objects.get(member_no="M1")
    assert member.status == Member.Status.ACTIVE and member.name != "王五"
    assert not Member.objects.filter(member_no="M2").exists()


def test_a_field_the_endpoint_does_not_take_is_refused_by_name_not_ignored(api):
    MemberFactory(member_no="M1", name="张三", email="old@example.com")

    patched = api.patch(
        "/api/v1/members/M1/", {"name": "王五", "emial": "new@example.com"}, format="json"
    )
    created = api.post("/api/v1/members/", {**NEW, "phon": "13800000000"}, format="json")
    both = api.post("/api/v1/members/", {**NEW, "name": "", "tier": "gold"}, format="json")

    assert patched.status_code == 400
    assert patched.json() == {"emial": ["This field is not taken here."]}
    assert created.status_code == 400 and list(created.json()) == ["phon"]
    # Reported with the other fields' problems, each under its name.
    assert both.status_code == 400 and set(both.json()) == {"name", "tier"}
    member = Member.objects.get(member_no="M1")
    assert (member.name, member.email) == ("张三", "old@example.com")
    assert not Member.objects.filter(member_no=NEW["member_no"]).exists()


def test_the_members_own_status_and_tier_sent_back_as_read_are_let_through(api):
    MemberFactory(member_no="M1", joined_on=datetime.date(2020, 1, 1))
    read = api.get("/api/v1/members/M1/").json()
    echoed = {k: read[k] for k in ("status", "current_tier", "qualified_tier", "tier_year_ends_on")}

    patched = api.patch("/api/v1/members/M1/", {**echoed, "name": "王五"}, format="json")
    created = api.post(
        "/api/v1/members/",
        {"member_no": "M2", "name": "李四", "joined_on": "2025-01-01", "status": "active",
         "current_tier": None},
        format="json",
    )  # fmt: skip

    assert patched.status_code == 200 and patched.json()["name"] == "王五"
    assert created.status_code == 201


def test_reverse_names_match_the_documented_paths():
    assert reverse("api:member_tier", args=["M1"]) == "/api/v1/members/M1/tier"


def test_a_member_number_with_a_line_break_is_a_json_404(api):
    response = api.get("/api/v1/members/%0A9/tier/history")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("language", "messages"),
    [
        (
            "en",
            {
                "member_no": ["The member number cannot be changed."],
                "joined_on": ["The joined date cannot be changed."],
                "email": ['email "x" is not an email address'],
            },
        ),
        (
            "zh-hans",
            {
                "member_no": ["会员编号不能修改。"],
                "joined_on": ["入会日期不能修改。"],
                "email": ["email“x”不是有效的电子邮箱地址"],
            },
        ),
    ],
)
def test_patching_the_number_or_the_joined_date_is_refused_naming_the_field(
    make_client, language, messages
):
    MemberFactory(member_no="M1", name="张三")
    client = make_client(language=language)

    response = client.patch(
        "/api/v1/members/M1/",
        {"member_no": "M2", "joined_on": "2000-01-01", "name": "李四", "email": "x"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == messages
    member = Member.objects.get()
    assert (member.member_no, member.name, member.joined_on.isoformat()) == (
        "M1",
        "张三",
        "2024-01-01",
    )


def test_a_full_width_member_number_is_the_same_member_as_in_the_import(api):
    first = api.post("/api/v1/members/", {**NEW, "member_no": "M00000001"}, format="json")
    again = api.post("/api/v1/members/", {**NEW, "member_no": "Ｍ00000001"}, format="json")
    other = api.post(
        "/api/v1/members/", {**NEW, "member_no": "Ｍ00000001", "name": "李四"}, format="json"
    )

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json()["member_no"] == "M00000001"
    assert Member.objects.get().member_no == "M00000001"
    assert api.get("/api/v1/members/Ｍ00000001/").json()["member_no"] == "M00000001"


@pytest.mark.parametrize(
    ("language", "field", "value", "message"),
    [
        ("zh-hans", "member_no", "QA 0004", "member_no“QA 0004”含有空格"),
        ("en", "member_no", "QA 0004", 'member_no "QA 0004" contains a space'),
        ("zh-hans", "member_no", "QA\u200b4", "member_no 含有控制字符或不可见字符（U+200B）"),
        ("zh-hans", "name", "x\u202ey", "name 含有控制字符或不可见字符（U+202E）"),
        ("en", "name", "x\u202ey", "name contains a control or invisible character (U+202E)"),
        ("zh-hans", "name", "  ", "name 为空"),
        ("zh-hans", "phone", "138\u200b0000", "phone 含有控制字符或不可见字符（U+200B）"),
        (
            "zh-hans",
            "phone",
            "12345",
            "phone“12345”不是有效的电话号码。请输入 11 位中国大陆手机号（如 138 0013 8000，"
            "前面可加 +86）、带区号的中国大陆固定电话（如 010-6552-9988）；其他国家或地区的号码"
            "请以 + 和国家或地区代码开头（如 +852 9123 4567）。",
        ),
    ],
)
def test_member_values_the_import_refuses_the_api_refuses_with_its_message(
    make_client, language, field, value, message
):
    response = make_client(language=language).post(
        "/api/v1/members/", {**NEW, field: value}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert not Member.objects.exists()


def test_patching_a_name_the_import_refuses_is_refused(api):
    MemberFactory(member_no="M1", name="张三")

    response = api.patch("/api/v1/members/M1/", {"name": "x\u202ey"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["name contains a control or invisible character (U+202E)"]}
    assert Member.objects.get().name == "张三"


def test_a_conflict_names_the_fields_in_the_requests_language(make_client):
    make_client().post("/api/v1/members/", NEW, format="json")

    response = make_client(language="zh-hans").post(
        "/api/v1/members/", {**NEW, "name": "李四", "phone": "13900000000"}, format="json"
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "会员 M0001234 已存在，但以下字段不同：姓名，手机号。"}


def test_text_fields_take_strings_only_and_a_blank_one_gets_the_imports_message(api):
    numbers = api.post("/api/v1/members/", {**NEW, "member_no": 1234, "name": 12345}, format="json")
    assert numbers.status_code == 400
    assert numbers.json() == {
        "member_no": ["Send this as a string."],
        "name": ["Send this as a string."],
    }
    blank = api.post("/api/v1/members/", {**NEW, "name": "  ", "phone": ""}, format="json")
    assert blank.status_code == 400 and blank.json() == {"name": ["name is empty"]}
    assert not Member.objects.exists()

    # The schema says so: a required text is at least one character, an optional contact may be
    # sent blank (to clear it).
    schema = api.get("/api/schema/?format=json").json()["components"]["schemas"]
    created = schema["MemberCreateRequest"]["properties"]
    assert created["name"]["minLength"] == 1 and created["member_no"]["minLength"] == 1
    assert "minLength" not in created["phone"] and "minLength" not in created["email"]
    transaction = schema["TransactionInRequest"]["properties"]
    assert transaction["external_id"]["minLength"] == 1
    assert "minLength" not in transaction["refund_of"]


@pytest.mark.parametrize("page_size", ["0", "-1", "abc", "", "1.5", "٣"])
def test_a_page_size_that_is_not_a_whole_number_from_one_is_refused(api, page_size):
    MemberFactory()
    response = api.get("/api/v1/members/", {"page_size": page_size})
    assert response.status_code == 400
    assert response.json() == {"page_size": ["Give a whole number from 1 to 500."]}


def test_a_page_size_above_the_most_gives_the_most(api, monkeypatch):
    monkeypatch.setattr(MemberCursor, "max_page_size", 3)  # 500 in production
    for n in range(5):
        MemberFactory(member_no=f"A{n}")
    for page_size in ("2", "0002", "4", "99999999999999999999"):
        page = api.get("/api/v1/members/", {"page_size": page_size}).json()
        assert len(page["results"]) == (2 if page_size.endswith("2") else 3), page_size
    parameters = api.get("/api/schema/?format=json").json()["paths"]["/api/v1/members/"]["get"][
        "parameters"
    ]
    assert {p["name"]: p["schema"] for p in parameters}["page_size"] == {
        "type": "integer",
        "minimum": 1,
    }


@pytest.mark.parametrize("value", ["", " ", ["", "active"], ["active", ""]])
@pytest.mark.parametrize(
    "parameter", ["status", "current_tier", "joined_on_after", "member_no_prefix"]
)
def test_a_filter_sent_empty_is_refused_rather_than_read_as_any(api, parameter, value):
    MemberFactory()
    response = api.get("/api/v1/members/", {parameter: value})
    assert response.status_code == 400
    assert response.json() == {parameter: ["Give a value or leave the parameter out."]}


def test_a_member_converted_since_sent_again_as_experience_is_the_stored_member(api):
    api.post("/api/v1/members/", {**NEW, "member_type": "experience"}, format="json")
    converted = api.patch("/api/v1/members/M0001234/", {"member_type": "regular"}, format="json")
    assert converted.json()["member_type"] == "regular"

    again = api.post("/api/v1/members/", {**NEW, "member_type": "experience"}, format="json")

    assert again.status_code == 200 and again.json()["member_type"] == "regular"


# Transactional: real commits, seen by every thread.
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_same_conversion_sent_many_times_at_once_is_answered_alike():
    MemberFactory(member_no="EXP1", status=Member.Status.EXPERIENCE)
    _key, raw_key = api_key_create(name="CRM", scopes="all")
    answers = sent_at_once(
        raw_key,
        6,
        lambda client: client.patch(
            "/api/v1/members/EXP1/", {"member_type": "regular"}, format="json"
        ),
    )

    assert [a.status_code for a in answers] == [200] * 6
    assert AuditEntry.objects.filter(action="member.convert").count() == 1


def test_a_patch_that_changes_nothing_writes_no_audit_entry(api):
    MemberFactory(member_no="M1", name="张三")

    for _ in range(3):
        assert api.patch("/api/v1/members/M1/", {"name": "张三"}, format="json").status_code == 200

    assert not AuditEntry.objects.filter(action="member.update").exists()


def test_blank_dates_get_the_imports_words_and_a_blank_birthday_is_none(api):
    blank_joined = api.post("/api/v1/members/", {**NEW, "joined_on": " "}, format="json")
    assert blank_joined.status_code == 400
    assert blank_joined.json() == {"joined_on": ["joined on is empty"]}

    created = api.post("/api/v1/members/", {**NEW, "birthday": ""}, format="json")
    assert created.status_code == 201 and created.json()["birthday"] is None


def test_the_members_own_number_and_joined_date_sent_in_another_form_are_let_through(api):
    MemberFactory(member_no="IDM1", joined_on=datetime.date(2026, 11, 1))

    same = api.patch(
        "/api/v1/members/IDM1/",
        {"member_no": "ＩＤＭ１", "joined_on": "2026/11/1", "name": "王五"},
        format="json",
    )
    other = api.patch("/api/v1/members/IDM1/", {"member_no": "IDM2"}, format="json")

    assert same.status_code == 200 and same.json()["name"] == "王五"
    assert other.status_code == 400


def test_a_birthday_after_the_joined_date_is_refused_at_the_birthday(api):
    created = api.post(
        "/api/v1/members/", {**NEW, "joined_on": "2019-03-15", "birthday": "2020-01-01"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 400
    assert created.json() == {
        "birthday": ["birthday 2020-01-01 is after the joined date 2019-03-15"]
    }

    MemberFactory(member_no="B1", joined_on=datetime.date(2019, 3, 15))
    changed = api.patch("/api/v1/members/B1/", {"birthday": "2019-03-16"}, format="json")
    assert changed.status_code == 400 and set(changed.json()) == {"birthday"}
