from __future__ import annotations

import datetime
import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from loyalty.audit import audit_record
from loyalty.models import AuditEntry
from members.models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction
from members.tests.factories import (
    ActivityFactory,
    BlacklistEntryFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
    RefundFactory,
)
from tiers.models import (
    Benefit,
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    Tier,
    TierChange,
    TierOverride,
    TierPolicy,
)
from tiers.services import policy_draft_create, tier_override_set, tiers_recompute

pytestmark = pytest.mark.django_db

EVERY_MODEL = [
    Member,
    Transaction,
    Referral,
    ActivityParticipation,
    BlacklistEntry,
    Tier,
    TierPolicy,
    TierChange,
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    TierOverride,
    AuditEntry,
]
READ_ONLY = [
    Transaction,
    Referral,
    ActivityParticipation,
    BlacklistEntry,
    TierChange,
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    TierOverride,
    AuditEntry,
]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def some_of_everything(admin_user):
    """At least one row of every model, so list columns and detail pages really render: a
    member warned before a downgrade (tier history and a warning), a refund, a referral, an
    activity, a blacklist entry and an audit entry."""
    member = MemberFactory(member_no="W001", joined_on=datetime.date(2025, 6, 1))
    purchase = PurchaseFactory(
        member=member, external_id="POS-1", amount_fen=2_000_050, day=datetime.date(2025, 6, 20)
    )
    RefundFactory(refund_of=purchase, external_id="POS-1-R", amount_fen=25)
    ReferralFactory(referrer=member)
    ActivityFactory(member=member)
    tiers_recompute(as_of=datetime.date(2025, 7, 1))
    tiers_recompute(as_of=datetime.date(2026, 6, 25))
    tier_override_set(
        member=MemberFactory(member_no="W002"),
        tier=Tier.objects.get(code="gold"),
        reason="key account",
        ends_on=None,
        actor=admin_user,
    )
    entry = BlacklistEntryFactory(created_by=admin_user)
    audit_record(actor=admin_user, action="member.blacklist", target=entry.member)
    return member


def test_every_model_is_registered_and_benefits_are_edited_under_their_tier():
    for model in EVERY_MODEL:
        assert admin.site.is_registered(model), model
    assert not admin.site.is_registered(Benefit)
    tier_admin = admin.site._registry[Tier]
    assert [inline.model for inline in tier_admin.inlines] == [Benefit]


@pytest.mark.parametrize("model", EVERY_MODEL, ids=lambda m: m._meta.label)
def test_every_changelist_renders_for_a_superuser(admin_client, some_of_everything, model):
    assert model.objects.exists()

    response = admin_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", EVERY_MODEL, ids=lambda m: m._meta.label)
def test_every_changelist_search_runs(admin_client, some_of_everything, model):
    response = admin_client.get(admin_url(model, "changelist"), {"q": "W001"})

    assert response.status_code == 200


@pytest.mark.parametrize("model", EVERY_MODEL, ids=lambda m: m._meta.label)
def test_every_change_page_renders_for_a_superuser(admin_client, some_of_everything, model):
    obj = model.objects.first()

    response = admin_client.get(admin_url(model, "change", obj.pk))

    assert response.status_code == 200


@pytest.mark.parametrize("model", EVERY_MODEL, ids=lambda m: m._meta.label)
def test_nothing_is_added_or_deleted_through_the_admin(admin_client, some_of_everything, model):
    # Each is added by an import or an audited service, and nothing is deleted: history and
    # audit entries refer to every row (a member's personal data is erased, audited, instead).
    obj = model.objects.first()
    count = model.objects.count()

    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.count() == count


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda m: m._meta.label)
def test_history_is_read_only_in_the_admin(admin_client, rf, admin_user, some_of_everything, model):
    obj = model.objects.first()
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = admin_user

    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    assert model.objects.filter(pk=obj.pk).exists()


