from __future__ import annotations

import time
import unicodedata
from collections import Counter

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice import demo
from members.models import Member

SITE_URL = "http://127.0.0.1:8000/"


def _columns(text: str) -> int:
    """Terminal columns ``text`` takes: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _columns(text))


class Command(BaseCommand):
    help = (
        "Load a realistic, deterministic demo data set (members, purchases, refunds, referrals, "
        "activities, blacklist), evaluate tiers month by month, create one staff account per "
        "role (three committee voters) plus a superuser 'admin', seat the special-review "
        "committee and nominate the quarter that just ended. Refuses to run on a database "
        "that has members."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members",
            type=int,
            default=demo.DEFAULT_MEMBERS,
            help=f"how many members, at least {demo.MIN_MEMBERS} (default {demo.DEFAULT_MEMBERS})",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=demo.DEFAULT_SEED,
            help=f"random seed; the same seed gives the same data (default {demo.DEFAULT_SEED})",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="when members exist already, say so and do nothing (for `make run`)",
        )

    def handle(self, *args, members: int, seed: int, if_empty: bool, **options):
        if members < demo.MIN_MEMBERS:
            raise CommandError(
                _("--members must be at least %(minimum)s.") % {"minimum": demo.MIN_MEMBERS}
            )
        if Member.objects.exists():
            if if_empty:
                self.stdout.write(_("Members exist already: demo data not loaded."))
                return
            raise CommandError(_("demo data is already loaded; use a fresh database"))

        started = time.monotonic()
        today = timezone.localdate()
        data = demo.generate(members=members, seed=seed, today=today)
        with transaction.atomic():
            # Checked again inside the transaction: generating took a moment.
            if Member.objects.exists():
                raise CommandError(_("demo data is already loaded; use a fresh database"))
            accounts = demo.create_staff_accounts()
            seats = demo.seat_committee()
            ops = get_user_model().objects.get(username="ops")
            demo.load(data, recorded_by=ops.pk, progress=self.stderr.write)
        summaries = demo.evaluate_history(today, progress=self.stderr.write)
        with transaction.atomic():
            reviews = demo.open_reviews(today)
        self.stdout.write(
            self._report(accounts, summaries, seats, reviews, time.monotonic() - started)
        )

    def _report(self, accounts, summaries, seats, reviews, seconds: float) -> str:
        events = sum((summary.events for summary in summaries), start=Counter())
        lines = [
            _("Demo data loaded and evaluated in %(seconds).1f s.") % {"seconds": seconds},
            _(
                "Tier history: %(upgrades)s upgrades, %(warnings)s downgrade warnings, "
                "%(downgrades)s downgrades."
            )
            % {
                "upgrades": f"{events['upgrade']:,}",
                "warnings": f"{events['warning']:,}",
                "downgrades": f"{events['downgrade']:,}",
            },
            "",
        ]
        rows = [(_("role"), _("username"), _("password"))]
        rows += [
            (a.role, a.username, a.password or _("(account existed: not changed)"))
            for a in accounts
        ]
        widths = [max(_columns(row[i]) for row in rows) for i in range(3)]
        for number, row in enumerate(rows):
            cells = [_pad(cell, width) for cell, width in zip(row, widths, strict=True)]
            lines.append("  ".join(cells).rstrip())
            if number == 0:
                lines.append("  ".join("-" * width for width in widths))
        lines.append("")
        if seats:
            lines.append(
                _("Review committee: %(seats)s.")
                % {
                    "seats": ", ".join(
                        f"{seat.user.get_username()} ({seat.get_department_display()}"
                        + (_(", chair") if seat.is_chair else "")
                        + ")"
                        for seat in seats
                    )
                }
            )
        else:
            lines.append(_("Review committee: seated already, left as it was."))
        lines.append(
            _(
                "Special review %(quarter)s: %(nominated)s cases nominated, %(voting)s open for "
                "votes (%(members)s)."
            )
            % {
                "quarter": reviews.quarter,
                "nominated": f"{reviews.nominated:,}",
                "voting": len(reviews.voting),
                "members": ", ".join(case.member.member_no for case in reviews.voting) or "—",
            }
        )
        lines += ["", _("Open %(url)s and sign in.") % {"url": SITE_URL}, ""]
        tiers, without = demo.tier_counts()
        names = [str(tier.name) for tier, _count in tiers] + [_("no tier")]
        width = max(_columns(name) for name in names)
        lines.append(_("Members per tier:"))
        for name, count in zip(names, [c for _tier, c in tiers] + [without], strict=True):
            lines.append(f"  {_pad(name, width)}  {count:>7,}")
        return "\n".join(lines)
