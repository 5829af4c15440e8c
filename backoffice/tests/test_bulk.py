"""Bulk work: preview who changes and who is skipped, then the whole batch or none of it."""

from __future__ import annotations

import datetime
import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from backoffice import bulk
from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from members.models import Member
from members.tests.factories import MemberFactory
from tiers.models import MemberTier, Tier, TierOverride
from tiers.services import tier_override_set

# The messages checked here are the English source texts.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

URL = "/bulk/"


def token_of(response) -> str:
    return re.search(r'name="confirm_token" value="([^"]+)"', response.content.decode()).group(1)


@pytest.fixture
def members():
    return [
        MemberFactory(member_no="B1"),
        MemberFactory(member_no="B2"),
        MemberFactory(member_no="B3", status=Member.Status.EXPERIENCE),
        MemberFactory(member_no="B4", status=Member.Status.BLACKLISTED),
    ]


def test_numbers_come_from_text_or_a_csv_file():
    assert bulk.numbers_from_text("B1\nB2, B3；B4") == ["B1", "B2", "B3", "B4"]
    assert bulk.numbers_from_csv("\ufeffmember_no,note\nB1,x\n\nB2,y\n".encode()) == ["B1", "B2"]
    assert bulk.numbers_from_csv(b"B7\nB8\n") == ["B7", "B8"]
    # Excel's plain "CSV" on Chinese Windows is GBK.
    assert bulk.numbers_from_csv("member_no,备注\nB1,老客户\n".encode("gbk")) == ["B1"]
    with pytest.raises(DomainError, match="CSV UTF-8"):
        bulk.numbers_from_csv(b"\xff\xfe\x00B1\x80\x80")
    # "CSV (Macintosh)" ends lines with \r alone; the header in another case or in Chinese.
    assert bulk.numbers_from_csv(b"member_no\rB1\rB2\r") == ["B1", "B2"]
    assert bulk.numbers_from_csv(b"Member_No,note\r\nB1,x\r\n") == ["B1"]
    assert bulk.numbers_from_csv("备注,会员编号\n老客户,B3\n".encode()) == ["B3"]
    with pytest.raises(DomainError) as refused:
        bulk.numbers_from_csv(b"member_no\nB1\n" + b"x" * 200_000 + b"\n")
    assert str(refused.value) == ("Line 3 of the file holds a value too long for a member number.")
    # A picture renamed .csv.
    with pytest.raises(DomainError, match="The file is not a CSV text file"):
        bulk.numbers_from_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDRbinary")


def test_the_preview_lists_who_changes_and_who_is_skipped_and_why(members):
    plan = bulk.bulk_preview(
        action=bulk.OVERRIDE,
        member_nos=["B1", "B2", "B3", "NOPE", "B1"],
        tier=Tier.objects.get(code="gold"),
    )

    assert plan.changing_numbers == ["B1", "B2"]
    assert [(r.member_no, r.skipped) for r in plan.skipped] == [
        ("B3", "not an active member: holds no tier"),
        ("NOPE", "unknown member number"),
        ("B1", "listed more than once"),
    ]


def test_the_preview_says_a_member_at_or_above_the_floor_keeps_their_tier(members):
    MemberTier.objects.create(member=members[0], current_tier=Tier.objects.get(code="platinum"))
    MemberTier.objects.create(member=members[1], current_tier=Tier.objects.get(code="silver"))

    plan = bulk.bulk_preview(
        action=bulk.OVERRIDE, member_nos=["B1", "B2"], tier=Tier.objects.get(code="gold")
    )

    assert [(r.member_no, r.change) for r in plan.changes] == [
        ("B1", "stays Platinum, never below Gold while the override lasts"),
        ("B2", "Silver → Gold"),
    ]


def test_the_preview_says_a_lower_floor_ends_the_override_that_holds_the_tier(members):
    tier_override_set(
        member=members[0], tier=Tier.objects.get(code="diamond"), reason="key account",
        ends_on=None, actor=None,
    )  # fmt: skip

    plan = bulk.bulk_preview(
        action=bulk.OVERRIDE, member_nos=["B1"], tier=Tier.objects.get(code="gold")
    )

    assert [(r.member_no, r.change) for r in plan.changes] == [
        ("B1", "keeps Diamond for the notice period after its override ends, then at least Gold")
    ]


