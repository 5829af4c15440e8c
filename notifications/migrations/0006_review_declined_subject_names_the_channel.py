"""The Chinese subject of the review-declined notice names the channel as the product does
everywhere else, 特殊评审 (the special review channel), not 特别评审. A subject staff have
edited is left as it is. Reverse: the old subject, where it is still the new default."""

from django.db import migrations

OLD = "您的特别评审结果"
NEW = "您的特殊评审结果"


def _replace(apps, old: str, new: str) -> None:
    apps.get_model("notifications", "NotificationTemplate").objects.filter(
        kind="review_declined", language="zh-hans", subject=old
    ).update(subject=new)


def forwards(apps, schema_editor):
    _replace(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _replace(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0005_review_declined_notice")]

    operations = [migrations.RunPython(forwards, backwards)]
