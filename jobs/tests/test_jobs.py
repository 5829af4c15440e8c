"""Scheduled jobs (django-q2 in sync mode, as the test settings say): the schedules, the chunked
recompute and its run record, the daily lifecycle with its notices, overrides ending."""

from __future__ import annotations

import datetime
import io

import django_q.utils
import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule, Task
from django_q.signing import SignedPackage
from django_q.tasks import _sync

import tiers.services
from jobs import services, tasks
from jobs.models import JobRun, RecomputeChunk
from jobs.schedules import PREFIX, SCHEDULES, schedules_sync
from members.models import Member
from members.tests.factories import MemberFactory, PurchaseFactory, RefundFactory
from notifications.models import Kind, Notification
from reviews.models import ReviewCase
from reviews.quarters import Quarter
from tiers.models import DowngradeWarning, MemberEvaluation, Tier, TierChange, TierOverride
from tiers.services import Scope, member_evaluate, tier_override_set, tiers_figures_snapshot
from tiers.tests.helpers import refreshed

pytestmark = pytest.mark.django_db

day = datetime.date
GOLD_FEN = 2_000_000


def tier_of(member: Member) -> str | None:
    current = refreshed(member).current_tier
    return current.code if current else None


def run_of(as_of: datetime.date, scope: str = Scope.ALL, chunk_size: int = 3) -> JobRun:
    run = services.recompute_start(as_of=as_of, scope=scope, chunk_size=chunk_size)
    run.refresh_from_db()
    return run


def figures_tables() -> list[str]:
    return [name for name in connection.introspection.table_names() if "figures" in name]


def test_a_run_drops_its_figures_table_and_what_finished_runs_left_behind():
    MemberFactory.create_batch(4, joined_on=day(2025, 1, 1))
    now = timezone.now()
    # A run whose finishing step never ran (its worker was killed) left its table.
    left = JobRun.objects.create(
        kind=JobRun.Kind.RECOMPUTE, as_of=day(2026, 6, 1), started_at=now, finished_at=now
    )
    going = JobRun.objects.create(kind=JobRun.Kind.RECOMPUTE, as_of=day(2026, 6, 1), started_at=now)
    for old in (left, going):
        tiers_figures_snapshot(as_of=day(2026, 6, 1), table=services.figures_table(old.pk))

    run = run_of(day(2026, 6, 30))

    assert (run.status, run.evaluated) == (JobRun.Status.DONE, 4)
    assert figures_tables() == [services.figures_table(going.pk)]


def test_a_run_without_members_is_done_at_once():
    run = run_of(day(2026, 6, 30))

    assert (run.status, run.chunks_total, run.evaluated) == (JobRun.Status.DONE, 0, 0)
    assert run.finished_at is not None


@pytest.mark.parametrize(
    ("task", "kind"),
    [
        (tasks.nightly_recompute, JobRun.Kind.RECOMPUTE),
        (tasks.daily_lifecycle, JobRun.Kind.LIFECYCLE),
    ],
)
def test_a_scheduled_run_waits_for_none_but_skips_when_a_run_of_today_is_going(task, kind):
    MemberFactory(joined_on=day(2025, 1, 1))
    today = timezone.localdate()
    going = JobRun.objects.create(kind=kind, as_of=today, started_at=timezone.now())

    assert task() == {"kind": "run_going", "run": going.pk}
    assert list(JobRun.objects.all()) == [going]

    JobRun.objects.filter(pk=going.pk).update(as_of=today - datetime.timedelta(days=1))
    assert task()["kind"] == "chunks_queued"  # yesterday's is not today's work
    assert JobRun.objects.filter(kind=kind, as_of=today).exists()


