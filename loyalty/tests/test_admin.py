"""Django's and the libraries' admins (staff accounts and groups, task schedules, login
records) have no audited service behind them: what a superuser changes there is written to the
audit log too."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django_q.models import Schedule

from loyalty.models import AuditEntry

pytestmark = pytest.mark.django_db


def entries(action: str, obj) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            action=action, target_type=obj._meta.label_lower, target_id=str(obj.pk)
        )
    )


def user_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "09:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "09:00:00",
    }
    data.update(changes)
    return data


def test_putting_a_staff_user_in_a_group_is_audited_with_the_groups_before_and_after(
    admin_client, admin_user
):
    user = User.objects.create_user("lin", is_staff=True)
    user.groups.add(Group.objects.get(name="ops"))
    lead = Group.objects.get(name="ops_lead")

    response = admin_client.post(
        reverse("admin:auth_user_change", args=[user.pk]),
        user_form(user, groups=[str(lead.pk)]),
    )

    assert response.status_code == 302
    assert list(user.groups.values_list("name", flat=True)) == ["ops_lead"]
    [entry] = entries("admin.change", user)
    assert entry.actor == admin_user
    assert entry.before["groups"] == ["ops"] and entry.after["groups"] == ["ops_lead"]
    assert entry.after["is_staff"] is True and entry.after["is_superuser"] is False
    assert entry.after["changes"] == [{"changed": {"fields": ["Groups"]}}]
    assert "password" not in entry.after


def test_adding_and_deleting_a_user_and_changing_a_password_are_audited(admin_client):
    admin_client.post(
        reverse("admin:auth_user_add"),
        {"username": "zhao", "password1": "a-long-pass-2026", "password2": "a-long-pass-2026"},
    )
    user = User.objects.get(username="zhao")
    admin_client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": "another-pass-2026", "password2": "another-pass-2026"},
    )
    admin_client.post(reverse("admin:auth_user_delete", args=[user.pk]), {"post": "yes"})

    assert entries("admin.add", user)[0].after["username"] == "zhao"
    [changed] = entries("admin.change", user)
    assert "password" in str(changed.after["changes"]).lower()
    assert "another-pass-2026" not in str(changed.after)
    assert entries("admin.delete", user)[0].before["username"] == "zhao"
    assert not User.objects.filter(username="zhao").exists()


def test_a_groups_permissions_changed_in_the_admin_are_audited(admin_client):
    group = Group.objects.create(name="temp")

    admin_client.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {
            "name": "temp",
            "permissions": [str(Group.objects.get(name="ops").permissions.first().pk)],
        },
    )

    [entry] = entries("admin.change", group)
    assert entry.before["permissions"] == []
    assert len(entry.after["permissions"]) == 1


def test_lifting_a_lockout_by_deleting_the_attempt_is_audited(admin_client):
    attempt = AccessAttempt.objects.create(
        username="lin",
        ip_address="192.0.2.1",
        user_agent="x",
        http_accept="*/*",
        path_info="/accounts/login/",
        get_data="",
        post_data="",
        failures_since_start=5,
    )

    admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )

    assert not AccessAttempt.objects.exists()
    assert entries("admin.delete", attempt)[0].before["object"] == str(attempt)


def test_a_schedule_changed_in_the_admin_is_audited(admin_client):
    schedule = Schedule.objects.create(name="nightly", func="math.floor", args="1")

    response = admin_client.post(
        reverse("admin:django_q_schedule_change", args=[schedule.pk]),
        {
            "name": "nightly",
            "func": "math.floor",
            "hook": "",
            "args": "2",
            "kwargs": "",
            "schedule_type": Schedule.ONCE,
            "minutes": "",
            "repeats": "-1",
            "next_run_0": "2026-07-01",
            "next_run_1": "00:00:00",
            "cron": "",
            "cluster": "",
            "intended_date_kwarg": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    [entry] = entries("admin.change", schedule)
    assert entry.before == {"object": str(schedule)}
    assert "Arguments" in entry.after["changes"][0]["changed"]["fields"]
