"""Reads for the staff pages: every query a page needs, with related rows joined, so templates
never query. Searches are shaped so that each one can use an index (see ``member_search``)."""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import CharField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Right
from django.utils import timezone
from django.utils.translation import gettext

from loyalty.confirm import fingerprint
from loyalty.exceptions import NotFound
from loyalty.masking import mask_email, mask_phone
from loyalty.models import AuditEntry
from members.contacts import phone_typed
from members.models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction
from notifications.models import Notification
from reviews.models import ReviewCase
from tiers import engine
from tiers.models import (
    Benefit,
    DowngradeWarning,
    MemberEvaluation,
    MemberTier,
    Tier,
    TierChange,
    TierOverride,
)
from tiers.selectors import (
    TierExplanation,
    TierProgress,
    last_evaluation,
    member_explanation,
    member_history,
    member_open_warning,
    member_progress,
    tier_state,
)

from .paging import LookaheadPage, lookahead_page

ROWS_PER_PAGE = 20  # transactions, referrals and activities on the member page, a page each
LATEST_ROWS = 50  # audit entries on the member page (the audit log has them all)
DUE_WITHIN_DAYS = 30

SORTS = {
    "member_no": ["member_no"],
    "-member_no": ["-member_no"],
    "name": ["name", "member_no"],
    "joined_on": ["joined_on", "member_no"],
    "-joined_on": ["-joined_on", "member_no"],
    "-tier": [F("tier_state__current_tier__rank").desc(nulls_last=True), "member_no"],
    "tier_year_end": [F("tier_state__tier_year_end").asc(nulls_last=True), "member_no"],
}


def member_state_key(
    member: Member, state: MemberTier | None, override: TierOverride | None
) -> tuple:
    """What a confirmation about ``member`` stands on, from their tier state and open
    override: status, tier, tier year's end, warning, and the override. The same at confirming
    means the same member as the page showed (a colleague's override set meanwhile would
    otherwise be replaced unseen); one member's page and bulk work compare the same."""
    return (
        member.status,
        (state.current_tier_id, state.tier_year_end, state.downgrade_warned_on) if state else None,
        (override.pk, override.tier_id, override.ends_on) if override else None,
    )


def member_action_stamp(member: Member) -> str:
    """The fingerprint of ``member_state_key`` of one member as it is stored."""
    state = MemberTier.objects.filter(member=member).first()
    override = TierOverride.objects.filter(member=member, ended_on__isnull=True).first()
    return fingerprint(member_state_key(member, state, override))


def member_number_typed(text: str) -> str:
    """A member number as staff type or paste it, read as the importer reads one: NFKC
    (full-width ``Ｍ００１`` is ``M001``), without surrounding spaces."""
    return unicodedata.normalize("NFKC", text or "").strip()


def members_by_number(numbers: Iterable[str], *, chunk: int = 500) -> dict[str, Member]:
    """The members the given numbers name, keyed by the number as given: each number read by
    ``member_number_typed``, then as typed or in capitals, as the search reads numbers (the
    number as typed winning if both exist). Tier state joined; one query per ``chunk``
    numbers."""
    typed = {number: member_number_typed(number) for number in numbers}
    wanted = sorted({form for text in typed.values() for form in (text, text.upper()) if form})
    found: dict[str, Member] = {}
    for start in range(0, len(wanted), chunk):
        found.update(
            (member.member_no, member)
            for member in Member.objects.select_related("tier_state__current_tier").filter(
                member_no__in=wanted[start : start + chunk]
            )
        )
    return {
        number: member
        for number, text in typed.items()
        if (member := found.get(text) or found.get(text.upper())) is not None
    }