def test_a_run_left_unfinished_for_hours_is_marked_failed_by_the_next_scheduled_run():
    MemberFactory(joined_on=day(2025, 1, 1))
    long_ago = timezone.now() - datetime.timedelta(hours=7)
    stuck = JobRun.objects.create(
        kind=JobRun.Kind.RECOMPUTE, started_at=long_ago, as_of=day(2026, 6, 1)
    )
    done = RecomputeChunk.objects.create(run=stuck, first_id=1, last_id=10, status="done")
    lost = RecomputeChunk.objects.create(run=stuck, first_id=11, last_id=None)
    recent = JobRun.objects.create(kind=JobRun.Kind.NOMINATION, started_at=timezone.now())

    assert tasks.nightly_recompute()["kind"] == "chunks_queued"

    stuck.refresh_from_db()
    assert (stuck.status, stuck.errors, stuck.finished_at is not None) == ("failed", 1, True)
    assert stuck.outcome == {"kind": "given_up", "hours": 6, "chunks_left": 1}
    with translation.override("zh-hans"):
        assert stuck.result_text() == "已放弃：6 小时后仍未结束；1 个分块从未运行"
    for row in (done, lost, recent):
        row.refresh_from_db()
    assert (done.status, lost.status) == ("done", "failed")
    assert recent.status == "running"  # a run of minutes is left alone
    # Its lost chunk, delivered at last, is not counted into the finished run.
    assert services.recompute_chunk_run(chunk_id=lost.pk) == f"chunk {lost.pk} already failed"
    stuck.refresh_from_db()
    assert (stuck.status, stuck.evaluated, stuck.chunks_done) == ("failed", 0, 0)


# --- Schedules --------------------------------------------------------------------------------


def test_setup_schedules_creates_each_schedule_once_at_its_local_time():
    call_command("setup_schedules", stdout=io.StringIO())
    call_command("setup_schedules", stdout=io.StringIO())

    ours = Schedule.objects.filter(name__startswith=PREFIX)
    assert ours.count() == len(SCHEDULES) == 6
    nightly = ours.get(func="jobs.tasks.nightly_recompute")
    local = timezone.localtime(nightly.next_run)
    assert (local.hour, local.minute, str(local.tzinfo)) == (2, 0, "Asia/Shanghai")
    quarterly = ours.get(func="jobs.tasks.nominate_quarter")
    assert (quarterly.schedule_type, quarterly.cron) == (Schedule.CRON, "0 3 1 1,4,7,10 *")
    assert timezone.localtime(quarterly.next_run).day == 1
    assert timezone.localtime(quarterly.next_run).month in (1, 4, 7, 10)
    purge = ours.get(func="portal.tasks.purge_signin_codes")
    assert (purge.schedule_type, purge.hook) == (Schedule.DAILY, "jobs.tasks.signin_codes_purged")
    assert timezone.localtime(purge.next_run).hour == 4


def runs_after(schedule: Schedule, count: int, monkeypatch) -> list[datetime.datetime]:
    """The schedule's next ``count`` runs as django-q2's scheduler finds them, in local time:
    when a run is due (a second after it), the scheduler asks the schedule for the next one.
    The clock is the only thing set: django-q2 reads a cron expression from it."""
    moment = schedule.next_run
    monkeypatch.setattr(
        "django_q.models.localtime",
        lambda value=None: django_q.utils.localtime(
            value or moment + datetime.timedelta(seconds=1)
        ),
    )
    runs = []
    for _ in range(count):
        runs.append(timezone.localtime(moment))
        moment = schedule.calculate_next_run(moment)
    return runs


def test_every_schedule_stays_on_its_local_days_and_time_for_years(monkeypatch):
    start = timezone.make_aware(datetime.datetime(2026, 12, 8, 12))
    schedules_sync(now=start)

    quarterly = Schedule.objects.get(func="jobs.tasks.nominate_quarter")
    runs = runs_after(quarterly, 4 * 4, monkeypatch)
    # Each quarter of four years on its first day at 03:00 local, none skipped (2028Q1 was).
    assert [(r.date(), r.time()) for r in runs] == [
        (day(year, month, 1), datetime.time(3))
        for year in range(2027, 2031)
        for month in (1, 4, 7, 10)
    ]
    for declared in SCHEDULES:
        if declared.schedule_type != Schedule.DAILY:
            continue
        runs = runs_after(Schedule.objects.get(name=PREFIX + declared.name), 3 * 366, monkeypatch)
        first = runs[0].date()
        assert [(r.date(), r.time()) for r in runs] == [
            (first + datetime.timedelta(days=n), declared.at) for n in range(3 * 366)
        ], declared.name


