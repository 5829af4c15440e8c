"""Member sign-in: SMS codes, passwords, limits and lockout. The only writers of
``MemberAccount`` and ``SignInCode``.

A failure is saved before it is reported: each function decides inside its transaction and
raises ``SignInError`` only after the transaction has committed, so a wrong code or password
always counts."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import (
    UserAttributeSimilarityValidator,
    get_default_password_validators,
    validate_password,
)
from django.core.cache import cache
from django.db import transaction
from django.utils import formats, timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.audit import audit_record
from loyalty.exceptions import DomainError
from members.contacts import PHONE_FORMATS, ContactRefused, phone_normalised, phone_receives_texts
from members.importers import ValueRefused, member_no_value
from members.models import Member
from notifications.sms import send_sms

from .models import MemberAccount, SignInCode

CODE_DIGITS = 6
CODE_VALID_FOR = timedelta(minutes=5)
WRONG_CODES_PER_CODE = 5
CODES_PER_PHONE_PER_HOUR = 5
CODES_PER_ADDRESS_PER_HOUR = 20
RESEND_AFTER = timedelta(seconds=60)
FAILURES_BEFORE_LOCK = 5
LOCKED_FOR = timedelta(minutes=15)
# Password failures for an identifier that is no member's are counted in the cache, and forgotten
# after this long without another failure (a member's count stays until a sign-in succeeds).
STRANGER_FAILURES_KEPT_FOR = timedelta(days=1)
HOUR = timedelta(hours=1)
# Code requests are kept as long as the hourly limits count them, and no longer: they hold phone
# numbers (PIPL: no longer than needed). Every code in an older request has expired.
CODE_REQUESTS_KEPT_FOR = HOUR


@functools.cache
def _dummy_hash() -> str:
    """Checked when there is no password, so a wrong member number takes as long as a wrong
    password and the timing does not tell who has one."""
    return make_password(secrets.token_urlsafe(16))


class SignInError(DomainError):
    """Why a sign-in step was refused, in words for the member."""


# --- Phone numbers --------------------------------------------------------------------------


def normalise_phone(raw: str) -> str:
    """The phone number as members' phones are stored (``members.contacts``): ``１３８…``,
    ``+86 138-…`` and ``138 …`` are one number. Raises ``SignInError`` for what is not one."""
    try:
        phone = phone_normalised(raw)
    except ContactRefused as refused:
        raise SignInError(str(refused)) from None
    if not phone:
        raise SignInError(str(PHONE_FORMATS))
    return phone


def members_with_phone(phone: str) -> list[Member]:
    """Members whose phone is ``phone`` (normalised: every way in stores phones so)."""
    return list(Member.objects.filter(phone=phone).order_by("member_no"))


# --- Accounts -------------------------------------------------------------------------------


def _locked_message(locked_until: datetime) -> str:
    until = formats.time_format(timezone.localtime(locked_until), "H:i")
    return _(
        "Too many wrong passwords: password sign-in is paused until %(time)s. "
        "Meanwhile you can sign in with an SMS code."
    ) % {"time": until}


def _revoked_message() -> str:
    return _(
        "This membership has been revoked, so it cannot sign in. "
        "If you think this is a mistake, please contact customer service."
    )


def _account_for_update(member: Member) -> MemberAccount:
    account, _created = MemberAccount.objects.select_for_update().get_or_create(member=member)
    return account


def _record_failure(account: MemberAccount, now: datetime) -> None:
    account.failed_attempts += 1
    if account.failed_attempts >= FAILURES_BEFORE_LOCK:
        account.failed_attempts = 0
        account.locked_until = now + LOCKED_FOR
        audit_record(
            actor=None,
            action="portal.account_locked",
            target=account.member,  # found by the member's number in the log and the export
            after={"locked_until": account.locked_until.isoformat()},
        )
    account.save(update_fields=["failed_attempts", "locked_until"])


# Password failures for an identifier that is no member's (an unknown member number, a phone on
# no membership or on several) count and pause just like a member's, so the answer never tells
# who is a member. They live in the shared cache under an HMAC of the identifier, not in clear.


def _stranger_key(identifier: str) -> str:
    try:
        normalised = normalise_phone(identifier)
    except SignInError:
        normalised = _member_no_typed(identifier) or identifier.strip()
    digest = salted_hmac("portal.password-failures", normalised, algorithm="sha256").hexdigest()
    return f"portal.password-failures.{digest}"


def _stranger_locked_until(key: str) -> datetime | None:
    return (cache.get(key) or {}).get("locked_until")


def _stranger_record_failure(key: str, now: datetime) -> datetime | None:
    """Count one failure; the end of the pause it starts, if it starts one."""
    state = cache.get(key) or {"failures": 0, "locked_until": None}
    state["failures"] += 1
    if state["failures"] >= FAILURES_BEFORE_LOCK:
        state = {"failures": 0, "locked_until": now + LOCKED_FOR}
    cache.set(key, state, timeout=STRANGER_FAILURES_KEPT_FOR.total_seconds())
    return state["locked_until"]


def _record_success(account: MemberAccount, now: datetime) -> None:
    account.failed_attempts = 0
    account.locked_until = None
    account.last_login = now
    account.save(update_fields=["failed_attempts", "locked_until", "last_login"])


def _single_member(members: list[Member]) -> Member | None:
    return members[0] if len(members) == 1 else None


# --- SMS codes ------------------------------------------------------------------------------


def _code_hash(phone: str, code: str) -> str:
    return salted_hmac("portal.sign-in-code", f"{phone}:{code}", algorithm="sha256").hexdigest()


def _wait_words(delta: timedelta) -> str:
    seconds = max(1, int(delta.total_seconds()) + (1 if delta.microseconds else 0))
    if seconds < 120:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = -(-seconds // 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def _check_code_limits(phone: str, client_ip: str, now: datetime) -> None:
    hour_ago = now - HOUR
    by_address = SignInCode.objects.filter(client_ip=client_ip, created_at__gt=hour_ago)
    if by_address.count() >= CODES_PER_ADDRESS_PER_HOUR:
        oldest = by_address.order_by("created_at").first()
        raise SignInError(
            _(
                "Too many codes were requested from your network. "
                "Please try again in %(wait)s, or sign in with your password."
            )
            % {"wait": _wait_words(oldest.created_at + HOUR - now)}
        )
    by_phone = SignInCode.objects.filter(phone=phone, created_at__gt=hour_ago)
    latest = by_phone.order_by("-created_at").first()
    if latest is not None and now < latest.created_at + RESEND_AFTER:
        raise SignInError(
            _("A code was just sent. You can ask for another one in %(wait)s.")
            % {"wait": _wait_words(latest.created_at + RESEND_AFTER - now)}
        )
    if by_phone.count() >= CODES_PER_PHONE_PER_HOUR:
        oldest = by_phone.order_by("created_at").first()
        raise SignInError(
            _(
                "Too many codes were requested for this number (at most %(limit)d an hour). "
                "Please try again in %(wait)s, or sign in with your password."
            )
            % {
                "limit": CODES_PER_PHONE_PER_HOUR,
                "wait": _wait_words(oldest.created_at + HOUR - now),
            }
        )


def signin_code_request(*, phone: str, client_ip: str) -> str:
    """Send a one-time code to ``phone`` if it is a member's; return the normalised number.

    Every request counts against the limits, whether or not the number is a member's, and the
    caller answers the same either way: the page does not tell who is a member. A pause of
    password sign-in does not stop codes: codes have limits of their own. A number on several
    memberships gets a text without a code (a code could not tell which membership signs in)
    saying how to sign in instead; a revoked (blacklisted) membership gets one saying so."""
    phone = normalise_phone(phone)
    if not phone_receives_texts(phone):
        raise SignInError(
            _(
                "A landline cannot receive a text: enter your mobile number, or sign in with "
                "your member number and password."
            )
        )
    now = timezone.now()
    code = None
    with transaction.atomic():
        _check_code_limits(phone, client_ip, now)
        members = members_with_phone(phone)
        revoked = len(members) == 1 and members[0].status == Member.Status.BLACKLISTED
        # A code for every number, sent only to a member's: a guess then gets the same "not
        # right, N tries left" whether or not the number is a member's.
        drawn = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        if len(members) == 1 and not revoked:
            code = drawn
        SignInCode.objects.create(
            phone=phone,
            client_ip=client_ip,
            code_hash=_code_hash(phone, drawn),
            created_at=now,
            expires_at=now + CODE_VALID_FOR,
        )
    if code:
        minutes = int(CODE_VALID_FOR.total_seconds() // 60)
        send_sms(
            phone,
            _(
                "Your member sign-in code is %(code)s, valid for %(minutes)d minutes. "
                "Do not share it with anyone."
            )
            % {"code": code, "minutes": minutes},
        )
    elif revoked:
        # No usable code for a revoked membership: the text says why, as the sign-in would.
        send_sms(
            phone,
            _(
                "A member sign-in code was requested for this number, but its membership has "
                "been revoked, so no code can be sent. If you think this is a mistake, please "
                "contact customer service."
            ),
        )
    elif members:
        send_sms(
            phone,
            _(
                "A member sign-in code was requested for this number, but it belongs to more "
                "than one membership, so no code can be sent. Please sign in with your member "
                "number and password, or ask customer service."
            ),
        )
    return phone


@dataclass(frozen=True)
class _Outcome:
    member: Member | None = None
    error: str = ""


def _verify_code(phone: str, code: str, now: datetime) -> _Outcome:
    row = (
        SignInCode.objects.select_for_update()
        .filter(phone=phone, code_hash__gt="")
        .order_by("-created_at", "-id")
        .first()
    )
    stale = _("This code has expired or was already used. Please request a new one.")
    if row is None or row.used_at is not None or now >= row.expires_at:
        return _Outcome(error=stale)
    if row.attempts >= WRONG_CODES_PER_CODE:
        # The code is spent by wrong tries, even if this one is right: say why.
        return _Outcome(error=_("Too many wrong codes. Please request a new one."))
    if not constant_time_compare(row.code_hash, _code_hash(phone, code.strip())):
        # Wrong codes are limited per code, not counted against the password: a stranger who
        # knows the number must not be able to pause the member's password sign-in.
        row.attempts += 1
        row.save(update_fields=["attempts"])
        left = WRONG_CODES_PER_CODE - row.attempts
        if left <= 0:
            return _Outcome(error=_("Too many wrong codes. Please request a new one."))
        return _Outcome(
            error=ngettext(
                "That code is not right. %(count)d try left.",
                "That code is not right. %(count)d tries left.",
                left,
            )
            % {"count": left}
        )
    row.used_at = now
    row.save(update_fields=["used_at"])
    members = members_with_phone(phone)
    member = _single_member(members)
    if member is None:
        if members:
            return _Outcome(
                error=_(
                    "This number belongs to more than one membership. Please sign in with your "
                    "member number and password, or ask customer service."
                )
            )
        return _Outcome(error=_("No membership has this number any more."))
    if member.status == Member.Status.BLACKLISTED:
        return _Outcome(error=_revoked_message())
    # Proof of the phone ends a pause of password sign-in, too.
    _record_success(_account_for_update(member), now)
    return _Outcome(member=member)


def signin_code_verify(*, phone: str, code: str) -> Member:
    """The member whose phone received ``code``: the latest code for the number, unused, within
    five minutes, with fewer than five wrong tries; a right code is used up at once."""
    phone = normalise_phone(phone)
    with transaction.atomic():
        outcome = _verify_code(phone, code, timezone.now())
    if outcome.error:
        raise SignInError(outcome.error)
    return outcome.member


# --- Passwords ------------------------------------------------------------------------------


def _member_no_typed(identifier: str) -> str | None:
    """The member number ``identifier`` is, read as the import and the API read one
    (``Ｍ００１`` is ``M001``); None when no member could have it (a space inside)."""
    try:
        return member_no_value(identifier.strip())
    except ValueRefused:
        return None


def _member_for_identifier(identifier: str) -> Member | None:
    member_no = _member_no_typed(identifier)
    member = Member.objects.filter(member_no=member_no).first() if member_no else None
    if member is not None:
        return member
    try:
        return _single_member(members_with_phone(normalise_phone(identifier)))
    except SignInError:
        return None


def _verify_password(identifier: str, password: str, now: datetime) -> _Outcome:
    member = _member_for_identifier(identifier)
    account = _account_for_update(member) if member else None
    stranger = _stranger_key(identifier) if account is None else ""
    locked_until = account.locked_until if account else _stranger_locked_until(stranger)
    if locked_until is not None and now < locked_until:
        return _Outcome(error=_locked_message(locked_until))
    has_password = account is not None and account.has_password
    stored = account.password if has_password else _dummy_hash()
    if not check_password(password, stored) or not has_password:
        if account is not None:
            _record_failure(account, now)
            locked_until = account.locked_until
        else:
            locked_until = _stranger_record_failure(stranger, now)
        if locked_until is not None and now < locked_until:
            return _Outcome(error=_locked_message(locked_until))
        return _Outcome(
            error=_(
                "The member number or phone, or the password, is not right. "
                "No password yet? Sign in with an SMS code, then set one."
            )
        )
    if member.status == Member.Status.BLACKLISTED:
        return _Outcome(error=_revoked_message())
    _record_success(account, now)
    return _Outcome(member=member)


def member_password_sign_in(*, identifier: str, password: str) -> Member:
    """The member with this member number (or phone) and password. Five failures in a row pause
    password sign-in for that identifier for fifteen minutes, whether or not it is a member's;
    SMS codes still work meanwhile."""
    with transaction.atomic():
        outcome = _verify_password(identifier, password, timezone.now())
    if outcome.error:
        raise SignInError(outcome.error)
    return outcome.member


MEMBER_ATTRIBUTES = ("member_no", "name", "phone", "email")


def _member_password_validators() -> list:
    """The site's password validators, with the similarity check looking at what a member has
    (by default it looks at a staff user's username and names, which a member lacks)."""
    site = get_default_password_validators()
    similarity = next(
        (v for v in site if isinstance(v, UserAttributeSimilarityValidator)),
        UserAttributeSimilarityValidator(),
    )
    return [
        UserAttributeSimilarityValidator(
            user_attributes=MEMBER_ATTRIBUTES, max_similarity=similarity.max_similarity
        ),
        *(v for v in site if not isinstance(v, UserAttributeSimilarityValidator)),
    ]


@transaction.atomic
def member_password_set(
    *, member: Member, password: str, current_password: str | None = None
) -> MemberAccount:
    """Set the member's password (checked by the site's password validators); audited. With
    ``current_password``, the present password must match it first."""
    account = _account_for_update(member)
    if current_password is not None and not (
        account.has_password and check_password(current_password, account.password)
    ):
        raise SignInError(_("The current password is not right."))
    validate_password(password, user=member, password_validators=_member_password_validators())
    had_password = account.has_password
    account.password = make_password(password)
    account.password_changed_at = timezone.now()
    account.save(update_fields=["password", "password_changed_at"])
    audit_record(
        actor=None,
        action="portal.password_set",
        target=account.member,  # the member did it (backoffice.audit_actions.MEMBER_ACTIONS)
        before={"has_password": had_password},
        after={"has_password": True},
    )
    return account


def signin_codes_purge(*, before: datetime) -> int:
    """Delete code requests made before ``before`` (they hold phone numbers and are only needed
    for the hourly limits); returns how many went."""
    deleted, _details = SignInCode.objects.filter(created_at__lt=before).delete()
    return deleted
