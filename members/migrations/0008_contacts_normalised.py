"""Phones and e-mail addresses stored before every way in normalised them (``members.contacts``)
are rewritten in that form: the import and the API compare what they are sent with them, the
member pages' SMS sign-in and the staff search look them up as stored. A value that is neither a
phone nor an address stays as it is, for staff to correct.

A chunk of members at a time, by primary key: one read and at most one write per chunk, and
memory bounded, whatever the number of members. The rules are imported, not copied: there is
one normaliser, and a change to it that stored values must follow comes with its own migration.

Reverse: nothing to undo; the normal form means what the typed one meant."""

from django.db import migrations

from members.contacts import ContactRefused, email_normalised, phone_normalised

CHUNK = 2000


def _normal(normalise, value: str) -> str:
    try:
        return normalise(value)
    except ContactRefused:
        return value


def normalise_contacts(apps, schema_editor):
    member_model = apps.get_model("members", "Member")
    last = 0
    while rows := list(
        member_model.objects.filter(pk__gt=last)
        .order_by("pk")
        .values_list("pk", "phone", "email")[:CHUNK]
    ):
        last = rows[-1][0]
        changed = []
        for pk, phone, email in rows:
            normal = (_normal(phone_normalised, phone), _normal(email_normalised, email))
            if normal != (phone, email):
                changed.append(member_model(pk=pk, phone=normal[0], email=normal[1]))
        member_model.objects.bulk_update(changed, ["phone", "email"])


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0007_transaction_external_id_bytewise"),
    ]

    operations = [
        migrations.RunPython(normalise_contacts, migrations.RunPython.noop),
    ]
