from django.db import migrations, models


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("tiers", "0007_downgrade_warning_notified_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="memberevaluation",
            name="revision",
            field=models.PositiveBigIntegerField(
                db_default=0, editable=False, verbose_name="revision"
            ),
        ),
        # Every recompute rewrites each member's row: with free room on its page PostgreSQL
        # updates it in place (a HOT update, no new index entry), which keeps the rewrite cheap
        # and the table from doubling. Applies to pages written from now on.
        migrations.RunPython(
            _on_postgresql("ALTER TABLE tiers_memberevaluation SET (fillfactor = 70)"),
            _on_postgresql("ALTER TABLE tiers_memberevaluation RESET (fillfactor)"),
        ),
    ]