def test_every_schedule_is_stored_as_one_that_keeps_to_local_days():
    # A month-based type moves the UTC date by months (see jobs/schedules.py): never stored.
    schedules_sync()
    stored = set(
        Schedule.objects.filter(name__startswith=PREFIX).values_list("schedule_type", flat=True)
    )
    assert stored <= {Schedule.DAILY, Schedule.CRON}


def test_setup_schedules_moves_an_existing_quarterly_schedule_to_its_cron_form():
    # As an earlier version stored it, already drifted to the last day of a month.
    drifted = Schedule.objects.create(
        name=PREFIX + "quarterly special-review nomination",
        func="jobs.tasks.nominate_quarter",
        schedule_type=Schedule.QUARTERLY,
        repeats=-1,
        next_run=timezone.make_aware(datetime.datetime(2027, 12, 31, 3)),
    )

    schedules_sync(now=timezone.make_aware(datetime.datetime(2027, 11, 2, 12)))
    schedules_sync(now=timezone.make_aware(datetime.datetime(2027, 11, 2, 12)))

    quarterly = Schedule.objects.get(func="jobs.tasks.nominate_quarter")
    assert quarterly.pk == drifted.pk
    assert (quarterly.schedule_type, quarterly.cron) == (Schedule.CRON, "0 3 1 1,4,7,10 *")
    assert timezone.localtime(quarterly.next_run) == timezone.make_aware(
        datetime.datetime(2028, 1, 1, 3)
    )


def run_when_due(monkeypatch, func: str) -> Schedule:
    """Make the schedule of ``func`` due, let the scheduler queue it as a cluster's would, then
    run it from the queue the way a worker does."""
    from django_q.scheduler import scheduler

    schedules_sync()
    schedule = Schedule.objects.get(func=func)
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run=timezone.now() - datetime.timedelta(minutes=1)
    )
    monkeypatch.setattr(Conf, "SYNC", False)
    # A real scheduler closes stale connections first; here that would close the test's own.
    monkeypatch.setattr("django_q.scheduler.close_old_django_connections", lambda: None)
    broker = get_broker()
    broker.purge_queue()
    scheduler(broker=broker)
    monkeypatch.setattr(Conf, "SYNC", True)
    [(ack_id, pack)] = broker.dequeue()
    _sync(SignedPackage.dumps(SignedPackage.loads(pack)))
    broker.acknowledge(ack_id)
    schedule.refresh_from_db()
    return schedule


def test_a_schedule_that_is_due_runs_the_recompute(monkeypatch):
    members = MemberFactory.create_batch(4, joined_on=day(2020, 1, 1))

    nightly = run_when_due(monkeypatch, "jobs.tasks.nightly_recompute")

    run = JobRun.objects.get(kind=JobRun.Kind.RECOMPUTE)
    assert (run.status, run.evaluated, run.as_of) == ("done", 4, timezone.localdate())
    assert all(tier_of(member) == "silver" for member in members)
    assert timezone.localtime(nightly.next_run) > timezone.localtime()
    assert Task.objects.get(id=nightly.task).success


def test_the_daily_purge_of_sign_in_codes_runs_the_portal_task_and_records_its_run(
    monkeypatch, client
):
    # A code request made just now (through the page: jobs does not import portal) stays.
    member = MemberFactory(phone="13800138000")
    assert client.post(reverse("portal:login"), {"phone": member.phone}).status_code == 302

    schedule = run_when_due(monkeypatch, "portal.tasks.purge_signin_codes")

    task = Task.objects.get(id=schedule.task)
    assert task.success and task.result == {"kind": "signin_codes_purged", "count": 0}
    run = JobRun.objects.get(kind=JobRun.Kind.SIGNIN_CODES_PURGE)
    assert (run.status, run.outcome, run.message, run.errors) == ("done", task.result, "", 0)
    assert (run.started_at, run.finished_at) == (task.started, task.stopped)


def test_a_failed_purge_of_sign_in_codes_is_recorded_as_a_failed_run():
    started = timezone.now()
    task = Task(
        id="t1",
        name="purge",
        func="portal.tasks.purge_signin_codes",
        started=started,
        stopped=started + datetime.timedelta(seconds=1),
        success=False,
        result="OperationalError: database is locked",
    )

    tasks.signin_codes_purged(task)

    run = JobRun.objects.get(kind=JobRun.Kind.SIGNIN_CODES_PURGE)
    assert (run.status, run.errors) == ("failed", 1)
    assert run.message == "OperationalError: database is locked"


