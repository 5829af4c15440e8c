"""The Regular tier's birthday benefit of 0017 (seed 000 §2.2: "生日当月1倍积分加成") as a
service, a benefit described by its title: a birthday bonus's value is a number of points, and
a 1× bonus-points multiplier has none, so the back office refused to save the Regular tier's page
as it loaded. Only that row, as 0017 wrote it, is changed; reverse changes it back."""

from django.db import migrations

ROW = {
    "tier__code": "regular",
    "value": None,
    "title_zh": "生日当月1倍积分加成",
    "title_en": "Birthday month: 1× bonus points",
}


def to_service(apps, schema_editor):
    Benefit = apps.get_model("tiers", "Benefit")
    Benefit.objects.filter(kind="birthday_bonus", **ROW).update(kind="service")


def to_birthday_bonus(apps, schema_editor):
    Benefit = apps.get_model("tiers", "Benefit")
    Benefit.objects.filter(kind="service", **ROW).update(kind="birthday_bonus")


class Migration(migrations.Migration):
    dependencies = [("tiers", "0017_regular_birthday_bonus")]

    operations = [migrations.RunPython(to_service, to_birthday_bonus)]