def test_money_is_shown_in_yuan_in_the_lists(admin_client, some_of_everything):
    transactions = admin_client.get(admin_url(Transaction, "changelist")).content.decode()
    members = admin_client.get(admin_url(MemberEvaluation, "changelist")).content.decode()
    history = admin_client.get(admin_url(TierChange, "changelist")).content.decode()

    assert "¥20,000.50" in transactions and "¥0.25" in transactions
    assert "¥20,000.50" in history  # spend at the first evaluation, before the refund
    assert "¥0.00" in members  # spend at the last evaluation: the purchase left the window


def test_members_arrive_through_checked_paths_not_the_admin_add_page(admin_client):
    assert admin_client.get(admin_url(Member, "add")).status_code == 403


def test_a_members_identity_status_and_tier_state_cannot_be_changed_in_the_admin(
    admin_client, some_of_everything
):
    member = some_of_everything
    gold = Tier.objects.get(code="gold")
    diamond = Tier.objects.get(code="diamond")

    response = admin_client.post(
        admin_url(Member, "change", member.pk),
        {
            "member_no": "X999",
            "name": "新名字",
            "status": "blacklisted",
            "joined_on": "2020-01-01",
            "phone": member.phone,
            "email": member.email,
            "birthday": "",
            "current_tier": diamond.pk,
            "qualified_tier": diamond.pk,
            "frequency": 99,
        },
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.name == "新名字"
    entry = AuditEntry.objects.get(action="member.update", target_id=str(member.pk))
    assert entry.actor.username == "admin"
    assert entry.before["name"] != "新名字" and entry.after["name"] == "新名字"
    assert (member.member_no, member.joined_on) == ("W001", datetime.date(2025, 6, 1))
    assert member.status == "active"
    assert MemberTier.objects.get(member=member).current_tier == gold
    assert member.evaluation.qualified_tier.code == "silver"
    assert member.evaluation.frequency == 0


def policy_form(**overrides) -> dict:
    data = {
        "version": "2",
        "name": "草稿",
        "effective_from": "",
        "notes": "",
        "window_kind": "rolling_year",
        "referral_points": "200",
        "activity_points": "100",
        "warning_lead_days": "30",
        "notice_days": "30",
        "downgrade_step": "to_qualified",
        "rules": TierPolicy.objects.get(version=1).rules,
    }
    data.update(overrides)
    if not isinstance(data["rules"], str):
        data["rules"] = json.dumps(data["rules"])
    return data


@pytest.fixture
def draft(admin_user):
    return policy_draft_create(actor=admin_user)


def test_a_drafts_settings_saved_in_the_admin_go_through_the_audited_service(admin_client, draft):
    review_settings = {**draft.review_settings, "cooldown_quarters": 2}

    response = admin_client.post(
        admin_url(TierPolicy, "change", draft.pk),
        policy_form(
            name="第二版",
            referral_points="300",
            review_settings=json.dumps(review_settings),
        ),
    )

    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.name, draft.referral_points) == ("第二版", 300)
    assert draft.review_settings["cooldown_quarters"] == 2
    entry = AuditEntry.objects.get(action="policy.draft.update", target_id=str(draft.pk))
    assert entry.actor.username == "admin"
    assert entry.before["referral_points"] == 200 and entry.after["referral_points"] == 300
    assert entry.after["review_settings"]["cooldown_quarters"] == 2
    assert entry.after["name"] == "第二版"