def test_the_preview_skips_a_member_whose_committee_grant_the_override_would_take_away(members):
    gold, platinum = Tier.objects.get(code="gold"), Tier.objects.get(code="platinum")
    ends = timezone.localdate() + datetime.timedelta(days=365)
    tier_override_set(
        member=members[0],
        tier=platinum,
        reason="committee",
        ends_on=ends,
        actor=None,
        kind=TierOverride.Kind.COMMITTEE,
    )

    plan = bulk.bulk_preview(action=bulk.OVERRIDE, member_nos=["B1", "B2"], tier=gold)

    assert plan.changing_numbers == ["B2"]
    assert plan.skipped[0].member_no == "B1"
    assert plan.skipped[0].skipped.startswith(
        f"The member's exceptional upgrade gives them at least Platinum until {ends.isoformat()}."
    )
    # At least as much on both counts replaces the grant like any other override.
    plan = bulk.bulk_preview(action=bulk.OVERRIDE, member_nos=["B1"], tier=platinum)
    assert plan.changing_numbers == ["B1"]


def test_member_numbers_are_read_in_lower_case_or_full_width_as_the_search_reads_them(members):
    listed = bulk.numbers_from_text("b1 Ｂ２") + bulk.numbers_from_csv("ｂ１\n".encode())

    plan = bulk.bulk_preview(
        action=bulk.OVERRIDE, member_nos=listed, tier=Tier.objects.get(code="gold")
    )

    assert plan.changing_numbers == ["B1", "B2"]
    assert [(r.member_no, r.skipped) for r in plan.skipped] == [("B1", "listed more than once")]


def test_a_bulk_override_from_a_csv_upload_applies_to_everyone_after_the_preview(as_role, members):
    client = as_role("ops")
    upload = SimpleUploadedFile("list.csv", b"member_no\nB1\nB2\nB3\n")

    preview = client.post(
        URL,
        {"action": "override", "csv_file": upload, "tier": "gold", "reason": "春节活动"},
    )

    page = preview.content.decode()
    assert "2 members change." in page and "1 is skipped." in page
    assert not TierOverride.objects.exists()
    done = client.post(URL, {"confirm_token": token_of(preview)})
    assert done.status_code == 302
    assert sorted(TierOverride.objects.values_list("member__member_no", flat=True)) == [
        "B1",
        "B2",
    ]


def test_a_bulk_batch_is_all_or_nothing(members, django_user_model):
    actor = django_user_model.objects.create_user("ops-bulk")
    plan = bulk.bulk_preview(action=bulk.BLACKLIST, member_nos=["B1", "B2"])
    # B2 is blacklisted elsewhere between the preview and the confirmation.
    Member.objects.filter(member_no="B2").update(status=Member.Status.BLACKLISTED)

    with pytest.raises(DomainError, match="changed since the preview"):
        bulk.bulk_apply(
            action=bulk.BLACKLIST,
            member_nos=["B1", "B2"],
            confirmed=plan.digest,
            reason="团伙刷单",
            actor=actor,
        )

    assert Member.objects.get(member_no="B1").status == Member.Status.ACTIVE


def test_a_batch_whose_member_got_another_override_since_the_preview_applies_nothing(
    as_role, members
):
    client = as_role("ops")
    ends_on = timezone.localdate() + datetime.timedelta(days=60)
    data = {"action": "override", "member_numbers": "B1 B2", "tier": "gold",
            "ends_on": ends_on.isoformat(), "reason": "活动"}  # fmt: skip
    preview = client.post(URL, data)
    assert "2 members change." in preview.content.decode()
    # A colleague gives B2 a higher override meanwhile: B2 still changes (the new override
    # would end it), but not as the preview said.
    tier_override_set(
        member=Member.objects.get(member_no="B2"), tier=Tier.objects.get(code="platinum"),
        reason="VIP", ends_on=ends_on + datetime.timedelta(days=30), actor=None,
    )  # fmt: skip

    page = client.post(URL, {"confirm_token": token_of(preview)}).content.decode()

    assert "Nothing was applied: the members changed since the preview." in page
    assert list(TierOverride.objects.values_list("member__member_no", "tier__code")) == [
        ("B2", "platinum")
    ]


def test_a_failure_in_the_middle_rolls_back_the_members_already_done(members, django_user_model):
    actor = django_user_model.objects.create_user("ops-bulk")
    gold = Tier.objects.get(code="gold")
    ends_on = datetime.date(2000, 1, 1)  # refused by the service
    plan = bulk.bulk_preview(
        action=bulk.OVERRIDE, member_nos=["B1", "B2"], tier=gold, ends_on=ends_on
    )

    with pytest.raises(DomainError):
        bulk.bulk_apply(
            action=bulk.OVERRIDE,
            member_nos=["B1", "B2"],
            confirmed=plan.digest,
            reason="x",
            actor=actor,
            tier=gold,
            ends_on=ends_on,
        )

    assert not TierOverride.objects.exists()


def test_the_list_selection_fills_the_bulk_form(as_role, members):
    response = as_role("ops").get(URL, {"member_no": ["B1", "B2"]})

    assert response.context["form"].initial["member_numbers"] == "B1\nB2"


