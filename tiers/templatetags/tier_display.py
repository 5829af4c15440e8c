"""Display helpers for the staff pages and the admin: money in yuan, the four figures, discounts
as 折, tier badges and rule explanations. Display only: no queries, no business rules.

Explanation nodes come in two shapes with the same keys: ``engine.RuleResult`` objects (a live
explanation) and their ``as_data()`` dicts (kept with a downgrade warning). Django's template
lookups read both, so one include renders either; the helpers here accept both too.
"""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.money import EMPTY, format_fen, format_yuan, grouped
from tiers.engine import Metric

register = template.Library()


METRIC_LABELS = {
    Metric.SPEND: _("spend"),
    Metric.FREQUENCY: _("frequency (purchases)"),
    Metric.TENURE: _("tenure (years)"),
    Metric.CONTRIBUTION: _("contribution (points)"),
}


def _plain(number: Decimal) -> str:
    """``9.500`` → ``9.5``, ``1E+1`` → ``10``: no trailing zeros, never an exponent."""
    return format(number.normalize(), "f")


def _part(node, key: str):
    return node.get(key) if isinstance(node, dict) else getattr(node, key, None)


register.filter("yuan", format_yuan)
register.filter("grouped", grouped)
register.filter("fen_as_yuan", format_fen)


@register.filter
def metric_label(metric: Metric | str | None) -> str:
    try:
        return str(METRIC_LABELS[Metric(str(metric))])
    except ValueError:
        return str(metric)


@register.filter
def metric_value(value: Decimal | int | str | None, metric: Metric | str) -> str:
    """A figure or threshold of ``metric``: spend in yuan, the others as whole numbers."""
    if str(metric) == Metric.SPEND:
        return format_yuan(value)
    return grouped(value)


@register.filter
def discount(paid_percent: Decimal | str | None) -> str:
    """A discount stored as the percent of the price paid: 95 is 9.5折 in Chinese, where
    discounts are counted in tenths of the price paid, and "5% off" in English."""
    if paid_percent is None or paid_percent == "":
        return EMPTY
    paid = Decimal(str(paid_percent))
    if (get_language() or "").startswith("zh"):
        return f"{_plain(paid / 10)}折"
    return gettext("%(percent)s%% off") % {"percent": _plain(100 - paid)}


@register.filter
def benefit_value(benefit) -> str:
    """The value of a ``tiers.Benefit`` in the words of its kind; blank for services."""
    value = benefit.value
    if value is None:
        return ""
    kind = benefit.kind
    if kind == "discount":
        return discount(value)
    if kind == "points_multiplier":
        return f"{_plain(Decimal(value))}×"
    if kind in ("birthday_bonus", "welcome_points"):
        points = int(value)
        return ngettext("%(count)s point", "%(count)s points", points) % {"count": f"{points:,}"}
    return _plain(Decimal(value))


@register.filter
def rule_heading(node) -> str:
    """What a combining node of a rule asks for: all, any one, or at least N of its parts."""
    kind = _part(node, "kind")
    if kind == "all":
        if not _part(node, "children"):
            return gettext("No conditions: every member qualifies")
        return gettext("All of these")
    if kind == "any":
        return gettext("Any one of these")
    if kind == "at_least":
        count = _part(node, "count") or 0
        return ngettext("At least %(count)s of these", "At least %(count)s of these", count) % {
            "count": count
        }
    return ""


@register.inclusion_tag("includes/tier_badge.html")
def tier_badge(tier) -> dict:
    """A tier's name in a badge coloured by its code; a dash when there is no tier."""
    return {"tier": tier}


def _shortfall_words(shortfall) -> str:
    metric, amount = Metric(str(shortfall.metric)), shortfall.amount
    if metric == Metric.SPEND:
        return gettext("spend %(amount)s more") % {"amount": format_yuan(amount)}
    if metric == Metric.FREQUENCY:
        return ngettext(
            "make %(count)s more purchase", "make %(count)s more purchases", int(amount)
        ) % {"count": grouped(amount)}
    if metric == Metric.CONTRIBUTION:
        return gettext("earn %(points)s more contribution points") % {"points": f"{amount:,}"}
    return ngettext(
        "stay a member %(count)d more year", "stay a member %(count)d more years", int(amount)
    ) % {"count": amount}


@register.filter
def ways_in_words(ways) -> str:
    """The cheapest ways to a tier as one phrase: 「再消费 ¥3,200.50 或再购买 2 次」."""
    phrases = [
        gettext(" and ").join(_shortfall_words(s) for s in way.shortfalls)
        for way in ways
        if way.shortfalls
    ]
    return gettext(" or ").join(phrases)


@register.filter
def percent(progress) -> int:
    """A progress fraction (0 to 1) as a whole percentage for a progress bar, rounded down so a
    bar is never shown full before the tier is reached."""
    return int(Decimal(str(progress)) * 100)


@register.filter
def condition_in_words(node) -> str:
    """One condition of a rule in plain words for members: 「消费满 ¥20,000.00」."""
    metric, minimum = Metric(str(_part(node, "metric"))), _part(node, "minimum")
    if metric == Metric.SPEND:
        return gettext("spend at least %(amount)s") % {"amount": format_yuan(minimum)}
    count = int(Decimal(str(minimum)))
    if metric == Metric.FREQUENCY:
        return ngettext(
            "make at least %(count)s purchase", "make at least %(count)s purchases", count
        ) % {"count": f"{count:,}"}
    if metric == Metric.CONTRIBUTION:
        return gettext("earn at least %(points)s contribution points") % {"points": f"{count:,}"}
    return ngettext(
        "be a member for at least %(count)s year", "be a member for at least %(count)s years", count
    ) % {"count": count}
