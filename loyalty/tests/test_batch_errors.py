"""A batch command that fails outside the data says so in one line, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from loyalty.management.batch import BatchCommand

MANAGE = Path(settings.BASE_DIR) / "manage.py"


def run(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "LANGUAGE_CODE": "en"}
    return subprocess.run(
        [sys.executable, str(MANAGE), *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize("command", [["recompute_tiers"], ["export_tiers"]])
def test_a_database_never_migrated_is_named_with_what_to_do(tmp_path, command):
    done = run(*command, database_url=f"sqlite:///{tmp_path / 'new.sqlite3'}")

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("run python manage.py migrate first"), (
        done.stderr
    )


def test_a_database_that_cannot_be_opened_is_one_line(tmp_path):
    done = run("export_tiers", database_url=f"sqlite:///{tmp_path / 'no' / 'such.sqlite3'}")

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "CommandError: The database failed: unable to open database file"


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/mem is Linux's")
@pytest.mark.django_db
def test_a_file_the_system_cannot_read_is_one_line():
    with translation.override("en"), pytest.raises(CommandError) as raised:
        call_command("import_csv", "members", "/proc/self/mem")

    assert str(raised.value).endswith("cannot be read or written: Input/output error")


class _Connects(BatchCommand):
    def handle(self, *args, **options):
        socket.create_connection(("127.0.0.1", 1), timeout=5)  # nothing listens on port 1


def test_a_network_failure_is_not_reported_as_a_file_that_cannot_be_read():
    with pytest.raises(ConnectionRefusedError):
        call_command(_Connects())
