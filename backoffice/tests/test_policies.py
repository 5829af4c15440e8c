"""Policy versions in the back office: validation that says what is wrong, the structured
editor, the diff, the impact preview (a small data set where we know who moves), publishing
rules, tier names and benefits, and who may do what."""

from __future__ import annotations

import copy
import datetime
import re
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from loyalty.roles import ROLES
from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory
from tiers import engine
from tiers.diff import policy_diff
from tiers.models import Benefit, Tier, TierPolicy
from tiers.policy import PolicyInvalid, ordering_problems
from tiers.preview import policy_preview
from tiers.selectors import (
    PolicyStatus,
    announced_policy,
    engine_policy,
    policy_versions,
)
from tiers.services import (
    benefit_delete,
    benefit_save,
    policy_draft_create,
    policy_draft_update,
    policy_earliest_effective_date,
    policy_publish,
    tier_rename,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
CAST = [*sorted(ROLES), "anonymous"]
AS_OF = datetime.date(2026, 6, 30)


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def user_with_role(django_user_model):
    def make(role: str):
        user = django_user_model.objects.filter(username=f"{role}-user").first()
        if user is None:
            user = django_user_model.objects.create_user(username=f"{role}-user", password=PASSWORD)
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def owner(user_with_role):
    return user_with_role("policy_owner")


@pytest.fixture
def login_as(client, user_with_role):
    def login(role: str):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        if role != "anonymous":
            client.force_login(user_with_role(role))
        return client

    return login


def active() -> TierPolicy:
    return TierPolicy.objects.get(version=1)


def tier_form_data(client, url: str) -> dict:
    """The tier page's form as drawn: names, then every benefit row (and the empty new one)."""
    page = client.get(url)
    names, formset = page.context["names"], page.context["benefits"]
    data = {name: names[name].value() for name in names.fields}
    data.update({f"benefit-{k}": v for k, v in formset.management_form.initial.items()})
    for i, form in enumerate(formset.forms):
        for name in ("id", "position", "kind", "value", "title_zh", "title_en"):
            value = form[name].value()
            data[f"benefit-{i}-{name}"] = "" if value is None else value
    return data


def with_gold_spend(rules: dict, minimum: str) -> dict:
    rules = copy.deepcopy(rules)
    rules["gold"]["any"][0]["min"] = minimum
    return rules


def draft_with(owner, **changes) -> TierPolicy:
    draft = policy_draft_create(actor=owner, today=AS_OF)
    if changes:
        draft = policy_draft_update(policy=draft, actor=owner, **changes)
    return draft


# --- Drafts -------------------------------------------------------------------------------


def test_a_draft_is_a_copy_of_the_active_version_with_the_next_number(owner):
    draft = policy_draft_create(actor=owner, today=AS_OF)

    assert draft.version == 2
    assert draft.status == TierPolicy.Status.DRAFT
    assert draft.effective_from is None
    assert draft.rules == active().rules
    assert draft.window_kind == active().window_kind
    entry = AuditEntry.objects.get(action="policy.draft.create")
    assert entry.actor == owner
    assert entry.before == {"based_on": 1}


def test_editing_a_draft_stores_canonical_rules_and_audits_before_and_after(owner):
    draft = draft_with(owner)

    policy_draft_update(
        policy=draft,
        actor=owner,
        rules=with_gold_spend(draft.rules, "25000"),
        referral_points=300,
    )

    draft.refresh_from_db()
    assert draft.rules["gold"]["any"][0] == {"metric": "spend", "min": "25000.00"}
    assert draft.referral_points == 300
    entry = AuditEntry.objects.get(action="policy.draft.update")
    assert entry.before["referral_points"] == 200
    assert entry.after["referral_points"] == 300
    assert entry.before["rules"]["gold"]["any"][0]["min"] == "20000.00"
    assert entry.after["rules"]["gold"]["any"][0]["min"] == "25000.00"


def test_every_invalid_rule_is_reported_at_once_with_its_place(owner):
    draft = draft_with(owner)
    rules = copy.deepcopy(draft.rules)
    rules["gold"]["any"][1]["min"] = "twelve"
    rules["diamond"]["all"][1]["at_least"] = 4

    with pytest.raises(PolicyInvalid) as caught:
        policy_draft_update(policy=draft, actor=owner, rules=rules)

    messages = [str(e) for e in caught.value.errors]
    assert messages == [
        "diamond.all[1]: N of “at least N of these” must be a whole number from 1 to the number "
        "of rules (3)",
        "gold.any[1]: frequency (purchases) minimum 'twelve' must be a whole number ≥ 0",
    ]
    draft.refresh_from_db()
    assert draft.rules == active().rules  # nothing saved


def test_day_counts_and_points_beyond_any_sense_are_refused_at_the_field(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[draft.version])
    data = editor_post(client.get(url))
    data.update(warning_lead_days="400", notice_days="999999999999", referral_points="10000001")

    response = client.post(url, data)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"warning_lead_days", "notice_days", "referral_points"}
    assert "less than or equal to 365" in errors["warning_lead_days"][0]
    with pytest.raises(ValidationError):
        policy_draft_update(policy=draft, actor=owner, notice_days=366)
    draft.refresh_from_db()
    assert (draft.warning_lead_days, draft.notice_days, draft.referral_points) == (30, 30, 200)


def test_the_notice_before_a_downgrade_is_never_under_thirty_days(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[draft.version])
    data = editor_post(client.get(url))
    data.update(notice_days="29")

    response = client.post(url, data)

    assert response.status_code == 400
    assert response.context["form"].errors["notice_days"] == [
        "Members are promised at least 30 days after a warning to make up what is missing."
    ]
    assert policy_draft_update(policy=draft, actor=owner, notice_days=45).notice_days == 45


def test_a_draft_of_a_version_with_less_notice_starts_at_the_minimum(owner):
    TierPolicy.objects.filter(version=1).update(notice_days=14)  # published before the minimum

    assert draft_with(owner).notice_days == 30


def test_the_ordering_check_finds_a_higher_tier_easier_to_reach_than_a_lower_one(owner):
    rules = with_gold_spend(active().rules, "3000")  # below Silver's 5,000
    draft = draft_with(owner, rules=rules)
    names = {t.code: t.name for t in Tier.objects.all()}

    messages = [p.message(names) for p in ordering_problems(engine_policy(draft))]

    assert (
        "Gold is easier to reach than Silver: a member with spend ¥3,000.00 qualifies for Gold "
        "but not for Silver." in messages
    )


