"""Measure import and recompute at scale, against an empty scratch database; with ``--api``,
the REST API's throughput instead (single transactions POSTed to gunicorn by locust).

Each step runs as its own ``manage.py`` process, so its wall time and peak memory (max RSS) are
its own, as an operator would see them. The figures go into BENCHMARKS.md by hand.
"""

from __future__ import annotations

import csv
import datetime
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.template.loader import render_to_string
from django.test import RequestFactory, override_settings

from backoffice.selectors import member_profile, member_search
from loyalty.money import fen_to_yuan
from members.models import Member, Transaction
from tiers import engine

_PLAIN_STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


class Command(BaseCommand):
    help = "Generate data, then time import_csv, a bare GROUP BY and recompute_tiers."

    def add_arguments(self, parser):
        parser.add_argument(
            "--api",
            action="store_true",
            help="only measure the REST API: single transactions POSTed to gunicorn by locust",
        )
        parser.add_argument("--api-users", type=int, default=32)
        parser.add_argument("--api-seconds", type=int, default=20)
        parser.add_argument("--api-workers", type=int, default=4)
        parser.add_argument("--members", type=int, default=100_000)
        parser.add_argument(
            "--transactions",
            type=int,
            help="transactions in the file (default: members × --transactions-per-member)",
        )
        parser.add_argument("--transactions-per-member", type=int, default=10)
        parser.add_argument(
            "--as-of", type=datetime.date.fromisoformat, default=datetime.date(2026, 6, 30)
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--import-only",
            action="store_true",
            help="stop after importing the transactions (skip the GROUP BY and recomputes)",
        )

    def handle(self, *args, members, transactions, as_of, seed, import_only, **options):
        transactions = transactions or members * options["transactions_per_member"]
        if Member.objects.exists():
            raise CommandError(
                "the benchmark needs an empty database: point DATABASE_URL at a scratch one"
            )
        if options["api"]:
            self._api(options["api_users"], options["api_seconds"], options["api_workers"])
            return
        # The files (about 700 MB at 1M members) are needed only by the imports.
        with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as workdir:
            started = time.monotonic()
            members_csv, transactions_csv = self._generate(
                Path(workdir), members, transactions, as_of, seed
            )
            self.stdout.write(
                f"generated {members:,} members and {transactions:,} transactions in "
                f"{time.monotonic() - started:.1f} s ({connection.vendor})"
            )
            members_s, _mib = self._step(
                "import members", "import_csv", "members", str(members_csv)
            )
            seconds, peak_mib = self._step(
                "import transactions", "import_csv", "transactions", str(transactions_csv)
            )
        # Machine-readable lines (name: value unit), end to end as an operator sees it.
        self.stdout.write(f"import_rows_per_s: {transactions / seconds:.0f} rows/s")
        self.stdout.write(f"import_peak_rss_mb: {peak_mib:.0f} MB")
        if import_only:
            return
        aggregate_s = self._bare_group_by(as_of)
        self.stdout.write(f"aggregate_s: {aggregate_s:.2f} s")
        first_s, first_mib = self._step(
            "recompute (first evaluation)", "recompute_tiers", "--as-of", str(as_of)
        )
        later = as_of + datetime.timedelta(days=31)
        steady_s, steady_mib = self._step(
            "recompute (a month later)", "recompute_tiers", "--as-of", str(later)
        )
        self.stdout.write(f"recompute_first_s: {first_s:.2f} s")
        self.stdout.write(f"recompute_steady_s: {steady_s:.2f} s")
        self.stdout.write(f"recompute_first_ratio: {first_s / aggregate_s:.1f} x")
        self.stdout.write(f"recompute_steady_ratio: {steady_s / aggregate_s:.1f} x")
        self.stdout.write(f"recompute_peak_rss_mb: {max(first_mib, steady_mib):.0f} MB")
        # The SQLite target: both files imported and everyone evaluated, from an empty database.
        together = members_s + seconds + first_s
        self.stdout.write(f"import_and_first_recompute_s: {together:.1f} s")
        self._policy_preview(later)
        self._member_search_p95(members, seed)
        self._member_page_p95(members, seed)

    def _step(self, label: str, *command: str) -> tuple[float, float]:
        """Run one step; returns its wall time in seconds and its peak RSS in MiB."""
        self._settle()
        with tempfile.TemporaryFile() as output:
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "manage.py", *command, "-v", "0"],
                cwd=settings.BASE_DIR,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            # wait4 gives this child's own peak memory, not the largest of all children so far.
            _pid, status, usage = os.wait4(process.pid, 0)
            seconds = time.monotonic() - started
            if os.waitstatus_to_exitcode(status) != 0:
                output.seek(0)
                raise CommandError(f"{label} failed:\n{output.read().decode()}")
        peak_mib = usage.ru_maxrss / 1024
        self.stdout.write(f"{label:32} {seconds:7.2f} s   peak RSS {peak_mib:.0f} MiB")
        return seconds, peak_mib

    def _settle(self) -> None:
        """Start a step from a quiet machine: the generated files' pages and the database's
        dirty buffers of the step before written out, so that neither is charged to this one
        (writing back the fresh 650 MB file made a 10M-row import's staging 5 s slower)."""
        os.sync()
        if connection.vendor != "postgresql":
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("CHECKPOINT")
        except DatabaseError as exc:  # needs a superuser or pg_checkpoint: measure anyway
            self.stderr.write(f"no CHECKPOINT before the step ({exc})")

    def _p95_ms(self, timings: list[float]) -> float:
        timings = sorted(timings)
        return timings[max(0, int(len(timings) * 0.95) - 1)] * 1000

    def _member_search_p95(self, members: int, seed: int, samples: int = 300) -> None:
        """A staff search by member number, phone or a phone's last four digits, as the member
        list runs it (one page of 51 rows, joined)."""
        rng = random.Random(seed)
        timings = []
        for i in range(samples):
            n = rng.randrange(1, members + 1)
            query = [f"B{n:08d}", f"139{n:08d}", f"{n:08d}"[-4:]][i % 3]
            started = time.perf_counter()
            list(member_search(query=query)[:51])
            timings.append(time.perf_counter() - started)
        self.stdout.write(f"member_search_p95_ms: {self._p95_ms(timings):.1f} ms")

    def _member_page_p95(self, members: int, seed: int, samples: int = 100) -> None:
        """The member page: every read (profile, explanation, progress, history, transactions,
        audit) and the template rendered, for random members."""
        rng = random.Random(seed + 1)
        request = RequestFactory().get("/members/x/")
        request.user = AnonymousUser()
        timings = []
        # The page links its stylesheet: the plain static storage needs no collectstatic run.
        with override_settings(STORAGES={**settings.STORAGES, "staticfiles": _PLAIN_STATIC}):
            for _ in range(samples):
                member_no = f"B{rng.randrange(1, members + 1):08d}"
                started = time.perf_counter()
                profile = member_profile(member_no=member_no)
                render_to_string(
                    "backoffice/member_detail.html",
                    {"profile": profile, "member": profile.member},
                    request,
                )
                timings.append(time.perf_counter() - started)
        self.stdout.write(f"member_page_p95_ms: {self._p95_ms(timings):.1f} ms")

    def _bare_group_by(self, as_of: datetime.date) -> float:
        window = engine.window_for(as_of, engine.WindowKind.ROLLING_YEAR)
        table = Transaction._meta.db_table
        # Counted in the database: fetching a million groups into this process would make it
        # large, and every step's child process starts with this one's peak memory (fork).
        sql = (
            f"SELECT COUNT(*) FROM (SELECT member_id, SUM(amount_fen), COUNT(*) FROM {table} "
            "WHERE occurred_on > %s AND occurred_on <= %s GROUP BY member_id) g"
        )
        best = None
        for _ in range(3):
            started = time.monotonic()
            with connection.cursor() as cursor:
                cursor.execute(sql, [window.after, window.until])
                (groups,) = cursor.fetchone()
            elapsed = time.monotonic() - started
            best = elapsed if best is None else min(best, elapsed)
        self.stdout.write(f"{'bare GROUP BY (best of 3)':32} {best:7.2f} s   {groups:,} groups")
        return best

    def _generate(self, workdir: Path, members: int, transactions: int, as_of, seed: int):
        rng = random.Random(seed)
        tz = ZoneInfo(settings.TIME_ZONE)
        members_csv = workdir / "members.csv"
        with members_csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["member_no", "name", "phone", "email", "joined_on", "member_type", "birthday"]
            )
            for n in range(1, members + 1):
                joined = as_of - datetime.timedelta(days=rng.randrange(30, 3650))
                writer.writerow(
                    [f"B{n:08d}", f"会员{n}", f"139{n:08d}", "", joined.isoformat(), "regular", ""]
                )
        transactions_csv = workdir / "transactions.csv"
        start = datetime.datetime.combine(as_of, datetime.time(), tzinfo=tz) - datetime.timedelta(
            days=450
        )
        span = 480 * 86400
        refundable: list[tuple[str, str, int, datetime.datetime]] = []
        with transactions_csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["external_id", "member_no", "kind", "amount", "occurred_at", "refund_of"]
            )
            for n in range(1, transactions + 1):
                member_no = f"B{rng.randrange(1, members + 1):08d}"
                at = start + datetime.timedelta(seconds=rng.randrange(span))
                # Refunds are ~2% of the rows, each a part of an earlier purchase of the member.
                if refundable and rng.random() < 0.02:
                    purchase_id, owner, amount, bought_at = refundable.pop(
                        rng.randrange(len(refundable))
                    )
                    refund = rng.randrange(1, amount + 1)
                    writer.writerow(
                        [
                            f"X{n:09d}",
                            owner,
                            "refund",
                            str(fen_to_yuan(refund)),
                            (bought_at + datetime.timedelta(days=3)).isoformat(),
                            purchase_id,
                        ]
                    )
                    continue
                amount = int(rng.lognormvariate(10.3, 1.1)) + 1
                writer.writerow(
                    [
                        f"X{n:09d}",
                        member_no,
                        "purchase",
                        str(fen_to_yuan(amount)),
                        at.isoformat(),
                        "",
                    ]
                )
                if rng.random() < 0.03:
                    refundable.append((f"X{n:09d}", member_no, amount, at))
        return members_csv, transactions_csv

    def _policy_preview(self, as_of: datetime.date) -> None:
        """The impact preview of a draft that raises Gold's spend threshold, for every member
        (what a policy owner waits for before publishing); best of 2 runs."""
        from tiers.preview import policy_preview
        from tiers.services import policy_draft_create, policy_draft_update

        draft = policy_draft_create(actor=None, today=as_of)
        rules = dict(draft.rules)
        rules["gold"] = {
            "any": [
                {"metric": "spend", "min": "25000.00"},
                {"metric": "frequency", "min": 12},
                {"metric": "contribution", "min": 2000},
            ]
        }
        draft = policy_draft_update(policy=draft, actor=None, rules=rules)
        best = None
        for _ in range(2):
            started = time.monotonic()
            preview = policy_preview(draft=draft, as_of=as_of)
            elapsed = time.monotonic() - started
            best = elapsed if best is None else min(best, elapsed)
        self.stdout.write(
            f"policy preview (best of 2): {preview.members:,} members, "
            f"{preview.up:,} up, {preview.down:,} down"
        )
        self.stdout.write(f"policy_preview_s: {best:.2f} s")

    # --- The REST API ---------------------------------------------------------------------

    def _api(self, users: int, seconds: int, workers: int) -> None:
        """POST single purchases to gunicorn (DEBUG off, ``workers`` sync workers) with locust
        headless, ``users`` users without pauses, for ``seconds``; each purchase re-evaluates
        its member. Prints ``api_tx_per_s`` and ``api_p99_ms``."""
        from api.services import api_key_create

        count = 2_000
        Member.objects.bulk_create(
            Member(member_no=f"API{n:06d}", name=f"会员{n}", joined_on=datetime.date(2020, 1, 1))
            for n in range(count)
        )
        _key, raw_key = api_key_create(
            name="benchmark", scopes="transactions:write", requests_per_minute=10**8
        )
        with tempfile.TemporaryDirectory(prefix="loyalty-api-bench-") as workdir:
            total = self._locust(Path(workdir), raw_key, count, users, seconds, workers)
        stored = Transaction.objects.count()
        self.stdout.write(
            f"{total['Request Count']} requests, {total['Failure Count']} failed, "
            f"{stored} transactions stored, warm-up included "
            f"({connection.vendor}, {workers} gunicorn workers, {users} users, {seconds} s)"
        )
        self.stdout.write(f"api_tx_per_s: {float(total['Requests/s']):.0f} tx/s")
        self.stdout.write(f"api_p99_ms: {float(total['99%']):.0f} ms")

    def _locust(
        self, workdir: Path, raw_key: str, count: int, users: int, seconds: int, workers: int
    ) -> dict:
        """Serve with gunicorn, load with locust; the measured run's aggregated stats row."""
        locustfile = workdir / "locustfile.py"
        locustfile.write_text(_LOCUSTFILE % {"key": raw_key, "members": count})
        port = 8765
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "loyalty.settings.base",
            "LOG_LEVEL": "WARNING",
            # As behind the TLS-terminating proxy of the production layout (README).
            "USE_X_FORWARDED_PROTO": "true",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "loyalty.wsgi", "-w", str(workers),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=settings.BASE_DIR,
            env=env,
        )  # fmt: skip
        try:
            self._wait_for(f"http://127.0.0.1:{port}/api/v1/members/")
            # A warm-up run first, not counted: each worker's first requests import the views
            # and prepare its statements (a few hundred ms), which a server in service has done
            # long ago; counted, they made most of a 20 s run's slowest 2%.
            for run, run_seconds in (("warm-up", API_WARM_UP_SECONDS), ("out", seconds)):
                subprocess.run(
                    [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
                     "-u", str(users), "-r", str(users), "-t", f"{run_seconds}s",
                     "--host", f"http://127.0.0.1:{port}", "--csv", str(workdir / run),
                     "--only-summary", "--loglevel", "WARNING"],
                    check=False,
                    cwd=workdir,
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
        finally:
            server.terminate()
            server.wait()
        with (workdir / "out_stats.csv").open(encoding="utf-8") as handle:
            return next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")

    @staticmethod
    def _wait_for(url: str, timeout: float = 120) -> None:
        """Until the server answers (401: it is up, and wants a key)."""
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})
                urllib.request.urlopen(request, timeout=5)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.5)
        raise CommandError(f"the server did not start: {url}")


API_WARM_UP_SECONDS = 5

_LOCUSTFILE = """
import datetime, random, uuid
from locust import FastHttpUser, task

HEADERS = {"Authorization": "Api-Key %(key)s", "X-Forwarded-Proto": "https"}


# locust's light client (geventhttpclient): it shares the two cores with the server.
class Pos(FastHttpUser):
    @task
    def purchase(self):
        moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
        self.client.post("/api/v1/transactions/", name="POST /api/v1/transactions/",
                         headers=HEADERS, json={
            "external_id": uuid.uuid4().hex,
            "member_no": "API%%06d" %% random.randrange(%(members)d),
            "kind": "purchase",
            "amount": "%%d.%%02d" %% (random.randrange(1, 2000), random.randrange(100)),
            "occurred_at": moment.isoformat(),
        })
"""
