"""Measure import and recompute at scale, against an empty scratch database.

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
from django.db import connection
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
        parser.add_argument("--members", type=int, default=100_000)
        parser.add_argument("--transactions", type=int, default=1_000_000)
        parser.add_argument(
            "--as-of", type=datetime.date.fromisoformat, default=datetime.date(2026, 6, 30)
        )
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, members, transactions, as_of, seed, **options):
        if Member.objects.exists():
            raise CommandError(
                "the benchmark needs an empty database: point DATABASE_URL at a scratch one"
            )
        workdir = Path(tempfile.mkdtemp(prefix="loyalty-bench-"))
        started = time.monotonic()
        members_csv, transactions_csv = self._generate(workdir, members, transactions, as_of, seed)
        self.stdout.write(
            f"generated {members:,} members and {transactions:,} transactions in "
            f"{time.monotonic() - started:.1f} s ({connection.vendor})"
        )

        self._step("import members", "import_csv", "members", str(members_csv))
        self._step("import transactions", "import_csv", "transactions", str(transactions_csv))
        self._bare_group_by(as_of)
        self._step("recompute (first evaluation)", "recompute_tiers", "--as-of", str(as_of))
        later = as_of + datetime.timedelta(days=31)
        self._step("recompute (a month later)", "recompute_tiers", "--as-of", str(later))
        self._step(
            "recompute, chunk 5,000",
            "recompute_tiers",
            "--as-of",
            str(later),
            "--chunk-size",
            "5000",
        )
        self._step(
            "recompute, chunk 50,000",
            "recompute_tiers",
            "--as-of",
            str(later),
            "--chunk-size",
            "50000",
        )
        self._member_search_p95(members, seed)
        self._member_page_p95(members, seed)

    def _step(self, label: str, *command: str) -> None:
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
        self.stdout.write(
            f"{label:32} {seconds:7.2f} s   peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
        )

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

    def _bare_group_by(self, as_of: datetime.date) -> None:
        window = engine.window_for(as_of, engine.WindowKind.ROLLING_YEAR)
        table = Transaction._meta.db_table
        sql = (
            f"SELECT member_id, SUM(amount_fen), COUNT(*) FROM {table} "
            "WHERE occurred_on > %s AND occurred_on <= %s GROUP BY member_id"
        )
        best = None
        for _ in range(3):
            started = time.monotonic()
            with connection.cursor() as cursor:
                cursor.execute(sql, [window.after, window.until])
                groups = len(cursor.fetchall())
            elapsed = time.monotonic() - started
            best = elapsed if best is None else min(best, elapsed)
        self.stdout.write(f"{'bare GROUP BY (best of 3)':32} {best:7.2f} s   {groups:,} groups")

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