def test_the_default_policy_lets_contribution_alone_reach_gold_but_not_silver():
    names = {t.code: t.name for t in Tier.objects.all()}

    messages = [p.message(names) for p in ordering_problems(engine_policy(active()))]

    assert messages == [
        "Gold is easier to reach than Silver: a member with contribution (points) 2,000 "
        "qualifies for Gold but not for Silver."
    ]


def test_nested_tiers_have_no_ordering_problem():
    nested = engine.Policy(
        version=9,
        tiers=(
            engine.TierRule("a", 0, engine.AllOf(())),
            engine.TierRule("b", 1, engine.Threshold(engine.Metric.SPEND, Decimal(100))),
            engine.TierRule(
                "c",
                2,
                engine.AllOf(
                    (
                        engine.Threshold(engine.Metric.SPEND, Decimal(200)),
                        engine.Threshold(engine.Metric.FREQUENCY, 3),
                    )
                ),
            ),
        ),
    )

    assert ordering_problems(nested) == []


# --- The structured editor ----------------------------------------------------------------


def editor_post(page) -> dict:
    """The fields of the edit page as the browser would post them back unchanged."""
    form = page.context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}

    def walk(node):
        data[f"{node.prefix}-kind"] = node.kind
        if node.is_group:
            data[f"{node.prefix}-count"] = node.count
            for child in node.children:
                walk(child)
        else:
            data[f"{node.prefix}-metric"] = node.metric
            data[f"{node.prefix}-min"] = node.minimum

    for tier_editor in page.context["editor"].tiers:
        if not tier_editor.fixed:
            walk(tier_editor.root)
    return data


def test_the_editor_shows_the_nested_default_rules_as_fields(login_as, owner):
    draft = draft_with(owner)
    page = login_as("policy_owner").get(reverse("backoffice:policy_edit", args=[draft.version]))

    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="r-diamond-kind"' in html
    assert 'name="r-diamond.1-count" value="2"' in html
    assert 'name="r-diamond.1.2-min" value="5000"' in html
    assert 'name="r-gold.0-min" value="20000.00"' in html
    assert "rules" not in page.context["form"].fields  # no raw JSON


@pytest.mark.parametrize("written", ["25,000", "￥25,000", "¥ 25000.00"])
def test_saving_the_editor_changes_gold_and_keeps_the_rest(login_as, owner, written):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[draft.version])
    data = editor_post(client.get(url))
    data["r-gold.0-min"] = written

    response = client.post(url, data)

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.rules == with_gold_spend(active().rules, "25000.00")


def test_amounts_and_counts_written_other_than_in_plain_digits_are_refused(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[draft.version])
    data = editor_post(client.get(url))
    data["r-gold.0-min"] = "1e3"
    data["r-gold.1-min"] = "１２"  # full-width digits

    response = client.post(url, data)

    html = response.content.decode()
    assert "Gold: spend minimum &#x27;1e3&#x27; is not an amount" in html
    assert "minimum &#x27;１２&#x27; must be a whole number ≥ 0" in html
    draft.refresh_from_db()
    assert draft.rules == active().rules


def test_a_bad_edit_is_explained_next_to_the_field_and_nothing_is_saved(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[draft.version])
    data = editor_post(client.get(url))
    data["r-gold.0-min"] = "20k"
    data["r-diamond.1-count"] = "0"

    response = client.post(url, data)

    assert response.status_code == 400
    html = response.content.decode()
    assert "The draft was not saved" in html
    assert "Gold: spend minimum &#x27;20k&#x27; is not an amount" in html
    assert "Diamond: N of “at least N of these” must be a whole number from 1" in html
    assert 'value="20k"' in html  # the entry is kept for correcting
    draft.refresh_from_db()
    assert draft.rules == active().rules


def test_the_editor_shows_every_problem_of_the_settings_and_the_rules_at_once(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[draft.version])
    data = editor_post(client.get(url))
    assert (data["r-silver.0-metric"], data["r-silver.1-metric"]) == ("spend", "frequency")
    data.update({"name": "", "referral_points": "2000000", "r-gold.0-min": "25k"})
    data.update({"r-diamond.1-count": "5", "r-silver.0-min": "-100", "r-silver.1-min": "6.5"})

    response = client.post(url, data)

    assert response.status_code == 400
    form, editor = response.context["form"], response.context["editor"]
    assert set(form.errors) == {"name", "referral_points"}
    at_nodes = {
        node: editor._node(node).errors for node in ("gold.0", "diamond.1", "silver.0", "silver.1")
    }
    assert all(len(errors) == 1 for errors in at_nodes.values()), at_nodes
    html = response.content.decode()
    # Next to the field, not only in the list on top.
    assert html.count("This field is required.") == 2
    draft.refresh_from_db()
    assert draft.rules == active().rules


