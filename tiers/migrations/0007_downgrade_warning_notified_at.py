"""``DowngradeWarning.notified_at`` says what it records (help text), and the warnings made
before the evaluation set it get it from the outbox: the time their in-app message was stored.

The in-app message of a warning is the notification of kind ``downgrade_warning`` on the in-app
channel with the event key ``warning:<tier code>:<tier year start>`` (``tiers/notices.py``, frozen
here). Reversing keeps the times: they stay true whatever the code reading them."""

from django.db import migrations, models

BATCH = 1000


def _fill(DowngradeWarning, Notification, warning_ids):
    warnings = list(
        DowngradeWarning.objects.filter(pk__in=warning_ids)
        .select_related("tier")
        .order_by("member_id")
    )
    sent = {
        (member_id, key): sent_at
        for member_id, key, sent_at in Notification.objects.filter(
            kind="downgrade_warning",
            channel="in_app",
            member_id__gte=warnings[0].member_id,
            member_id__lte=warnings[-1].member_id,
            sent_at__isnull=False,
        ).values_list("member_id", "dedupe_key", "sent_at")
    }
    changed = []
    for warning in warnings:
        key = f"warning:{warning.tier.code}:{warning.tier_year_start.isoformat()}"
        warning.notified_at = sent.get((warning.member_id, key))
        if warning.notified_at is not None:
            changed.append(warning)
    DowngradeWarning.objects.bulk_update(changed, ["notified_at"], batch_size=500)


def backfill(apps, schema_editor):
    DowngradeWarning = apps.get_model("tiers", "DowngradeWarning")
    Notification = apps.get_model("notifications", "Notification")
    ids = list(
        DowngradeWarning.objects.filter(notified_at__isnull=True)
        .order_by("member_id", "pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), BATCH):
        _fill(DowngradeWarning, Notification, ids[start : start + BATCH])


class Migration(migrations.Migration):
    dependencies = [
        ("tiers", "0006_tier_change_legacy_cause"),
        ("notifications", "0002_default_templates"),
    ]

    operations = [
        migrations.AlterField(
            model_name="downgradewarning",
            name="notified_at",
            field=models.DateTimeField(
                blank=True,
                help_text=(
                    "When the member's in-app message about this warning was delivered (it is "
                    "written with the warning); empty when none could be written. E-mail and SMS "
                    "copies are sent afterwards: see the member's notifications."
                ),
                null=True,
                verbose_name="notified at",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
