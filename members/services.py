"""The writers of facts about customers: members, transactions, referrals, activities and
blacklist entries, one function per action (keyword-only, one transaction, audited).

These functions know nothing of tiers: ``tiers.actions`` wraps each of them with the member's
re-evaluation, and that is what the back office and the API call. The importer writes the same
facts set-based, with the same rules (members/importers.py).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import rows
from loyalty.audit import audit_record
from loyalty.bulk import insert_one
from loyalty.exceptions import ConflictError, DomainError
from loyalty.money import AmountError, fen_to_yuan, format_yuan, parse_amount

from .contacts import ContactRefused, email_normalised, phone_normalised
from .models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction

# Facts that already happened may be dated at most this far ahead, in local days: tomorrow at
# the latest, as the import reads them (clocks of shop systems drift; a day covers every time
# zone).
FUTURE_TOLERANCE = datetime.timedelta(days=1)


def member_lock(member: Member) -> Member:
    """The member's row, locked until the transaction ends: every writer of a member's facts and
    tier takes this lock first, so two writers for one member never interleave."""
    return Member.objects.select_for_update().get(pk=member.pk)


def _amount_fen(amount: Decimal | str) -> int:
    text = format(amount, "f") if isinstance(amount, Decimal) else str(amount)
    try:
        return parse_amount(text)
    except AmountError as exc:
        raise DomainError(str(exc)) from None


def fact_moment_check(moment: datetime.datetime, *, what: str) -> None:
    """A fact that already happened is not dated in the future (beyond the clocks' drift);
    ``what`` names the fact in the refusal, which names every caller's ``occurred_at``. The
    staff forms check it too, before their confirmation page."""
    if _local_date(moment) > timezone.localdate() + FUTURE_TOLERANCE:
        raise DomainError(
            _("%(what)s cannot be dated later than tomorrow.") % {"what": what},
            field="occurred_at",
        )


def blacklist_check(member: Member) -> None:
    """A member is blacklisted once (``member_blacklist``, and the staff form before its
    confirmation page)."""
    if member.status == Member.Status.BLACKLISTED:
        raise DomainError(_("Member %(no)s is already blacklisted.") % {"no": member.member_no})


def convert_check(member: Member) -> None:
    """Only an experience member is converted (``member_convert``, and the staff form before
    its confirmation page)."""
    if member.status != Member.Status.EXPERIENCE:
        raise DomainError(_("Only an experience member can be converted to a full member."))


def blacklisted_check(member: Member) -> None:
    """Only a blacklisted member's entry is lifted (``blacklist_lift``, and the staff form
    before its confirmation page)."""
    if member.status != Member.Status.BLACKLISTED:
        raise DomainError(_("Member %(no)s is not blacklisted.") % {"no": member.member_no})


def takes_part_check(member: Member) -> None:
    """An evaluation asked for by staff is for a member who takes part: an experience or
    blacklisted member holds no tier, and nothing would be evaluated."""
    if not member.takes_part:
        raise DomainError(
            _("Only an active member is evaluated: %(no)s is %(status)s.")
            % {"no": member.member_no, "status": member.get_status_display()}
        )


def refund_of_check(kind: str, refund_of: str) -> None:
    """Only a refund names the purchase it refunds (``transaction_create``, and the staff
    form)."""
    if kind != Transaction.Kind.REFUND and refund_of:
        raise DomainError(_("Only a refund names a purchase."))


def _local_date(moment: datetime.datetime) -> datetime.date:
    return timezone.localtime(moment).date()


def _reason(reason: str) -> dict:
    """Why staff did it, kept in the audit entry when they said (the back office asks always)."""
    reason = reason.strip()
    return {"reason": reason} if reason else {}


_CONTACT_FORMS = {"phone": phone_normalised, "email": email_normalised}


def _contact_normalised(field: str, value: str) -> str:
    """A phone or e-mail address in its stored form, so every way in compares alike; refused
    under the field's name."""
    try:
        return _CONTACT_FORMS[field](value)
    except ContactRefused as refused:
        raise DomainError(str(refused), field=field) from None


def _snapshot(member: Member) -> dict:
    return {
        "member_no": member.member_no,
        "name": member.name,
        "phone": member.phone,
        "email": member.email,
        "birthday": member.birthday.isoformat() if member.birthday else None,
        "joined_on": member.joined_on.isoformat(),
        "status": member.status,
        "language": member.language,
    }


