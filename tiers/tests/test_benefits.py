"""Higher tiers get more (domain.md): the warnings where staff edit benefits."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps as django_apps

from tiers.benefits import benefit_ordering_problems
from tiers.models import Benefit, Tier

pytestmark = pytest.mark.django_db


def problems() -> list[tuple[str, str, str, Decimal, Decimal]]:
    tiers = list(Tier.objects.prefetch_related("benefits"))
    return [
        (p.higher.code, p.lower.code, p.higher_benefit.kind, p.higher_benefit.value,
         p.lower_benefit.value)
        for p in benefit_ordering_problems(tiers)
    ]  # fmt: skip


def test_the_default_benefits_give_higher_tiers_more():
    assert problems() == []


def test_a_higher_tier_with_a_smaller_discount_or_fewer_points_is_named():
    gold = Tier.objects.get(code="gold")
    Benefit.objects.filter(tier=gold, kind=Benefit.Kind.DISCOUNT).update(value=Decimal("99"))
    Benefit.objects.filter(tier__code="platinum", kind=Benefit.Kind.BIRTHDAY_BONUS).update(
        value=Decimal("300")
    )

    assert problems() == [
        ("platinum", "gold", "birthday_bonus", Decimal("300.00"), Decimal("500.00")),
        ("gold", "silver", "discount", Decimal("99.00"), Decimal("95.00")),
        ("gold", "regular", "discount", Decimal("99.00"), Decimal("98.00")),
    ]


def test_a_kind_only_one_tier_offers_or_an_equal_value_is_no_problem():
    Benefit.objects.filter(tier__code="gold", kind=Benefit.Kind.DISCOUNT).update(
        value=Decimal("95")
    )  # as much as Silver
    Benefit.objects.create(
        tier=Tier.objects.get(code="regular"),
        kind=Benefit.Kind.POINTS_MULTIPLIER,
        value=Decimal("1.2"),
        title_zh="积分1.2倍",
        title_en="1.2× points",
    )

    assert problems() == []


def test_regular_members_get_the_seeds_birthday_month_bonus_once():
    # Seed 000 §2.2: 普通会员 … 生日当月1倍积分加成 (added by migration 0017, made a service, a
    # benefit without a number of points, by 0018).
    added = importlib.import_module("tiers.migrations.0017_regular_birthday_bonus")
    service = importlib.import_module("tiers.migrations.0018_regular_birthday_benefit_is_a_service")
    regular = Benefit.objects.filter(tier__code="regular", title_zh="生日当月1倍积分加成")
    assert [(b.kind, b.title_en, b.value) for b in regular.all()] == [
        ("service", "Birthday month: 1× bonus points", None)
    ]

    service.to_birthday_bonus(django_apps, None)
    assert [b.kind for b in regular.all()] == ["birthday_bonus"]
    added.remove(django_apps, None)
    assert not regular.exists()
    added.add(django_apps, None)
    added.add(django_apps, None)
    service.to_service(django_apps, None)
    assert [b.kind for b in regular.all()] == ["service"]
    # A birthday benefit staff gave the tier is kept, and none is added beside it.
    Benefit.objects.filter(tier__code="regular").delete()
    Benefit.objects.create(
        tier=Tier.objects.get(code="regular"), kind="birthday_bonus", value=100,
        title_zh="生日蛋糕", title_en="Birthday cake",
    )  # fmt: skip
    added.add(django_apps, None)
    service.to_service(django_apps, None)
    assert [(b.kind, b.title_en) for b in Benefit.objects.filter(tier__code="regular")] == [
        ("birthday_bonus", "Birthday cake")
    ]
