"""What the evaluation tells members: the notices of its events, as plain data for the outbox
(``notifications.services.notices_queue``). Built where the events are decided
(``services._evaluate_rows``), so the recompute and the real-time path queue the same notices.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from django.utils.translation import get_language, gettext, ngettext

from notifications.models import Kind
from notifications.services import Notice

from .templatetags.tier_display import metric_label, metric_value


def describe_gaps(node: dict, *, in_alternative: bool = False) -> str:
    """What is still missing to keep a tier, in words, from a warning's ``gaps`` (the at-risk
    tier's rule checked against the member's figures): e.g. "spend: 1,200.00 more". Inside an
    alternative, the parts of a group that are all needed are joined by "and"."""
    if node.get("held"):
        return ""
    kind = node.get("kind")
    if kind == "threshold":
        metric = node["metric"]
        return gettext("%(metric)s: %(shortfall)s more (now %(value)s of %(minimum)s)") % {
            "metric": metric_label(metric),
            "shortfall": metric_value(node.get("shortfall"), metric),
            "value": metric_value(node.get("value"), metric),
            "minimum": metric_value(node.get("minimum"), metric),
        }
    children = node.get("children") or []
    missing = [_option(child, kind) for child in children if not child.get("held")]
    missing = [text for text in missing if text]
    if kind == "all":
        return (gettext(" and ") if in_alternative else gettext("; ")).join(missing)
    if kind == "any":
        return gettext("one of: %(options)s") % {"options": gettext(" or ").join(missing)}
    if kind == "at_least":
        needed = (node.get("count") or 0) - sum(1 for child in children if child.get("held"))
        return ngettext(
            "%(count)s more of: %(options)s", "%(count)s more of: %(options)s", needed
        ) % {"count": needed, "options": gettext(" or ").join(missing)}
    return ""


def _option(child: dict, parent_kind: str | None) -> str:
    """A child's gaps; a group of them bracketed inside an alternative, so that "one of: A and
    B or C" reads as "one of: (A and B) or C"."""
    in_alternative = parent_kind in ("any", "at_least")
    text = describe_gaps(child, in_alternative=in_alternative)
    if text and in_alternative and child.get("kind") != "threshold":
        return gettext("(%(options)s)") % {"options": text}
    return text


class _Gaps:
    """Rendered in the notice's language when the template uses ``{{ missing }}``."""

    def __init__(self, gaps: dict):
        self.gaps = gaps

    def __str__(self) -> str:
        return describe_gaps(self.gaps)


class _Sentence:
    """Staff's message to the member, ended as a sentence in the notice's language when it has
    no closing punctuation: the template's next sentence follows it directly, and "恭喜升级"
    would run into it ("恭喜升级我们很高兴授予您…")."""

    def __init__(self, text: str):
        self.text = text.strip()

    def __str__(self) -> str:
        if not self.text or _ends_a_sentence(self.text):
            return self.text
        return self.text + ("." if (get_language() or "").startswith("en") else "。")


def _ends_a_sentence(text: str) -> bool:
    """The last character before any closing quotes or brackets (」”）, and the straight quotes
    " and ', which Unicode files with other punctuation) is punctuation such as 。！？… or .!?"""
    while text and (unicodedata.category(text[-1]) in ("Pe", "Pf") or text[-1] in "\"'"):
        text = text[:-1]
    return bool(text) and unicodedata.category(text[-1]) == "Po"


def _notice(row: tuple, kind: str, key: str, as_of: date, **context) -> Notice:
    member_id, name, phone, email = row
    return Notice(
        member_id=member_id,
        kind=kind,
        dedupe_key=key,
        event_on=as_of,
        name=name or "",
        phone=phone or "",
        email=email or "",
        context=context,
    )


def upgrade(row, as_of: date, tier, year_end: date) -> Notice:
    return _notice(
        row, Kind.UPGRADE, f"upgrade:{tier.code}:{as_of}", as_of, tier=tier, tier_year_end=year_end
    )


def tier_kept(row, as_of: date, tier, year_start: date, year_end: date) -> Notice:
    return _notice(
        row,
        Kind.TIER_KEPT,
        f"kept:{tier.code}:{year_start}",
        as_of,
        tier=tier,
        tier_year_end=year_end,
    )


def downgrade_warning(
    row,
    as_of: date,
    tier,
    qualified,
    to_tier,
    year_start: date,
    year_end: date,
    not_before: date,
    gaps,
) -> Notice:
    # Known by the tier year's end too: a year an override extended keeps its start, and its
    # warning is a new one.
    return _notice(
        row,
        Kind.DOWNGRADE_WARNING,
        f"warning:{tier.code}:{year_start}:{year_end}",
        as_of,
        tier=tier,
        qualified_tier=qualified,
        to_tier=to_tier,
        tier_year_end=year_end,
        downgrade_not_before=not_before,
        missing=_Gaps(gaps),
    )


def downgrade(row, as_of: date, from_tier, to_tier) -> Notice:
    return _notice(
        row,
        Kind.DOWNGRADE,
        f"downgrade:{from_tier.code}:{to_tier.code}:{as_of}",
        as_of,
        from_tier=from_tier,
        to_tier=to_tier,
    )


def blacklist(row, as_of: date) -> Notice:
    return _notice(row, Kind.BLACKLIST, f"blacklist:{as_of}", as_of)


def reinstated(row, as_of: date, tier, year_end: date) -> Notice:
    return _notice(
        row, Kind.REINSTATED, f"reinstated:{as_of}", as_of, tier=tier, tier_year_end=year_end
    )


def exceptional_upgrade_key(override) -> str:
    return f"exceptional:{override.pk}"


def exceptional_upgrade(row, as_of: date, override) -> Notice:
    return _notice(
        row,
        Kind.EXCEPTIONAL_UPGRADE,
        exceptional_upgrade_key(override),
        as_of,
        tier=override.tier,
        message=_Sentence(override.message),
        ends_on=override.ends_on,
    )


def review_declined(row, as_of: date, case_id: int, reason: str) -> Notice:
    """The committee's rejection of a review case, with the chair's reason (domain.md:
    "decisions are final, audited, and the member is told the reason")."""
    return _notice(
        row, Kind.REVIEW_DECLINED, f"review_declined:{case_id}", as_of, reason=_Sentence(reason)
    )