# --- The chunked recompute --------------------------------------------------------------------


def test_a_run_is_split_into_chunks_that_together_evaluate_every_member_once():
    MemberFactory.create_batch(10, joined_on=day(2020, 1, 1))

    run = run_of(day(2026, 6, 30), chunk_size=3)

    assert (run.status, run.chunks_total, run.chunks_done, run.evaluated) == ("done", 4, 4, 10)
    assert run.finished_at is not None and run.errors == 0
    assert list(run.chunks.values_list("attempts", flat=True)) == [1, 1, 1, 1]
    assert run.chunks.last().last_id is None  # members registered meanwhile are included
    assert TierChange.objects.filter(cause="qualified").count() == 10


def test_a_chunk_that_fails_once_is_retried_and_the_totals_are_still_right(monkeypatch):
    members = MemberFactory.create_batch(7, joined_on=day(2020, 1, 1))
    for member in members[3:6]:
        PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2026, 6, 1))
    real_queue = tiers.services.notices_queue
    calls = []

    def fails_once_after_writing(notices, **kwargs):
        # Every write of the chunk has happened (tiers, history, evaluations): the failure must
        # roll all of it back, or the retry would count and write twice.
        queued = real_queue(notices, **kwargs)
        calls.append(len(notices))
        if len(calls) == 2:
            raise ConnectionError("database went away")
        return queued

    monkeypatch.setattr(tiers.services, "notices_queue", fails_once_after_writing)

    run = run_of(day(2026, 6, 30), chunk_size=3)

    assert (run.status, run.evaluated, run.upgrades, run.errors) == ("done", 7, 0, 1)
    assert run.chunks_done == run.chunks_total == 3
    retried = run.chunks.get(first_id=members[3].pk)
    assert retried.attempts == 2 and "database went away" in retried.last_error
    assert TierChange.objects.count() == 7
    assert MemberEvaluation.objects.count() == 7
    assert sorted(tier_of(m) for m in members) == ["gold"] * 3 + ["silver"] * 4


def test_a_chunk_that_keeps_failing_is_marked_failed_and_so_is_the_run(monkeypatch):
    MemberFactory.create_batch(4, joined_on=day(2020, 1, 1))

    def broken(*args, **kwargs):
        raise RuntimeError("policy table unreadable")

    monkeypatch.setattr(tiers.services, "tiers_range_evaluate", broken)
    monkeypatch.setattr(services, "tiers_range_evaluate", broken)

    with pytest.raises(RuntimeError):
        run_of(day(2026, 6, 30), chunk_size=10)

    run = JobRun.objects.get()
    chunk = run.chunks.get()
    assert (chunk.status, chunk.attempts) == (RecomputeChunk.Status.FAILED, 3)
    assert (run.status, run.errors, run.chunks_done) == ("failed", 3, 0)
    assert run.outcome == {"kind": "chunks_failed", "failed": 1, "chunks": 1}


def test_a_chunk_delivered_twice_is_evaluated_and_counted_once():
    MemberFactory.create_batch(3, joined_on=day(2020, 1, 1))
    run = run_of(day(2026, 6, 30), chunk_size=10)
    chunk = run.chunks.get()

    assert "already done" in tasks.recompute_chunk(chunk.pk)

    run.refresh_from_db()
    assert (run.evaluated, run.chunks_done) == (3, 1)
    assert TierChange.objects.count() == 3


# --- The daily lifecycle and its notices ------------------------------------------------------

JOINED = day(2025, 2, 1)
GOLD_DAY = day(2025, 3, 1)
YEAR_END = day(2026, 3, 1)


@pytest.fixture
def gold_member():
    """Gold from 2025-03-01 by one purchase, 1,000.00 of which is refunded on 2026-01-20: from
    then on the member is below Gold (19,000.00 of 20,000.00)."""
    member = MemberFactory(joined_on=JOINED, phone="13800000000", email="m@example.com")
    purchase = PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=GOLD_DAY)
    RefundFactory(refund_of=purchase, amount_fen=100_000, day=day(2026, 1, 20))
    run_of(JOINED)
    run_of(GOLD_DAY)
    assert tier_of(member) == "gold"
    return member


