"""A recompute that queues e-mail and SMS notices in its ranges, with django-q2's ORM broker
rather than the tests' sync mode: the broker closes the connections it takes for old before it
enqueues a task, which used to drop the run's temporary figures snapshot in the middle of the
run ("no such table: tier_figures_…" at the second range)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from members.tests.factories import MemberFactory, PurchaseFactory
from notifications.models import Channel, Kind, Notification
from tiers.models import TierChange
from tiers.services import tiers_recompute


# Transactional: the commit hooks run, as in a real recompute (conftest runs these last;
# migrated_data restores what an earlier one's flush removed).
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_data")
def test_a_recompute_keeps_its_snapshot_and_queues_one_delivery(monkeypatch):
    today = timezone.localdate()
    members = MemberFactory.create_batch(6, joined_on=today - datetime.timedelta(days=800))
    tiers_recompute(as_of=today - datetime.timedelta(days=1))
    for member in members:
        PurchaseFactory(member=member, amount_fen=50_000_000, day=today)
    monkeypatch.setattr(Conf, "SYNC", False)
    # Every connection is old at once: SQLite's default, PostgreSQL's after CONN_MAX_AGE.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    connection.close()

    summary = tiers_recompute(as_of=today, chunk_size=2)

    assert summary.upgrades == 6
    assert TierChange.objects.filter(cause=TierChange.Cause.UPGRADE).count() == 6
    assert Notification.objects.filter(kind=Kind.UPGRADE, channel=Channel.EMAIL).count() == 6
    # One delivery run for the whole recompute, queued once its ranges were done.
    assert OrmQ.objects.count() == 1