def test_rule_errors_on_a_chinese_page_name_the_figures_as_the_editor_does(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    url = reverse("backoffice:policy_edit", args=[draft.version])
    data = editor_post(client.get(url))
    data.update({"r-silver.1-min": "6.5", "r-diamond.1-count": "5"})

    html = client.post(url, data).content.decode()

    assert "银卡会员: 消费频次（次）下限 &#x27;6.5&#x27; 必须是 ≥ 0 的整数" in html
    assert "钻石会员: “至少满足其中 N 项”中的 N 必须是 1 到规则条数（3）之间的整数" in html
    assert "frequency" not in html.split("editor-tree")[0]
    assert "at_least" not in html.split("editor-tree")[0]


def test_adding_and_removing_conditions_redraws_the_form_without_saving(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[draft.version])
    data = editor_post(client.get(url))

    added = client.post(url, {**data, "op": "add-threshold:gold"})
    removed = client.post(url, {**data, "op": "remove:diamond.1.0"})
    grouped = client.post(url, {**data, "op": "add-group:silver"})

    gold = added.context["editor"].tiers[2].root
    assert [c.path for c in gold.children] == ["gold.0", "gold.1", "gold.2", "gold.3"]
    extra = removed.context["editor"].tiers[0].root.children[1]
    assert [(c.path, c.metric) for c in extra.children] == [
        ("diamond.1.0", "tenure_years"),
        ("diamond.1.1", "contribution"),
    ]
    assert grouped.context["editor"].tiers[3].root.children[-1].kind == "any"
    draft.refresh_from_db()
    assert draft.rules == active().rules


def test_a_draft_saved_from_a_page_opened_before_anothers_save_is_refused_not_reverted(
    login_as, owner
):
    draft = draft_with(owner)
    first = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[draft.version])
    opened_first = editor_post(first.get(url))
    second = Client()
    second.force_login(owner)
    changed = editor_post(second.get(url))
    changed.update(name="A 的草稿 2027", **{"r-gold.0-min": "25000"})
    assert second.post(url, changed).status_code == 302
    # Redrawing the first page (a condition added) keeps what it was opened on.
    redrawn = first.post(url, {**opened_first, "op": "add-threshold:gold"})

    refused = first.post(url, {**editor_post(redrawn), "notes": "only the notes"})

    assert refused.status_code == 409
    page = refused.content.decode()
    assert "Someone else saved changes here since you opened this page" in page
    # Said on its own: nothing on the page is marked as a mistake.
    assert "Please correct the marked entries" not in page
    draft.refresh_from_db()
    assert (draft.name, draft.notes) == ("A 的草稿 2027", "")
    assert draft.rules["gold"]["any"][0]["min"] == "25000.00"
    assert AuditEntry.objects.filter(action="policy.draft.update").count() == 1
    # Opened again, the page saves.
    again = editor_post(first.get(url))
    assert first.post(url, {**again, "notes": "only the notes"}).status_code == 302


def test_a_published_version_is_never_edited(login_as, owner):
    client = login_as("policy_owner")
    url = reverse("backoffice:policy_edit", args=[1])

    page = client.get(url)
    posted = client.post(url, {"name": "changed"})

    assert page.status_code == 302
    assert posted.status_code == 302
    assert active().name != "changed"
    with pytest.raises(DomainError, match="never edited"):
        policy_draft_update(policy=active(), actor=owner, name="changed")


# --- Diff ---------------------------------------------------------------------------------


def test_the_diff_marks_the_changed_threshold_and_setting_only(owner):
    draft = draft_with(
        owner,
        name=active().name,
        rules=with_gold_spend(active().rules, "25000"),
        window_kind="calendar_year",
    )
    codes = list(Tier.objects.order_by("-rank").values_list("code", flat=True))

    diff = policy_diff(active(), draft, codes)

    changed_settings = [(s.label, s.old, s.new) for s in diff.settings if s.changed]
    assert changed_settings == [("window", "rolling year", "calendar year")]
    changed_tiers = [t.code for t in diff.tiers if t.changed]
    assert changed_tiers == ["gold"]
    gold = next(t for t in diff.tiers if t.code == "gold")
    changed = [(r.old.text, r.new.text) for r in gold.rows if r.changed]
    assert changed == [("spend ≥ ¥20,000.00", "spend ≥ ¥25,000.00")]
    assert [r.old.text for r in gold.rows][0] == "Any one of these"


def test_the_diff_names_a_changed_name_and_notes(owner):
    draft = draft_with(owner, name="2027 rules", notes="Gold harder.\nSilver unchanged.")
    codes = list(Tier.objects.order_by("-rank").values_list("code", flat=True))

    diff = policy_diff(active(), draft, codes)

    changed = {s.label: s.new for s in diff.settings if s.changed}
    assert changed == {"name": "2027 rules", "notes": "Gold harder.\nSilver unchanged."}
    assert diff.changed


def test_the_diff_page_shows_both_sides(login_as, owner):
    draft = draft_with(owner, name=active().name, rules=with_gold_spend(active().rules, "25000"))

    html = login_as("auditor").get(reverse("backoffice:policy_diff", args=[draft.version]))

    text = html.content.decode()
    assert "¥20,000.00" in text and "¥25,000.00" in text
    assert text.count('class="is-changed"') == 1


def test_the_version_in_force_is_not_compared_with_itself(login_as):
    html = login_as("auditor").get(reverse("backoffice:policy_diff", args=[active().version]))

    text = html.content.decode()
    assert html.status_code == 200
    assert "there is nothing to compare it with" in text
    assert "↔" not in text and "diff-table" not in text


# --- Impact preview -----------------------------------------------------------------------


def buyer(spend_yuan: int, *, day=datetime.date(2026, 3, 1), **fields) -> Member:
    fields.setdefault("joined_on", datetime.date(2026, 1, 1))
    member = MemberFactory(**fields)
    if spend_yuan:
        PurchaseFactory(member=member, amount_fen=spend_yuan * 100, day=day)
    return member


@pytest.fixture
def five_members():
    """Who moves when Gold needs ¥25,000 and Silver only ¥3,000 (all joined this year):"""
    return {
        "gold_to_silver": buyer(22_000, member_no="P-G2S"),
        "stays_gold": buyer(30_000, member_no="P-GG"),
        "stays_silver": buyer(6_000, member_no="P-SS"),
        "stays_regular": buyer(0, member_no="P-RR"),
        "regular_to_silver": buyer(4_000, member_no="P-R2S"),
        # Not counted: no part in evaluation, or not joined yet.
        "experience": buyer(22_000, status=Member.Status.EXPERIENCE),
        "later": buyer(0, joined_on=AS_OF + datetime.timedelta(days=1)),
    }


def easier_silver_harder_gold(rules: dict) -> dict:
    rules = with_gold_spend(rules, "25000")
    rules["silver"]["any"][0]["min"] = "3000.00"
    return rules


def test_the_preview_counts_who_moves_up_down_or_stays(owner, five_members):
    draft = draft_with(owner, rules=easier_silver_harder_gold(active().rules))

    preview = policy_preview(draft=draft, as_of=AS_OF)

    assert preview.members == 5
    assert dict(preview.matrix) == {
        ("gold", "silver"): 1,
        ("gold", "gold"): 1,
        ("silver", "silver"): 1,
        ("regular", "regular"): 1,
        ("regular", "silver"): 1,
    }
    assert (preview.up, preview.down, preview.stay) == (1, 1, 3)
    gold_row = next(r for r in preview.rows if r.tier.code == "gold")
    assert (gold_row.up, gold_row.down, gold_row.stay) == (0, 1, 1)
    samples = {k: [m.member_no for m in v] for k, v in preview.samples.items()}
    assert samples == {("gold", "silver"): ["P-G2S"], ("regular", "silver"): ["P-R2S"]}


