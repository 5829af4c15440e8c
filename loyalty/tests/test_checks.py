from __future__ import annotations

import io

import pytest
from django.core.checks import Error
from django.core.checks.registry import registry
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import SystemCheckError

from loyalty.checks import SQLITE_NEEDED, sqlite_version_check, sqlite_version_errors


def test_an_old_sqlite_is_named_with_the_version_needed_when_the_embedded_database_is_used():
    (error,) = sqlite_version_errors((3, 34, 1), used=True)

    assert "SQLite 3.35.0 or newer" in error.msg and "SQLite 3.34.1" in error.msg
    assert error.id == "loyalty.E001"


def test_a_new_enough_sqlite_or_postgresql_alone_passes():
    assert sqlite_version_errors(SQLITE_NEEDED, used=True) == []
    assert sqlite_version_errors((3, 34, 1), used=False) == []


def test_the_check_runs_with_django_s_checks_and_passes_on_this_machine():
    assert sqlite_version_check in registry.get_checks()
    call_command("check")  # raises SystemCheckError on an error


@pytest.fixture
def failing_check():
    """A system check that always fails, registered for one test."""

    def always_fails(app_configs=None, **kwargs):
        return [Error("broken on purpose", id="test.E999")]

    registry.register(always_fails)
    yield
    registry.registered_checks.discard(always_fails)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "command",
    [
        ["recompute_tiers"],
        ["export_tiers", "--output", "{tmp}/tiers.csv"],
        ["import_csv", "members", "{tmp}/members.csv"],
        ["nominate_reviews", "--quarter", "2026Q2"],
    ],
)
def test_batch_commands_start_without_the_system_checks_that_check_runs(
    failing_check, command, tmp_path
):
    # The nightly jobs do not pay for checks made at deployment: a failing check stops
    # `check` and the server, not a run of the batch commands.
    (tmp_path / "members.csv").write_text(
        "member_no,name,phone,email,joined_on,member_type,birthday\n"
        "M1,张三,13800000001,,2025-01-01,regular,\n",
        encoding="utf-8",
    )
    args = [arg.format(tmp=tmp_path) for arg in command]
    with pytest.raises(SystemCheckError):
        call_command("check")

    # As manage.py runs it (call_command skips the checks whatever the command says).
    name, *argv = args
    command = load_command_class(get_commands()[name], name)
    options = vars(command.create_parser("manage.py", name).parse_args(argv))
    positional = options.pop("args", ())
    command.execute(*positional, **{**options, "skip_checks": False, "stdout": io.StringIO()})
