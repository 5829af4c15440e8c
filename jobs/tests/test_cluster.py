"""Real worker clusters: two ``qcluster`` processes (the way two hosts would run them, sharing
the broker and the database) work one recompute run between them."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_q.tasks import async_task

from jobs import services
from jobs.models import JobRun
from members.tests.factories import MemberFactory
from tiers.models import MemberEvaluation, TierChange

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings["USER"] or "postgres"
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    return (
        f"postgres://{user}{password}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )


def start_cluster(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loyalty.settings.test",
        "DATABASE_URL": database_url(),
        "Q_SYNC": "false",
        "Q_WORKERS": "1",
        "LANGUAGE_CODE": "en",  # the log lines this test waits for
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def enqueue_on_broker(chunk_id: int) -> None:
    # The test process runs tasks inline (sync); these go to the broker for the clusters.
    async_task("jobs.tasks.recompute_chunk", chunk_id, sync=False)


# Transactional, so that other processes and connections see the data (conftest runs these
# last; migrated_data restores what an earlier one's flush removed).
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_data")
def test_two_clusters_share_one_run_and_evaluate_every_member_exactly_once(tmp_path):
    members = MemberFactory.create_batch(60, joined_on=datetime.date(2020, 1, 1))
    logs = [tmp_path / "cluster-a.log", tmp_path / "cluster-b.log"]
    clusters = [start_cluster(log) for log in logs]
    try:
        wait_for(
            lambda: all("running" in log.read_text() for log in logs), 90, "both clusters to start"
        )
        # A whole run of small chunks can end within one broker poll, so one cluster could take
        # every chunk. Keep one cluster's only worker busy first: that cluster holds at most
        # the chunks its pusher has reserved, and the other cluster must take the rest (for 6 s:
        # 2 s was too short on a machine busy with other suites; it still is, now and then,
        # when a browser and another cluster share the two cores).
        async_task("time.sleep", 6, sync=False)
        wait_for(
            lambda: any("'time.sleep'" in log.read_text() for log in logs),
            30,
            "a cluster to take the busy task",
        )

        run = services.recompute_start(
            as_of=datetime.date(2026, 6, 30), chunk_size=3, enqueue=enqueue_on_broker
        )

        wait_for(
            lambda: JobRun.objects.get(pk=run.pk).finished_at is not None, 120, "the run to end"
        )
    finally:
        for cluster in clusters:
            cluster.terminate()
        for cluster in clusters:
            cluster.wait(timeout=30)

    run.refresh_from_db()
    assert (run.status, run.chunks_done, run.chunks_total, run.errors) == ("done", 20, 20, 0)
    assert run.evaluated == len(members) == MemberEvaluation.objects.count()
    assert set(run.chunks.values_list("attempts", flat=True)) == {1}
    # Every member got exactly one first tier, and both clusters took a share of the chunks.
    assert TierChange.objects.filter(cause="qualified").count() == len(members)
    workers = set(run.chunks.values_list("worker", flat=True))
    assert len(workers) >= 2, (workers, [log.read_text()[-2000:] for log in logs])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_data")
def test_a_cluster_told_to_stop_finishes_the_running_task_then_exits(tmp_path):
    # As systemd stops deploy/loyalty-qcluster@.service (KillMode=mixed): SIGTERM to the main
    # process only.
    unit = (ROOT / "deploy" / "loyalty-qcluster@.service").read_text()
    assert "KillMode=mixed" in unit
    log = tmp_path / "cluster.log"
    cluster = start_cluster(log)
    try:
        wait_for(lambda: "running" in log.read_text(), 90, "the cluster to start")
        async_task("time.sleep", 3, sync=False)
        wait_for(lambda: "'time.sleep'" in log.read_text(), 30, "a worker to take the task")

        cluster.terminate()

        assert cluster.wait(timeout=60) == 0
    finally:
        if cluster.poll() is None:
            cluster.kill()
    text = log.read_text()
    assert "Processed 'time.sleep'" in text, text[-2000:]
    assert text.rfind("Processed 'time.sleep'") < text.rfind("stopped")
