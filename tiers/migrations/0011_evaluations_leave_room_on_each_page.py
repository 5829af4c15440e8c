"""On PostgreSQL, evaluation rows fill each page only half: every recompute rewrites every
member's row, and a new version that fits on its page beside the old one is a heap-only update
(no new entry in the primary key's index). With full pages, the first recompute after the rows
were inserted (a first evaluation of everyone) moved each row to another page and indexed it
again. Pages written before this migration keep their layout until rewritten."""

from django.db import migrations


def _fillfactor(setting):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"ALTER TABLE tiers_memberevaluation {setting}")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("tiers", "0010_member_keys_checked_by_locks"),
    ]

    operations = [
        migrations.RunPython(
            _fillfactor("SET (fillfactor = 50)"), _fillfactor("RESET (fillfactor)")
        ),
    ]
