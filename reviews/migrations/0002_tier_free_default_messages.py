"""Open cases still holding the old default message get the tier-free one.

The old default named the tier proposed at nomination (qualified tier + 1), but the decision
grants the uplift over the qualified tier on the decision day, so the member's notice could name
one tier in its subject and another in its body. Only open cases whose message is exactly an old
default (in either language, the tier being a tier's name) change: a message staff wrote is
theirs to edit, and a decided case keeps what the member was told. The reverse writes the old
default back into open cases holding the new one, with the tier it named (one above the
qualified tier at nomination, never above the top)."""

import re

from django.db import migrations

OPEN_STATES = ("nominated", "voting", "discussion")

# language: (loyal veteran, any other profile); as the code and catalogues had them.
OLD = {
    "zh-hans": (
        "感谢您 %(years)d 年来的陪伴与支持，我们很高兴授予您%(tier)s资格。",
        "感谢您的支持，我们很高兴授予您%(tier)s资格。",
    ),
    "en": (
        "Thank you for being with us for %(years)d years: we are pleased to grant you "
        "%(tier)s membership.",
        "Thank you for your support: we are pleased to grant you %(tier)s membership.",
    ),
}
NEW = {
    "zh-hans": ("感谢您 %(years)d 年来的陪伴与支持。", "感谢您一直以来的支持。"),
    "en": ("Thank you for being with us for %(years)d years.", "Thank you for your support."),
}


def _pattern(text: str) -> re.Pattern:
    """A default message as a regular expression: the years and the tier become groups."""
    escaped = re.escape(text)
    escaped = escaped.replace(re.escape("%(years)d"), r"(?P<years>\d+)")
    escaped = escaped.replace(re.escape("%(tier)s"), r"(?P<tier>.+)")
    return re.compile(rf"\A{escaped}\Z")


def _rewrite(apps, source: dict, target: dict, tier_name) -> None:
    """Each open case whose message is a ``source`` default gets the ``target`` default of the
    same language and profile, with the same years."""
    ReviewCase = apps.get_model("reviews", "ReviewCase")
    patterns = [
        (_pattern(text), language, position)
        for language, texts in source.items()
        for position, text in enumerate(texts)
    ]
    for case in ReviewCase.objects.filter(state__in=OPEN_STATES).select_related("qualified_tier"):
        for pattern, language, position in patterns:
            match = pattern.match(case.message)
            if match is None:
                continue
            values = match.groupdict()
            tier = tier_name(case, language, values.get("tier"))
            if tier is None:
                continue
            case.message = target[language][position] % {
                "years": int(values.get("years") or 0),
                "tier": tier,
            }
            case.save(update_fields=["message"])
            break


def forwards(apps, schema_editor):
    Tier = apps.get_model("tiers", "Tier")
    names = {name for pair in Tier.objects.values_list("name_zh", "name_en") for name in pair}

    def named_tier(case, language, tier):
        return tier if tier in names else None  # only a real default names a real tier

    _rewrite(apps, OLD, NEW, named_tier)


def backwards(apps, schema_editor):
    Tier = apps.get_model("tiers", "Tier")
    tiers = list(Tier.objects.order_by("rank"))

    def proposed_tier(case, language, tier):
        position = next(i for i, t in enumerate(tiers) if t.pk == case.qualified_tier_id)
        proposed = tiers[min(position + 1, len(tiers) - 1)]
        return proposed.name_en if language == "en" else proposed.name_zh

    _rewrite(apps, NEW, OLD, proposed_tier)


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0001_committee_cases_and_votes"),
        ("tiers", "0005_policy_review_settings"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