def test_a_draft_with_a_calendar_year_window_is_previewed_with_its_own_figures(owner):
    buyer(
        22_000,
        member_no="P-DEC",
        day=datetime.date(2025, 12, 1),
        joined_on=datetime.date(2025, 11, 1),
    )
    buyer(22_000, member_no="P-MAR", joined_on=datetime.date(2025, 11, 1))
    draft = draft_with(owner, window_kind="calendar_year")

    preview = policy_preview(draft=draft, as_of=AS_OF)

    assert dict(preview.matrix) == {("gold", "regular"): 1, ("gold", "gold"): 1}
    assert [m.member_no for m in preview.samples["gold", "regular"]] == ["P-DEC"]


def test_the_preview_page_counts_with_thousands_separators(login_as, owner):
    draft = draft_with(owner, rules=easier_silver_harder_gold(active().rules))
    Member.objects.bulk_create(
        MemberFactory.build(joined_on=datetime.date(2026, 1, 1)) for _ in range(1_000)
    )

    page = login_as("policy_owner").get(reverse("backoffice:policy_preview", args=[draft.version]))

    html = page.content.decode()
    assert "1,000 members who take part" in html
    assert '<span class="figure-value" data-figure="stay">1,000</span>' in html
    assert '<tr data-tier="regular">' in html and ">1,000</td>" in html


def test_the_preview_makes_the_same_number_of_queries_for_more_members(owner):
    draft = draft_with(owner, rules=easier_silver_harder_gold(active().rules))
    for spend in (22_000, 4_000):
        buyer(spend)
    with CaptureQueriesContext(connection) as few:
        policy_preview(draft=draft, as_of=AS_OF)
    for spend in [22_000, 4_000, 30_000, 100] * 10:
        buyer(spend)
    with CaptureQueriesContext(connection) as many:
        policy_preview(draft=draft, as_of=AS_OF)

    assert len(many) == len(few)


def test_the_preview_page_shows_the_matrix_and_links_to_the_members(login_as, owner, five_members):
    draft = draft_with(owner, rules=easier_silver_harder_gold(active().rules))
    today = timezone.localdate()
    for member in Member.objects.all():
        member.transactions.update(occurred_on=today)

    page = login_as("policy_owner").get(reverse("backoffice:policy_preview", args=[draft.version]))

    html = page.content.decode()
    assert page.status_code == 200
    assert page.context["preview"].matrix["gold", "silver"] == 1
    assert 'id="preview-matrix"' in html
    assert reverse("backoffice:member_detail", args=["P-G2S"]) in html
    assert reverse("backoffice:policy_publish", args=[draft.version]) in html


def test_the_publish_date_is_filled_in_for_the_browser_in_chinese_too(login_as, owner):
    # A date picker takes only ISO values: one written as 2026/09/06 shows an empty field.
    draft = draft_with(owner, rules=easier_silver_harder_gold(active().rules))
    earliest = policy_earliest_effective_date(timezone.localdate())

    client = login_as("policy_owner")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(reverse("backoffice:policy_preview", args=[draft.version]))

    html = page.content.decode()
    assert '<html lang="zh-hans">' in html
    assert f'name="effective_from" value="{earliest.isoformat()}"' in html


def test_a_refused_publication_names_every_mistake_and_keeps_the_date_typed(login_as, owner):
    draft = draft_with(owner, rules=easier_silver_harder_gold(active().rules))
    earliest = policy_earliest_effective_date(timezone.localdate())
    too_soon = (earliest - datetime.timedelta(days=2)).isoformat()
    client = login_as("policy_owner")

    page = client.post(
        reverse("backoffice:policy_publish", args=[draft.version]),
        {"effective_from": too_soon, "accept_warnings": "on"},  # the impact box not ticked
        follow=True,
    )

    html = page.content.decode()
    assert f"The effective date must be on or after {earliest.isoformat()}" in html
    assert "cannot be changed or withdrawn: This field is required." in html
    assert f'name="effective_from" value="{too_soon}"' in html
    assert not re.search(r'<input type="checkbox" name="accept_warnings"[^>]* checked', html)
    draft.refresh_from_db()
    assert draft.status == TierPolicy.Status.DRAFT


# --- Publishing ---------------------------------------------------------------------------


def test_publishing_needs_the_notice_period(owner):
    draft = draft_with(owner, rules=with_gold_spend(active().rules, "25000"))
    too_soon = AS_OF + datetime.timedelta(days=settings.POLICY_NOTICE_DAYS - 1)

    with pytest.raises(DomainError, match="on or after 2026-07-07"):
        policy_publish(
            policy=draft, effective_from=too_soon, actor=owner, accept_warnings=True, today=AS_OF
        )
    draft.refresh_from_db()
    assert draft.status == TierPolicy.Status.DRAFT


def test_publishing_refuses_a_date_more_than_a_year_after_the_earliest(owner):
    # Published versions cannot be withdrawn: 9999-12-31 would block every later version.
    draft = draft_with(owner, rules=with_gold_spend(active().rules, "25000"))

    for too_late in (datetime.date(2027, 7, 9), datetime.date(9999, 12, 31)):
        with pytest.raises(DomainError, match="on or before 2027-07-08"):
            policy_publish(
                policy=draft,
                effective_from=too_late,
                actor=owner,
                accept_warnings=True,
                today=AS_OF,
            )
    draft.refresh_from_db()
    assert draft.status == TierPolicy.Status.DRAFT
    policy_publish(
        policy=draft,
        effective_from=datetime.date(2027, 7, 8),
        actor=owner,
        accept_warnings=True,
        today=AS_OF,
    )
    assert draft_with(owner).status == TierPolicy.Status.DRAFT


