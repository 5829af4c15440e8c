"""A realistic, deterministic demo data set: generated in memory first, then written in bulk.

``generate`` is pure (a seed and a date in, plain tuples out), so the same seed gives the same
data on any database and tests can compare two generations without writing anything. ``load``
writes one generated set with ``loyalty.bulk.insert_rows`` (COPY on PostgreSQL), and
``evaluate_history`` runs the tier recompute month by month so the history shows upgrades,
downgrade warnings and downgrades. ``seat_committee`` and ``open_reviews`` give the special-review
committee seated members and cases to vote on, through the reviews app's services.

The shape follows what operators of a retail loyalty programme see: most members spend little,
a few spend a lot, a handful make one very large purchase (domain.md, special review profile
``big_one_off``), one member has referred more than fifty others (``referral_champion``), and
the oldest members have ten years of tenure (``loyal_veteran``).
"""

from __future__ import annotations

import bisect
import datetime
import hashlib
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count
from django.utils import timezone

from loyalty.bulk import analyze, insert_rows
from loyalty.roles import ROLES, sync_roles
from members.models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction
from reviews.models import CommitteeMember, Department, ReviewCase
from reviews.quarters import Quarter
from reviews.services import case_open_voting, cases_nominate, committee_member_set
from tiers.models import Tier
from tiers.services import RecomputeSummary, tiers_recompute

DEFAULT_MEMBERS = 3000
DEFAULT_SEED = 20261123
MIN_MEMBERS = 50

# Purchases reach back about 15 months before today.
HISTORY_DAYS = 457
# The recompute runs on the first day of each of these months, then today. Fourteen, not twelve:
# a tier given at the first evaluation can be downgraded only once its tier year has ended and
# 30 days have passed since a warning that cannot come sooner than 30 days before that end. With
# one evaluation a month that takes thirteen months, so twelve would never show a downgrade.
EVALUATION_MONTHS = 14

ACTIVITIES = (
    "直播互动",
    "商品评价",
    "线下沙龙",
    "新品发布会",
    "会员日活动",
    "问卷调研",
    "社群打卡",
    "新品品鉴会",
)
BLACKLIST_REASONS = (
    ("恶意投诉", "客服工单记录:多次无理由投诉并以差评相要挟,索要额外补偿。"),
    ("虚假交易", "风控系统记录:同一收货地址多账号下单后全额退款,疑似刷单套取积分。"),
    ("恶意退货", "门店记录:多次退回已使用商品并虚构质量问题。"),
)

