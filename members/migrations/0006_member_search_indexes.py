"""Indexes for the staff member search. Portable ones in the model's Meta; on PostgreSQL also a
trigram index for "part of a name" (pg_trgm, created here when missing). A member-number prefix
needs nothing new: the unique index serves it."""

import django.db.models.functions.text
from django.db import migrations, models

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS member_name_trgm "
    "ON members_member USING gin (UPPER(name::text) gin_trgm_ops)",
]
# The extension stays: other objects may use it, and dropping it needs more rights.
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS member_name_trgm",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0005_blacklist_evidence_file"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="member",
            index=models.Index(fields=["joined_on"], name="member_joined_on"),
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                fields=["phone"], name="member_phone_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                django.db.models.functions.text.Right("phone", 4), name="member_phone_last4"
            ),
        ),
        migrations.RunPython(_run(POSTGRES_FORWARD), _run(POSTGRES_BACKWARD), elidable=False),
    ]
