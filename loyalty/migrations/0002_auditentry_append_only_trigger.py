"""The database refuses to change or delete audit entries (PostgreSQL; SQLite has no such
triggers and relies on the model). One exception: PIPL erasure may blank personal values in
before/after, inside a transaction that set ``loyalty.audit_redaction`` (loyalty.audit.audit_redact),
leaving every other column as it was. Row triggers do not fire on TRUNCATE, which only a
database owner (or the test suite's flush) issues."""

from django.db import migrations

CREATE = """
CREATE FUNCTION loyalty_auditentry_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('loyalty.audit_redaction', true) = 'on'
       AND NEW.id = OLD.id
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.action = OLD.action
       AND NEW.target_type = OLD.target_type
       AND NEW.target_id = OLD.target_id
       AND NEW.created_at = OLD.created_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'the audit log is append-only: ' || TG_OP || ' of loyalty_auditentry refused',
        ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER loyalty_auditentry_append_only
    BEFORE UPDATE OR DELETE ON loyalty_auditentry
    FOR EACH ROW EXECUTE FUNCTION loyalty_auditentry_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS loyalty_auditentry_append_only ON loyalty_auditentry;
DROP FUNCTION IF EXISTS loyalty_auditentry_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
