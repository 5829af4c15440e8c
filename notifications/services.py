"""The only writers of the outbox and the templates.

``notices_queue`` is called by the tier evaluation (``tiers.services``) inside its transaction,
for a whole range of members at once: the notices are rendered and inserted in one statement,
so a notice exists exactly when the tier change or warning it tells of was committed. Delivery
of e-mail and SMS happens after the commit, in a django-q2 task.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Model, Q
from django.template import Context, Engine, Template, TemplateSyntaxError, Variable
from django.template.base import Node, TextNode, VariableNode
from django.template.defaulttags import ForNode
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty.audit import audit_record
from loyalty.bulk import insert_rows_skipping_existing
from loyalty.exceptions import DomainError
from members.models import Member
from members.privacy import member_is_erased
from members.services import member_lock_row

from .models import (
    NO_EMAIL,
    NO_PHONE,
    NO_TIER,
    TOO_OLD,
    VARIABLES,
    Channel,
    Kind,
    Language,
    Notification,
    NotificationTemplate,
)
from .sms import send_sms

# Plain-text templates: no HTML escaping in an SMS or a text e-mail.
_ENGINE = Engine(autoescape=False, libraries={"i18n": "django.templatetags.i18n"})
_INSERT_FIELDS = [
    "member",
    "channel",
    "kind",
    "language",
    "subject",
    "body",
    "dedupe_key",
    "event_on",
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "created_at",
    "sent_at",
]
# How long a claimed notice may stay "sending" before another delivery run takes it over (the
# worker that claimed it died).
_CLAIM_SECONDS = 600
# Notices a delivery run reads at a time: it goes on batch after batch until none is due, its
# memory bounded by the batch whatever the backlog.
DELIVERY_BATCH_SIZE = 1000

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """One event to tell a member of; rendered into one notification per channel the member
    can be reached on (in-app always, e-mail and SMS when the member has an address)."""

    member_id: int
    kind: str
    dedupe_key: str
    event_on: datetime.date
    name: str = ""
    phone: str = ""
    email: str = ""
    # Template variables; values may be objects (a tier: ``{{ tier.name }}``) or callables,
    # which render in the notice's language.
    context: dict = field(default_factory=dict)


def language() -> str:
    code = (settings.LANGUAGE_CODE or "").lower()
    return code if code in Language.values else Language.ZH_HANS


def member_notice_language(member: Member) -> str:
    """The language one member's notices are written in: the one they chose, else the site's
    (as ``notices_queue`` picks it for many)."""
    return member.language if member.language in Language.values else language()


@dataclass(frozen=True)
class _Compiled:
    subject: Template
    body: Template
    # The member's name appears in the texts only as a plain ``{{ member_name }}``: the texts
    # can be rendered once for many members and the name put in afterwards (_Renderer).
    name_only_plain: bool


# Stands for the member's name in a text rendered for many members: no name or template text
# can hold it (PostgreSQL refuses NUL in text, and the forms refuse control characters).
_NAME_MARK = "\x00member_name\x00"
_PLAIN_NAME = re.compile(r"\{\{\s*member_name\s*\}\}")


def _compiled_templates(lang: str) -> dict[str, _Compiled]:
    rows = NotificationTemplate.objects.filter(language__in=[lang, Language.ZH_HANS])
    compiled: dict[str, _Compiled] = {}
    for row in sorted(rows, key=lambda r: r.language == lang):  # the wanted language wins
        texts = row.subject + row.body
        compiled[row.kind] = _Compiled(
            _ENGINE.from_string(row.subject),
            _ENGINE.from_string(row.body),
            texts.count("member_name") == len(_PLAIN_NAME.findall(texts)),
        )
    return compiled


def _render_texts(compiled: _Compiled, name: str, values: dict) -> tuple[str, str]:
    # Plain text for every channel: a Context escapes HTML by default (whatever the engine
    # says), which sent "&lt;b&gt;" and "&amp;" by SMS; the pages escape when they show it.
    context = Context({"member_name": name, **values}, autoescape=False)
    return compiled.subject.render(context), compiled.body.render(context)


def _shared_value(value) -> object:
    """A template value as part of a key of texts shared by many notices, or None when it
    cannot be one (an object that renders per member, such as a warning's gaps)."""
    if isinstance(value, str | int | datetime.date):
        return value
    if isinstance(value, Model) and value.pk is not None:
        return (type(value), value.pk)
    return None


class _Renderer:
    """Renders notices in one language (active around its use). A night's recompute tells
    thousands of members of the same few events (a downgrade from gold to silver on that
    day): where the texts name the member only as a plain ``{{ member_name }}`` and every other
    value is plain data, they are rendered once per event and the name is put in afterwards:
    the same texts as rendering each notice, at a fraction of the cost."""

    def __init__(self, templates: dict[str, _Compiled]):
        self.templates = templates
        self.shared: dict[tuple, tuple[str, str]] = {}

    def texts(self, notice: Notice) -> tuple[str, str] | None:
        compiled = self.templates.get(notice.kind)
        if compiled is None:
            return None
        key = self._key(notice) if compiled.name_only_plain else None
        if key is None:
            subject, body = _render_texts(compiled, notice.name, notice.context)
        else:
            if key not in self.shared:
                self.shared[key] = _render_texts(compiled, _NAME_MARK, notice.context)
            subject, body = (text.replace(_NAME_MARK, notice.name) for text in self.shared[key])
        return subject.strip(), body.strip()

    @staticmethod
    def _key(notice: Notice) -> tuple | None:
        values = []
        for name, value in sorted(notice.context.items()):
            shared = _shared_value(value)
            if shared is None:
                return None
            values.append((name, shared))
        return (notice.kind, *values)


def _languages_chosen(notices: Sequence[Notice]) -> dict[int, str]:
    """The language of notices of the members told who chose one (``Member.language``), by
    member id: one read of the few who did, between the first and the last member told (a
    recompute tells a range of members at once; its partial index has only those few)."""
    ids = {notice.member_id for notice in notices}
    chosen = (
        Member.objects.filter(pk__gte=min(ids), pk__lte=max(ids))
        .exclude(language="")
        .values_list("pk", "language")
    )
    return {pk: lang for pk, lang in chosen if pk in ids and lang in Language.values}


def notices_queue(notices: Sequence[Notice], *, now: datetime.datetime | None = None) -> int:
    """Render and insert the notices, each in its member's language of notices (else the
    site's), skipping any already queued for the same member, channel and event
    (``dedupe_key``). A constant number of queries, however many notices."""
    if not notices:
        return 0
    now = now or timezone.now()
    chosen, site_language = _languages_chosen(notices), language()
    by_language: dict[str, list[Notice]] = {}
    for notice in notices:
        by_language.setdefault(chosen.get(notice.member_id, site_language), []).append(notice)
    rendered = []
    for lang, told in by_language.items():
        renderer = _Renderer(_compiled_templates(lang))
        with translation.override(lang):
            rendered += [(notice, lang, renderer.texts(notice)) for notice in told]
    rows = []
    for notice, lang, texts in rendered:
        if texts is None:
            continue
        subject, body = texts
        channels = [Channel.IN_APP]
        if notice.email:
            channels.append(Channel.EMAIL)
        if notice.phone:
            channels.append(Channel.SMS)
        for channel in channels:
            in_app = channel == Channel.IN_APP
            rows.append(
                (notice.member_id, channel, notice.kind, lang, subject[:200], body,
                 notice.dedupe_key[:128], notice.event_on,
                 Notification.Status.SENT if in_app else Notification.Status.PENDING,
                 0, "", None, now, now if in_app else None)
            )  # fmt: skip
    if not rows:
        return 0
    # Tens of thousands on a recompute's busy night: COPYed, not one INSERT each.
    insert_rows_skipping_existing(Notification, _INSERT_FIELDS, rows)
    if any(row[1] != Channel.IN_APP for row in rows):
        deferral = getattr(_deferral, "current", None)
        if deferral is not None:
            deferral.pending = True
        else:
            # Robust: the notices are already in the outbox, and the daily retry job delivers
            # what is pending, so a broker that cannot take the task (down, or no SECRET_KEY to
            # sign it in a command run) must not fail the evaluation that queued them.
            transaction.on_commit(deliver_soon, robust=True)
    return len(rows)


class Deferral:
    """Whether notices were queued in a ``deliveries_deferred`` block, on whichever thread
    worked for it (``deliveries_deferred_to``)."""

    pending = False


# .current: the Deferral of the outermost block on this thread, if any.
_deferral = threading.local()


@contextmanager
def deliveries_deferred() -> Iterator[Deferral]:
    """Queue one delivery run when the block ends instead of one after each commit in it
    (an inner block leaves it to the outer one).

    For long runs that keep state on their database connection (the recompute's temporary
    figures snapshot): django-q2's ORM broker closes the connections it takes for old before
    it enqueues a task (``close_old_connections``), which in the middle of such a run dropped
    its temporary tables with the connection."""
    outer = getattr(_deferral, "current", None)
    if outer is not None:
        yield outer
        return
    deferral = _deferral.current = Deferral()
    try:
        yield deferral
    finally:
        _deferral.current = None
        if deferral.pending:
            # At once outside a transaction (a recompute runs in none), else after its commit.
            transaction.on_commit(deliver_soon, robust=True)


@contextmanager
def deliveries_deferred_to(deferral: Deferral) -> Iterator[None]:
    """On a thread working for another thread's ``deliveries_deferred`` block: leave the
    delivery run to that block (a recompute's worker threads)."""
    previous = getattr(_deferral, "current", None)
    _deferral.current = deferral
    try:
        yield
    finally:
        _deferral.current = previous


def deliver_soon() -> None:
    """Queue a delivery run (after the commit that queued the notices). A command run without
    SECRET_KEY cannot sign the task: the notices then wait for the daily delivery run."""
    from django_q.tasks import async_task

    try:
        async_task("notifications.tasks.deliver_due", task_name="deliver notifications")
    except ImproperlyConfigured as error:
        logger.warning(
            "No delivery run queued (%s): the e-mail and SMS notices wait in the outbox for the "
            "daily notification run.",
            error,
        )


def _backoff(attempts: int) -> datetime.timedelta:
    """5 minutes after the first failure, then 20, 80, ..."""
    return datetime.timedelta(minutes=5 * 4 ** (attempts - 1))


def _due(now: datetime.datetime) -> Q:
    return Q(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        status__in=[Notification.Status.PENDING, Notification.Status.SENDING],
    )


def _claim(notification_id: int, now: datetime.datetime) -> bool:
    """Take the notice for this delivery run if it is due at ``now``; False when another run
    has it or it is done. The claim runs from the moment it is made, on the clock the other
    runs read: from the run's ``now``, read when a long run started, it could already be over,
    and another run would send the notice again while this one sends it."""
    return bool(
        Notification.objects.filter(_due(now), pk=notification_id).update(
            status=Notification.Status.SENDING,
            next_attempt_at=timezone.now() + datetime.timedelta(seconds=_CLAIM_SECONDS),
        )
    )


def _send(notification: Notification, member: Member) -> None:
    if notification.channel == Channel.EMAIL:
        if not member.email:
            raise _NoAddress(NO_EMAIL)
        send_mail(
            notification.subject, notification.body, settings.DEFAULT_FROM_EMAIL, [member.email]
        )
    elif notification.channel == Channel.SMS:
        if not member.phone:
            raise _NoAddress(NO_PHONE)
        send_sms(member.phone, notification.body)


class _NoAddress(Exception):
    pass


def notification_deliver(*, notification_id: int, now: datetime.datetime | None = None) -> str:
    """Send one e-mail or SMS notice if it is due; returns its status afterwards. A failure is
    retried with backoff by later runs, then the notice is marked failed."""
    now = now or timezone.now()
    if not _claim(notification_id, now):
        return Notification.objects.values_list("status", flat=True).get(pk=notification_id)
    notification = Notification.objects.select_related("member").get(pk=notification_id)
    attempts = notification.attempts + 1
    max_age = datetime.timedelta(days=settings.NOTIFICATION_MAX_AGE_DAYS)
    update = {"attempts": attempts, "next_attempt_at": None}
    if notification.event_on < timezone.localdate(now) - max_age:
        update.update(
            status=Notification.Status.SKIPPED,
            last_error=TOO_OLD,  # in English: translated when shown
            attempts=notification.attempts,
        )
    elif not notification.member.takes_part and notification.kind != Kind.BLACKLIST:
        # Queued before a blacklisting: an upgrade or a warning would name a tier the member
        # no longer holds (the resend refuses them for the same reason).
        update.update(
            status=Notification.Status.SKIPPED, last_error=NO_TIER, attempts=notification.attempts
        )
    else:
        try:
            _send(notification, notification.member)
        except _NoAddress as exc:
            update.update(status=Notification.Status.SKIPPED, last_error=str(exc))
        except Exception as exc:  # any backend failure is retried, then shown as failed
            failed = attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
            update.update(
                status=Notification.Status.FAILED if failed else Notification.Status.PENDING,
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
                next_attempt_at=None if failed else now + _backoff(attempts),
            )
        else:
            update.update(status=Notification.Status.SENT, sent_at=timezone.now(), last_error="")
    Notification.objects.filter(pk=notification_id).update(**update)
    return update["status"]


def _run_seconds() -> float:
    """How long a delivery run takes batches for: well inside the worker's timeout, which kills
    a task mid-send (its claims then wait ten minutes)."""
    return settings.Q_CLUSTER.get("timeout", 600) * 0.8


def notifications_deliver_due(
    *,
    now: datetime.datetime | None = None,
    batch_size: int = DELIVERY_BATCH_SIZE,
    seconds: float | None = None,
) -> dict[str, int]:
    """Deliver the e-mail and SMS notices that are due (new ones, and retries whose backoff
    has passed), batch after batch until none is; several runs at once share the work, each
    notice is claimed before sending. After ``seconds`` (default ``_run_seconds``) the run
    queues another for the rest and stops. ``now`` (tests) stands for the clock, which is
    otherwise read for each batch and each notice. Returns this run's counts by status."""
    counts: dict[str, int] = {}
    started = time.monotonic()
    seconds = _run_seconds() if seconds is None else seconds
    while True:
        if counts and time.monotonic() - started >= seconds:
            deliver_soon()
            return counts
        # Newest first: the notices the commit that queued this run just wrote go out before
        # any backlog (of a run that died, or a gateway that was down), whose events are late
        # already and whose turn comes in the same run. Oldest first, a backlog of thousands
        # kept new notices waiting until their events were too old to send.
        batch = list(
            Notification.objects.filter(_due(now or timezone.now()))
            .order_by("-created_at", "-id")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            return counts
        for notification_id in batch:
            status = notification_deliver(notification_id=notification_id, now=now)
            counts[status] = counts.get(status, 0) + 1


def resend_refusal(member: Member) -> str | None:
    """Why none of ``member``'s notices may be sent again, or None (``notification_resend``
    checks it under the member's lock; the notifications page shows it instead of the resend
    buttons)."""
    if member_is_erased(member):
        # Its text was scrubbed and the member has no address left: nothing could go out.
        return _("This member's personal data was erased: their notices are not sent again.")
    if not member.takes_part:
        # Blacklisted or an experience member: they hold no tier, and their latest notice (an
        # upgrade, when NOTIFY_BLACKLISTED told them nothing of the entry) would name one.
        return _(
            "This member holds no tier now (%(status)s): their notices are not sent again."
        ) % {"status": member.get_status_display()}
    return None


@transaction.atomic
def notification_resend(*, notification: Notification, reason: str, actor) -> Notification:
    """Send a notice again (staff, e.g. after the member changed their phone number): it is
    queued as new, with its attempts reset; an in-app message is shown as new again. Only the
    member's latest event is sent again, and only to a member who holds a tier: an upgrade
    resent after a downgrade, or to a member blacklisted since, would tell them a tier they no
    longer hold."""
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."))
    # An evaluation queues the member's notices under their row lock: held here (first, as
    # every writer takes it), none can slip in between the check and the resend.
    member_lock_row(notification.member_id)
    notification = Notification.objects.select_for_update().get(pk=notification.pk)
    refusal = resend_refusal(notification.member)
    if refusal:
        raise DomainError(refusal)
    later = (
        Notification.objects.filter(
            member_id=notification.member_id, created_at__gt=notification.created_at
        )
        .exclude(dedupe_key=notification.dedupe_key)
        .order_by("-created_at")
        .first()
    )
    if later is not None:
        raise DomainError(
            _(
                "This notice is out of date: the member has since been sent “%(kind)s” "
                "(%(date)s). Resend that one if they need it again."
            )
            % {"kind": later.get_kind_display(), "date": later.event_on.isoformat()}
        )
    before = {"status": notification.status, "attempts": notification.attempts}
    now = timezone.now()
    notification.attempts = 0
    notification.last_error = ""
    notification.next_attempt_at = None
    if notification.channel == Channel.IN_APP:
        notification.status = Notification.Status.SENT
        notification.sent_at = now
        notification.read_at = None
    else:
        notification.status = Notification.Status.PENDING
        notification.sent_at = None
        # The event date becomes today: a resend is a decision to send, whatever the age.
        notification.event_on = timezone.localdate(now)
        transaction.on_commit(deliver_soon, robust=True)
    notification.save()
    audit_record(
        actor=actor,
        action="notification.resend",
        target=notification,
        before=before,
        after={"status": notification.status, "reason": reason},
    )
    return notification


# What is left of a tag, variable or comment the template language did not read as one
# ("{{ tier.name" unclosed is text to it, and would reach the member as written).
_STRAY_BRACES = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


def _bound_names(template: Template) -> set[str]:
    """The names the template's own tags bind: a loop's variables (and ``forloop``),
    ``{% with x=… %}``, and ``… as x`` (translate, blocktranslate, firstof, cycle, now, url,
    regroup)."""
    names: set[str] = set()
    for node in template.nodelist.get_nodes_by_type(Node):
        if isinstance(node, ForNode):
            names.update([*node.loopvars, "forloop"])
        names.update(getattr(node, "extra_context", None) or {})
        for attribute in ("asvar", "var_name", "variable_name"):
            if isinstance(name := getattr(node, attribute, None), str):
                names.add(name)
    return names


def template_check(text: str, kind: str | None = None) -> None:
    """Raise DomainError, naming the mistake, when ``text`` is not a valid template: broken
    syntax, a tag or variable left unclosed, or (for a ``kind``) a variable that kind's notices
    do not have (``VARIABLES``), which would print nothing."""
    try:
        template = _ENGINE.from_string(text)
    except TemplateSyntaxError as exc:
        raise DomainError(_("Not a valid template: %(error)s") % {"error": exc}) from None
    for node in template.nodelist.get_nodes_by_type(TextNode):
        if stray := _STRAY_BRACES.search(node.s):
            raise DomainError(
                _("Not a valid template: “%(text)s” opens or closes nothing; check the braces.")
                % {"text": stray.group()}
            )
    if kind is None:
        return
    known = {"member_name", *VARIABLES[kind], *_bound_names(template)}
    for node in template.nodelist.get_nodes_by_type(VariableNode):
        variable = node.filter_expression.var
        name = variable.lookups[0] if isinstance(variable, Variable) and variable.lookups else None
        if name is not None and name not in known:
            raise DomainError(
                _("This notice has no %(name)s; it can use: %(names)s.")
                % {"name": f"{{{{ {name} }}}}", "names": ", ".join(sorted(known))}
            )


@transaction.atomic
def template_update(
    *, template: NotificationTemplate, subject: str, body: str, actor
) -> NotificationTemplate:
    """Change a notice's text (audited); refused when it is not a valid template."""
    for text in (subject, body):
        template_check(text, template.kind)
    before = {"subject": template.subject, "body": template.body}
    template.subject = subject.strip()
    template.body = body.strip()
    template.save(update_fields=["subject", "body", "updated_at"])
    audit_record(
        actor=actor,
        action="notification.template.update",
        target=template,
        before=before,
        after={"subject": template.subject, "body": template.body},
    )
    return template
