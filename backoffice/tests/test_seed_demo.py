from __future__ import annotations

import datetime
import io
import re
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import F, Sum
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone, translation

from backoffice import demo
from loyalty.models import AuditEntry
from members.models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction
from reviews.models import CommitteeMember, ReviewCase, Vote
from reviews.quarters import Quarter
from tiers.models import DowngradeWarning, TierChange, TierOverride

SMALL = 150
# (role, username) of the demo staff accounts, in the order printed (and listed in the README).
ACCOUNTS = [
    ("ops", "ops"),
    ("ops_lead", "ops_lead"),
    ("committee", "committee"),
    ("committee", "committee_sales"),
    ("committee", "committee_service"),
    ("policy_owner", "policy_owner"),
    ("auditor", "auditor"),
    ("admin", "admin"),
]


def seed(*args: str) -> str:
    out = io.StringIO()
    # English output whatever the site's language, so the tests can read it.
    with translation.override("en"):
        call_command("seed_demo", "--members", str(SMALL), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models = (Member, Transaction, Referral, ActivityParticipation, BlacklistEntry, TierChange)
    counts = {model.__name__: model.objects.count() for model in models}
    counts["User"] = get_user_model().objects.count()
    return counts


# --- The generator, no database --------------------------------------------------------------

TODAY = datetime.date(2026, 11, 23)


def test_the_same_seed_generates_the_same_data_and_another_seed_other_data():
    first = demo.generate(members=SMALL, seed=7, today=TODAY)
    again = demo.generate(members=SMALL, seed=7, today=TODAY)
    other = demo.generate(members=SMALL, seed=8, today=TODAY)

    assert first == again
    assert first.checksum() == again.checksum()
    assert other.checksum() != first.checksum()


def test_the_default_set_is_shaped_like_a_real_programme():
    data = demo.generate(today=TODAY)

    statuses = Counter(m.status for m in data.members)
    assert len(data.members) == 3000
    assert statuses == {"active": 2820, "experience": 150, "blacklisted": 30}
    active = [m.member_no for m in data.members if m.status == "active"]
    purchases = Counter(p.member_no for p in data.purchases)
    assert 10 <= sum(purchases[no] for no in active) / len(active) <= 20
    # Skewed: the busiest tenth of active members makes a large share of the purchases.
    busiest = sorted((purchases[no] for no in active), reverse=True)[: len(active) // 10]
    assert sum(busiest) > 0.25 * len(data.purchases)
    assert any(p.amount_fen >= 150_000_00 for p in data.purchases)
    assert 0.02 <= len(data.refunds) / len(data.purchases) <= 0.05
    assert max(Counter(r.referrer_no for r in data.referrals).values()) >= 50
    tenures = [(TODAY - m.joined_on).days / 365.25 for m in data.members]
    for years in (1, 3, 5, 10):
        assert sum(t >= years for t in tenures) >= 100, years
    assert all(re.fullmatch(r"M\d{8}", m.member_no) for m in data.members)
    assert all(re.fullmatch(r"1[35-9]\d{9}", m.phone) for m in data.members if m.phone)


def test_nothing_is_generated_after_yesterday_or_before_a_members_joined_date():
    data = demo.generate(members=SMALL, today=TODAY)
    joined = {m.member_no: m.joined_on for m in data.members}

    dated = [(t.member_no, t.occurred_on) for t in data.purchases + data.refunds]
    dated += [(a.member_no, a.occurred_on) for a in data.activities]
    dated += [(b.member_no, timezone.localdate(b.occurred_at)) for b in data.blacklistings]
    assert all(joined[member_no] <= day < TODAY for member_no, day in dated)


def test_a_demo_set_below_the_minimum_size_is_refused(db):
    with translation.override("en"), pytest.raises(CommandError, match="at least 50"):
        call_command("seed_demo", "--members", "10", stdout=io.StringIO())
    assert not Member.objects.exists()


# --- The loaded data -------------------------------------------------------------------------


class TestTheLoadedDemo(TestCase):
    """One small set loaded with the command for all these tests (loading takes a second), in
    the class's transaction; each test runs in its own transaction on top of it, and the class's
    is rolled back at the end. (Deleting the set instead is impossible: the committee's seats
    and the cases' transitions are audited, and the audit log refuses deletes.)"""

    @classmethod
    def setUpTestData(cls):
        cls.printed = seed()

    def test_the_demo_has_members_of_every_status_and_every_blacklisting_is_recorded(self):
        statuses = Counter(Member.objects.values_list("status", flat=True))
        assert set(statuses) == {"active", "experience", "blacklisted"}
        assert statuses["active"] > statuses["experience"] > statuses["blacklisted"]

        entries = BlacklistEntry.objects.select_related("member", "created_by")
        assert sorted(e.member.member_no for e in entries) == sorted(
            Member.objects.filter(status="blacklisted").values_list("member_no", flat=True)
        )
        for entry in entries:
            assert entry.reason and entry.evidence and entry.lifted_at is None
            assert entry.previous_status in ("active", "experience")
            assert entry.created_by.username == "ops"

    def test_refunds_follow_their_purchase_and_never_exceed_it(self):
        refunds = Transaction.objects.filter(kind="refund").select_related("refund_of")
        assert refunds.exists()
        for refund in refunds:
            assert refund.refund_of.kind == "purchase"
            assert refund.member_id == refund.refund_of.member_id
            assert refund.occurred_at >= refund.refund_of.occurred_at

        refunded = Transaction.objects.filter(kind="purchase", refunds__isnull=False).annotate(
            refunded=Sum("refunds__amount_fen")
        )
        assert not refunded.filter(refunded__gt=F("amount_fen")).exists()
        assert refunded.filter(refunded=F("amount_fen")).exists()  # full refunds
        assert refunded.filter(refunded__lt=F("amount_fen")).exists()  # partial refunds

    def test_transactions_carry_demo_ids_cents_and_their_local_date(self):
        transactions = list(Transaction.objects.all())

        assert all(re.fullmatch(r"DEMO-T\d{7}", t.external_id) for t in transactions)
        assert any(t.amount_fen % 100 for t in transactions)
        assert all(t.occurred_on == timezone.localdate(t.occurred_at) for t in transactions)
        activities = ActivityParticipation.objects.all()
        assert all(a.occurred_on == timezone.localdate(a.occurred_at) for a in activities)

    def test_referrals_are_never_self_or_double_and_dated_on_the_referred_members_joining(self):
        referrals = list(Referral.objects.select_related("referrer", "referred"))

        assert referrals
        assert all(r.referrer_id != r.referred_id for r in referrals)
        assert len({r.referred_id for r in referrals}) == len(referrals)
        assert all(r.occurred_on == r.referred.joined_on for r in referrals)
        assert all(r.referrer.joined_on <= r.referred.joined_on for r in referrals)

    def test_every_active_member_is_evaluated_today_and_holds_a_tier(self):
        today = timezone.localdate()
        active = Member.objects.filter(status="active")

        assert not active.exclude(evaluation__evaluated_on=today).exists()
        assert not active.filter(tier_state__current_tier__isnull=True).exists()
        assert (
            not Member.objects.exclude(status="active")
            .filter(tier_state__current_tier__isnull=False)
            .exists()
        )
        assert len(set(active.values_list("tier_state__current_tier", flat=True))) >= 3

    def test_the_summary_counts_the_members_of_each_tier(self):
        per_tier = self.printed.split("Members per tier:\n")[1].splitlines()

        assert len(per_tier) == 6  # five tiers and "no tier"
        names = [line.split()[0] for line in per_tier[:5]]
        assert names == ["Diamond", "Platinum", "Gold", "Silver", "Regular"]
        assert sum(int(line.split()[-1].replace(",", "")) for line in per_tier) == SMALL

    def test_staff_accounts_log_in_with_the_printed_passwords_and_are_in_their_groups(self):
        roles = {role for role, _username in ACCOUNTS}
        printed_rows = [
            tuple(line.split())
            for line in self.printed.splitlines()
            if line.split() and line.split()[0] in roles
        ]
        assert [(role, username) for role, username, _password in printed_rows] == ACCOUNTS
        assert "http://127.0.0.1:8000/" in self.printed

        for role, username, password in printed_rows:
            assert password == f"{username}-demo-2026"  # as the README lists them
            assert self.client.login(username=username, password=password), username
            self.client.logout()
            user = get_user_model().objects.get(username=username)
            assert user.is_staff
            if username == "admin":
                assert user.is_superuser
            else:
                assert not user.is_superuser
                assert list(user.groups.values_list("name", flat=True)) == [role]

    def test_the_committee_has_one_seat_per_department_and_committee_chairs(self):
        seats = CommitteeMember.objects.select_related("user").order_by("user__username")

        assert [(s.user.username, s.department, s.is_chair) for s in seats] == [
            ("committee", "customer_ops", True),
            ("committee_sales", "sales", False),
            ("committee_service", "customer_service", False),
        ]
        # Seated through the reviews service: audited, by the system.
        entries = AuditEntry.objects.filter(action="review.committee.set")
        assert sorted(e.after["user"] for e in entries) == [s.user.username for s in seats]
        assert not entries.filter(actor__isnull=False).exists()
        assert "Review committee: committee (customer operations, chair), committee_sales " in (
            self.printed
        )

    def test_the_quarter_just_ended_is_nominated_and_each_profile_has_a_case_open_for_votes(
        self,
    ):
        quarter = str(Quarter.just_ended(timezone.localdate()))
        cases = ReviewCase.objects.filter(quarter=quarter)
        voting = cases.filter(state=ReviewCase.State.VOTING)

        assert voting.exists() and cases.filter(state=ReviewCase.State.NOMINATED).exists()
        assert cases.count() == ReviewCase.objects.count()
        assert {p for c in voting for p in c.profiles} == {p for c in cases for p in c.profiles}
        assert (
            f"Special review {quarter}: {cases.count()} cases nominated, {voting.count()} open "
            "for votes" in self.printed
        )

    def test_the_committee_demo_accounts_vote_and_their_approvals_grant_the_upgrade(self):
        case = ReviewCase.objects.filter(state=ReviewCase.State.VOTING).first()

        for username in ("committee", "committee_sales", "committee_service"):
            assert self.client.login(username=username, password=f"{username}-demo-2026")
            page = self.client.get(reverse("reviews:case", args=[case.pk]))
            assert page.status_code == 200
            assert reverse("reviews:case_vote", args=[case.pk]).encode() in page.content
            response = self.client.post(
                reverse("reviews:case_vote", args=[case.pk]), {"choice": "approve"}
            )
            assert response.status_code == 302
            self.client.logout()

        case.refresh_from_db()
        assert case.state == ReviewCase.State.APPROVED
        assert sorted(Vote.objects.filter(case=case).values_list("department", flat=True)) == [
            "customer_ops",
            "customer_service",
            "sales",
        ]
        override = TierOverride.objects.get(pk=case.override_id)
        assert override.kind == TierOverride.Kind.COMMITTEE
        assert case.member.tier_state.current_tier == case.granted_tier

    def test_the_loaded_data_is_exactly_the_generated_data(self):
        """So two runs with the same seed on fresh databases hold the same data."""
        today = Member.objects.filter(status="active").first().evaluation.evaluated_on
        data = demo.generate(members=SMALL, seed=demo.DEFAULT_SEED, today=today)

        members = Member.objects.order_by("member_no").values_list(
            "member_no", "name", "phone", "email", "birthday", "joined_on", "status"
        )
        assert [tuple(m) for m in data.members] == list(members)
        transactions = Transaction.objects.order_by("external_id").values_list(
            "external_id",
            "member__member_no",
            "kind",
            "amount_fen",
            "occurred_at",
            "occurred_on",
            "refund_of__external_id",
        )
        generated = sorted(data.purchases + data.refunds)
        assert [(*t[:-1], t.refund_of or None) for t in generated] == list(transactions)
        referrals = Referral.objects.values_list(
            "referrer__member_no", "referred__member_no", "occurred_on"
        ).order_by("referred__member_no")
        assert list(data.referrals) == list(referrals)
        assert len(data.activities) == ActivityParticipation.objects.count()

    def test_if_empty_on_a_loaded_database_does_nothing(self):
        before = row_counts()

        output = seed("--if-empty")

        assert "not loaded" in output
        assert row_counts() == before

    def test_without_if_empty_a_loaded_database_is_refused_and_nothing_is_written(self):
        before = row_counts()

        with pytest.raises(CommandError, match="already loaded; use a fresh database"):
            seed()

        assert row_counts() == before


def test_if_empty_on_an_empty_database_loads_the_demo(db):
    seed("--if-empty")

    assert Member.objects.count() == SMALL


def test_the_monthly_evaluations_leave_upgrades_warnings_and_downgrades(db):
    demo.load(demo.generate(members=SMALL, today=TODAY))

    summaries = demo.evaluate_history(TODAY)

    assert [s.as_of for s in summaries] == demo.evaluation_dates(TODAY)
    assert demo.evaluation_dates(TODAY)[0] == datetime.date(2025, 10, 1)
    causes = Counter(TierChange.objects.values_list("cause", flat=True))
    assert causes["upgrade"] > 0 and causes["downgrade"] > 0
    assert DowngradeWarning.objects.exists()
