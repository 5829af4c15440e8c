"""Test helpers: the committee cast and a case walked through the services."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import Group, User

from members.models import Member
from members.tests.factories import MemberFactory
from reviews import services
from reviews.models import CommitteeMember, Department, ReviewCase

PASSWORD = "a-long-test-password"
DECISION_DAY = datetime.date(2026, 7, 10)


def staff_user(username: str, role: str | None = None) -> User:
    user = User.objects.create_user(username, password=PASSWORD)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def seat(username: str, department: str, *, chair: bool = False) -> User:
    """A committee-role user with a seat in ``department``."""
    user = staff_user(username, "committee")
    CommitteeMember.objects.create(user=user, department=department, is_chair=chair)
    return user


def committee() -> dict[str, User]:
    """One voter per department; the customer-service member chairs."""
    return {
        Department.CUSTOMER_OPS: seat("ops-voter", Department.CUSTOMER_OPS),
        Department.SALES: seat("sales-voter", Department.SALES),
        Department.CUSTOMER_SERVICE: seat("cs-voter", Department.CUSTOMER_SERVICE, chair=True),
    }


def veteran(**fields) -> Member:
    """A member of 10 years with no purchases: qualified Silver (tenure), a loyal veteran."""
    return MemberFactory(joined_on=datetime.date(2016, 6, 30), **fields)


def hand_case(member: Member, nominator: User, *, today=datetime.date(2026, 7, 1)):
    return services.case_nominate(
        member=member, justification="十年老客户", actor=nominator, today=today
    )


def voting_case(member: Member, nominator: User, **kwargs) -> ReviewCase:
    case = hand_case(member, nominator, **kwargs)
    return services.case_open_voting(case=case, actor=nominator)


def refreshed(case: ReviewCase) -> ReviewCase:
    return ReviewCase.objects.get(pk=case.pk)