def _text_condition(query: str, *, contacts_visible: bool = True) -> Q:
    """What a search text can mean, each branch served by its own index (members migration
    0006), and only the branches that can match, so none of them forces a scan: Chinese text is
    part of a name; digits are the start of a member number or of a phone, or a phone's last
    four digits when exactly four are typed; other text is the start of a member number (as
    typed or in capitals), or part of a (Latin) name when it has no digits. Full-width forms
    are read as their plain ones, and a mainland phone's country code (+86) is dropped.

    Staff who see contacts masked (``contacts_visible`` false) find a member by a phone's last
    four digits only, which the mask shows: a start of a number, tried digit by digit, would
    unmask it, and so would the whole number, tried for each of the 10,000 middles the mask
    (138****8000) leaves."""
    query = member_number_typed(query)
    if any(ord(char) >= 0x2E80 for char in query):  # CJK: member numbers and phones have none
        return Q(name__icontains=query)
    # A member number as typed or in capitals: a plain prefix, so PostgreSQL reads it as a
    # range of the member-number index, already in the list's order.
    condition = Q(member_no__startswith=query) | Q(member_no__startswith=query.upper())
    # The start of a number as phones are stored: 11 digits for a mainland mobile (+86
    # dropped), + and the country code for others.
    phone = phone_typed(query)
    digits = phone.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        if contacts_visible:
            condition |= Q(phone__startswith=phone)
        if len(phone) == 4 and phone == digits:
            condition |= Q(phone_last4=phone)
    elif not any(char.isdigit() for char in query):
        condition |= Q(name__icontains=query)
    return condition


def downgrade_due_condition(today: datetime.date, within_days: int = DUE_WITHIN_DAYS) -> Q:
    """Active members warned this tier year, still below their tier, whose downgrade may apply
    within ``within_days``: the day their warning gave (the later of the tier-year end and the
    end of the notice) comes by then, overdue ones included. The dashboard counts the same
    members (``dashboard.downgrades_due``)."""
    until = today + datetime.timedelta(days=within_days)
    due = DowngradeWarning.objects.filter(
        member=OuterRef("pk"),
        tier_year_start=OuterRef("tier_state__tier_year_start"),
        tier=OuterRef("tier_state__current_tier"),
        downgrade_not_before__lte=until,
    )
    return Q(
        Exists(due),
        status=Member.Status.ACTIVE,
        tier_state__downgrade_warned_on__isnull=False,
        evaluation__qualified_tier__rank__lt=F("tier_state__current_tier__rank"),
    )


def member_search(
    *,
    query: str = "",
    status: str = "",
    tier: Tier | None = None,
    qualified_tier: Tier | None = None,
    joined_from: datetime.date | None = None,
    joined_to: datetime.date | None = None,
    downgrade_due: bool = False,
    open_warning: bool = False,
    has_override: bool = False,
    sort: str = "",
    today: datetime.date | None = None,
    contacts_visible: bool = True,
) -> QuerySet[Member]:
    """Members narrowed by a search text and filters, in the chosen order (member number by
    default). The text matches the start of a member number, part of a name, the
    start of a phone number (not for staff who see contacts masked: ``contacts_visible``) or
    its last four digits."""
    members = (
        Member.objects.select_related("tier_state__current_tier", "evaluation__qualified_tier")
        .alias(phone_last4=Right("phone", 4))
        .order_by(*SORTS.get(sort, SORTS["member_no"]))
    )
    query = query.strip()
    if query:
        members = members.filter(_text_condition(query, contacts_visible=contacts_visible))
    if status:
        members = members.filter(status=status)
    if tier is not None:
        members = members.filter(tier_state__current_tier=tier)
    if qualified_tier is not None:
        # Only members who take part have a qualified tier that means anything.
        members = members.filter(
            status=Member.Status.ACTIVE, evaluation__qualified_tier=qualified_tier
        )
    if joined_from is not None:
        members = members.filter(joined_on__gte=joined_from)
    if joined_to is not None:
        members = members.filter(joined_on__lte=joined_to)
    if downgrade_due:
        members = members.filter(downgrade_due_condition(today or timezone.localdate()))
    if open_warning:
        members = members.filter(tier_state__downgrade_warned_on__isnull=False)
    if has_override:
        members = members.filter(
            Exists(TierOverride.objects.filter(member=OuterRef("pk"), ended_on__isnull=True))
        )
    return members


EXPORT_HEADER = [
    "member_no",
    "name",
    "phone",
    "email",
    "status",
    "joined_on",
    "current_tier",
    "tier_year_end",
    "qualified_tier",
    "evaluated_on",
]


def member_export_rows(members: QuerySet[Member], *, unmasked: bool) -> Iterator[list[str]]:
    """The filtered list as CSV rows (header first), streamed in chunks; contact details masked
    unless the reader may see them."""
    yield EXPORT_HEADER
    rows = members.values_list(
        "member_no",
        "name",
        "phone",
        "email",
        "status",
        "joined_on",
        "tier_state__current_tier__code",
        "tier_state__tier_year_end",
        "evaluation__qualified_tier__code",
        "evaluation__evaluated_on",
    ).iterator(chunk_size=2000)
    for member_no, name, phone, email, status, joined, current, year_end, qualified, on in rows:
        takes_part = status == Member.Status.ACTIVE
        yield [
            member_no,
            name,
            phone if unmasked else mask_phone(phone),
            email if unmasked else mask_email(email),
            status,
            joined.isoformat(),
            current or "",
            year_end.isoformat() if year_end else "",
            (qualified or "") if takes_part else "",
            on.isoformat() if on and takes_part else "",
        ]