# Common surnames with rough frequencies (per thousand) and pinyin for e-mail addresses.
SURNAMES = (
    ("王", "wang", 71), ("李", "li", 70), ("张", "zhang", 67), ("刘", "liu", 54),
    ("陈", "chen", 45), ("杨", "yang", 31), ("黄", "huang", 22), ("赵", "zhao", 20),
    ("吴", "wu", 20), ("周", "zhou", 19), ("徐", "xu", 15), ("孙", "sun", 15),
    ("马", "ma", 13), ("朱", "zhu", 13), ("胡", "hu", 12), ("郭", "guo", 11),
    ("何", "he", 11), ("高", "gao", 10), ("林", "lin", 10), ("罗", "luo", 9),
    ("郑", "zheng", 9), ("梁", "liang", 9), ("谢", "xie", 8), ("宋", "song", 8),
    ("唐", "tang", 8), ("许", "xu", 7), ("韩", "han", 7), ("冯", "feng", 7),
    ("邓", "deng", 7), ("曹", "cao", 7), ("彭", "peng", 6), ("曾", "zeng", 6),
    ("肖", "xiao", 6), ("田", "tian", 6), ("董", "dong", 5), ("袁", "yuan", 5),
    ("潘", "pan", 5), ("于", "yu", 5), ("蒋", "jiang", 5), ("蔡", "cai", 5),
    ("余", "yu", 5), ("杜", "du", 5), ("叶", "ye", 5), ("程", "cheng", 5),
    ("苏", "su", 4), ("魏", "wei", 4), ("吕", "lv", 4), ("丁", "ding", 4),
    ("任", "ren", 4), ("沈", "shen", 4), ("欧阳", "ouyang", 1), ("上官", "shangguan", 1),
)  # fmt: skip
GIVEN = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀", "xiu"), ("英", "ying"), ("敏", "min"),
    ("静", "jing"), ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
    ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"),
    ("超", "chao"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("桂", "gui"), ("兰", "lan"),
    ("华", "hua"), ("建", "jian"), ("国", "guo"), ("文", "wen"), ("辉", "hui"), ("玲", "ling"),
    ("婷", "ting"), ("雪", "xue"), ("晨", "chen"), ("宇", "yu"), ("浩", "hao"), ("然", "ran"),
    ("子", "zi"), ("轩", "xuan"), ("欣", "xin"), ("怡", "yi"), ("梓", "zi"), ("涵", "han"),
    ("博", "bo"), ("思", "si"), ("佳", "jia"), ("琪", "qi"), ("雨", "yu"), ("嘉", "jia"),
    ("俊", "jun"), ("慧", "hui"), ("海", "hai"), ("志", "zhi"), ("红", "hong"), ("梅", "mei"),
    ("云", "yun"), ("晓", "xiao"), ("鹏", "peng"), ("飞", "fei"), ("春", "chun"), ("凯", "kai"),
)  # fmt: skip
PHONE_PREFIXES = ("138", "139", "137", "136", "135", "158", "159", "186", "187", "188", "150")
# Reserved for examples (RFC 2606): a demo can never e-mail a real person.
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


class DemoMember(NamedTuple):
    member_no: str
    name: str
    phone: str
    email: str
    birthday: datetime.date | None
    joined_on: datetime.date
    status: str


class DemoTransaction(NamedTuple):
    """A purchase (``refund_of`` empty) or a refund naming its purchase's external id."""

    external_id: str
    member_no: str
    kind: str
    amount_fen: int
    occurred_at: datetime.datetime
    occurred_on: datetime.date
    refund_of: str


class DemoReferral(NamedTuple):
    referrer_no: str
    referred_no: str
    occurred_on: datetime.date


class DemoActivity(NamedTuple):
    member_no: str
    activity: str
    occurred_at: datetime.datetime
    occurred_on: datetime.date


class DemoBlacklisting(NamedTuple):
    member_no: str
    reason: str
    evidence: str
    occurred_at: datetime.datetime
    previous_status: str


@dataclass(frozen=True)
class DemoData:
    today: datetime.date
    members: tuple[DemoMember, ...]
    purchases: tuple[DemoTransaction, ...]
    refunds: tuple[DemoTransaction, ...]
    referrals: tuple[DemoReferral, ...]
    activities: tuple[DemoActivity, ...]
    blacklistings: tuple[DemoBlacklisting, ...]

    def checksum(self) -> str:
        """A digest of every generated row, to compare two generations."""
        digest = hashlib.sha256()
        for rows in (
            self.members,
            self.purchases,
            self.refunds,
            self.referrals,
            self.activities,
            self.blacklistings,
        ):
            for row in rows:
                digest.update(repr(tuple(_plain(v) for v in row)).encode())
        return digest.hexdigest()


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime.date) else value


# --- Generation -----------------------------------------------------------------------------

