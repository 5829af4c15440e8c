"""A recompute or an import killed midway (a real subprocess, SIGKILL) leaves the database
consistent, and running it again gives exactly what an uninterrupted run gives.

PostgreSQL only: the subprocesses need a database they can share with the test, and the
uninterrupted run happens in a copy of it made with CREATE DATABASE … TEMPLATE."""

from __future__ import annotations

import csv
import datetime
import io
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.services import tiers_recompute

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR)
FIRST_DAY = datetime.date(2026, 1, 1)
SECOND_DAY = datetime.date(2026, 6, 30)


def _server_url(database: str) -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{user}{password}@{host}/{database}"


def _manage(database: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _server_url(database), "DEBUG": "false"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(database: str, *args: str) -> str:
    process = _manage(database, *args)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return out


@contextmanager
def copy_of_test_database():
    """A copy of the test database as it is now (committed data), dropped afterwards."""
    source = settings.DATABASES["default"]["NAME"]
    copy = f"{source}_copy"
    connection.close()  # CREATE DATABASE … TEMPLATE needs the source without connections
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{copy}"')
        admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')
    try:
        yield copy
    finally:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


def _kill_after_first_progress(process: subprocess.Popen, marker: str) -> None:
    """SIGKILL the process once it has printed ``marker`` on stderr (some work committed)."""
    for line in process.stderr:
        if marker in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def _history(database: str) -> list[tuple]:
    with psycopg.connect(_server_url(database)) as conn:
        return conn.execute(
            "SELECT m.member_no, c.from_tier_id, c.to_tier_id, c.cause, c.effective_on "
            "FROM tiers_tierchange c JOIN members_member m ON m.id = c.member_id "
            "ORDER BY m.member_no, c.effective_on, c.cause"
        ).fetchall()


def _export(database: str, tmp_path: Path, name: str) -> list[list[str]]:
    path = tmp_path / name
    _run(database, "export_tiers", "--output", str(path))
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_a_recompute_killed_midway_then_rerun_equals_an_uninterrupted_run(tmp_path):
    for n in range(400):
        member = MemberFactory(member_no=f"K{n:05d}", joined_on=datetime.date(2024, 1, 1))
        # Spread over the tiers, and some who drop below their tier by the second date.
        PurchaseFactory(
            member=member, amount_fen=(n % 7) * 600_000 + 100, day=datetime.date(2025, 12, 1)
        )
        if n % 3 == 0:
            PurchaseFactory(member=member, amount_fen=2_500_000, day=datetime.date(2026, 5, 1))
    tiers_recompute(as_of=FIRST_DAY)
    database = settings.DATABASES["default"]["NAME"]

    with copy_of_test_database() as copy:
        _run(copy, "recompute_tiers", "--as-of", str(SECOND_DAY), "--chunk-size", "20")
        expected = (_export(copy, tmp_path, "expected.csv"), _history(copy))

        killed = _manage(
            database, "recompute_tiers", "--as-of", str(SECOND_DAY), "--chunk-size", "20"
        )
        _kill_after_first_progress(killed, "/400")  # "20/400 members (5%)", in any language
        partial = _history(database)
        _run(database, "recompute_tiers", "--as-of", str(SECOND_DAY), "--chunk-size", "20")

        assert partial != expected[1]  # it really stopped midway
        assert (_export(database, tmp_path, "rerun.csv"), _history(database)) == expected


def test_an_import_killed_midway_writes_nothing_and_the_rerun_imports_everything(tmp_path):
    MemberFactory(member_no="IMP1")
    path = tmp_path / "txns.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["external_id", "member_no", "kind", "amount", "occurred_at", "refund_of"])
        for n in range(150_000):
            writer.writerow([f"X{n}", "IMP1", "purchase", "10.01", "2026-06-01T10:00:00+08:00", ""])
    database = settings.DATABASES["default"]["NAME"]
    connection.close()

    process = _manage(database, "import_csv", "transactions", str(path))
    _kill_after_first_progress(process, "")  # the first progress line: rows read, none committed

    with psycopg.connect(_server_url(database)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM members_transaction").fetchone() == (0,)
    _run(database, "import_csv", "transactions", str(path))
    with psycopg.connect(_server_url(database)) as conn:
        assert conn.execute(
            "SELECT COUNT(*), SUM(amount_fen) FROM members_transaction"
        ).fetchone() == (150_000, 150_000 * 1001)