@dataclass(frozen=True)
class TierCheckRow:
    """One tier of the evaluating policy, its rule checked against the member's numbers."""

    tier: Tier
    result: engine.RuleResult
    qualified: bool


@dataclass(frozen=True)
class MemberProfile:
    """Everything the member page shows, read up front."""

    member: Member
    state: MemberTier
    evaluation: MemberEvaluation | None
    explanation: TierExplanation | None
    progress: TierProgress | None
    checks: list[TierCheckRow]
    open_warning: DowngradeWarning | None
    history: list[TierChange]
    benefits: list[Benefit]
    blacklist: list[BlacklistEntry]
    overrides: list[TierOverride]
    transactions: LookaheadPage
    referrals_made: LookaheadPage
    referred_by: Referral | None
    activities: LookaheadPage
    audit_entries: list[AuditEntry]

    @property
    def open_override(self) -> TierOverride | None:
        return next((o for o in self.overrides if o.ended_on is None), None)

    @property
    def open_blacklist_entry(self) -> BlacklistEntry | None:
        return next((e for e in self.blacklist if e.lifted_at is None), None)


def member_transactions(member: Member) -> QuerySet[Transaction]:
    """Newest first; a refund with its purchase, a purchase with the total refunded so far."""
    refunded = (
        Transaction.objects.filter(refund_of=OuterRef("pk"))
        .values("refund_of")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    return (
        member.transactions.select_related("refund_of")
        .annotate(refunded_fen=Coalesce(Subquery(refunded), 0))
        .order_by("-occurred_at", "-id")
    )


# Entries about a member's facts, cases and messages name those rows, not the member: the
# model of each such row and the fields that name its member (a referral's referrer first).
MEMBER_LINKED_TARGETS = {
    Transaction: ("member",),
    Referral: ("referrer", "referred"),
    ActivityParticipation: ("member",),
    ReviewCase: ("member",),
    Notification: ("member",),
}
# Past this many rows of one kind, the keys are left to a subquery: a statement may carry only
# so many values (SQLite: 32,766), and such members are rare.
MAX_LINKED_KEYS = 2000


def _linked_rows(model, member: Member) -> QuerySet:
    names_member = Q()
    for field in MEMBER_LINKED_TARGETS[model]:
        names_member |= Q(**{field: member})
    return model.objects.filter(names_member).order_by()


def about_member(member: Member) -> Q:
    """Audit entries about ``member``: their own, and those of every row linked to them. The
    linked rows' keys are read first (one query): a condition of plain values lets the
    database read each kind from the (target type, target id) index, where subqueries joined
    by OR would make it scan the whole log, which grows with every recorded transaction. A
    kind with more than ``MAX_LINKED_KEYS`` rows is matched by a subquery instead."""
    # Unordered parts: a compound statement may not order them (SQLite refuses).
    linked = [
        _linked_rows(model, member).values_list(
            Value(model._meta.label_lower, output_field=CharField()), "pk"
        )
        for model in MEMBER_LINKED_TARGETS
    ]
    keys: dict[str, list[str]] = {}
    for label, pk in linked[0].union(*linked[1:], all=True):
        keys.setdefault(label, []).append(str(pk))
    condition = Q(target_type=Member._meta.label_lower, target_id=str(member.pk))
    for model in MEMBER_LINKED_TARGETS:
        label = model._meta.label_lower
        ids = keys.get(label, [])
        if len(ids) > MAX_LINKED_KEYS:
            # As text, like AuditEntry.target_id.
            ids = _linked_rows(model, member).values_list(Cast("pk", CharField()), flat=True)
        if ids:
            condition |= Q(target_type=label, target_id__in=ids)
    return condition


def audit_member_numbers(entries) -> dict[tuple[str, str], str]:
    """The member number each entry is about, keyed by (target type, target id), one query per
    kind of target on the page; a referral's is its referrer's."""
    wanted: dict[str, set[int]] = {}
    for entry in entries:
        if entry.target_id.isdigit():
            wanted.setdefault(entry.target_type, set()).add(int(entry.target_id))
    links = {Member._meta.label_lower: (Member, "member_no")}
    for model, fields in MEMBER_LINKED_TARGETS.items():
        links[model._meta.label_lower] = (model, f"{fields[0]}__member_no")
    numbers = {}
    for label, ids in wanted.items():
        if label in links:
            model, number = links[label]
            for pk, member_no in model.objects.filter(pk__in=ids).values_list("pk", number):
                numbers[(label, str(pk))] = member_no
    return numbers


def member_audit_entries(member: Member) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.select_related("actor").filter(about_member(member))


def member_lookup(member_no: str) -> Member:
    """The member with their tier state and last evaluation; ``Member.DoesNotExist`` if none."""
    return Member.objects.select_related(
        "tier_state__current_tier",
        "evaluation__qualified_tier",
        "evaluation__policy",
        "referral__referrer",
    ).get(member_no=member_no)


def no_such_member(member_no: str) -> NotFound:
    """The 404 for a member number no member has, saying why an erased member's old number
    (a page kept open during the erasure, the browser's Back) no longer works."""
    return NotFound(
        gettext(
            "No member has number %(no)s. A member whose personal data was erased has a new, "
            "anonymous number."
        )
        % {"no": member_no}
    )


def member_profile(
    *, member_no: str, transactions_page=1, referrals_page=1, activities_page=1
) -> MemberProfile:
    """The member page's data in a fixed number of queries; raises ``Member.DoesNotExist``.
    Transactions, referrals made and activities come a page at a time (``*_page``: the raw
    page numbers of the request; one that is not a number gives the first page, one past the
    end is not found)."""
    member = member_lookup(member_no)
    state = tier_state(member)
    explanation = member_explanation(member)
    checks = []
    if explanation is not None:
        qualified_code = explanation.evaluation.tier.code
        checks = [
            TierCheckRow(
                tier=explanation.tiers[check.tier.code],
                result=check.result,
                qualified=check.tier.code == qualified_code,
            )
            for check in explanation.evaluation.checks
        ]
    benefits = list(state.current_tier.benefits.all()) if state.current_tier else []
    try:
        referred_by = member.referral
    except Referral.DoesNotExist:
        referred_by = None
    return MemberProfile(
        member=member,
        state=state,
        evaluation=last_evaluation(member) if member.takes_part else None,
        explanation=explanation,
        progress=member_progress(member),
        checks=checks,
        open_warning=member_open_warning(member),
        history=list(member_history(member).select_related("override")),
        benefits=benefits,
        blacklist=list(member.blacklist_entries.select_related("created_by", "lifted_by")),
        overrides=list(
            member.tier_overrides.select_related("tier", "created_by", "ended_by").order_by(
                "-created_at", "-id"
            )
        ),
        transactions=lookahead_page(member_transactions(member), transactions_page, ROWS_PER_PAGE),
        referrals_made=lookahead_page(
            member.referrals.select_related("referred").order_by("-occurred_on", "-id"),
            referrals_page,
            ROWS_PER_PAGE,
        ),
        referred_by=referred_by,
        activities=lookahead_page(
            member.activities.order_by("-occurred_at", "-id"), activities_page, ROWS_PER_PAGE
        ),
        audit_entries=list(member_audit_entries(member)[:LATEST_ROWS]),
    )


def audit_search(
    *,
    actor: str = "",
    member: Member | None = None,
    action: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> QuerySet[AuditEntry]:
    """Audit entries newest first, narrowed by the actor's username, the member they are about,
    the action (or its family: ``tier.override`` finds every override action) and local dates."""
    entries = AuditEntry.objects.select_related("actor").order_by("-created_at", "-id")
    if actor:
        entries = entries.filter(actor__username=actor)
    if member is not None:
        entries = entries.filter(about_member(member))
    if action:
        entries = entries.filter(Q(action=action) | Q(action__startswith=f"{action}."))
    zone = timezone.get_current_timezone()
    if date_from is not None:
        start = datetime.datetime.combine(date_from, datetime.time(), tzinfo=zone)
        entries = entries.filter(created_at__gte=start)
    if date_to is not None:
        end = datetime.datetime.combine(
            date_to + datetime.timedelta(days=1), datetime.time(), tzinfo=zone
        )
        entries = entries.filter(created_at__lt=end)
    return entries
