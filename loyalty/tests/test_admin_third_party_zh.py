"""The libraries' admin pages (django-axes' login records, django-q2's task schedules and
results) read in Chinese: axes ships no zh_Hans catalog and django-q2's leaves most of its
field names, help texts and columns untranslated, so locale/zh_Hans carries them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure, Schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def zh_admin(client, django_user_model):
    superuser = django_user_model.objects.create_superuser("root-wang", password="not-used")
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def failed_login(username: str) -> AccessAttempt:
    """axes' record of one failed login of ``username`` (attempt_time: now)."""
    return AccessAttempt.objects.create(
        username=username,
        ip_address="203.0.113.7",
        user_agent="Mozilla/5.0",
        http_accept="text/html",
        path_info="/login/",
        get_data="",
        post_data=f"username={username}",
        failures_since_start=1,
    )


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1)


def test_the_admin_index_names_the_login_records_and_task_models_in_chinese(zh_admin):
    html = page(zh_admin, reverse("admin:index"))

    for name in ["登录尝试", "访问日志", "登录失败记录", "计划任务", "失败的任务", "成功的任务"]:
        assert name in html, name
    for english in ["Access attempts", "Access logs", "Access failures"]:
        assert english not in html, english
    # The apps' own names (neither library marks them for translation: set in settings).
    assert "登录防护" in html and "任务队列" in html
    assert ">Axes<" not in html and ">Django Q<" not in html


def test_the_login_attempts_list_and_form_are_in_chinese(zh_admin):
    attempt = failed_login("ops-anna")

    html = page(zh_admin, reverse("admin:axes_accessattempt_changelist"))

    assert "登录尝试" in title(html) and "access attempt" not in title(html).lower()
    for text in ["尝试时间", "IP 地址", "用户代理", "路径", "失败次数", "已锁定"]:
        assert text in html, text
    assert "清理过期的登录尝试" in html  # the action
    assert f"{settings.AXES_FAILURE_LIMIT - 1} 次尝试机会剩余" in html  # the status column
    assert re.search(r'class="sortable column-status|class="column-status', html)
    assert re.search(r"column-status[^>]*>.*?状态", html, re.S)
    assert ">Status<" not in html
    for english in ["Attempt Time", "User Agent", "Failed Logins", "Clean up expired attempts"]:
        assert english not in html, english

    html = page(zh_admin, reverse("admin:axes_accessattempt_change", args=[attempt.pk]))

    assert "access attempt" not in title(html).lower()
    for text in ["表单数据", "元数据", "GET 数据", "POST 数据", "HTTP Accept 请求头"]:
        assert text in html, text
    assert "Form Data" not in html and "Meta Data" not in html


def test_the_task_schedules_and_failed_tasks_are_in_chinese(zh_admin):
    schedule = Schedule.objects.create(name="nightly", func="math.floor", args="1")
    now = timezone.now()
    Failure.objects.create(
        id="f" * 32,
        name="failed-once",
        func="math.floor",
        started=now,
        stopped=now,
        success=False,
        result="ValueError: boom",
    )

    html = page(zh_admin, reverse("admin:django_q_schedule_changelist"))

    assert "计划任务" in title(html) and "scheduled task" not in title(html).lower()
    for text in ["函数", "集群", "成功", "下次运行"]:
        assert text in html, text
    assert ">Function<" not in html and ">Cluster<" not in html
    # A task's name (名称), not a person's (姓名, the member pages' word for "Name").
    assert "名称" in html and "姓名" not in html

    html = page(zh_admin, reverse("admin:django_q_schedule_change", args=[schedule.pk]))

    assert "此计划任务下次运行的时间（以 UTC 存储）。" in html
    assert "钩子" in html and "关键字参数" in html
    assert "When this schedule runs next" not in html

    html = page(zh_admin, reverse("admin:django_q_failure_changelist"))

    assert "失败的任务" in title(html)
    for text in ["开始时间", "结束时间", "结果摘要"]:
        assert text in html, text
    assert "Short result" not in html and "Started at" not in html


def test_cleaning_up_expired_login_attempts_says_how_many_in_chinese(zh_admin):
    old, recent = failed_login("ops-old"), failed_login("ops-recent")
    # Older than the cool-off: expired (attempt_time is set on creation).
    AccessAttempt.objects.filter(pk=old.pk).update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(minutes=1)
    )

    response = zh_admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "cleanup_expired_attempts", "_selected_action": [recent.pk]},
        follow=True,
    )

    assert "已清理 1 条过期的登录尝试。" in response.content.decode()
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["ops-recent"]
