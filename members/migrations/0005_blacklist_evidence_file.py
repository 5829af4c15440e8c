from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0004_permissions_for_privileged_actions"),
    ]

    operations = [
        migrations.AddField(
            model_name="blacklistentry",
            name="evidence_file",
            field=models.FileField(
                blank=True,
                db_default="",
                max_length=255,
                upload_to="blacklist-evidence/%Y/%m/",
                verbose_name="evidence file",
            ),
        ),
    ]
