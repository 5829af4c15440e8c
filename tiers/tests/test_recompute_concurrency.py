"""A full recompute while purchases arrive and upgrade members in real time, on PostgreSQL with
real concurrent connections: no evaluation goes backwards."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from members.tests.factories import MemberFactory
from notifications.models import Kind, Notification
from tiers import actions
from tiers.models import DowngradeWarning, MemberEvaluation, MemberTier, TierChange
from tiers.services import tiers_recompute


def state() -> dict[int, tuple]:
    tiers = dict(MemberTier.objects.values_list("member_id", "current_tier__code"))
    return {
        member_id: (tiers.get(member_id), *figures)
        for member_id, *figures in MemberEvaluation.objects.values_list(
            "member_id", "evaluated_on", "spend_fen", "frequency", "tenure_years", "contribution"
        )
    }


@pytest.mark.postgres_only
# Transactional, so that other processes and connections see the data (conftest runs these
# last; migrated_data restores what an earlier one's flush removed).
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_data")
def test_purchases_recorded_during_a_recompute_are_never_overwritten_with_older_figures():
    today = timezone.localdate()
    # Joined within the year: Regular by the rules; each purchase below makes one Gold at once.
    members = MemberFactory.create_batch(120, joined_on=today - datetime.timedelta(days=340))
    tiers_recompute(as_of=today)
    assert set(MemberTier.objects.values_list("current_tier__code", flat=True)) == {"regular"}
    ids = [m.pk for m in members]
    errors: list[BaseException] = []
    started = threading.Event()

    def in_thread(work):
        def run():
            try:
                work()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
            finally:
                connection.close()

        return threading.Thread(target=run)

    def recompute():
        started.set()
        for _ in range(3):
            tiers_recompute(as_of=today, chunk_size=7)

    def purchases():
        started.wait()
        now = timezone.now()
        # From the last members backwards, against the recompute's direction, so that they
        # meet in the middle of a run.
        for number, member_id in enumerate(reversed(ids)):
            member = members[ids.index(member_id)]
            actions.transaction_record(
                member=member,
                external_id=f"LIVE-{number}",
                kind="purchase",
                amount="20000.00",
                occurred_at=now,
            )

    threads = [in_thread(recompute), in_thread(purchases)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors

    during = state()
    tiers_recompute(as_of=today)
    fresh = state()

    assert during == fresh
    assert {tier for tier, *_ in fresh.values()} == {"gold"}
    assert not DowngradeWarning.objects.exists()
    assert not Notification.objects.filter(kind=Kind.DOWNGRADE_WARNING).exists()
    assert not TierChange.objects.filter(cause="downgrade").exists()
    assert TierChange.objects.filter(cause="upgrade").count() == len(members)