@transaction.atomic
def member_create(
    *,
    member_no: str,
    name: str,
    joined_on: datetime.date,
    phone: str = "",
    email: str = "",
    birthday: datetime.date | None = None,
    status: str = Member.Status.ACTIVE,
    actor=None,
) -> Member:
    if status == Member.Status.BLACKLISTED:
        raise DomainError(_("A member is blacklisted through a blacklist entry, not on creation."))
    if Member.objects.filter(member_no=member_no).exists():
        raise DomainError(_("Member number %(no)s is already taken.") % {"no": member_no})
    if refusal := birthday_refusal(birthday, joined_on):
        raise DomainError(refusal, field="birthday")
    phone = _contact_normalised("phone", phone)
    email = _contact_normalised("email", email)
    member = Member.objects.create(
        member_no=member_no,
        name=name,
        joined_on=joined_on,
        phone=phone,
        email=email,
        birthday=birthday,
        status=status,
    )
    audit_record(actor=actor, action="member.create", target=member, after=_snapshot(member))
    return member


@transaction.atomic
def member_update(*, member: Member, actor=None, **changes) -> Member:
    """Change contact details (name, phone, email, birthday) and the language of notices. The
    member number and the joined date are identity (records and tenure hang on them) and the
    status has its own actions."""
    allowed = {"name", "phone", "email", "birthday", "language"}
    if unknown := set(changes) - allowed:
        raise DomainError(
            _("These fields cannot be changed here: %(f)s") % {"f": ", ".join(unknown)}
        )
    changes = {
        field: _contact_normalised(field, value) if field in _CONTACT_FORMS else value
        for field, value in changes.items()
    }
    member = member_lock(member)
    if "birthday" in changes and (
        refusal := birthday_refusal(changes["birthday"], member.joined_on)
    ):
        raise DomainError(refusal, field="birthday")
    before = _snapshot(member)
    # Only what differs is written and audited: a repeat of the same change changes nothing.
    changes = {name: value for name, value in changes.items() if getattr(member, name) != value}
    for name, value in changes.items():
        setattr(member, name, value)
    if changes:
        member.save(update_fields=list(changes))
        audit_record(
            actor=actor,
            action="member.update",
            target=member,
            before=before,
            after=_snapshot(member),
        )
    return member


def member_language_record(*, member: Member, language: str) -> None:
    """Remember the language a member reads the member pages in: their notices are written in
    it from now on. The member's own choice, made by reading, so it is not audited; a language
    the site does not offer, or the one already recorded, changes nothing."""
    if language not in dict(settings.LANGUAGES) or member.language == language:
        return
    Member.objects.filter(pk=member.pk).update(language=language)
    member.language = language


@transaction.atomic
def member_convert(*, member: Member, actor, reason: str = "") -> Member:
    """An experience member (体验会员) becomes a full member and takes part in evaluation."""
    member = member_lock(member)
    convert_check(member)
    member.status = Member.Status.ACTIVE
    member.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="member.convert",
        target=member,
        before={"status": Member.Status.EXPERIENCE},
        after={"status": Member.Status.ACTIVE, **_reason(reason)},
    )
    return member


@transaction.atomic
def member_blacklist(
    *,
    member: Member,
    reason: str,
    evidence: str = "",
    evidence_file: str = "",
    actor,
    occurred_at: datetime.datetime | None = None,
) -> BlacklistEntry:
    """Revoke a membership for malicious complaints or fraud: an entry with reason, evidence,
    who and when, and the status set to blacklisted (the tier is revoked by tiers.actions).
    ``evidence_file`` is the name of a file already saved in the default storage."""
    member = member_lock(member)
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    blacklist_check(member)
    occurred_at = occurred_at or timezone.now()
    fact_moment_check(occurred_at, what=_("A blacklist entry"))
    entry = BlacklistEntry.objects.create(
        member=member,
        reason=reason,
        evidence=evidence.strip(),
        evidence_file=evidence_file,
        occurred_at=occurred_at,
        previous_status=member.status,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    before = member.status
    member.status = Member.Status.BLACKLISTED
    member.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="member.blacklist",
        target=member,
        before={"status": before},
        after={
            "status": member.status,
            "reason": reason,
            "entry": entry.pk,
            **({"evidence": entry.evidence} if entry.evidence else {}),
            **({"evidence_file": evidence_file} if evidence_file else {}),
        },
    )
    return entry