# Spending profiles: share of members, purchases over the ~15 months (low, high), median ticket
# in yuan and its spread (log-normal sigma). Shares of the rare profiles are floors, so even a
# small set shows every tier.
_PROFILES = {
    "dormant": (0.140, (0, 2), 120, 0.8),
    "light": (0.385, (3, 14), 180, 0.8),
    "regular": (0.260, (10, 24), 380, 0.8),
    "frequent": (0.090, (22, 45), 900, 0.8),
    "heavy": (0.030, (30, 70), 4200, 0.6),
    "lapsed": (0.015, (12, 30), 1800, 0.6),  # see _QUIET_AFTER
    "fading": (0.020, (15, 30), 1500, 0.6),
    "big_one_off": (0.005, (1, 1), 0, 0.0),  # one purchase of 150,000 or more
}
# Profiles that buy only until this many days after the first evaluation, then hardly at all:
# "lapsed" members are warned and downgraded within the history, "fading" ones are mostly
# warned with the downgrade still to come (what the retention pages are for).
_QUIET_AFTER = {"lapsed": -1, "fading": 75}
_EXPERIENCE_SHARE = 0.05
_BLACKLISTED_SHARE = 0.01
_REFUND_RATE = 0.03
_REFERRED_SHARE = 0.15


@dataclass
class _Draft:
    """A member while it is being generated (numbers are given once all are sorted)."""

    profile: str
    status: str
    joined_on: datetime.date
    engaged: bool = False
    member_no: str = ""


def generate(
    *,
    members: int = DEFAULT_MEMBERS,
    seed: int = DEFAULT_SEED,
    today: datetime.date,
    tz: datetime.tzinfo | None = None,
) -> DemoData:
    """The demo set for ``today``: the same arguments always give the same data. Times are
    local to ``tz`` (default ``settings.TIME_ZONE``); nothing happens after yesterday."""
    if members < MIN_MEMBERS:
        raise ValueError(f"a demo set needs at least {MIN_MEMBERS} members")
    tz = tz or timezone.get_default_timezone()
    rng = random.Random(seed)
    drafts = _drafts(rng, members, today)
    people = tuple(_person(rng, draft, today) for draft in drafts)
    start = today - datetime.timedelta(days=HISTORY_DAYS)
    first_evaluation = evaluation_dates(today)[0]
    clock = _Clock(rng, tz, start, today - datetime.timedelta(days=1))

    purchases: list[list] = []  # [member_no, amount_fen, occurred_at]
    refunds: list[list] = []  # [member_no, amount_fen, occurred_at, purchase index]
    activities: list[DemoActivity] = []
    blacklistings: list[DemoBlacklisting] = []
    for draft in drafts:
        first_day = max(start, draft.joined_on)
        for amount_fen, at in _purchases(rng, clock, draft, first_day, first_evaluation):
            purchases.append([draft.member_no, amount_fen, at])
            for refund_fen, refund_at in _refunds(rng, clock, draft, amount_fen, at):
                refunds.append([draft.member_no, refund_fen, refund_at, len(purchases) - 1])
        activities.extend(_activities(rng, clock, draft, first_day))
        if draft.status == Member.Status.BLACKLISTED:
            blacklistings.append(_blacklisting(rng, clock, draft))

    purchase_rows, refund_rows = _numbered(purchases, refunds, clock)
    return DemoData(
        today=today,
        members=people,
        purchases=purchase_rows,
        refunds=refund_rows,
        referrals=_referrals(rng, drafts),
        activities=tuple(activities),
        blacklistings=tuple(blacklistings),
    )


