"""The five default tiers, their benefits and the default policy (domain.md), in force from
2000-01-01 so that evaluations of past dates find it. The data is frozen here on purpose: later
edits happen in the back office as new policy versions, not by changing this file."""

import datetime

from django.db import migrations

TIERS = [
    # code, rank, Chinese name, English name
    ("regular", 0, "普通会员", "Regular"),
    ("silver", 1, "银卡会员", "Silver"),
    ("gold", 2, "金卡会员", "Gold"),
    ("platinum", 3, "铂金会员", "Platinum"),
    ("diamond", 4, "钻石会员", "Diamond"),
]

BENEFITS = {
    # code: [(kind, value, Chinese title, English title), ...]
    "regular": [
        ("welcome_points", "100", "入会礼:100积分", "Welcome gift: 100 points"),
        ("discount", "98", "会员价9.8折", "Member price: 2% off"),
    ],
    "silver": [
        ("discount", "95", "会员价9.5折", "Member price: 5% off"),
        ("points_multiplier", "1.2", "消费积分1.2倍", "1.2× points on purchases"),
        ("birthday_bonus", "200", "生日月赠送200积分", "200 bonus points in your birthday month"),
    ],
    "gold": [
        ("discount", "92", "会员价9.2折", "Member price: 8% off"),
        ("points_multiplier", "1.5", "消费积分1.5倍", "1.5× points on purchases"),
        ("birthday_bonus", "500", "生日月赠送500积分", "500 bonus points in your birthday month"),
    ],
    "platinum": [
        ("discount", "90", "会员价9折", "Member price: 10% off"),
        ("points_multiplier", "2", "消费积分2倍", "2× points on purchases"),
        ("birthday_bonus", "1000", "生日月赠送1000积分", "1,000 bonus points in your birthday month"),
        ("service", None, "专属客服热线", "Dedicated service line"),
    ],
    "diamond": [
        ("discount", "85", "会员价8.5折", "Member price: 15% off"),
        ("points_multiplier", "3", "消费积分3倍", "3× points on purchases"),
        ("birthday_bonus", "2000", "生日月赠送2000积分", "2,000 bonus points in your birthday month"),
        ("service", None, "私人专属顾问", "Private consultant"),
        ("service", None, "新品优先体验", "Priority access to new products"),
    ],
}

DEFAULT_RULES = {
    "diamond": {
        "all": [
            {"metric": "spend", "min": "100000.00"},
            {
                "at_least": 2,
                "of": [
                    {"metric": "frequency", "min": 24},
                    {"metric": "tenure_years", "min": 5},
                    {"metric": "contribution", "min": 5000},
                ],
            },
        ]
    },
    "platinum": {
        "any": [
            {"all": [{"metric": "spend", "min": "50000.00"}, {"metric": "frequency", "min": 18}]},
            {"all": [{"metric": "tenure_years", "min": 3}, {"metric": "spend", "min": "30000.00"}]},
        ]
    },
    "gold": {
        "any": [
            {"metric": "spend", "min": "20000.00"},
            {"metric": "frequency", "min": 12},
            {"metric": "contribution", "min": 2000},
        ]
    },
    "silver": {
        "any": [
            {"metric": "spend", "min": "5000.00"},
            {"metric": "frequency", "min": 6},
            {"metric": "tenure_years", "min": 1},
        ]
    },
    "regular": {"all": []},
}


def create_defaults(apps, schema_editor):
    Tier = apps.get_model("tiers", "Tier")
    Benefit = apps.get_model("tiers", "Benefit")
    TierPolicy = apps.get_model("tiers", "TierPolicy")
    for code, rank, name_zh, name_en in TIERS:
        tier = Tier.objects.create(code=code, rank=rank, name_zh=name_zh, name_en=name_en)
        for position, (kind, value, title_zh, title_en) in enumerate(BENEFITS[code]):
            Benefit.objects.create(
                tier=tier,
                kind=kind,
                value=value,
                title_zh=title_zh,
                title_en=title_en,
                position=position,
            )
    TierPolicy.objects.create(
        version=1,
        name="默认等级政策 Default policy",
        status="published",
        effective_from=datetime.date(2000, 1, 1),
        window_kind="rolling_year",
        referral_points=200,
        activity_points=100,
        warning_lead_days=30,
        notice_days=30,
        downgrade_step="to_qualified",
        rules=DEFAULT_RULES,
    )


def remove_defaults(apps, schema_editor):
    apps.get_model("tiers", "TierPolicy").objects.filter(version=1).delete()
    apps.get_model("tiers", "Benefit").objects.all().delete()
    apps.get_model("tiers", "Tier").objects.filter(code__in=[t[0] for t in TIERS]).delete()


class Migration(migrations.Migration):
    dependencies = [("tiers", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
