"""Backup and restore as the README documents them: ``pg_dump -Fc`` of the database,
``pg_restore`` into a fresh one, and every member, tier, history and evaluation row is back
(and the restored audit log still refuses changes)."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.actions import member_register
from tiers.models import Tier, TierChange
from tiers.services import tier_override_set, tiers_recompute

# Not transactional: the data lives in a scratch database seeded by a separate process, so the
# test database is never flushed (later tests need the rows its migrations created).
pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]

ROOT = Path(settings.BASE_DIR)
# Compared row by row, in key order.
TABLES = {
    "members_member": "id",
    "members_transaction": "id",
    "tiers_membertier": "member_id",
    "tiers_tierchange": "id",
    "tiers_memberevaluation": "member_id",
    "tiers_downgradewarning": "id",
    "tiers_tieroverride": "id",
    "loyalty_auditentry": "id",
}


def server_url(database: str) -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgresql://{db['USER']}{password}@{host}:{port}/{database}"


@pytest.fixture
def databases():
    """Two empty databases on the same server (the one backed up, the one restored into),
    dropped afterwards."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore are not installed")
    names = [f"loyalty_{kind}_{uuid.uuid4().hex[:10]}" for kind in ("backup", "restore")]
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    yield names
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def dump(database: str, path: Path) -> None:
    subprocess.run(["pg_dump", "-Fc", "--no-owner", "-f", path, server_url(database)], check=True)


def restore(path: Path, database: str) -> None:
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "-d", server_url(database), path],
        check=True,
    )


def seed_members_with_tier_history() -> None:
    """Members who qualify, move up, are warned and moved down over a year and a half, one
    registered by staff (audited) with a manual override. Runs in the seeding process."""
    for n, yuan in enumerate([100, 6_000, 25_000, 60_000, 120_000, 3_000, 21_000, 8_000]):
        member = MemberFactory(joined_on=datetime.date(2020 + n % 4, 3, 1))
        PurchaseFactory(member=member, amount_fen=yuan * 100, day=datetime.date(2025, 2, 10))
        if n % 3 == 0:
            PurchaseFactory(member=member, amount_fen=yuan * 50, day=datetime.date(2025, 9, 5))
    for as_of in ["2025-03-01", "2025-10-01", "2026-02-01", "2026-04-01", "2026-06-01"]:
        tiers_recompute(as_of=datetime.date.fromisoformat(as_of))
    registered = member_register(
        member_no="M-BACKUP", name="备份测试", joined_on=datetime.date(2026, 1, 5)
    )
    tier_override_set(
        member=registered,
        tier=Tier.objects.get(code="gold"),
        reason="VIP complaint resolved",
        ends_on=None,
        actor=None,
    )
    assert TierChange.objects.filter(cause=TierChange.Cause.UPGRADE).exists()
    assert TierChange.objects.filter(cause=TierChange.Cause.DOWNGRADE).exists()


def seed(database: str) -> None:
    env = {**os.environ, "DATABASE_URL": server_url(database)}
    code = f"from {__name__} import seed_members_with_tier_history as s; s()"
    subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def rows(database: str, table: str) -> list[tuple]:
    with psycopg.connect(server_url(database)) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {TABLES[table]}").fetchall()


def test_a_dump_restored_into_a_fresh_database_has_every_tier_and_history_row(databases, tmp_path):
    production, fresh = databases
    # The production stand-in: the migrated schema (copied from the test database, whose
    # migration rows are committed) plus members with a tier history.
    dump(connection.settings_dict["NAME"], tmp_path / "schema.dump")
    restore(tmp_path / "schema.dump", production)
    seed(production)

    dump(production, tmp_path / "loyalty.dump")
    restore(tmp_path / "loyalty.dump", fresh)

    for table in TABLES:
        original = rows(production, table)
        assert original, f"{table} is empty: the round trip would prove little"
        assert rows(fresh, table) == original, table
    with (
        psycopg.connect(server_url(fresh)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM loyalty_auditentry")