def test_a_draft_with_a_broken_rule_is_refused_with_where_and_why(admin_client, draft):
    rules = TierPolicy.objects.get(version=1).rules
    rules["gold"] = {"any": [{"metric": "height", "min": 3}]}

    response = admin_client.post(
        admin_url(TierPolicy, "change", draft.pk), policy_form(rules=rules)
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["rules"]
    assert "gold.any[0]" in errors[0] and "height" in errors[0]
    draft.refresh_from_db()
    assert draft.rules["gold"] != rules["gold"]
    assert not AuditEntry.objects.filter(action="policy.draft.update").exists()


def test_a_published_policy_cannot_be_edited_or_deleted(admin_client):
    published = TierPolicy.objects.get(version=1)

    response = admin_client.post(
        admin_url(TierPolicy, "change", published.pk), policy_form(version="1", name="改")
    )
    delete = admin_client.post(admin_url(TierPolicy, "delete", published.pk), {"post": "yes"})

    assert response.status_code == 403
    assert delete.status_code == 403
    published.refresh_from_db()
    assert published.name != "改"


def test_tiers_and_benefits_are_only_shown_in_the_admin_edited_in_the_back_office(
    admin_client, rf, admin_user
):
    # The back office's tier page renames tiers and edits benefits with an audit entry; the
    # admin would change them silently.
    request = rf.get("/")
    request.user = admin_user
    gold = Tier.objects.get(code="gold")
    benefit = gold.benefits.first()
    tier_admin = admin.site._registry[Tier]

    page = admin_client.get(admin_url(Tier, "change", gold.pk))
    response = admin_client.post(
        admin_url(Tier, "change", gold.pk),
        {
            "name_zh": "改名",
            "name_en": "Renamed",
            "benefits-TOTAL_FORMS": "1",
            "benefits-INITIAL_FORMS": "1",
            "benefits-0-id": str(benefit.pk),
            "benefits-0-tier": str(gold.pk),
            "benefits-0-position": "1",
            "benefits-0-kind": benefit.kind,
            "benefits-0-value": "50",
            "benefits-0-title_zh": "改",
            "benefits-0-title_en": "Changed",
        },
    )

    assert page.status_code == 200
    assert response.status_code == 403
    assert not tier_admin.has_change_permission(request, gold)
    assert not any(
        inline.has_change_permission(request, gold)
        or inline.has_add_permission(request, gold)
        or inline.has_delete_permission(request, gold)
        for inline in tier_admin.get_inline_instances(request, gold)
    )
    gold.refresh_from_db()
    benefit.refresh_from_db()
    assert (gold.name_en, benefit.title_en) != ("Renamed", "Changed")
    assert Tier.objects.count() == 5


@pytest.fixture
def staff_client(client, django_user_model):
    """A client logged in as a staff user of ``role``'s group."""

    def login(role: str):
        user = django_user_model.objects.create_user(role, password="x-12345", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


@pytest.mark.parametrize("role", ["committee", "policy_owner", "auditor"])
def test_roles_that_see_contact_details_masked_see_them_masked_in_the_admin(staff_client, role):
    member = MemberFactory(member_no="C001", phone="13812348000", email="alice@example.com")
    entry = audit_record(
        actor=None,
        action="member.update",
        target=member,
        before={"phone": "13900001111", "email": "bob@example.com"},
        after={"phone": "13812348000", "email": "alice@example.com"},
    )
    client = staff_client(role)

    pages = [
        client.get(admin_url(Member, "changelist")),
        client.get(admin_url(Member, "change", member.pk)),
    ]
    if role == "auditor":  # the one role that reads the audit log
        pages.append(client.get(admin_url(AuditEntry, "change", entry.pk)))

    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert "138****8000" in html
        assert "13812348000" not in html and "alice@example.com" not in html
        assert "13900001111" not in html and "bob@example.com" not in html
    assert "a****@example.com" in pages[1].content.decode()


def test_staff_who_may_see_contact_details_see_them_in_full_in_the_admin(staff_client):
    member = MemberFactory(member_no="C001", phone="13812348000", email="alice@example.com")
    client = staff_client("ops")

    listing = client.get(admin_url(Member, "changelist")).content.decode()
    page = client.get(admin_url(Member, "change", member.pk)).content.decode()

    assert "13812348000" in listing
    assert 'value="13812348000"' in page and 'value="alice@example.com"' in page