def _drafts(rng: random.Random, count: int, today: datetime.date) -> list[_Draft]:
    """Every member's profile, status and joined date, sorted by joined date and numbered in
    that order, as a business that numbers members on registration would."""
    labels: list[tuple[str, str]] = []
    for status, share in (
        (Member.Status.BLACKLISTED, _BLACKLISTED_SHARE),
        (Member.Status.EXPERIENCE, _EXPERIENCE_SHARE),
    ):
        labels += [("casual", status)] * max(1, round(count * share))
    for profile, (share, *_rest) in _PROFILES.items():
        if profile not in ("dormant", "light"):
            labels += [(profile, Member.Status.ACTIVE)] * max(1, round(count * share))
    light = round(count * _PROFILES["light"][0])
    labels += [("light", Member.Status.ACTIVE)] * light
    labels += [("dormant", Member.Status.ACTIVE)] * (count - len(labels))
    rng.shuffle(labels)

    drafts = []
    for profile, status in labels:
        if status == Member.Status.EXPERIENCE:
            years = rng.uniform(0, 2)  # casual customers registered recently
        elif profile == "big_one_off":
            years = rng.uniform(0, 2.5)  # short tenure: the one-off purchase is what stands out
        elif profile in _QUIET_AFTER:
            years = rng.uniform(1.5, 12)  # members before the history starts, then gone quiet
        else:
            # Skewed towards recent years, as a growing programme is; about one in eight members
            # has ten years or more.
            years = 12 * rng.random() ** 1.4
        # Everybody joined by yesterday, the last day anything happens.
        joined_on = today - datetime.timedelta(days=1 + int(years * 365.25))
        drafts.append(_Draft(profile, status, joined_on, engaged=rng.random() < 0.08))
    drafts.sort(key=lambda d: d.joined_on)
    for number, draft in enumerate(drafts, start=1):
        draft.member_no = f"M{number:08d}"
    return drafts


def _person(rng: random.Random, draft: _Draft, today: datetime.date) -> DemoMember:
    surname, surname_pinyin, _weight = rng.choices(SURNAMES, weights=[s[2] for s in SURNAMES])[0]
    given = rng.sample(GIVEN, k=1 if rng.random() < 0.35 else 2)
    name = surname + "".join(g[0] for g in given)
    phone = ""
    if rng.random() < 0.97:
        phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    email = ""
    if rng.random() < 0.6:
        handle = surname_pinyin + "".join(g[1] for g in given)
        if rng.random() < 0.6:
            handle += str(rng.randrange(1, 1000))
        email = f"{handle}@{rng.choice(EMAIL_DOMAINS)}"
    birthday = None
    if rng.random() < 0.9:
        age = rng.randint(18, 70)
        birthday = datetime.date(today.year - age, 1, 1) + datetime.timedelta(rng.randrange(365))
    return DemoMember(
        draft.member_no, name, phone, email, birthday, draft.joined_on, str(draft.status)
    )


class _Clock:
    """Local moments on days in the demo's history, with the seasonal peaks of Chinese retail
    (Double 11, 618, the new-year holidays) a little busier."""

    def __init__(
        self,
        rng: random.Random,
        tz: datetime.tzinfo,
        start: datetime.date,
        last_day: datetime.date,
    ):
        self.rng, self.tz, self.start, self.last_day = rng, tz, start, last_day

    @staticmethod
    def _weight(day: datetime.date) -> float:
        if day.month == 11 and day.day <= 11:
            return 3.0
        if day.month == 6 and day.day <= 18:
            return 2.0
        if day.month in (12, 1):
            return 1.4
        return 1.0

    def day(self, first: datetime.date, last: datetime.date | None = None) -> datetime.date:
        """A day from ``first`` to ``last`` (default: the last day of the history)."""
        last = min(last or self.last_day, self.last_day)
        if first > last:
            raise ValueError(f"no day from {first} to {last}")
        span = (last - first).days
        while True:
            day = first + datetime.timedelta(days=int(self.rng.random() * (span + 1)))
            if self.rng.random() * 3.0 < self._weight(day):
                return day

    def moment(self, day: datetime.date, earliest_hour: int = 8) -> datetime.datetime:
        seconds = self.rng.randrange(earliest_hour * 3600, 23 * 3600)
        at = datetime.datetime.combine(day, datetime.time(), tzinfo=self.tz)
        return at + datetime.timedelta(seconds=seconds)

    def local_date(self, at: datetime.datetime) -> datetime.date:
        return at.astimezone(self.tz).date()


def _ticket_fen(rng: random.Random, median: float, sigma: float) -> int:
    return max(990, round(median * math.exp(rng.gauss(0, sigma)) * 100))