def lifecycle(as_of: datetime.date) -> JobRun:
    return run_of(as_of, scope=Scope.DUE)


def notices(member: Member, kind: str) -> list[Notification]:
    return list(Notification.objects.filter(member=member, kind=kind).order_by("channel"))


def test_the_warning_goes_out_once_from_thirty_days_before_the_year_end_with_what_is_missing(
    gold_member,
):
    assert lifecycle(YEAR_END - datetime.timedelta(days=31)).warnings == 0
    assert not notices(gold_member, Kind.DOWNGRADE_WARNING)

    run = lifecycle(YEAR_END - datetime.timedelta(days=30))
    assert run.warnings == 1
    lifecycle(YEAR_END - datetime.timedelta(days=29))
    run_of(YEAR_END - datetime.timedelta(days=20))

    sent = notices(gold_member, Kind.DOWNGRADE_WARNING)
    assert [n.channel for n in sent] == ["email", "in_app", "sms"]  # once per channel
    warning = DowngradeWarning.objects.get(member=gold_member)
    assert warning.downgrade_not_before == YEAR_END
    body = sent[0].body
    # What will count on 2026-03-01: the purchase of 2025-03-01 will have left the window, so
    # the member needs the whole 20,000.00 (not the 1,000.00 refunded).
    assert "20,000.00" in body and "2026-03-01" in body
    assert sent[0].subject


def test_the_downgrade_comes_on_the_first_run_on_or_after_the_later_of_year_end_and_notice(
    gold_member,
):
    late_warning = YEAR_END - datetime.timedelta(days=10)  # no run in the 20 days before
    lifecycle(late_warning)
    not_before = late_warning + datetime.timedelta(days=30)
    assert DowngradeWarning.objects.get().downgrade_not_before == not_before

    lifecycle(YEAR_END)
    lifecycle(not_before - datetime.timedelta(days=1))
    assert tier_of(gold_member) == "gold"
    assert not notices(gold_member, Kind.DOWNGRADE)

    run = lifecycle(not_before + datetime.timedelta(days=2))  # the first run after it
    assert run.downgrades == 1
    assert tier_of(gold_member) == "silver"
    downgrade = notices(gold_member, Kind.DOWNGRADE)[0]
    assert "金卡会员" in downgrade.body and "银卡会员" in downgrade.body


def test_a_member_who_keeps_the_tier_is_told_of_the_new_tier_year(gold_member):
    PurchaseFactory(member=gold_member, amount_fen=GOLD_FEN, day=day(2026, 2, 15))

    run = lifecycle(YEAR_END)

    assert run.evaluated == 1
    [kept] = [n for n in notices(gold_member, Kind.TIER_KEPT) if n.channel == "in_app"]
    assert "2027-03-01" in kept.body


def test_the_lifecycle_run_evaluates_only_members_who_are_due(gold_member):
    MemberFactory.create_batch(3, joined_on=day(2020, 1, 1))
    run_of(day(2025, 6, 1))

    assert lifecycle(day(2025, 6, 2)).evaluated == 0
    assert lifecycle(YEAR_END - datetime.timedelta(days=30)).evaluated == 1


def test_an_exceptional_upgrade_ends_on_its_date_then_the_warning_and_thirty_days_apply(
    gold_member,
):
    granted, ends = day(2025, 4, 1), day(2025, 10, 1)
    override = tier_override_set(
        member=gold_member,
        tier=Tier.objects.get(code="diamond"),
        reason="committee decision Q2",
        message="感谢您10年来的一路相伴，特别授予您钻石会员资格",
        ends_on=ends,
        kind=TierOverride.Kind.COMMITTEE,
        actor=None,
        today=granted,
    )
    [in_app] = [n for n in notices(gold_member, Kind.EXCEPTIONAL_UPGRADE) if n.channel == "in_app"]
    assert "感谢您10年来的一路相伴" in in_app.body and "2025-10-01" in in_app.body

    lifecycle(ends - datetime.timedelta(days=31))
    assert not DowngradeWarning.objects.exists()
    lifecycle(ends - datetime.timedelta(days=30))
    assert DowngradeWarning.objects.get().tier.code == "diamond"

    tasks_run = services.job_record(
        JobRun.Kind.OVERRIDES_EXPIRE,
        lambda: str(tiers.services.tier_overrides_expire(as_of=ends)),
        as_of=ends,
    )
    assert tasks_run.message == "1"
    override.refresh_from_db()
    assert override.ended_on == ends
    lifecycle(ends)
    assert tier_of(gold_member) == "gold"  # qualified again: Gold by spend until 2026-03-01