def test_publishing_sets_the_date_audits_and_announces_the_version(owner):
    draft = draft_with(owner, rules=with_gold_spend(active().rules, "25000"))
    effective = AS_OF + datetime.timedelta(days=7)

    policy_publish(
        policy=draft, effective_from=effective, actor=owner, accept_warnings=True, today=AS_OF
    )

    draft.refresh_from_db()
    assert draft.status == TierPolicy.Status.PUBLISHED
    assert draft.effective_from == effective
    assert draft.published_by == owner
    entry = AuditEntry.objects.get(action="policy.publish")
    assert entry.before == {"status": "draft", "effective_from": None}
    assert entry.after["effective_from"] == "2026-07-07"
    assert entry.after["accepted_warnings"] == ["gold>silver"]
    assert announced_policy(AS_OF) == draft
    assert announced_policy(effective) is None
    statuses = {v.policy.version: v.status for v in policy_versions(AS_OF)}
    assert statuses == {1: PolicyStatus.ACTIVE, 2: PolicyStatus.SCHEDULED}
    later = {v.policy.version: (v.status, v.until) for v in policy_versions(effective)}
    assert later == {
        1: (PolicyStatus.RETIRED, effective - datetime.timedelta(days=1)),
        2: (PolicyStatus.ACTIVE, None),
    }


def publish_on(owner, days: int, **changes) -> TierPolicy:
    """Publish a draft in force ``days`` from today (the pages' today)."""
    draft = draft_with(owner, **changes)
    effective = timezone.localdate() + datetime.timedelta(days=days)
    return policy_publish(policy=draft, effective_from=effective, actor=owner, accept_warnings=True)


def test_a_new_draft_starts_from_the_scheduled_version_and_is_compared_with_it(login_as, owner):
    scheduled = publish_on(owner, 7, rules=with_gold_spend(active().rules, "25000"))
    client = login_as("policy_owner")

    response = client.post(reverse("backoffice:policy_draft_create"), follow=True)

    draft = TierPolicy.objects.get(version=3)
    assert draft.based_on == scheduled
    assert draft.rules == scheduled.rules
    created = AuditEntry.objects.filter(action="policy.draft.create").latest("pk")
    assert created.before == {"based_on": 2}
    page = response.content.decode()
    assert "Draft v3 created from v2." in page
    assert "Based on v2 " in page
    diff = client.get(reverse("backoffice:policy_diff", args=[3]))
    assert diff.context["base"] == scheduled
    # Only the name the draft was given differs.
    changed = [row.label for row in diff.context["diff"].settings if row.changed]
    assert changed == ["name"]
    assert not any(tier.changed for tier in diff.context["diff"].tiers)


def test_a_draft_of_the_scheduled_version_previews_its_own_changes_against_it(
    login_as, owner, five_members
):
    """v2 is announced for next week; v3, drafted from it, changes nothing yet: its preview
    compares it with v2 (nobody moves), not with v1 (which would show v2's own changes)."""
    today = timezone.localdate()
    for member in Member.objects.all():
        member.transactions.update(occurred_on=today)
    scheduled = publish_on(owner, 7, rules=easier_silver_harder_gold(active().rules))
    client = login_as("policy_owner")
    client.post(reverse("backoffice:policy_draft_create"))

    page = client.get(reverse("backoffice:policy_preview", args=[3]))

    preview = page.context["preview"]
    assert (preview.baseline, preview.up, preview.down) == (scheduled, 0, 0)
    html = page.content.decode()
    assert "under v2, the version this draft is based on (in force from " in html
    assert "v2 ↓ / draft →" in html
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(reverse("backoffice:policy_preview", args=[3])).content.decode()
    assert "按本草稿所依据的版本 v2（自 " in chinese and "v2 ↓ / 草稿 →" in chinese
    # Against the version in force, the same rules move two members (v2's own changes).
    assert client.get(reverse("backoffice:policy_preview", args=[2])).context["preview"].up == 1


def test_a_version_followed_by_another_shows_its_last_day_in_force(login_as, owner):
    second = publish_on(owner, 7)
    third = publish_on(owner, 20)
    client = login_as("policy_owner")

    response = client.get(reverse("backoffice:policy_list"))

    until = {row.policy.version: (row.status, row.until) for row in response.context["versions"]}
    assert until == {
        3: (PolicyStatus.SCHEDULED, None),
        2: (PolicyStatus.SCHEDULED, third.effective_from - datetime.timedelta(days=1)),
        1: (PolicyStatus.ACTIVE, second.effective_from - datetime.timedelta(days=1)),
    }
    page = response.content.decode()
    for last_day in (until[1][1], until[2][1]):
        assert f">{last_day.isoformat()}</td>" in page


def test_a_published_version_is_not_published_again(owner):
    draft = draft_with(owner)
    effective = AS_OF + datetime.timedelta(days=10)
    policy_publish(
        policy=draft, effective_from=effective, actor=owner, accept_warnings=True, today=AS_OF
    )

    with pytest.raises(DomainError, match="already published"):
        policy_publish(
            policy=draft,
            effective_from=effective + datetime.timedelta(days=5),
            actor=owner,
            accept_warnings=True,
            today=AS_OF,
        )
    with pytest.raises(DomainError, match="never edited"):
        policy_draft_update(policy=draft, actor=owner, referral_points=1)


def test_a_new_version_takes_effect_after_every_published_one(owner):
    first = draft_with(owner)
    policy_publish(
        policy=first,
        effective_from=AS_OF + datetime.timedelta(days=30),
        actor=owner,
        accept_warnings=True,
        today=AS_OF,
    )
    second = draft_with(owner)

    with pytest.raises(DomainError, match="on or after 2026-07-31"):
        policy_publish(
            policy=second,
            effective_from=AS_OF + datetime.timedelta(days=30),
            actor=owner,
            accept_warnings=True,
            today=AS_OF,
        )


def test_warnings_must_be_accepted_to_publish(owner):
    draft = draft_with(owner)

    with pytest.raises(DomainError, match="confirm to publish anyway"):
        policy_publish(
            policy=draft,
            effective_from=AS_OF + datetime.timedelta(days=7),
            actor=owner,
            today=AS_OF,
        )


@pytest.mark.parametrize("role", ["ops", "ops_lead", "committee", "auditor"])
def test_only_policy_owners_publish(user_with_role, owner, role):
    draft = draft_with(owner)

    with pytest.raises(PermissionDenied):
        policy_publish(
            policy=draft,
            effective_from=AS_OF + datetime.timedelta(days=7),
            actor=user_with_role(role),
            accept_warnings=True,
            today=AS_OF,
        )