def _purchases(
    rng: random.Random,
    clock: _Clock,
    draft: _Draft,
    first_day: datetime.date,
    first_evaluation: datetime.date,
):
    if draft.profile == "casual":
        if draft.status == Member.Status.EXPERIENCE:
            count, median, sigma = rng.choice((0, 1, 1, 2)), 90, 0.6
        else:
            count, median, sigma = rng.randint(1, 8), 600, 0.9
    elif draft.profile == "big_one_off":
        # Within the last year, so today's window holds it (and nothing else).
        day = clock.day(max(first_day, clock.last_day - datetime.timedelta(days=300)))
        amount = rng.randint(150_000_00, 320_000_00)
        yield amount - amount % 100 + rng.choice((0, 0, 50, 90)), clock.moment(day)
        return
    else:
        _share, (low, high), median, sigma = _PROFILES[draft.profile]
        count = rng.randint(low, high)
    if draft.profile in _QUIET_AFTER:
        last = first_evaluation + datetime.timedelta(days=_QUIET_AFTER[draft.profile])
        days = [clock.day(first_day, last) for _ in range(count)]
        days += [clock.day(first_evaluation) for _ in range(rng.randint(0, 3))]
    else:
        # Members who joined during the history buy for only part of it.
        share = ((clock.last_day - first_day).days + 1) / HISTORY_DAYS
        count = round(count * min(1.0, share)) or (0 if draft.profile == "dormant" else 1)
        days = [clock.day(first_day) for _ in range(count)]
    for day in sorted(days):
        yield _ticket_fen(rng, median, sigma), clock.moment(day)


def _refunds(
    rng: random.Random, clock: _Clock, draft: _Draft, amount_fen: int, at: datetime.datetime
):
    """About 3% of purchases are refunded, in full or in part, on or after the purchase day and
    never for more than the purchase; fraudsters' purchases are refunded far more often."""
    rate = 0.5 if draft.status == Member.Status.BLACKLISTED else _REFUND_RATE
    if draft.profile == "big_one_off" or rng.random() >= rate:
        return
    full = rng.random() < 0.35
    parts = [amount_fen] if full else [max(1, round(amount_fen * rng.uniform(0.05, 0.6)))]
    if not full and rng.random() < 0.15:
        parts.append(max(1, round((amount_fen - parts[0]) * rng.uniform(0.1, 0.9))))
    for refund_fen in parts:
        at = _later(rng, clock, at)
        yield refund_fen, at


def _later(rng: random.Random, clock: _Clock, at: datetime.datetime) -> datetime.datetime:
    day = clock.local_date(at)
    later_day = min(
        day + datetime.timedelta(days=min(30, int(rng.expovariate(1 / 5)))), clock.last_day
    )
    if later_day > day:
        return clock.moment(later_day, earliest_hour=9)
    # The same day: an hour or two later, but still that day.
    end_of_day = datetime.datetime.combine(day, datetime.time(23, 59, 59), tzinfo=clock.tz)
    return min(at + datetime.timedelta(minutes=rng.randint(20, 120)), end_of_day)


def _activities(rng: random.Random, clock: _Clock, draft: _Draft, first_day: datetime.date):
    if draft.status == Member.Status.BLACKLISTED:
        return
    if draft.status == Member.Status.EXPERIENCE:
        count = int(rng.random() < 0.2)
    elif draft.engaged:
        count = rng.randint(8, 30)
    else:
        count = rng.choices((0, 1, 2, 3, 4), weights=(50, 20, 15, 10, 5))[0]
    seen = set()
    for _ in range(count):
        activity = rng.choice(ACTIVITIES)
        at = clock.moment(clock.day(first_day), earliest_hour=10)
        if (activity, at) not in seen:  # one participation per activity and moment
            seen.add((activity, at))
            yield DemoActivity(draft.member_no, activity, at, clock.local_date(at))


