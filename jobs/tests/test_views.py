"""The jobs pages: who may see them (URLs × roles), what they show."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone
from django_q.models import Schedule, Task

from jobs import outcomes, services, tasks
from jobs.models import JobRun
from jobs.schedules import schedules_sync
from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from members.models import Member
from members.tests.factories import MemberFactory
from notifications.models import Notification
from notifications.services import Notice, notices_queue
from tiers.actions import member_blacklist
from tiers.services import member_evaluate

pytestmark = pytest.mark.django_db

ROLES = ["ops", "ops_lead", "committee", "policy_owner", "auditor"]
READERS = {"ops", "ops_lead", "policy_owner", "auditor"}
RESENDERS = {"ops", "ops_lead"}


@pytest.fixture
def setup_data():
    member = MemberFactory(member_no="J/001", joined_on=datetime.date(2020, 1, 1), email="")
    member_evaluate(member=member, as_of=datetime.date(2026, 6, 1))
    schedules_sync()
    run = services.recompute_start(as_of=datetime.date(2026, 6, 2), chunk_size=10)
    from notifications.services import Notice, notices_queue

    notices_queue(
        [
            Notice(
                member_id=member.pk,
                kind="blacklist",
                dedupe_key="blacklist:x",
                event_on=datetime.date(2026, 6, 2),
                name=member.name,
            )
        ]
    )
    return member, run, Notification.objects.get(member=member)


def login(client, django_user_model, role):
    if role is None:
        return
    user = django_user_model.objects.create_user(f"{role}-u", password="x")
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)


def urls(member, run):
    return [
        "/jobs/",
        f"/jobs/runs/{run.pk}/",
        f"/jobs/members/{member.member_no}/notifications/",
    ]


@pytest.mark.parametrize("role", [None, *ROLES])
def test_the_jobs_pages_need_the_view_permissions(client, django_user_model, setup_data, role):
    member, run, _notice = setup_data
    login(client, django_user_model, role)

    for url in urls(member, run):
        response = client.get(url)
        if role is None:
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        else:
            assert response.status_code == (200 if role in READERS else 403), (role, url)


@pytest.mark.parametrize("role", [None, *ROLES])
def test_only_ops_roles_may_resend_a_notification(client, django_user_model, setup_data, role):
    member, _run, notice = setup_data
    login(client, django_user_model, role)
    url = f"/jobs/members/{member.member_no}/notifications/{notice.pk}/resend/"

    response = client.post(url, {"reason": "asked again"})

    if role is None:
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    elif role in RESENDERS:
        assert response.status_code == 302
        notice.refresh_from_db()
        assert notice.sent_at is not None
    else:
        assert response.status_code == 403
    if role in READERS:
        page = client.get(f"/jobs/members/{member.member_no}/notifications/").content.decode()
        assert ("asked again" in page) is False
        assert ('name="reason"' in page) == (role in RESENDERS)


def test_an_erased_members_notices_read_in_the_staff_language_and_offer_no_resend(
    client, django_user_model, setup_data
):
    from notifications.privacy import member_erase

    member, _run, _notice = setup_data
    member = member_erase(member=member, reason="PIPL-9", actor=None)
    login(client, django_user_model, "ops")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get(f"/jobs/members/{member.member_no}/notifications/").content.decode()

    assert "<strong>[erased]</strong><br>This message was erased at the member" in page
    assert "已删除" not in page
    assert 'name="reason"' not in page


def test_a_blacklisted_members_page_says_why_their_notices_are_not_resent(
    client, django_user_model
):
    member = MemberFactory(member_no="J/002", phone="13800000008", email="")
    notices_queue(
        [Notice(member_id=member.pk, kind="upgrade", dedupe_key="upgrade:gold:x",
                event_on=timezone.localdate(), name=member.name, phone=member.phone,
                context={"tier": {"name": "Gold"}, "tier_year_end": timezone.localdate()})]
    )  # fmt: skip
    sms = Notification.objects.get(member=member, channel="sms")
    member_blacklist(member=member, reason="fraud", evidence="case 7", actor=None)
    assert Member.objects.get(pk=member.pk).status == "blacklisted"
    login(client, django_user_model, "ops")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = f"/jobs/members/{member.member_no}/notifications/"

    page = client.get(url).content.decode()
    assert "This member holds no tier now (blacklisted)" in page
    assert 'name="reason"' not in page

    # A page opened before the entry still posts: refused, with the reason on the page.
    response = client.post(f"{url}{sms.pk}/resend/", {"reason": "asked again"}, follow=True)
    assert "their notices are not sent again" in response.content.decode()
    assert Notification.objects.get(pk=sms.pk).status == sms.status


def test_the_jobs_page_lists_the_schedules_and_the_last_runs(
    client, django_user_model, setup_data, django_assert_max_num_queries
):
    login(client, django_user_model, "auditor")
    now = timezone.now()
    tasks.signin_codes_purged(
        Task(
            id="t1",
            started=now,
            stopped=now,
            success=True,
            result={"kind": "signin_codes_purged", "count": 3},
        )
    )

    with django_assert_max_num_queries(15):
        page = client.get("/jobs/").content.decode()

    # Schedules by their names in the page's language, with their tasks.
    assert "每日清理过期登录验证码" in page and "jobs.tasks.nightly_recompute" in page
    assert "每季度特殊评审提名" in page
    # How often, as declared: the quarterly one is stored as a cron expression.
    assert page.count('<td data-label="重复周期">每季度</td>') == 1
    assert "Cron" not in page
    assert "1 / 1" in page  # chunks done of the run
    assert "portal.tasks.purge_signin_codes" in page
    # The run, by its kind, with what it did, both in the page's language.
    assert f">{JobRun.Kind.SIGNIN_CODES_PURGE.label}</a>" in page
    assert "已删除 3 条过期的登录验证码请求" in page


def test_the_member_page_links_to_the_notifications(client, django_user_model, setup_data):
    member, _run, _notice = setup_data
    login(client, django_user_model, "ops")

    page = client.get(f"/members/{member.member_no}/").content.decode()

    assert f"/jobs/members/{member.member_no}/notifications/" in page


def test_a_runs_heading_shows_its_start_in_local_time(client, django_user_model):
    login(client, django_user_model, "auditor")
    started = datetime.datetime(2026, 6, 2, 18, 30, tzinfo=datetime.UTC)
    run = JobRun.objects.create(kind=JobRun.Kind.RECOMPUTE, started_at=started)

    page = client.get(f"/jobs/runs/{run.pk}/").content.decode()

    assert "2026-06-03 02:30" in page  # Asia/Shanghai, UTC+8
    assert "2026-06-02 18:30" not in page


def test_a_runs_counts_have_thousands_separators(client, django_user_model):
    login(client, django_user_model, "auditor")
    run = JobRun.objects.create(
        kind=JobRun.Kind.RECOMPUTE,
        started_at=timezone.now(),
        chunks_total=1200,
        chunks_done=1100,
        evaluated=1234567,
        upgrades=12000,
        downgrades=3456,
        warnings=7890,
    )

    for page in (
        client.get("/jobs/").content.decode(),
        client.get(f"/jobs/runs/{run.pk}/").content.decode(),
    ):
        assert "1,100 / 1,200" in page
        assert all(n in page for n in (">1,234,567<", ">12,000<", ">3,456<", ">7,890<"))


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("en", ["1,200 overrides ended", "run 7: 3,400 chunks queued"]),
        ("zh-hans", ["1,200 项人工调整已结束", "运行记录 7：已排入 3,400 个分块"]),
    ],
)
def test_the_counts_of_a_result_have_thousands_separators(
    client, django_user_model, language, shown
):
    schedules_sync()
    now = timezone.now()
    JobRun.objects.create(
        kind=JobRun.Kind.OVERRIDES_EXPIRE,
        status=JobRun.Status.DONE,
        started_at=now,
        finished_at=now,
        outcome=outcomes.overrides_ended(count=1200),
    )
    func = "jobs.tasks.nightly_recompute"
    task = Task.objects.create(
        id=func,
        name=func,
        func=func,
        started=now,
        stopped=now,
        success=True,
        result=outcomes.chunks_queued(run=7, chunks=3400),
    )
    Schedule.objects.filter(func=func).update(task=task.id)
    login(client, django_user_model, "auditor")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    page = client.get("/jobs/").content.decode()

    assert all(text in page for text in shown), language
    assert "1200" not in page and "3400" not in page


@pytest.mark.parametrize(
    ("language", "shown", "hidden"),
    [
        ("zh-hans", ["每日清理过期登录验证码", "每日通知发送重试"], ["daily notification retries"]),
        ("en", ["daily purge of expired sign-in codes", "daily notification retries"], ["每日"]),
    ],
)
def test_schedule_names_are_shown_in_the_pages_language(
    client, django_user_model, language, shown, hidden
):
    schedules_sync()
    Schedule.objects.create(name="typed by hand", func="math.floor", args="1")
    login(client, django_user_model, "auditor")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    page = client.get("/jobs/").content.decode()

    assert all(name in page for name in shown), language
    assert not any(name in page for name in hidden), language
    assert "typed by hand" in page  # not ours: as it was typed
    # The stored identifiers stay as they were: the sync finds its rows by them.
    assert Schedule.objects.filter(name="loyalty: daily notification retries").exists()


def test_results_are_shown_in_the_pages_language_old_english_ones_too(client, django_user_model):
    MemberFactory(joined_on=datetime.date(2020, 1, 1))
    schedules_sync()
    now = timezone.now()
    for func, result in [
        ("jobs.tasks.nightly_recompute", tasks.nightly_recompute()),
        ("jobs.tasks.daily_lifecycle", "run 41: 2 chunks queued"),  # written before outcomes
        ("jobs.tasks.expire_overrides", tasks.expire_overrides()),
    ]:
        task = Task.objects.create(
            id=func, name=func, func=func, started=now, stopped=now, success=True, result=result
        )
        Schedule.objects.filter(func=func).update(task=task.id)
    now = timezone.now()
    JobRun.objects.create(
        kind=JobRun.Kind.RECOMPUTE,
        status=JobRun.Status.FAILED,
        started_at=now,
        finished_at=now,
        message="3 of 4 chunks failed",  # written before outcomes
    )
    login(client, django_user_model, "auditor")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = client.get("/jobs/").content.decode()

    run = JobRun.objects.get(kind=JobRun.Kind.RECOMPUTE, status=JobRun.Status.DONE)
    assert f"运行记录 {run.pk}：已排入 1 个分块" in page
    assert "运行记录 41：已排入 2 个分块" in page
    assert "0 项人工调整已结束" in page
    assert "4 个分块中有 3 个失败" in page
    assert "chunks queued" not in page and "overrides ended" not in page
    assert "chunks failed" not in page


# --- Starting a run now -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", [JobRun.Kind.RECOMPUTE, JobRun.Kind.LIFECYCLE])
def test_an_ops_lead_starts_a_run_after_confirming_and_it_is_audited(
    client, django_user_model, kind
):
    MemberFactory(joined_on=datetime.date(2020, 1, 1))
    login(client, django_user_model, "ops_lead")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    url = f"/jobs/start/{kind}/"
    assert url in client.get("/jobs/").content.decode()

    page = client.get(url).content.decode()

    assert str(JobRun.Kind(kind).label) in page and timezone.localdate().isoformat() in page
    assert "启动运行" in page  # the start button
    assert not JobRun.objects.exists()  # the confirmation page starts nothing

    response = client.post(url)

    run = JobRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/runs/{run.pk}/"
    assert (run.kind, run.as_of) == (kind, timezone.localdate())
    assert run.scope == services.STARTABLE[kind]
    assert run.status == JobRun.Status.DONE  # the chunks ran (django-q2 in sync mode)
    entry = AuditEntry.objects.get(action="job.start")
    assert (entry.actor.username, entry.target_id) == ("ops_lead-u", str(run.pk))
    assert entry.after["kind"] == kind
    assert "运行已启动" in client.get(response["Location"]).content.decode()


def test_a_run_is_not_started_while_one_of_the_same_job_has_not_finished(client, django_user_model):
    going = JobRun.objects.create(kind=JobRun.Kind.LIFECYCLE, started_at=timezone.now())
    login(client, django_user_model, "ops_lead")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = client.get("/jobs/start/lifecycle/").content.decode()
    assert "尚有一次运行未结束" in page and f"/jobs/runs/{going.pk}/" in page
    assert "启动运行" not in page  # no start button

    response = client.post("/jobs/start/lifecycle/", follow=True)

    assert "尚有一次运行未结束" in response.content.decode()
    assert list(JobRun.objects.all()) == [going]
    assert not AuditEntry.objects.filter(action="job.start").exists()
    # Another job is not held up by it.
    client.post("/jobs/start/recompute/")
    assert JobRun.objects.filter(kind=JobRun.Kind.RECOMPUTE).exists()
    # Nor, once given up (its workers died), is the same job.
    JobRun.objects.filter(pk=going.pk).update(
        started_at=timezone.now() - datetime.timedelta(hours=7)
    )
    assert client.post("/jobs/start/lifecycle/").status_code == 302
    assert JobRun.objects.filter(kind=JobRun.Kind.LIFECYCLE).count() == 2


def test_only_the_recompute_and_the_lifecycle_can_be_started(client, django_user_model):
    login(client, django_user_model, "ops_lead")

    assert client.get("/jobs/start/nomination/").status_code == 404
    assert client.post("/jobs/start/nomination/").status_code == 404
    with pytest.raises(DomainError):
        services.job_start(kind=JobRun.Kind.NOMINATION, actor=None)
    assert not JobRun.objects.exists()


def test_the_start_buttons_show_only_with_the_permission(client, django_user_model):
    login(client, django_user_model, "ops")

    page = client.get("/jobs/").content.decode()

    assert "/jobs/start/" not in page
