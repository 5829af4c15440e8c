from __future__ import annotations

from django.core.checks.registry import registry
from django.core.management import call_command

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
