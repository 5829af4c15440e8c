"""A full recompute on several connections at once (RECOMPUTE_WORKERS, PostgreSQL): it stores
exactly what a run on one connection stores, and a failing range stops it cleanly."""

from __future__ import annotations

import datetime
import random
import signal
import threading
import time

import psycopg
import pytest
from django.db import connection

from members.models import Member, Transaction
from members.tests.factories import (
    ActivityFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
    RefundFactory,
)
from notifications.models import Notification
from tiers import services
from tiers.models import DowngradeWarning, MemberEvaluation, MemberTier, TierChange
from tiers.services import tiers_recompute

pytestmark = [
    pytest.mark.postgres_only,
    # Transactional: the workers' own connections see only committed rows (conftest runs
    # these last; migrated_data restores what an earlier one's flush removed).
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migrated_data"),
]

FIRST = datetime.date(2026, 3, 31)
LATER = datetime.date(2027, 4, 30)  # past the first tier year: downgrades, warnings, upgrades


def members_with_varied_facts(count: int = 60) -> None:
    rng = random.Random(9)
    for n in range(count):
        member = MemberFactory(joined_on=FIRST - datetime.timedelta(days=rng.randrange(40, 2000)))
        for _ in range(rng.randrange(0, 6)):
            day = FIRST - datetime.timedelta(days=rng.randrange(0, 300))
            purchase = PurchaseFactory(
                member=member, amount_fen=rng.randrange(1, 40) * 50_000, day=day
            )
            if rng.random() < 0.2:
                RefundFactory(refund_of=purchase, amount_fen=purchase.amount_fen, day=day)
        if n % 7 == 0:
            ReferralFactory(referrer=member, occurred_on=FIRST - datetime.timedelta(days=30))
        if n % 5 == 0:
            ActivityFactory(member=member, day=FIRST - datetime.timedelta(days=20))


def later_purchases() -> None:
    rng = random.Random(11)
    for member in Member.objects.order_by("id")[::3]:
        PurchaseFactory(member=member, amount_fen=rng.randrange(1, 400) * 50_000, day=LATER)


def run_both_dates(workers: int) -> None:
    tiers_recompute(as_of=FIRST, chunk_size=7, workers=workers)
    # Some leave the programme: their tiers are revoked.
    for n, member in enumerate(Member.objects.order_by("id")[9::10]):
        member.status = Member.Status.BLACKLISTED if n % 2 else Member.Status.EXPERIENCE
        member.save(update_fields=["status"])
    later_purchases()
    # A warning lands a month before the tier year ends, then the year's end itself.
    tiers_recompute(as_of=LATER - datetime.timedelta(days=30), chunk_size=7, workers=workers)
    tiers_recompute(as_of=LATER, chunk_size=7, workers=workers)


def stored() -> dict[str, list]:
    return {
        "states": sorted(MemberTier.objects.values_list(
            "member_id", "current_tier_id", "tier_year_start", "tier_year_end",
            "downgrade_warned_on",
        )),
        "evaluations": sorted(MemberEvaluation.objects.values_list(
            "member_id", "evaluated_on", "policy_id", "qualified_tier_id", "spend_fen",
            "frequency", "tenure_years", "contribution", "revision",
        )),
        "history": sorted(TierChange.objects.values_list(
            "member_id", "from_tier_id", "to_tier_id", "cause", "effective_on", "spend_fen",
            "frequency", "tenure_years", "contribution", "note",
        ), key=repr),
        "warnings": sorted(DowngradeWarning.objects.values_list(
            "member_id", "tier_id", "qualified_tier_id", "warned_on", "downgrade_not_before",
        )),
        "notices": sorted(Notification.objects.values_list(
            "member_id", "channel", "kind", "dedupe_key", "body",
        )),
    }  # fmt: skip


def forget_every_evaluation() -> None:
    for model in (Notification, DowngradeWarning, TierChange, MemberEvaluation, MemberTier):
        model.objects.all().delete()
    Transaction.objects.filter(occurred_on=LATER).delete()
    Member.objects.update(status=Member.Status.ACTIVE)


def test_workers_store_exactly_what_one_connection_stores():
    members_with_varied_facts()
    run_both_dates(workers=3)
    in_parallel = stored()
    forget_every_evaluation()

    run_both_dates(workers=1)

    assert stored() == in_parallel
    causes = {row[3] for row in in_parallel["history"]}
    assert {"qualified", "upgrade", "downgrade", "revoked"} <= causes
    assert in_parallel["warnings"]


