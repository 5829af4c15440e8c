"""Backup and restore as the README documents them: ``pg_dump -Fc`` of the database,
``pg_restore`` into a fresh one, and every member, tier, history and evaluation row is back
(and the restored audit log still refuses changes)."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import uuid

import psycopg
import pytest
from django.db import connection

from members.tests.factories import MemberFactory, PurchaseFactory
from tiers.actions import member_register
from tiers.models import MemberEvaluation, MemberTier, Tier, TierChange
from tiers.services import tier_override_set, tiers_recompute

# Transactional, so the data is committed where pg_dump can see it; serialized_rollback loads
# the migrations' rows (tiers, default policy, groups) again for the tests after this one.
pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

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
def fresh_database():
    """An empty database on the same server, dropped afterwards."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore are not installed")
    name = f"loyalty_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed_members_with_tier_history() -> None:
    """Members who qualify, move up, are warned and moved down over a year and a half."""
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


def rows(database: str, table: str) -> list[tuple]:
    with psycopg.connect(server_url(database)) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {TABLES[table]}").fetchall()


def test_a_dump_restored_into_a_fresh_database_has_every_tier_and_history_row(
    fresh_database, tmp_path
):
    seed_members_with_tier_history()
    assert TierChange.objects.filter(cause=TierChange.Cause.DOWNGRADE).exists()
    assert TierChange.objects.filter(cause=TierChange.Cause.UPGRADE).exists()
    source = connection.settings_dict["NAME"]
    dump = tmp_path / "loyalty.dump"

    subprocess.run(
        ["pg_dump", "-Fc", "--no-owner", "-f", str(dump), server_url(source)], check=True
    )
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "-d", server_url(fresh_database), dump],
        check=True,
    )

    for table in TABLES:
        assert rows(fresh_database, table) == rows(source, table), table
    assert len(rows(fresh_database, "tiers_tierchange")) == TierChange.objects.count()
    assert len(rows(fresh_database, "tiers_membertier")) == MemberTier.objects.count() > 0
    evaluations = MemberEvaluation.objects.count()
    assert len(rows(fresh_database, "tiers_memberevaluation")) == evaluations
    assert rows(fresh_database, "loyalty_auditentry")
    with (
        psycopg.connect(server_url(fresh_database)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM loyalty_auditentry")
