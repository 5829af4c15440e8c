"""The Regular tier's birthday benefit of the default data (seed 000 §2.2: "生日当月1倍积分加成",
1× bonus points in the birthday month), missing from 0002. Added only where the Regular tier
has no birthday benefit yet (benefits are data staff edit); reverse removes exactly this one."""

from django.db import migrations

KIND = "birthday_bonus"
TITLE_ZH = "生日当月1倍积分加成"
TITLE_EN = "Birthday month: 1× bonus points"


def add(apps, schema_editor):
    Tier = apps.get_model("tiers", "Tier")
    Benefit = apps.get_model("tiers", "Benefit")
    regular = Tier.objects.filter(code="regular").first()
    if regular is None or Benefit.objects.filter(tier=regular, kind=KIND).exists():
        return
    last = Benefit.objects.filter(tier=regular).order_by("-position").first()
    Benefit.objects.create(
        tier=regular,
        kind=KIND,
        value=None,  # a multiplier, not the number of points the other tiers' bonus is
        title_zh=TITLE_ZH,
        title_en=TITLE_EN,
        position=last.position + 1 if last else 0,
    )


def remove(apps, schema_editor):
    apps.get_model("tiers", "Benefit").objects.filter(
        tier__code="regular", kind=KIND, title_zh=TITLE_ZH, title_en=TITLE_EN, value=None
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("tiers", "0016_policy_notice_at_least_thirty_days")]

    operations = [migrations.RunPython(add, remove)]