def test_an_ops_user_sees_the_preview_without_a_publish_button_and_gets_403_on_post(
    login_as, owner
):
    draft = draft_with(owner)
    client = login_as("ops")

    page = client.get(reverse("backoffice:policy_preview", args=[draft.version]))
    posted = client.post(
        reverse("backoffice:policy_publish", args=[draft.version]),
        {"effective_from": "2099-01-01", "confirm": "on", "accept_warnings": "on"},
    )

    assert page.status_code == 200
    assert reverse("backoffice:policy_publish", args=[draft.version]) not in page.content.decode()
    assert posted.status_code == 403
    draft.refresh_from_db()
    assert draft.status == TierPolicy.Status.DRAFT


def test_the_publish_form_publishes_with_the_chosen_date(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    effective = timezone.localdate() + datetime.timedelta(days=14)

    response = client.post(
        reverse("backoffice:policy_publish", args=[draft.version]),
        {"effective_from": effective.isoformat(), "confirm": "on", "accept_warnings": "on"},
    )

    assert response["Location"] == reverse("backoffice:policy_detail", args=[draft.version])
    draft.refresh_from_db()
    assert (draft.status, draft.effective_from) == (TierPolicy.Status.PUBLISHED, effective)


def test_the_publish_form_refuses_a_date_inside_the_notice_period(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    effective = timezone.localdate() + datetime.timedelta(days=3)

    response = client.post(
        reverse("backoffice:policy_publish", args=[draft.version]),
        {"effective_from": effective.isoformat(), "confirm": "on", "accept_warnings": "on"},
        follow=True,
    )

    assert "members are told 7 days ahead" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == TierPolicy.Status.DRAFT


# --- Tier names and benefits --------------------------------------------------------------


def test_renaming_a_tier_is_audited(owner):
    gold = Tier.objects.get(code="gold")

    with pytest.raises(DomainError, match="reason"):
        tier_rename(tier=gold, name_zh="黄金会员", name_en="Gold plus", reason=" ", actor=owner)
    tier_rename(tier=gold, name_zh="黄金会员", name_en="Gold plus", reason="品牌升级", actor=owner)

    gold.refresh_from_db()
    assert (gold.name_zh, gold.name_en) == ("黄金会员", "Gold plus")
    entry = AuditEntry.objects.get(action="tier.rename")
    assert entry.before == {"name_zh": "金卡会员", "name_en": "Gold"}
    assert entry.after["reason"] == "品牌升级"


@pytest.mark.parametrize(
    ("name_zh", "name_en"),
    [("铂金会员", "Gold"), ("金卡会员", "platinum "), ("钻石会员", "DIAMOND")],
)
def test_a_tier_cannot_take_another_tiers_name(owner, name_zh, name_en):
    gold = Tier.objects.get(code="gold")

    with pytest.raises(DomainError, match="already the name of another tier"):
        tier_rename(tier=gold, name_zh=name_zh, name_en=name_en, reason="x", actor=owner)

    gold.refresh_from_db()
    assert (gold.name_zh, gold.name_en) == ("金卡会员", "Gold")
    assert not AuditEntry.objects.filter(action="tier.rename").exists()


def test_the_tier_page_refuses_another_tiers_name_at_the_field(login_as):
    client = login_as("policy_owner")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    url = reverse("backoffice:tier_edit", args=["gold"])
    data = tier_form_data(client, url)
    data.update(name_zh="铂金会员", name_en="gold")

    response = client.post(url, data)

    assert response.status_code == 400
    names = response.context["names"]
    assert names.errors["name_zh"] == ["“铂金会员”已是另一个等级（铂金会员）的名称。"]
    assert "name_en" not in names.errors  # its own name, in another case
    assert Tier.objects.get(code="gold").name_zh == "金卡会员"


def test_a_discount_is_entered_as_zhe_and_stored_as_the_percent_paid(login_as):
    client = login_as("policy_owner")
    gold = Tier.objects.get(code="gold")
    url = reverse("backoffice:tier_edit", args=["gold"])
    data = tier_form_data(client, url)
    kinds = [k for k in data if k.endswith("-kind")]
    discount = next(n for n, k in enumerate(kinds) if data[k] == "discount")
    assert data[f"benefit-{discount}-value"] == Decimal("9.2")
    data[f"benefit-{discount}-value"] = "8.8"
    data["reason"] = "618 促销"

    response = client.post(url, data)

    assert response.status_code == 302
    benefit = Benefit.objects.get(tier=gold, kind="discount")
    assert benefit.value == Decimal("88")
    entry = AuditEntry.objects.get(action="benefit.update")
    assert (entry.before["value"], entry.after["value"]) == ("92.00", "88.0")
    assert entry.after["reason"] == "618 促销"


def test_the_tier_page_saves_nothing_without_a_reason(login_as):
    client = login_as("policy_owner")
    url = reverse("backoffice:tier_edit", args=["gold"])
    data = tier_form_data(client, url)
    new = len([k for k in data if k.endswith("-title_en")]) - 1
    data.update(name_en="Gold plus", reason=" ")
    data.update({f"benefit-{new}-position": "9", f"benefit-{new}-kind": "service"})
    data.update({f"benefit-{new}-title_zh": "专属客服", f"benefit-{new}-title_en": "Personal"})

    response = client.post(url, data)

    assert response.status_code == 400
    assert "reason" in response.context["reason"].errors
    assert Tier.objects.get(code="gold").name_en == "Gold"
    assert not Benefit.objects.filter(title_en="Personal").exists()
    assert not AuditEntry.objects.exists()


def test_renaming_and_adding_a_benefit_on_the_tier_page_record_the_reason(login_as):
    client = login_as("policy_owner")
    url = reverse("backoffice:tier_edit", args=["gold"])
    data = tier_form_data(client, url)
    new = len([k for k in data if k.endswith("-title_en")]) - 1
    data.update(name_en="Gold plus", reason="2026 年权益调整")
    data.update({f"benefit-{new}-position": "9", f"benefit-{new}-kind": "service"})
    data.update({f"benefit-{new}-title_zh": "专属客服", f"benefit-{new}-title_en": "Personal"})

    response = client.post(url, data)

    assert response.status_code == 302
    reasons = dict(AuditEntry.objects.values_list("action", "after__reason"))
    assert reasons == {"tier.rename": "2026 年权益调整", "benefit.create": "2026 年权益调整"}


def test_a_tier_page_opened_before_anothers_save_saves_nothing(login_as, owner):
    first = login_as("policy_owner")
    url = reverse("backoffice:tier_edit", args=["platinum"])
    opened = tier_form_data(first, url)
    second = Client()
    second.force_login(owner)
    changed = tier_form_data(second, url)
    multiplier = next(
        k for k, v in changed.items() if k.endswith("-kind") and v == "points_multiplier"
    )
    changed.update({multiplier.replace("-kind", "-value"): "5", "reason": "加倍"})
    assert second.post(url, changed).status_code == 302
    title = next(k for k in opened if k.endswith("-title_en") and opened[k])

    refused = first.post(url, {**opened, title: "edits title only", "reason": "typo"})

    assert refused.status_code == 409
    assert "Someone else saved changes here" in refused.content.decode()
    multiplied = Benefit.objects.get(tier__code="platinum", kind="points_multiplier")
    assert multiplied.value == Decimal("5")
    assert not Benefit.objects.filter(title_en="edits title only").exists()


def test_a_tier_page_whose_benefit_was_removed_since_says_so(login_as, owner):
    client = login_as("policy_owner")
    url = reverse("backoffice:tier_edit", args=["gold"])
    opened = tier_form_data(client, url)
    benefit_delete(
        benefit=Benefit.objects.filter(tier__code="gold").first(), reason="x", actor=owner
    )

    refused = client.post(url, {**opened, "name_en": "Gold plus", "reason": "x"})

    assert refused.status_code == 409
    assert "Someone else saved changes here" in refused.content.decode()
    assert Tier.objects.get(code="gold").name_en == "Gold"


def test_a_new_benefit_sent_twice_is_added_once(login_as):
    client = login_as("policy_owner")
    url = reverse("backoffice:tier_edit", args=["diamond"])
    data = tier_form_data(client, url)
    new = len([k for k in data if k.endswith("-title_en")]) - 1
    data.update({f"benefit-{new}-position": "9", f"benefit-{new}-kind": "service"})
    data.update({f"benefit-{new}-title_zh": "生日礼盒", f"benefit-{new}-title_en": "Gift box"})
    data["reason"] = "新增"

    first, second = client.post(url, data), client.post(url, data)

    assert (first.status_code, second.status_code) == (302, 409)
    assert Benefit.objects.filter(title_en="Gift box").count() == 1
    assert AuditEntry.objects.filter(action="benefit.create").count() == 1


def test_a_benefit_stored_before_a_rule_existed_does_not_keep_the_page_from_saving(login_as):
    Benefit.objects.create(
        tier=Tier.objects.get(code="silver"), kind="welcome_points", value=0, position=9,
        title_zh="旧权益", title_en="Old",
    )  # fmt: skip
    client = login_as("policy_owner")
    url = reverse("backoffice:tier_edit", args=["silver"])

    response = client.post(url, {**tier_form_data(client, url), "name_en": "Argent", "reason": "x"})

    assert response.status_code == 302
    assert Tier.objects.get(code="silver").name_en == "Argent"


def test_the_regular_tier_page_saves_as_it_loads(login_as):
    # Its birthday benefit (seed 000: 生日当月1倍积分加成) has no number of points.
    client = login_as("policy_owner")
    url = reverse("backoffice:tier_edit", args=["regular"])
    data = tier_form_data(client, url)
    data.update(name_en="Basic", reason="renamed")

    response = client.post(url, data)

    assert response.status_code == 302
    assert Tier.objects.get(code="regular").name_en == "Basic"


@pytest.mark.parametrize(
    ("kind", "value", "said"),
    [
        ("points_multiplier", "-1.5", "A points multiplier is more than 0"),
        ("points_multiplier", "0", "A points multiplier is more than 0"),
        ("welcome_points", "-100", "Points are a whole number from 1 to 1,000,000."),
        ("birthday_bonus", "0", "Points are a whole number from 1 to 1,000,000."),
        ("birthday_bonus", "12.5", "Points are a whole number from 1 to 1,000,000."),
        ("welcome_points", "", "Points are a whole number from 1 to 1,000,000."),
    ],
)
def test_a_benefit_members_would_be_shown_as_a_penalty_is_refused_at_its_value(
    login_as, owner, kind, value, said
):
    client = login_as("policy_owner")
    url = reverse("backoffice:tier_edit", args=["silver"])
    data = tier_form_data(client, url)
    new = len([k for k in data if k.endswith("-title_en")]) - 1
    data.update({f"benefit-{new}-position": "9", f"benefit-{new}-kind": kind, "reason": "x"})
    data.update({f"benefit-{new}-value": value, f"benefit-{new}-title_zh": "新权益"})
    data[f"benefit-{new}-title_en"] = "New"

    response = client.post(url, data)

    assert response.status_code == 400
    assert said in response.context["benefits"].forms[new].errors["value"][0]
    assert not Benefit.objects.filter(title_en="New").exists()
    with pytest.raises(DomainError, match=said.split(",")[0]):
        benefit_save(
            tier=Tier.objects.get(code="silver"), reason="x", actor=owner, kind=kind,
            value=Decimal(value) if value else None, title_zh="x", title_en="x", position=9,
        )  # fmt: skip


def test_a_discount_outside_zero_to_ten_zhe_is_refused(owner):
    with pytest.raises(DomainError, match="between 0.1折 and 9.99折"):
        benefit_save(
            tier=Tier.objects.get(code="gold"),
            reason="x",
            actor=owner,
            kind="discount",
            value=Decimal("120"),
            title_zh="x",
            title_en="x",
            position=9,
        )


def test_removing_a_benefit_needs_a_reason_and_is_audited(login_as, owner):
    benefit = Benefit.objects.filter(tier__code="diamond", kind="service").first()
    client = login_as("policy_owner")
    url = reverse("backoffice:benefit_delete", args=["diamond", benefit.pk])

    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": ""}).status_code == 400
    with pytest.raises(DomainError):
        benefit_delete(benefit=benefit, reason="  ", actor=owner)
    response = client.post(url, {"reason": "服务下线"})

    assert response.status_code == 302
    assert not Benefit.objects.filter(pk=benefit.pk).exists()
    entry = AuditEntry.objects.get(action="benefit.delete")
    assert entry.after == {"reason": "服务下线"}
    assert entry.before["title_zh"] == benefit.title_zh


# --- Permissions: every policy URL × every role -------------------------------------------

READ = {"ops", "ops_lead", "committee", "policy_owner", "auditor"}
OWNER = {"policy_owner"}


def _urls(draft_version: int, benefit_pk: int):
    return [
        ("get", reverse("backoffice:policy_list"), READ),
        ("get", reverse("backoffice:policy_detail", args=[1]), READ),
        ("get", reverse("backoffice:policy_diff", args=[draft_version]), READ),
        ("get", reverse("backoffice:policy_preview", args=[draft_version]), READ),
        ("get", reverse("backoffice:policy_edit", args=[draft_version]), OWNER),
        ("post", reverse("backoffice:policy_draft_create"), OWNER),
        ("post", reverse("backoffice:policy_publish", args=[draft_version]), OWNER),
        ("get", reverse("backoffice:tier_list"), READ),
        ("get", reverse("backoffice:tier_edit", args=["gold"]), OWNER),
        ("get", reverse("backoffice:benefit_delete", args=["gold", benefit_pk]), OWNER),
    ]


@pytest.mark.parametrize("role", CAST)
def test_permission_matrix_of_the_policy_pages(login_as, owner, role):
    draft = draft_with(owner)
    benefit = Benefit.objects.filter(tier__code="gold").first()
    client = login_as(role)

    for method, url, allowed in _urls(draft.version, benefit.pk):
        response = getattr(client, method)(url)
        if role == "anonymous":
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("login")), url
        elif role in allowed:
            assert response.status_code in (200, 302), url
        else:
            assert response.status_code == 403, (url, role)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_buttons_are_shown_only_to_roles_that_may_use_them(login_as, owner, role):
    draft = draft_with(owner)
    client = login_as(role)

    listing = client.get(reverse("backoffice:policy_list")).content.decode()
    detail = client.get(reverse("backoffice:policy_detail", args=[draft.version])).content.decode()

    may_edit = role == "policy_owner"
    assert (reverse("backoffice:policy_draft_create") in listing) == may_edit
    assert (reverse("backoffice:policy_edit", args=[draft.version]) in detail) == may_edit


def test_the_policy_list_names_the_version_in_force_and_its_name_column_in_chinese(login_as):
    client = login_as("policy_owner")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    listing = client.get(reverse("backoffice:policy_list")).content.decode()

    # Not the member words that share the English "active" and "Name" (正式会员, 姓名).
    assert 'policy-active">生效中</span>' in listing
    assert '<th scope="col">名称</th>' in listing
    # The small screens' cell labels too.
    assert 'data-label="名称"' in listing and "姓名" not in listing


def test_publishing_without_the_confirmation_says_what_is_missing(login_as, owner):
    draft = draft_with(owner)
    client = login_as("policy_owner")
    effective = timezone.localdate() + datetime.timedelta(days=14)

    response = client.post(
        reverse("backoffice:policy_publish", args=[draft.version]),
        {"effective_from": effective.isoformat(), "accept_warnings": "on"},
        follow=True,
    )

    assert "a published version cannot be changed or withdrawn: This field is required." in (
        response.content.decode()
    )
    draft.refresh_from_db()
    assert draft.status == TierPolicy.Status.DRAFT


def test_the_preview_agrees_with_the_engine_member_by_member_at_every_boundary(owner):
    """The preview groups members by the thresholds their figures reach; at, just below and
    just above each threshold it must give what engine.qualify gives for each member."""
    draft = draft_with(owner, rules=easier_silver_harder_gold(active().rules))
    old, new = engine_policy(active()), engine_policy(draft)
    spends_fen = [0, 299_999, 300_000, 499_999, 500_000, 1_999_999, 2_000_000, 2_499_999,
                  2_500_000, 2_500_001, 3_000_000, 10_000_000]  # fmt: skip
    expected = Counter()
    for n, spend_fen in enumerate(spends_fen):
        member = MemberFactory(joined_on=datetime.date(2026, 1, 1))  # tenure 0
        for _purchase in range(n % 13):  # frequency 0..11, some Gold by frequency under both
            PurchaseFactory(member=member, amount_fen=1, day=datetime.date(2026, 2, 1))
        PurchaseFactory(member=member, amount_fen=spend_fen or 1, day=datetime.date(2026, 3, 1))
        total = (spend_fen or 1) + n % 13
        metrics = engine.Metrics(
            spend=Decimal(total) / 100,
            frequency=n % 13 + 1,
            tenure_years=0,
            contribution=0,
        )
        expected[engine.qualify(metrics, old).code, engine.qualify(metrics, new).code] += 1

    preview = policy_preview(draft=draft, as_of=AS_OF)

    assert preview.matrix == expected
    assert len(expected) >= 4  # members move in several directions


def test_the_tier_list_warns_when_a_higher_tier_gets_less(login_as):
    client = login_as("policy_owner")
    assert (
        'id="benefit-problems"' not in client.get(reverse("backoffice:tier_list")).content.decode()
    )
    Benefit.objects.filter(tier__code="gold", kind=Benefit.Kind.DISCOUNT).update(value=99)

    page = client.get(reverse("backoffice:tier_list")).content.decode()

    assert "Gold gets less than Silver: price discount 1% off against 5% off." in page
    assert "Gold gets less than Regular: price discount 1% off against 2% off." in page


@pytest.mark.parametrize("role", ["anonymous", "auditor"])
def test_outsiders_get_the_same_answer_whether_a_tier_benefit_or_version_exists(login_as, role):
    benefit = Benefit.objects.filter(tier__code="gold").first()
    pairs = [
        ("backoffice:tier_edit", {"code": "gold"}, {"code": "nope"}),
        (
            "backoffice:benefit_delete",
            {"code": "gold", "pk": benefit.pk},
            {"code": "gold", "pk": benefit.pk + 1000},
        ),
        ("backoffice:policy_edit", {"version": 1}, {"version": 999}),
    ]
    client = login_as(role)

    for name, exists, missing in pairs:
        answers = [
            client.get(reverse(name, kwargs=kwargs)).status_code for kwargs in (exists, missing)
        ]
        assert answers == ([302, 302] if role == "anonymous" else [403, 403]), name