@transaction.atomic
def blacklist_lift(*, member: Member, reason: str, actor) -> BlacklistEntry:
    """Lift the open blacklist entry (a separate, more privileged action): the member returns
    to the status they had before it (``BlacklistEntry.previous_status``): an active member, to
    be evaluated again, or an experience member, who takes no part until staff convert them."""
    member = member_lock(member)
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    blacklisted_check(member)
    entry = member.blacklist_entries.filter(lifted_at__isnull=True).first()
    if entry is None:
        raise DomainError(_("Member %(no)s is not blacklisted.") % {"no": member.member_no})
    entry.lifted_at = timezone.now()
    entry.lifted_by = actor if getattr(actor, "pk", None) else None
    entry.lift_reason = reason
    entry.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    # Lifting undoes the blacklisting, nothing more: converting an experience member is its
    # own action (member_convert).
    member.status = entry.previous_status or Member.Status.ACTIVE
    member.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="member.blacklist_lift",
        target=member,
        before={"status": Member.Status.BLACKLISTED, "entry": entry.pk},
        after={"status": member.status, "reason": reason},
    )
    return entry


def _same_transaction(stored: Transaction, *, member, kind, amount_fen, occurred_at, refund_of):
    return (
        stored.member_id == member.pk
        and stored.kind == kind
        and stored.amount_fen == amount_fen
        and stored.occurred_at == occurred_at
        and stored.refund_of_id == (refund_of.pk if refund_of else None)
    )


def _repeat(stored: Transaction, **data) -> tuple[Transaction, bool]:
    """The answer to an external id already recorded: the stored row when the data is the
    same, else a conflict."""
    if _same_transaction(stored, **data):
        return stored, False
    raise ConflictError(
        _("External id %(id)s was already recorded with different data.")
        % {"id": stored.external_id}
    )


def refund_of_refund_refusal(refund_of: str) -> str:
    """Why a refund whose ``refund_of`` names the refund ``refund_of`` is refused: only a
    purchase is refunded. The API and the staff form show it at refund_of, the import after
    its column (it finds the rows in SQL, ``_TransactionImporter``)."""
    return _("%(id)s is a refund, not a purchase: a refund cannot be refunded") % {"id": refund_of}


def refund_purchase_find(refund_of: str) -> Transaction:
    """The purchase a refund names by its external id; refused when it names none, no
    transaction has that id, or the transaction is a refund."""
    if not refund_of:
        raise DomainError(_("A refund must name the purchase it refunds."))
    refund_of = refund_of.strip()
    purchase = Transaction.objects.filter(external_id=refund_of).first()
    if purchase is None:
        raise DomainError(
            _("Refund of unknown purchase %(id)s.") % {"id": refund_of}, field="refund_of"
        )
    if purchase.kind != Transaction.Kind.PURCHASE:
        raise DomainError(refund_of_refund_refusal(refund_of), field="refund_of")
    return purchase


def refund_refusal(
    *, purchase: Transaction, member: Member, amount_fen: int, occurred_at: datetime.datetime
) -> tuple[str, str] | None:
    """Why a new refund of ``purchase`` is refused, as (the input at fault, the message), or
    None: a refund belongs to the purchase's member, is not dated before it, and the refunds
    of a purchase total at most its amount. (The input is named for the staff form; the API
    keeps answering these with a message alone.)"""
    if purchase.member_id != member.pk:
        return "refund_of", _("A refund must belong to the purchase's member.")
    if occurred_at < purchase.occurred_at:
        return "occurred_at", _("A refund cannot be dated before its purchase.")
    refunded = sum(purchase.refunds.values_list("amount_fen", flat=True))
    if refunded + amount_fen > purchase.amount_fen:
        return "amount", _(
            "Refunds of %(id)s would total %(total)s, more than its amount %(amount)s."
        ) % {
            "id": purchase.external_id,
            "total": format_yuan(fen_to_yuan(refunded + amount_fen)),
            "amount": format_yuan(fen_to_yuan(purchase.amount_fen)),
        }
    return None


