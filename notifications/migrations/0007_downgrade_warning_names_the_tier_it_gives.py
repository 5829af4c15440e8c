"""The downgrade warning names the tier the downgrade would give (``to_tier``), which is not the
qualified tier when an override holds at the year end or the policy drops one tier at a time.
Texts that still have the default's
sentence are rewritten to use it; others are left as staff wrote them (``qualified_tier`` stays
available). Reverse: the old sentence back."""

from django.db import migrations

OLD_ZH = "调整为{{ qualified_tier.name }}。"
NEW_ZH = "调整为{{ to_tier.name }}。"
OLD_EN = "Otherwise your tier becomes {{ qualified_tier.name }}, no sooner than "
NEW_EN = "Otherwise your tier becomes {{ to_tier.name }}, no sooner than "


def _replace(apps, replacements: dict[str, tuple[str, str]]) -> None:
    templates = apps.get_model("notifications", "NotificationTemplate").objects
    for language, (old, new) in replacements.items():
        for template in templates.filter(
            kind="downgrade_warning", language=language, body__contains=old
        ):
            template.body = template.body.replace(old, new)
            template.save(update_fields=["body"])


def forwards(apps, schema_editor):
    _replace(apps, {"zh-hans": (OLD_ZH, NEW_ZH), "en": (OLD_EN, NEW_EN)})


def backwards(apps, schema_editor):
    _replace(apps, {"zh-hans": (NEW_ZH, OLD_ZH), "en": (NEW_EN, OLD_EN)})


class Migration(migrations.Migration):
    dependencies = [("notifications", "0006_review_declined_subject_names_the_channel")]

    operations = [migrations.RunPython(forwards, backwards)]