def _blacklisting(rng: random.Random, clock: _Clock, draft: _Draft) -> DemoBlacklisting:
    reason, evidence = rng.choice(BLACKLIST_REASONS)
    day = clock.day(max(draft.joined_on, clock.last_day - datetime.timedelta(days=180)))
    previous = Member.Status.EXPERIENCE if rng.random() < 0.2 else Member.Status.ACTIVE
    return DemoBlacklisting(
        draft.member_no, reason, evidence, clock.moment(day, earliest_hour=9), str(previous)
    )


def _numbered(purchases: list[list], refunds: list[list], clock: _Clock):
    """External ids in time order across purchases and refunds, as a till would number them;
    each refund names its purchase's id."""
    kinds = [(p[2], 0, i) for i, p in enumerate(purchases)]
    kinds += [(r[2], 1, i) for i, r in enumerate(refunds)]
    kinds.sort(key=lambda k: (k[0], k[1], k[2]))
    ids: dict[tuple[int, int], str] = {
        (kind, index): f"DEMO-T{number:07d}"
        for number, (_at, kind, index) in enumerate(kinds, start=1)
    }
    purchase_rows = []
    refund_rows = []
    for _at, kind, index in kinds:
        if kind == 0:
            member_no, amount_fen, at = purchases[index]
            refund_of = ""
        else:
            member_no, amount_fen, at, purchase_index = refunds[index]
            refund_of = ids[(0, purchase_index)]
        row = DemoTransaction(
            ids[(kind, index)],
            member_no,
            str(Transaction.Kind.REFUND if kind else Transaction.Kind.PURCHASE),
            amount_fen,
            at,
            clock.local_date(at),
            refund_of,
        )
        (refund_rows if kind else purchase_rows).append(row)
    return tuple(purchase_rows), tuple(refund_rows)