def test_the_expiry_job_records_its_run():
    result = tasks.expire_overrides()

    run = JobRun.objects.get(kind=JobRun.Kind.OVERRIDES_EXPIRE)
    assert (run.status, run.message) == ("done", "")
    assert run.outcome == result == {"kind": "overrides_ended", "count": 0}


def test_the_nomination_job_nominates_the_quarter_just_ended_and_records_its_run():
    veteran = MemberFactory(joined_on=day(2010, 1, 1))  # ten years and more: a loyal veteran
    quarter = str(Quarter.just_ended(timezone.localdate()))

    outcome = tasks.nominate_quarter()

    run = JobRun.objects.get(kind=JobRun.Kind.NOMINATION)
    assert run.status == JobRun.Status.DONE and outcome == run.outcome
    assert (outcome["quarter"], outcome["cases"]) == (quarter, 1)
    with translation.override("zh-hans"):
        assert run.result_text() == f"{quarter}：提名 1 位会员"
    case = ReviewCase.objects.get(member=veteran)
    assert (case.quarter, case.profiles) == (quarter, ["loyal_veteran"])


def test_a_real_time_upgrade_queues_its_notice_in_the_same_transaction():
    member = MemberFactory(joined_on=day(2020, 1, 1), phone="", email="")
    member_evaluate(member=member, as_of=day(2026, 6, 1))
    PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=day(2026, 6, 2))

    member_evaluate(member=member, as_of=day(2026, 6, 2))
    member_evaluate(member=member, as_of=day(2026, 6, 2))

    [upgrade] = notices(member, Kind.UPGRADE)
    assert upgrade.channel == "in_app" and upgrade.status == "sent"
    assert "金卡会员" in upgrade.subject


def test_the_delivery_retries_record_what_they_sent_in_the_readers_language(mailoutbox):
    today = timezone.localdate()  # an older event's notice would be skipped as too old
    member = MemberFactory(joined_on=day(2020, 1, 1), phone="", email="b@example.com")
    member_evaluate(member=member, as_of=today - datetime.timedelta(days=1))
    PurchaseFactory(member=member, amount_fen=GOLD_FEN, day=today)
    member_evaluate(member=member, as_of=today)  # the upgrade's e-mail waits for a run

    outcome = tasks.notification_retries()
    again = tasks.notification_retries()

    assert outcome == {"kind": "deliveries", "counts": {"sent": 1}} and len(mailoutbox) == 1
    first, second = JobRun.objects.filter(kind=JobRun.Kind.NOTIFICATION_RETRIES).order_by("pk")
    assert (first.outcome, second.outcome) == (outcome, again)
    with translation.override("zh-hans"):
        assert (first.result_text(), second.result_text()) == ("已发送 1 条", "没有待发送的通知")


@pytest.mark.parametrize("start", ["schedule", "jobs page"])
def test_the_daily_lifecycle_withdraws_the_review_cases_of_members_an_import_blacklisted(start):
    from reviews.services import case_nominate

    member = MemberFactory(joined_on=day(2016, 6, 30))
    member_evaluate(member=member, as_of=day(2026, 7, 1))
    case = case_nominate(
        member=member, justification="十年老客户", actor=None, today=day(2026, 7, 1)
    )
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLACKLISTED)  # as an import

    if start == "schedule":
        tasks.daily_lifecycle()
    else:
        services.job_start(kind=JobRun.Kind.LIFECYCLE, actor=None, enqueue=lambda chunk: None)

    case.refresh_from_db()
    assert case.state == ReviewCase.State.WITHDRAWN
    assert case.decision_reason.startswith("Withdrawn: the member was blacklisted")