def test_progress_counts_every_member_once(monkeypatch):
    MemberFactory.create_batch(30, joined_on=FIRST - datetime.timedelta(days=100))
    reported: list[int] = []

    summary = tiers_recompute(as_of=FIRST, chunk_size=4, workers=2, progress=reported.append)

    total = Member.objects.count()
    assert summary.evaluated == total
    assert reported == sorted(reported) and reported[-1] == total
    assert len(reported) == -(-total // 4)  # one line per range


def test_a_failing_range_stops_the_run_and_leaves_no_snapshot(monkeypatch):
    MemberFactory.create_batch(30, joined_on=FIRST - datetime.timedelta(days=100))
    evaluate = services.tiers_range_evaluate

    def fails_in_the_third_range(*, first_id, **kwargs):
        if first_id == sorted(Member.objects.values_list("id", flat=True))[8]:
            raise RuntimeError("the database went away")
        return evaluate(first_id=first_id, **kwargs)

    monkeypatch.setattr(services, "tiers_range_evaluate", fails_in_the_third_range)
    tables_before = snapshot_tables()

    with pytest.raises(RuntimeError, match="went away"):
        tiers_recompute(as_of=FIRST, chunk_size=4, workers=2)

    # Ranges done stay done, the failed one wrote nothing, the shared snapshot is gone.
    evaluated = set(MemberEvaluation.objects.values_list("member_id", flat=True))
    failed_range = set(sorted(Member.objects.values_list("id", flat=True))[8:12])
    assert evaluated and not evaluated & failed_range
    assert snapshot_tables() == tables_before


def snapshot_tables() -> set[str]:
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    return {name for name in tables if name.startswith("tier_figures_")}


def test_a_run_drops_the_snapshot_a_killed_run_left_but_not_a_running_ones(settings):
    MemberFactory.create_batch(5, joined_on=FIRST - datetime.timedelta(days=100))
    db = settings.DATABASES["default"]
    # Another process's run, still going: it holds its table's lock on its own connection.
    running = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db["PASSWORD"], dbname=db["NAME"], autocommit=True,
    )  # fmt: skip
    with connection.cursor() as cursor:
        for table in ("tier_figures_shared_killed", "tier_figures_shared_running"):
            cursor.execute(f"CREATE UNLOGGED TABLE {table} (member_id bigint)")
    running.execute("SELECT pg_advisory_lock(7469, hashtext('tier_figures_shared_running'))")
    try:
        tiers_recompute(as_of=FIRST, workers=2)

        assert snapshot_tables() == {"tier_figures_shared_running"}
    finally:
        running.close()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE tier_figures_shared_running")


def test_a_run_drops_its_snapshot_and_refreshes_the_statistics_it_made_stale():
    MemberFactory.create_batch(5, joined_on=FIRST - datetime.timedelta(days=100))
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (started,) = cursor.fetchone()

    tiers_recompute(as_of=FIRST, workers=2)

    assert snapshot_tables() == set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, last_vacuum >= %s, last_analyze >= %s FROM pg_stat_user_tables "
            "WHERE relname IN (%s, %s) ORDER BY relname",
            [started, started, MemberEvaluation._meta.db_table, MemberTier._meta.db_table],
        )
        assert [row[1:] for row in cursor.fetchall()] == [(True, True), (True, True)]
        # The snapshot's advisory lock went with it (its connection stays open in this thread).
        cursor.execute(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7469"
        )
        assert cursor.fetchone() == (0,)


def test_a_run_over_no_members_evaluates_no_one():
    summary = tiers_recompute(as_of=FIRST, workers=2)

    assert summary.evaluated == 0
    assert snapshot_tables() == set()


@pytest.mark.usefixtures("ctrl_c_raises")
def test_an_interrupted_run_lets_its_workers_finish_before_it_drops_their_snapshot(monkeypatch):
    MemberFactory.create_batch(12, joined_on=FIRST - datetime.timedelta(days=100))
    evaluate = services.tiers_range_evaluate
    interrupted = threading.Event()
    interrupted_range: list[int] = []
    finished: list[int] = []

    def ctrl_c_during_a_range(*, first_id, **kwargs):
        if not interrupted.is_set():
            interrupted.set()
            interrupted_range.append(first_id)
            time.sleep(0.2)  # the main thread is waiting for the workers by now
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(0.3)  # still working when the main thread is interrupted
        done = evaluate(first_id=first_id, **kwargs)
        finished.append(first_id)
        return done

    monkeypatch.setattr(services, "tiers_range_evaluate", ctrl_c_during_a_range)

    with pytest.raises(KeyboardInterrupt):
        tiers_recompute(as_of=FIRST, chunk_size=4, workers=2)

    # The interrupted range was finished from the snapshot before the run ended and dropped it.
    evaluated = set(MemberEvaluation.objects.values_list("member_id", flat=True))
    ids = sorted(Member.objects.values_list("id", flat=True))
    assert interrupted_range[0] in finished
    assert all(set(ids[ids.index(first) :][:4]) <= evaluated for first in finished)
    assert snapshot_tables() == set()