def member_lock_row(member: Member | int) -> None:
    """``member_lock`` for a writer that needs only the lock, not a fresh copy of the row (it
    uses only the member's id and number, which never change)."""
    member_id = member if isinstance(member, int) else member.pk
    table = connection.ops.quote_name(Member._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with rows.hot_cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id = %s{lock}", [member_id])
        if cursor.fetchone() is None:
            raise Member.DoesNotExist(member_id)


def member_lock_many(member_ids) -> None:
    """``member_lock_row`` for many members at once, in id order, so that two writers naming
    some of the same members wait for each other instead of deadlocking (in chunks: SQLite
    takes at most 999 parameters a statement)."""
    ordered = sorted(set(member_ids))
    for start in range(0, len(ordered), 500):
        list(
            Member.objects.select_for_update()
            .filter(pk__in=ordered[start : start + 500])
            .order_by("pk")
            .values_list("pk", flat=True)
        )


# No savepoint of its own: its callers (tiers.actions, the API's batch) write nothing before
# it that should outlive its error, and the savepoint cost two statements per transaction.
@transaction.atomic(savepoint=False)
def transaction_create(
    *,
    member: Member,
    external_id: str,
    kind: str,
    amount: Decimal | str,
    occurred_at: datetime.datetime,
    refund_of: str = "",
    actor=None,
    reason: str = "",
    locked: bool = False,
) -> tuple[Transaction, bool]:
    """Record a purchase or a refund; returns (transaction, created). ``locked``: the caller's
    transaction holds the member's row lock already (``member_lock`` and the like).

    Idempotent by external id: the same id with the same data returns the stored row and
    changes nothing; with different data it is refused. A refund names its purchase by external
    id, belongs to the same member, is not dated before it, and refunds may total at most the
    purchase's amount."""
    if not locked:
        member_lock_row(member)
    external_id = external_id.strip()
    if not external_id:
        raise DomainError(_("The external id is required."))
    if kind not in Transaction.Kind.values:
        raise DomainError(_('Kind must be "purchase" or "refund".'))
    amount_fen = _amount_fen(amount)
    if timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at)
    fact_moment_check(occurred_at, what=_("A transaction"))
    refund_of_check(kind, refund_of)
    purchase = None
    if kind == Transaction.Kind.REFUND:
        purchase = refund_purchase_find(refund_of)
    data = {
        "member": member,
        "kind": kind,
        "amount_fen": amount_fen,
        "occurred_at": occurred_at,
        "refund_of": purchase,
    }

    if purchase is not None:
        # A refund sent again is answered before its checks: counted with itself, it would
        # seem to refund more than the purchase.
        stored = Transaction.objects.filter(external_id=external_id).first()
        if stored is not None:
            return _repeat(stored, **data)
        refusal = refund_refusal(
            purchase=purchase, member=member, amount_fen=amount_fen, occurred_at=occurred_at
        )
        if refusal is not None:
            raise DomainError(refusal[1])
    created = Transaction(
        external_id=external_id,
        member=member,
        kind=kind,
        amount_fen=amount_fen,
        occurred_at=occurred_at,
        occurred_on=_local_date(occurred_at),
        refund_of=purchase,
    )
    # A purchase is inserted first and compared only when its id is taken (a repeat, or the id
    # used for another member, perhaps committed a moment ago): the common new purchase costs
    # one statement.
    if not insert_one(created, unless_taken=["external_id"]):
        return _repeat(Transaction.objects.get(external_id=external_id), **data)
    if getattr(actor, "pk", None):
        audit_record(
            actor=actor,
            action=f"transaction.{kind}",
            target=created,
            after={
                "member_no": member.member_no,
                "external_id": external_id,
                "kind": kind,
                "amount": str(fen_to_yuan(amount_fen)),
                "occurred_at": timezone.localtime(occurred_at).isoformat(),
                **({"refund_of": purchase.external_id} if purchase is not None else {}),
                **_reason(reason),
            },
        )
    return created, True


def referral_closes_circle(*, referrer: Member, referred: Member) -> bool:
    """Whether ``referred`` is already, directly or through others, the referrer of
    ``referrer``: then this referral would close a circle.

    A referrer joined on or before the member they referred, so everyone in a circle joined on
    the same day: the walk up ``referrer``'s referrers stops at the first who joined on another
    day, and is short."""
    if referrer.joined_on != referred.joined_on:
        return False
    seen = {referrer.pk}
    node = referrer.pk
    while True:
        parent = (
            Referral.objects.filter(referred_id=node, referrer__joined_on=referred.joined_on)
            .values_list("referrer_id", flat=True)
            .first()
        )
        if parent is None or parent in seen:
            return False
        if parent == referred.pk:
            return True
        seen.add(parent)
        node = parent


def birthday_refusal(birthday: datetime.date | None, joined_on: datetime.date) -> str | None:
    """Why a member's ``birthday`` is refused beside their ``joined_on``, or None: nobody joins
    before they are born. Services refuse it (the API and the staff forms at the birthday), the
    import names it on the row."""
    if birthday is None or birthday <= joined_on:
        return None
    return _("birthday %(birthday)s is after the joined date %(joined)s") % {
        "birthday": birthday.isoformat(),
        "joined": joined_on.isoformat(),
    }


