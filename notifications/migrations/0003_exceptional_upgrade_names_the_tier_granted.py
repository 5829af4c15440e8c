"""The exceptional upgrade notice names the tier granted in its body, not only in its subject.

The committee's message used to carry a tier chosen at nomination, while the decision grants
the uplift over the qualified tier on the decision day: subject and body could name two
different tiers. The message is now tier-free and the body states ``tier``. A template staff
have edited is left as it is (they see the variables in README.md)."""

from django.db import migrations

OLD = {
    "zh-hans": (
        "{{ member_name }}，您好！{{ message }}"
        "{% if ends_on %}（有效期至 {{ ends_on|date:'Y-m-d' }}）{% endif %}"
    ),
    "en": (
        "Dear {{ member_name }}, {{ message }}"
        "{% if ends_on %} (valid until {{ ends_on|date:'Y-m-d' }}){% endif %}"
    ),
}
NEW = {
    "zh-hans": (
        "{{ member_name }}，您好！{{ message }}我们很高兴授予您{{ tier.name }}资格"
        "{% if ends_on %}，有效期至 {{ ends_on|date:'Y-m-d' }}{% endif %}。"
    ),
    "en": (
        "Dear {{ member_name }}, {{ message }} We are pleased to grant you {{ tier.name }} "
        "membership{% if ends_on %}, valid until {{ ends_on|date:'Y-m-d' }}{% endif %}."
    ),
}


def _replace(apps, old: dict[str, str], new: dict[str, str]) -> None:
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    for language, body in old.items():
        NotificationTemplate.objects.filter(
            kind="exceptional_upgrade", language=language, body=body
        ).update(body=new[language])


def forwards(apps, schema_editor):
    _replace(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _replace(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_default_templates")]

    operations = [migrations.RunPython(forwards, backwards)]
