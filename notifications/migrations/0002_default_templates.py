"""The default text of every kind of notice in Simplified Chinese and English. Staff edit them
afterwards (admin, audited); variables are listed in README.md ("Notifications")."""

from django.db import migrations

DEFAULTS = {
    "upgrade": {
        "zh-hans": (
            "恭喜您升级为{{ tier.name }}",
            "{{ member_name }}，您好！恭喜您升级为{{ tier.name }}，本等级年度至 "
            "{{ tier_year_end|date:'Y-m-d' }}。感谢您一直以来的支持！",
        ),
        "en": (
            "Congratulations: you are now {{ tier.name }}",
            "Dear {{ member_name }}, congratulations: you are now {{ tier.name }}. This tier "
            "year runs until {{ tier_year_end|date:'Y-m-d' }}. Thank you for your loyalty!",
        ),
    },
    "tier_kept": {
        "zh-hans": (
            "您的{{ tier.name }}资格已续期",
            "{{ member_name }}，您好！恭喜您保级成功，{{ tier.name }}资格延续至 "
            "{{ tier_year_end|date:'Y-m-d' }}。",
        ),
        "en": (
            "You keep {{ tier.name }} for another year",
            "Dear {{ member_name }}, you keep {{ tier.name }} for a new tier year, until "
            "{{ tier_year_end|date:'Y-m-d' }}.",
        ),
    },
    "downgrade_warning": {
        "zh-hans": (
            "保级提醒：您的{{ tier.name }}资格",
            "{{ member_name }}，您好！您的{{ tier.name }}等级年度将于 "
            "{{ tier_year_end|date:'Y-m-d' }} 结束，目前距保级还差：{{ missing }}。"
            "如届时仍未达到，您的等级最早将于 {{ downgrade_not_before|date:'Y-m-d' }} "
            "调整为{{ qualified_tier.name }}。",
        ),
        "en": (
            "Keep your {{ tier.name }} status",
            "Dear {{ member_name }}, your {{ tier.name }} tier year ends on "
            "{{ tier_year_end|date:'Y-m-d' }}. To keep it you still need: {{ missing }}. "
            "Otherwise your tier becomes {{ qualified_tier.name }}, no sooner than "
            "{{ downgrade_not_before|date:'Y-m-d' }}.",
        ),
    },
    "downgrade": {
        "zh-hans": (
            "会员等级调整通知",
            "{{ member_name }}，您好！您的会员等级已由{{ from_tier.name }}调整为"
            "{{ to_tier.name }}。继续消费或参与活动即可重新升级。",
        ),
        "en": (
            "Your membership tier has changed",
            "Dear {{ member_name }}, your tier has changed from {{ from_tier.name }} to "
            "{{ to_tier.name }}. Purchases and activities bring you back up.",
        ),
    },
    "exceptional_upgrade": {
        "zh-hans": (
            "特别授予您{{ tier.name }}资格",
            "{{ member_name }}，您好！{{ message }}"
            "{% if ends_on %}（有效期至 {{ ends_on|date:'Y-m-d' }}）{% endif %}",
        ),
        "en": (
            "You have been granted {{ tier.name }}",
            "Dear {{ member_name }}, {{ message }}"
            "{% if ends_on %} (valid until {{ ends_on|date:'Y-m-d' }}){% endif %}",
        ),
    },
    "blacklist": {
        "zh-hans": (
            "会员资格终止通知",
            "{{ member_name }}，您好！您的会员资格已终止。如有疑问，请联系客服。",
        ),
        "en": (
            "Your membership has ended",
            "Dear {{ member_name }}, your membership has been revoked. Please contact customer "
            "service with any questions.",
        ),
    },
}


def create(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    for kind, languages in DEFAULTS.items():
        for language, (subject, body) in languages.items():
            NotificationTemplate.objects.update_or_create(
                kind=kind, language=language, defaults={"subject": subject, "body": body}
            )


def remove(apps, schema_editor):
    apps.get_model("notifications", "NotificationTemplate").objects.filter(
        kind__in=list(DEFAULTS)
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_outbox_and_templates")]

    operations = [migrations.RunPython(create, remove)]