def _referrals(rng: random.Random, drafts: list[_Draft]) -> tuple[DemoReferral, ...]:
    """Who referred whom: one champion with more than fifty, a few prolific referrers, and a
    long tail. A referrer joined on or before the referred member, who is referred at most once;
    the referral's date is the referred member's joined date (domain.md)."""
    count = len(drafts)
    referrer_of: dict[int, int] = {}
    active = [d.status == Member.Status.ACTIVE for d in drafts]

    # The champion: an early member who brings friends but spends little herself.
    oldest = [
        i for i in range(count // 3) if active[i] and drafts[i].profile in ("light", "dormant")
    ]
    champion = oldest[0] if oldest else 0
    later = list(range(champion + 1, count))
    for referred in rng.sample(later, k=min(len(later), rng.randint(52, 66))):
        referrer_of[referred] = champion

    prolific = rng.sample(
        [i for i in range(count // 2) if active[i] and i != champion], k=max(1, count // 750)
    )
    for referrer in prolific:
        candidates = [i for i in range(referrer + 1, count) if i not in referrer_of]
        for referred in rng.sample(candidates, k=min(len(candidates), rng.randint(10, 25))):
            referrer_of[referred] = referrer

    # The long tail: a Pareto-weighted pick among active members who joined earlier.
    cumulative = list(
        itertools.accumulate(rng.paretovariate(1.5) if active[i] else 0.0 for i in range(count))
    )
    target = round(count * _REFERRED_SHARE)
    for referred in rng.sample(range(1, count), k=count - 1):
        if len(referrer_of) >= target:
            break
        if referred in referrer_of or cumulative[referred - 1] == 0:
            continue
        referrer_of[referred] = bisect.bisect_right(
            cumulative, rng.random() * cumulative[referred - 1]
        )
    return tuple(
        DemoReferral(
            drafts[referrer].member_no, drafts[referred].member_no, drafts[referred].joined_on
        )
        for referred, referrer in sorted(referrer_of.items())
    )


# --- Writing --------------------------------------------------------------------------------


_BLACKLIST_COLUMNS = [
    "member",
    "reason",
    "evidence",
    "occurred_at",
    "previous_status",
    "created_by",
    "created_at",
    "lift_reason",
]


@dataclass(frozen=True)
class LoadCounts:
    members: int
    transactions: int
    referrals: int
    activities: int
    blacklistings: int


def load(
    data: DemoData, *, recorded_by: int | None = None, progress: Callable[[str], None] | None = None
) -> LoadCounts:
    """Write ``data``; call it inside one transaction on a database without members.
    ``recorded_by`` is the user id the blacklist entries are recorded by."""
    report = progress or (lambda line: None)
    now = timezone.now()
    members = insert_rows(
        Member,
        ["member_no", "name", "phone", "email", "birthday", "joined_on", "status", "created_at"],
        ((*m, now) for m in data.members),
    )
    # The database had no members before this transaction: every member is ours.
    member_ids = dict(Member.objects.values_list("member_no", "id"))
    report(f"  members {members:,}")

    def transaction_row(t: DemoTransaction) -> tuple:
        member_id = member_ids[t.member_no]
        return (t.external_id, member_id, t.kind, t.amount_fen, t.occurred_at, t.occurred_on)

    columns = ["external_id", "member", "kind", "amount_fen", "occurred_at", "occurred_on"]
    purchases = insert_rows(
        Transaction,
        [*columns, "created_at"],
        ((*transaction_row(t), now) for t in data.purchases),
    )
    # Refunds name their purchase by id: look the ids up in batches small enough for any
    # SQLite's limit on query parameters.
    purchase_ids: dict[str, int] = {}
    refunded = sorted({t.refund_of for t in data.refunds})
    for batch_start in range(0, len(refunded), 900):
        batch = refunded[batch_start : batch_start + 900]
        purchase_ids.update(
            Transaction.objects.filter(external_id__in=batch).values_list("external_id", "id")
        )
    refunds = insert_rows(
        Transaction,
        [*columns, "refund_of", "created_at"],
        ((*transaction_row(t), purchase_ids[t.refund_of], now) for t in data.refunds),
    )
    report(f"  transactions {purchases + refunds:,} ({refunds:,} refunds)")

    referrals = insert_rows(
        Referral,
        ["referrer", "referred", "occurred_on", "created_at"],
        (
            (member_ids[r.referrer_no], member_ids[r.referred_no], r.occurred_on, now)
            for r in data.referrals
        ),
    )
    report(f"  referrals {referrals:,}")
    activities = insert_rows(
        ActivityParticipation,
        ["member", "activity", "occurred_at", "occurred_on", "created_at"],
        (
            (member_ids[a.member_no], a.activity, a.occurred_at, a.occurred_on, now)
            for a in data.activities
        ),
    )
    report(f"  activities {activities:,}")
    blacklistings = insert_rows(
        BlacklistEntry,
        _BLACKLIST_COLUMNS,
        ((member_ids[b.member_no], *b[1:], recorded_by, now, "") for b in data.blacklistings),
    )
    report(f"  blacklist entries {blacklistings:,}")
    analyze(Member, Transaction, Referral, ActivityParticipation, BlacklistEntry)
    return LoadCounts(members, purchases + refunds, referrals, activities, blacklistings)


# --- Staff accounts -------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffAccount:
    role: str
    username: str
    password: str | None  # None: the account existed already and was left as it was


def demo_password(username: str) -> str:
    return f"{username}-demo-2026"


# The demo committee: one voter per department, since the default quorum needs an approval from
# each (domain.md); ``committee`` chairs, so one account can also decide a case in discussion.
COMMITTEE_SEATS = (
    ("committee", Department.CUSTOMER_OPS, True),
    ("committee_sales", Department.SALES, False),
    ("committee_service", Department.CUSTOMER_SERVICE, False),
)


def staff_usernames() -> list[tuple[str, str]]:
    """(role, username) of every demo staff account: one per role, named after it, the other
    committee voters after ``committee``, and the superuser ``admin`` last."""
    pairs = []
    for role in ROLES:
        pairs.append((role, role))
        if role == "committee":
            pairs += [("committee", username) for username, _d, _c in COMMITTEE_SEATS[1:]]
    return [*pairs, ("admin", "admin")]


def create_staff_accounts() -> list[StaffAccount]:
    """The accounts of ``staff_usernames`` (each in its role's group; ``admin`` a superuser),
    each with a fixed demo password. An account that exists already is not touched: a demo must
    not reset somebody's password."""
    sync_roles()
    user_model = get_user_model()
    accounts = []
    for role, username in staff_usernames():
        if user_model.objects.filter(username=username).exists():
            accounts.append(StaffAccount(role, username, None))
            continue
        password = demo_password(username)
        email = f"{username}@example.com"
        if role == "admin":
            user_model.objects.create_superuser(username, email, password)
        else:
            user = user_model.objects.create_user(username, email, password, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
        accounts.append(StaffAccount(role, username, password))
    return accounts


# --- The special-review committee -----------------------------------------------------------


def seat_committee() -> list[CommitteeMember]:
    """Seat ``COMMITTEE_SEATS`` through the reviews service (audited; the actor is the system,
    as for the scheduled jobs), unless someone sits on the committee already: a demo never
    reshapes a real committee. Returns the seats made."""
    if CommitteeMember.objects.exists():
        return []
    users = get_user_model().objects.in_bulk(
        [username for username, _d, _c in COMMITTEE_SEATS], field_name="username"
    )
    return [
        committee_member_set(
            user=users[username], department=department, is_chair=chair, actor=None
        )
        for username, department, chair in COMMITTEE_SEATS
    ]


@dataclass(frozen=True)
class DemoReviews:
    quarter: str
    nominated: int
    voting: list[ReviewCase]


def open_reviews(today: datetime.date) -> DemoReviews:
    """The quarterly nomination the scheduled job would have run for the quarter that just
    ended, then voting opened on the first case of each profile (by member number), so the
    committee has cases to vote on and ops still have nominated cases to edit and open."""
    quarter = Quarter.just_ended(today)
    result = cases_nominate(quarter=quarter, today=today)
    covered: set[str] = set()
    voting = []
    nominated = (
        ReviewCase.objects.filter(quarter=str(quarter), state=ReviewCase.State.NOMINATED)
        .select_related("member")
        .order_by("member__member_no")
    )
    for case in nominated:
        if set(case.profiles) - covered:
            covered.update(case.profiles)
            voting.append(case_open_voting(case=case, actor=None))
    return DemoReviews(str(quarter), result.cases, voting)


# --- Evaluation -----------------------------------------------------------------------------


def evaluation_dates(today: datetime.date) -> list[datetime.date]:
    """The first day of each of the last ``EVALUATION_MONTHS`` months (this one included), then
    today, in order."""
    dates = []
    for back in range(EVALUATION_MONTHS - 1, -1, -1):
        months = today.year * 12 + today.month - 1 - back
        dates.append(datetime.date(months // 12, months % 12 + 1, 1))
    if dates[-1] != today:
        dates.append(today)
    return dates


def evaluate_history(
    today: datetime.date, *, progress: Callable[[str], None] | None = None
) -> list[RecomputeSummary]:
    """Recompute every member's tier on each of ``evaluation_dates``, in order (each range in
    its own transaction, as the service does), so the history has upgrades, warnings and
    downgrades."""
    summaries = []
    for day in evaluation_dates(today):
        if progress:
            progress(f"  evaluating {day.isoformat()} …")
        summaries.append(tiers_recompute(as_of=day))
    return summaries


def tier_counts() -> tuple[list[tuple[Tier, int]], int]:
    """Every tier, highest first, with the number of members holding it; and the number of
    members holding none (experience and blacklisted members, who take no part)."""
    # order_by() drops Member's default ordering, which would split the groups.
    held = dict(
        Member.objects.order_by().values_list("tier_state__current_tier").annotate(Count("id"))
    )
    tiers = [(tier, held.get(tier.pk, 0)) for tier in Tier.objects.order_by("-rank")]
    return tiers, held.get(None, 0)