def test_bulk_blacklisting_needs_the_blacklist_permission(as_role, members):
    response = as_role("committee").post(
        URL, {"action": "blacklist", "member_numbers": "B1", "reason": "x"}
    )

    assert response.status_code == 403


def test_confirming_a_batch_twice_applies_it_once_and_says_the_confirmation_was_used(
    as_role, members
):
    client = as_role("ops")
    preview = client.post(
        URL, {"action": "override", "member_numbers": "B1 B2", "tier": "gold", "reason": "活动"}
    )
    client.post(URL, {"confirm_token": token_of(preview)})

    again = client.post(URL, {"confirm_token": token_of(preview)})

    assert "This confirmation was already used" in again.content.decode()
    assert TierOverride.objects.count() == 2
    assert AuditEntry.objects.filter(action="tier.override.manual").count() == 2


def test_a_batch_changed_since_the_preview_says_once_that_nothing_was_applied(as_role, members):
    client = as_role("ops", language="zh-hans")
    data = {"action": "blacklist", "member_numbers": "B1 B2", "reason": "团伙刷单"}
    token = token_of(client.post(URL, data))
    Member.objects.filter(member_no="B2").update(status=Member.Status.BLACKLISTED)

    page = client.post(URL, {"confirm_token": token}).content.decode()

    assert "未执行任何操作：预览之后会员数据已有变化。请重新预览。" in page
    assert page.count("未执行任何操作") == 1
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the refused token is still unused
    page = client.post(URL, {"confirm_token": token}).content.decode()
    assert "Nothing was applied: the members changed since the preview. Preview again." in page
    assert Member.objects.get(member_no="B1").status == Member.Status.ACTIVE


def test_a_batch_changed_since_the_preview_comes_back_filled_in_for_a_new_preview(as_role, members):
    client = as_role("ops")
    ends_on = (timezone.localdate() + datetime.timedelta(days=60)).isoformat()
    data = {
        "action": "override",
        "member_numbers": "B1 B2",
        "tier": "gold",
        "ends_on": ends_on,
        "reason": "门店活动 VIP-9",
    }
    token = token_of(client.post(URL, data))
    Member.objects.filter(member_no="B2").update(status=Member.Status.BLACKLISTED)

    response = client.post(URL, {"confirm_token": token})

    form = response.context["form"]
    assert form.initial["action"] == "override"
    assert bulk.numbers_from_text(form.initial["member_numbers"]) == ["B1", "B2"]
    assert (form.initial["tier"], form.initial["ends_on"]) == ("gold", ends_on)
    assert form.initial["reason"] == "门店活动 VIP-9"
    page = response.content.decode()
    assert '<option value="gold" selected>' in page
    assert f'name="ends_on" value="{ends_on}"' in page
    assert "门店活动 VIP-9</textarea>" in page
    again = client.post(URL, {**form.initial})
    assert 'name="confirm_token"' in again.content.decode()  # one click to a new preview


def test_the_bulk_pages_group_their_counts_by_thousands(as_role, monkeypatch):
    changing = Member.objects.bulk_create(MemberFactory.build() for _ in range(1_200))
    unknown = [f"NOPE{i}" for i in range(1_001)]
    client = as_role("ops")

    preview = client.post(
        URL,
        {
            "action": "blacklist",
            "member_numbers": "\n".join([m.member_no for m in changing] + unknown),
            "reason": "团伙刷单",
        },
    )

    page = preview.content.decode()
    assert "1,200 members change." in page and "1,001 are skipped." in page
    assert "Apply to 1,200 members" in page
    # What was applied is said the same way (the service is not the point here).
    monkeypatch.setattr(bulk, "bulk_apply", lambda **kwargs: 1_200)
    done = client.post(URL, {"confirm_token": token_of(preview)}, follow=True)
    assert "Applied to 1,200 members." in done.content.decode()


def test_a_batch_over_the_limit_is_refused_with_grouped_counts():
    with pytest.raises(
        DomainError, match=r"At most 5,000 members at a time; this batch has 5,001\."
    ):
        bulk.bulk_preview(action=bulk.BLACKLIST, member_nos=[f"B{i}" for i in range(5_001)])


def test_the_applied_count_is_singular_for_one_member(as_role, members):
    client = as_role("ops", language="zh-hans")
    preview = client.post(URL, {"action": "blacklist", "member_numbers": "B1", "reason": "x"})

    done = client.post(URL, {"confirm_token": token_of(preview)}, follow=True)

    assert "已对 1 位会员执行。" in done.content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    preview = client.post(URL, {"action": "blacklist", "member_numbers": "B2", "reason": "x"})
    done = client.post(URL, {"confirm_token": token_of(preview)}, follow=True)
    assert "Applied to 1 member." in done.content.decode()
