from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import factory
from django.conf import settings

from members.models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction

LOCAL = ZoneInfo(settings.TIME_ZONE)


def local_noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=LOCAL)


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    member_no = factory.Sequence(lambda n: f"M{n:07d}")
    name = factory.Faker("name", locale="zh_CN")
    phone = factory.Faker("phone_number", locale="zh_CN")
    email = factory.Faker("email")
    joined_on = datetime.date(2024, 1, 1)
    status = Member.Status.ACTIVE


class PurchaseFactory(factory.django.DjangoModelFactory):
    """A purchase; pass ``day=`` for noon local time that day, or ``occurred_at=``."""

    class Meta:
        model = Transaction

    class Params:
        day = datetime.date(2026, 1, 15)

    external_id = factory.Sequence(lambda n: f"T{n:09d}")
    member = factory.SubFactory(MemberFactory)
    kind = Transaction.Kind.PURCHASE
    amount_fen = 10000
    occurred_at = factory.LazyAttribute(lambda o: local_noon(o.day))
    occurred_on = factory.LazyAttribute(lambda o: o.occurred_at.astimezone(LOCAL).date())


class RefundFactory(PurchaseFactory):
    """A refund of ``refund_of`` (required), by the same member."""

    kind = Transaction.Kind.REFUND
    member = factory.LazyAttribute(lambda o: o.refund_of.member)


class ReferralFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Referral

    referrer = factory.SubFactory(MemberFactory)
    referred = factory.SubFactory(MemberFactory)
    occurred_on = datetime.date(2026, 1, 15)


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActivityParticipation

    class Params:
        day = datetime.date(2026, 1, 15)

    member = factory.SubFactory(MemberFactory)
    activity = factory.Sequence(lambda n: f"直播互动 #{n}")
    occurred_at = factory.LazyAttribute(lambda o: local_noon(o.day))
    occurred_on = factory.LazyAttribute(lambda o: o.occurred_at.astimezone(LOCAL).date())


class BlacklistEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BlacklistEntry

    member = factory.SubFactory(MemberFactory, status=Member.Status.BLACKLISTED)
    reason = "恶意投诉"
    occurred_at = factory.LazyFunction(lambda: local_noon(datetime.date(2026, 1, 15)))
    previous_status = Member.Status.ACTIVE