def referral_date_refusal(
    *, occurred_on: datetime.date, referred_no: str, joined_on: datetime.date
) -> str | None:
    """Why a referral dated ``occurred_on`` of member ``referred_no``, who joined on
    ``joined_on``, is refused, or None: its date is the day the referred member registered
    (domain.md), never before they joined. The API and the staff form show it at their date
    field, the import after its column (it finds the rows in SQL, ``_ReferralImporter``)."""
    if occurred_on >= joined_on:
        return None
    return _("%(day)s is before member %(no)s joined (%(joined)s)") % {
        "day": occurred_on.isoformat(),
        "no": referred_no,
        "joined": joined_on.isoformat(),
    }


def referral_check(
    *, referrer: Member, referred: Member, occurred_on: datetime.date | None = None
) -> Referral | None:
    """Whether ``referrer`` may be recorded as having referred ``referred``: refused at the
    field ``occurred_on`` when dated in the future or before the referred member joined, at
    ``referred_no`` when it is the member themselves, when the member was referred by
    someone else or on another day, joined before the referrer, or the referral would close a
    circle; the stored referral when this very one is recorded already, else None. Reads
    only: the staff form asks before its confirmation page, ``referral_create`` again under
    the members' locks."""
    occurred_on = occurred_on or referred.joined_on
    if occurred_on > timezone.localdate() + FUTURE_TOLERANCE:
        raise DomainError(
            _("%(what)s cannot be dated later than tomorrow.") % {"what": _("A referral")},
            field="occurred_on",
        )
    if referrer.pk == referred.pk:
        raise DomainError(_("A member cannot refer themselves."), field="referred_no")
    stored = Referral.objects.filter(referred=referred).first()
    if stored is not None:
        if stored.referrer_id == referrer.pk and stored.occurred_on == occurred_on:
            return stored
        raise ConflictError(
            _("Member %(no)s was already referred.") % {"no": referred.member_no},
            field="referred_no",
        )
    if referred.joined_on < referrer.joined_on:
        raise DomainError(_("The referred member joined before the referrer."), field="referred_no")
    if refusal := referral_date_refusal(
        occurred_on=occurred_on, referred_no=referred.member_no, joined_on=referred.joined_on
    ):
        raise DomainError(refusal, field="occurred_on")
    if referral_closes_circle(referrer=referrer, referred=referred):
        raise DomainError(
            _(
                "Member %(referred)s already referred member %(referrer)s, directly or through "
                "other members: referrals cannot go round in a circle."
            )
            % {"referred": referred.member_no, "referrer": referrer.member_no},
            field="referred_no",
        )
    return None


@transaction.atomic
def referral_create(
    *,
    referrer: Member,
    referred: Member,
    occurred_on: datetime.date | None = None,
    actor=None,
    reason: str = "",
) -> tuple[Referral, bool]:
    """老带新: ``referrer`` brought ``referred``; dated the day the referred member registered.
    A member is referred once; nobody refers themselves; the referrer joined first; referrals
    never go round in a circle (A refers B, B refers A)."""
    # Both members locked, in id order: A→B and B→A sent at the same moment are checked one
    # after the other, so the second sees the first and is refused.
    for member in sorted((referrer, referred), key=lambda m: m.pk):
        member_lock(member)
    occurred_on = occurred_on or referred.joined_on
    stored = referral_check(referrer=referrer, referred=referred, occurred_on=occurred_on)
    if stored is not None:
        return stored, False
    referral = Referral.objects.create(
        referrer=referrer, referred=referred, occurred_on=occurred_on
    )
    if getattr(actor, "pk", None):
        audit_record(
            actor=actor,
            action="referral.create",
            target=referral,
            after={
                "referrer": referrer.member_no,
                "referred": referred.member_no,
                **_reason(reason),
            },
        )
    return referral, True


@transaction.atomic
def activity_create(
    *, member: Member, activity: str, occurred_at: datetime.datetime, actor=None, reason: str = ""
) -> tuple[ActivityParticipation, bool]:
    """An activity participation (livestream, product review, event ...); idempotent by
    (member, activity, moment)."""
    member = member_lock(member)
    activity = activity.strip()
    if not activity:
        raise DomainError(_("The activity is required."))
    if timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at)
    fact_moment_check(occurred_at, what=_("An activity"))
    participation, created = ActivityParticipation.objects.get_or_create(
        member=member,
        activity=activity,
        occurred_at=occurred_at,
        defaults={"occurred_on": _local_date(occurred_at)},
    )
    if created and getattr(actor, "pk", None):
        audit_record(
            actor=actor,
            action="activity.create",
            target=participation,
            after={"member_no": member.member_no, "activity": activity, **_reason(reason)},
        )
    return participation, created
