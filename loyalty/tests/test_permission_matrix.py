"""One permission matrix: every URL (staff pages, member pages, the API, every admin page) ×
every role, anonymous visitors and a signed-in member included.

``MATRIX`` has one entry per URL name (namespaced, as ``reverse`` takes it; a key may say more,
with the URL name in ``Entry.name``): the roles that may open it and how to build its
arguments. The admin's entries are generated from ``admin.site._registry`` and ``ADMIN``, which
says per model who may see, save, add and delete rows. ``test_every_url_has_an_entry`` walks
the URL resolver and ``test_every_admin_model_has_an_entry`` the admin's registry, so a URL or
an admin added without an entry fails here. Other apps add their entries to ``MATRIX`` (or
``MATRIX.update(...)`` from their own module imported here). The language switch is Django's
own and open to everyone.

A member is signed in to the member pages (their own session key, through the SMS code), never
to the staff site: on staff pages, the API and the admin they are refused exactly as an
anonymous visitor is. Staff roles have staff status, as their accounts do (``seed_demo``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from loyalty.audit import audit_record
from loyalty.roles import ROLES as ROLE_GROUPS
from members.models import Member
from members.tests.factories import (
    ActivityFactory,
    BlacklistEntryFactory,
    MemberFactory,
    PurchaseFactory,
    ReferralFactory,
)
from notifications import sms
from tiers.models import Benefit, Tier, TierPolicy

ROLES = [
    "anonymous",
    "member",
    "ops",
    "ops_lead",
    "committee",
    "policy_owner",
    "auditor",
    "superuser",
]
# Not signed in to the staff site: a visitor, or a member signed in to the member pages only.
VISITORS = frozenset({"anonymous", "member"})
STAFF = frozenset(ROLES) - VISITORS
MEMBER = frozenset({"member"})
OPS = frozenset({"ops", "ops_lead", "superuser"})
EVERYONE = frozenset(ROLES)
NOBODY: frozenset[str] = frozenset()
LEADS = frozenset({"ops_lead", "superuser"})
OWNERS = frozenset({"policy_owner", "superuser"})
JOBS = frozenset({"ops", "ops_lead", "policy_owner", "auditor", "superuser"})
COMMITTEE = frozenset({"committee", "superuser"})
AUDITORS = frozenset({"auditor", "superuser"})
ROOT = frozenset({"superuser"})
TODAY = datetime.date(2026, 6, 30)
SKIPPED_NAMES = {"set_language"}  # Django's language switch: POST, open to everyone
MEMBER_PHONE = "13800138000"  # the signed-in member's (PM-1)


def a_member() -> dict:
    member = Member.objects.filter(member_no="PM-1").first() or MemberFactory(
        member_no="PM-1", phone=MEMBER_PHONE
    )
    return {"member_no": member.member_no}


def an_evidence_file() -> dict:
    name = default_storage.save("blacklist-evidence/matrix.txt", ContentFile(b"evidence"))
    entry = BlacklistEntryFactory(evidence_file=name)
    return {"pk": entry.pk}


def a_draft() -> dict:
    from tiers.services import policy_draft_create

    draft = TierPolicy.objects.filter(status=TierPolicy.Status.DRAFT).first()
    return {"version": (draft or policy_draft_create(actor=None)).version}


def a_benefit() -> dict:
    benefit = Benefit.objects.filter(tier__code="gold").first()
    return {"code": "gold", "pk": benefit.pk}


def a_run() -> dict:
    from jobs.models import JobRun

    run = JobRun.objects.first() or JobRun.objects.create(
        kind="recompute", as_of=TODAY, started_at=timezone.now()
    )
    return {"pk": run.pk}


def a_notification() -> dict:
    from notifications.models import Notification

    member = Member.objects.get(member_no=a_member()["member_no"])
    notice = Notification.objects.filter(member=member).first() or Notification.objects.create(
        member=member,
        channel="in_app",
        kind="upgrade",
        language="zh-hans",
        subject="s",
        body="b",
        dedupe_key="m-1",
        event_on=TODAY,
        created_at=timezone.now(),
    )
    return {"member_no": member.member_no, "pk": notice.pk}


def a_case() -> dict:
    from reviews.models import ReviewCase
    from reviews.services import case_nominate

    case = ReviewCase.objects.first()
    if case is None:
        member = Member.objects.get(member_no=a_member()["member_no"])
        case = case_nominate(member=member, justification="matrix", actor=None)
    return {"pk": case.pk}


def an_api_key() -> dict:
    from api.services import api_key_create

    key, _raw = api_key_create(name="matrix", scopes="all")
    return {"pk": key.pk}


def a_transaction() -> dict:
    member = Member.objects.get(member_no=a_member()["member_no"])
    txn = PurchaseFactory(member=member, external_id="PM-T1")
    return {"external_id": txn.external_id}


@dataclass(frozen=True)
class Entry:
    """Who may open a URL. ``allowed`` roles get ``ok`` (200 unless said, or any of a tuple;
    ``ok_for`` says it per role where it differs); staff roles not allowed get ``refused`` (403
    unless said; a redirect must lead to ``login``); visitors not allowed (anonymous, or a
    member on a staff page) are sent to ``login`` (the staff login unless said), or get
    ``anonymous`` if set."""

    allowed: frozenset[str]
    kwargs: Callable[[], dict] = dict
    method: str = "get"
    ok: int | tuple[int, ...] = 200
    data: dict = field(default_factory=dict)
    refused: int = 403
    anonymous: int | None = None
    json: bool = False  # the body is JSON (the API), empty: an allowed role gets a 400
    login: str = "login"
    name: str = ""  # the URL name, when the key of the entry says more
    ok_for: Mapping[str, int] = field(default_factory=dict)


TO_PORTAL = {"refused": 302, "login": "portal:login"}

MATRIX: dict[str, Entry] = {
    "home": Entry(EVERYONE, ok=302),
    "login": Entry(EVERYONE),
    "logout": Entry(EVERYONE, method="post", ok=302),
    "backoffice:member_list": Entry(STAFF),
    "backoffice:member_detail": Entry(STAFF, a_member),
    "backoffice:member_export": Entry(STAFF),
    "backoffice:bulk": Entry(OPS),
    "backoffice:audit_log": Entry(AUDITORS),
    "backoffice:blacklist_evidence": Entry(STAFF, an_evidence_file),
    "backoffice:member_override": Entry(OPS, a_member),
    "backoffice:member_override_end": Entry(OPS, a_member),
    "backoffice:member_blacklist": Entry(OPS, a_member),
    "backoffice:member_blacklist_lift": Entry(frozenset({"ops_lead", "superuser"}), a_member),
    "backoffice:member_convert": Entry(OPS, a_member),
    "backoffice:member_reevaluate": Entry(OPS, a_member),
    "backoffice:member_transaction": Entry(OPS, a_member),
    "backoffice:member_referral": Entry(OPS, a_member),
    "backoffice:member_activity": Entry(OPS, a_member),
    # Privacy requests (PIPL): ops leads.
    "backoffice:privacy_member": Entry(LEADS, a_member),
    "backoffice:privacy_export": Entry(LEADS, lambda: {**a_member(), "fmt": "json"}, method="post"),
    "backoffice:privacy_erase": Entry(LEADS, a_member),
    # Policy versions, tiers and benefits; the dashboard.
    "backoffice:dashboard": Entry(STAFF),
    "backoffice:policy_list": Entry(STAFF),
    "backoffice:policy_detail": Entry(STAFF, lambda: {"version": 1}),
    "backoffice:policy_diff": Entry(STAFF, a_draft),
    "backoffice:policy_preview": Entry(STAFF, a_draft),
    "backoffice:policy_draft_create": Entry(OWNERS, method="post", ok=302),
    "backoffice:policy_edit": Entry(OWNERS, a_draft),
    "backoffice:policy_publish": Entry(OWNERS, a_draft, method="post", ok=302),
    "backoffice:tier_list": Entry(STAFF),
    "backoffice:tier_edit": Entry(OWNERS, lambda: {"code": "gold"}),
    "backoffice:benefit_delete": Entry(OWNERS, a_benefit),
    # Jobs and notifications.
    "jobs:overview": Entry(JOBS),
    "jobs:run_detail": Entry(JOBS, a_run),
    # Starting a run now: the confirmation page, then the start (ops leads).
    "jobs:job_start": Entry(LEADS, lambda: {"kind": "recompute"}),
    "jobs:job_start (start)": Entry(
        LEADS, lambda: {"kind": "lifecycle"}, method="post", ok=302, name="jobs:job_start"
    ),
    "jobs:member_notifications": Entry(JOBS, a_member),
    "jobs:notification_resend": Entry(OPS, a_notification, method="post", ok=302),
    # The committee.
    "reviews:queue": Entry(STAFF),
    "reviews:case": Entry(STAFF, a_case),
    # Posted empty: the proposal form's errors, on the case page.
    "reviews:case_update": Entry(OPS, a_case, method="post", ok=400),
    "reviews:case_open": Entry(OPS, a_case, method="post", ok=302),
    "reviews:case_vote": Entry(COMMITTEE, a_case, method="post", ok=302),
    # No role opens the decision, superusers included: the committee chair's seat does, as the
    # decision service asks (reviews/tests/test_views.py walks the seats).
    "reviews:case_decide": Entry(NOBODY, a_case),
    "reviews:case_withdraw": Entry(OPS, a_case),
    "reviews:nominate": Entry(OPS, a_member),
    "reviews:quarters": Entry(STAFF, ok=302),
    "reviews:quarter": Entry(STAFF, lambda: {"quarter": "2026Q1"}),
    "reviews:quarter_export": Entry(STAFF, lambda: {"quarter": "2026Q1"}),
    # API keys (staff pages) and the API's documentation.
    "api:key_list": Entry(frozenset({"ops_lead", "auditor", "superuser"})),
    "api:key_create": Entry(frozenset({"ops_lead", "superuser"})),
    "api:key_revoke": Entry(frozenset({"ops_lead", "superuser"}), an_api_key),
    "api:schema": Entry(EVERYONE),
    "api:swagger": Entry(EVERYONE),
    # The API's JSON 404 for any other address under /api/v1/.
    "api:not_found": Entry(EVERYONE, ok=404),
    "api:not_found_root": Entry(EVERYONE, ok=404),
    "api:redoc": Entry(EVERYONE),
    # The API itself answers a staff session by the user's model permissions, and a visitor
    # without a key with 401; keys and scopes are checked in api/tests.
    "api:members": Entry(STAFF, anonymous=401),
    "api:member": Entry(STAFF, a_member, anonymous=401),
    "api:member_tier": Entry(STAFF, a_member, anonymous=401),
    "api:member_tier_history": Entry(STAFF, a_member, anonymous=401),
    "api:transactions": Entry(OPS, method="post", ok=400, anonymous=401, json=True),
    "api:transaction_batch": Entry(OPS, method="post", ok=400, anonymous=401, json=True),
    "api:transaction": Entry(STAFF, a_transaction, anonymous=401),
    "api:referrals": Entry(OPS, method="post", ok=400, anonymous=401, json=True),
    "api:activities": Entry(OPS, method="post", ok=400, anonymous=401, json=True),
    # Member pages: the signed-in member, under their own member number (another member's
    # number is "not found": test_a_member_opens_no_other_members_page); staff and visitors
    # are sent to the member sign-in.
    "portal:login": Entry(EVERYONE),
    "portal:login_code": Entry(EVERYONE, ok=302),  # no code asked for yet
    "portal:login_password": Entry(EVERYONE),
    "portal:rules": Entry(EVERYONE),
    "portal:home": Entry(MEMBER, ok=302, **TO_PORTAL),  # to the member's own tier page
    "portal:logout": Entry(MEMBER, method="post", ok=302, **TO_PORTAL),
    "portal:password": Entry(MEMBER, a_member, **TO_PORTAL),
    "portal:tier": Entry(MEMBER, a_member, **TO_PORTAL),
    "portal:member_code": Entry(MEMBER, a_member, **TO_PORTAL),
    "portal:purchases": Entry(MEMBER, a_member, **TO_PORTAL),
    "portal:history": Entry(MEMBER, a_member, **TO_PORTAL),
    # For load balancers.
    "healthz": Entry(EVERYONE),
    # The site's icon, for browsers (a redirect to the static file).
    "favicon": Entry(EVERYONE, ok=301),
}


# --- The admin ---------------------------------------------------------------------------
#
# Every staff role has staff status, so the admin lets each in and then asks the model
# permissions of its group (loyalty/roles.py) and what each ModelAdmin allows on top: nothing
# is ever written there without an audit entry, so most models are read-only for everyone,
# superusers included (see each app's admin.py).


def a_user() -> object:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get_or_create(username="matrix-user")[0]


def a_schedule() -> object:
    from django_q.models import Schedule

    return Schedule.objects.create(name="matrix", func="math.floor", args="1")


def a_task(success: bool) -> Callable[[], object]:
    def task() -> object:
        from django_q.models import Task

        return Task.objects.create(
            id=f"matrix-{success}",
            name=f"matrix-{success}",
            func="math.floor",
            started=timezone.now(),
            stopped=timezone.now(),
            success=success,
        )

    return task


def a_queued_task() -> object:
    from django_q.models import OrmQ

    return OrmQ.objects.create(key="default", payload="matrix", lock=timezone.now())


def a_login_record(model_name: str) -> Callable[[], object]:
    def record() -> object:
        from django.apps import apps

        fields = {"username": "matrix", "ip_address": "192.0.2.1", "user_agent": "matrix"}
        if model_name == "AccessAttempt":
            fields.update(get_data="", post_data="", failures_since_start=1)
        return apps.get_model("axes", model_name).objects.create(
            http_accept="*/*", path_info="/accounts/login/", **fields
        )

    return record


def the_member() -> object:
    return Member.objects.get(member_no=a_member()["member_no"])


def an_audit_entry() -> object:
    return audit_record(actor=None, action="matrix", target=the_member())


def an_evaluation() -> object:
    """The member evaluated: tier state, the last evaluation and a history row."""
    from tiers.models import MemberEvaluation
    from tiers.services import member_evaluate

    member = the_member()
    member_evaluate(member=member, as_of=TODAY)
    return MemberEvaluation.objects.get(member=member)


def a_downgrade_warning() -> object:
    from tiers.models import DowngradeWarning

    return DowngradeWarning.objects.create(
        member=the_member(),
        tier=Tier.objects.get(code="gold"),
        qualified_tier=Tier.objects.get(code="silver"),
        policy=TierPolicy.objects.get(version=1),
        warned_on=TODAY,
        tier_year_start=TODAY - datetime.timedelta(days=335),
        tier_year_end=TODAY + datetime.timedelta(days=30),
        downgrade_not_before=TODAY + datetime.timedelta(days=30),
        gaps={},
    )


def an_override() -> object:
    from tiers.services import tier_override_set

    return tier_override_set(
        member=the_member(),
        tier=Tier.objects.get(code="gold"),
        reason="matrix",
        ends_on=None,
        actor=None,
    )


def a_seat() -> object:
    from reviews.services import committee_member_set

    return committee_member_set(user=a_user(), department="sales", is_chair=False, actor=None)


def a_review_case() -> object:
    from reviews.models import ReviewCase

    return ReviewCase.objects.get(pk=a_case()["pk"])


def a_stored_transaction() -> object:
    from members.models import Transaction

    return Transaction.objects.get(external_id=a_transaction()["external_id"])


def a_stored_notification() -> object:
    from notifications.models import Notification

    return Notification.objects.get(pk=a_notification()["pk"])


def a_stored_draft() -> object:
    return TierPolicy.objects.get(version=a_draft()["version"])


def first(model_label: str) -> Callable[[], object]:
    """The first row of a model migrations fill (roles, tiers, notification templates)."""

    def row() -> object:
        from django.apps import apps

        return apps.get_model(model_label).objects.order_by("pk").first()

    return row


@dataclass(frozen=True)
class AdminAccess:
    """What each role may do with one model's rows in the admin: ``view`` the list, a row and
    its history; ``change`` (save a row); ``add``; ``delete``. ``row`` stores one row."""

    row: Callable[[], object]
    view: frozenset[str]
    change: frozenset[str] = NOBODY
    add: frozenset[str] = NOBODY
    delete: frozenset[str] = NOBODY


def _all(row: Callable[[], object], roles: frozenset[str], *, add: bool = True) -> AdminAccess:
    return AdminAccess(row, view=roles, change=roles, add=roles if add else NOBODY, delete=roles)


ADMIN: dict[str, AdminAccess] = {
    # Django's and the libraries' own models (accounts and groups, the task queue, login
    # attempts): no role has their permissions, so superusers only (what they change there is
    # audited too: loyalty/admin.py).
    "auth.group": _all(first("auth.Group"), ROOT),
    "auth.user": _all(a_user, ROOT),
    "django_q.schedule": _all(a_schedule, ROOT),
    "django_q.success": _all(a_task(True), ROOT, add=False),
    "django_q.failure": _all(a_task(False), ROOT, add=False),
    "django_q.ormq": _all(a_queued_task, ROOT, add=False),
    "axes.accessattempt": _all(a_login_record("AccessAttempt"), ROOT, add=False),
    "axes.accesslog": _all(a_login_record("AccessLog"), ROOT, add=False),
    "axes.accessfailurelog": _all(a_login_record("AccessFailureLog"), ROOT, add=False),
    # The audit log: auditors read it; nobody changes it.
    "loyalty.auditentry": AdminAccess(an_audit_entry, view=AUDITORS),
    # Contact details through member_update (audited): those who may change members.
    "members.member": AdminAccess(the_member, view=STAFF, change=OPS),
    # Facts come from imports, the API and back-office actions: read-only.
    "members.transaction": AdminAccess(a_stored_transaction, view=STAFF),
    "members.referral": AdminAccess(ReferralFactory, view=STAFF),
    "members.activityparticipation": AdminAccess(ActivityFactory, view=STAFF),
    "members.blacklistentry": AdminAccess(BlacklistEntryFactory, view=STAFF),
    # Templates through template_update (audited): policy owners; the outbox is read-only.
    "notifications.notificationtemplate": AdminAccess(
        first("notifications.NotificationTemplate"), view=JOBS, change=OWNERS
    ),
    "notifications.notification": AdminAccess(a_stored_notification, view=JOBS),
    # Tier names and benefits are edited in the back office (audited): read-only here. A
    # draft's settings go through policy_draft_update (audited): policy owners.
    "tiers.tier": AdminAccess(first("tiers.Tier"), view=STAFF),
    "tiers.tierpolicy": AdminAccess(a_stored_draft, view=STAFF, change=OWNERS),
    # What the evaluation and the audited actions write: read-only.
    "tiers.tierchange": AdminAccess(
        lambda: an_evaluation().member.tier_changes.first(), view=STAFF
    ),
    "tiers.downgradewarning": AdminAccess(a_downgrade_warning, view=STAFF),
    "tiers.memberevaluation": AdminAccess(an_evaluation, view=STAFF),
    "tiers.membertier": AdminAccess(lambda: an_evaluation().member.tier_state, view=STAFF),
    "tiers.tieroverride": AdminAccess(an_override, view=STAFF),
    # Committee seats through committee_member_set / _remove (audited): ops leads.
    "reviews.committeemember": AdminAccess(
        a_seat, view=STAFF, change=LEADS, add=LEADS, delete=LEADS
    ),
    # Cases are moved by the case pages (audited): read-only here.
    "reviews.reviewcase": AdminAccess(a_review_case, view=STAFF),
}


def admin_entries() -> dict[str, Entry]:
    """The admin's pages: the site's own, each app's index, and for every registered model its
    list, add page, a row's page (opened, and saved: an empty POST that only a role allowed to
    save gets past the permission check with, to a form error or a save), its delete page and
    its history. Models without an ``ADMIN`` entry are left out here and fail
    ``test_every_admin_model_has_an_entry`` and ``test_every_url_has_an_entry``."""
    to_admin = {"login": "admin:login"}
    entries = {
        "admin:index": Entry(STAFF, **to_admin),
        # A staff user already logged in is sent on to the index.
        "admin:login": Entry(EVERYONE, ok_for=dict.fromkeys(STAFF, 302), **to_admin),
        # Staff are logged out and sent to the login page (LOGOUT_REDIRECT_URL); visitors to
        # the index, which asks them to log in.
        "admin:logout": Entry(STAFF, method="post", ok=302, anonymous=302, **to_admin),
        "admin:password_change": Entry(STAFF, **to_admin),
        "admin:password_change_done": Entry(STAFF, **to_admin),
        "admin:jsi18n": Entry(STAFF, **to_admin),
        # No admin field searches another model (raw ids instead): every request is refused.
        "admin:autocomplete": Entry(NOBODY, **to_admin),
        # No model has a page on the site to link to.
        "admin:view_on_site": Entry(
            NOBODY,
            lambda: {
                "content_type_id": ContentType.objects.get_for_model(Member).pk,
                "object_id": the_member().pk,
            },
            refused=404,
            **to_admin,
        ),
        "admin:auth_user_password_change": Entry(
            ADMIN["auth.user"].change, lambda: {"id": a_user().pk}, **to_admin
        ),
    }
    readers: dict[str, frozenset[str]] = {}
    for model in admin.site._registry:
        meta = model._meta
        access = ADMIN.get(meta.label_lower)
        if access is None:
            continue
        readers[meta.app_label] = readers.get(meta.app_label, NOBODY) | access.view
        prefix = f"admin:{meta.app_label}_{meta.model_name}"

        def row(access=access) -> dict:
            return {"object_id": access.row().pk}

        seen = access.view | access.change
        entries |= {
            f"{prefix}_changelist": Entry(seen, **to_admin),
            f"{prefix}_add": Entry(access.add, **to_admin),
            f"{prefix}_change": Entry(seen, row, **to_admin),
            # An empty POST: a form error, or a save where every field is read-only.
            f"{prefix}_change (save)": Entry(
                access.change,
                row,
                method="post",
                ok=(200, 302),
                name=f"{prefix}_change",
                **to_admin,
            ),
            f"{prefix}_delete": Entry(access.delete, row, **to_admin),
            f"{prefix}_history": Entry(seen, row, **to_admin),
        }
    # An app's index lists the models a role may see; an app with none is "not found".
    for app_label, roles in readers.items():
        entries[f"admin:app_list ({app_label})"] = Entry(
            roles,
            lambda app_label=app_label: {"app_label": app_label},
            refused=404,
            name="admin:app_list",
            **to_admin,
        )
    return entries


MATRIX.update(admin_entries())


def url_names(resolver=None, namespace: str = "") -> list[str]:
    names = []
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names += url_names(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name not in SKIPPED_NAMES:
            # The admin's unnamed patterns only redirect to named ones (a row's old address)
            # or answer "not found" (its catch-all).
            if pattern.name is None and namespace == "admin:":
                continue
            names.append(f"{namespace}{pattern.name}")
    return names


def test_every_url_has_an_entry():
    covered = {entry.name or key for key, entry in MATRIX.items()}
    missing = [name for name in url_names() if name not in covered]
    assert not missing, f"add these URLs to MATRIX: {missing}"
    assert "None" not in "".join(url_names()), "every URL needs a name"


def test_every_role_is_in_the_matrix():
    assert STAFF - {"superuser"} == set(ROLE_GROUPS)


def test_every_admin_model_has_an_entry():
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert not registered - set(ADMIN), f"add to ADMIN: {sorted(registered - set(ADMIN))}"
    assert not set(ADMIN) - registered, f"not in the admin: {sorted(set(ADMIN) - registered)}"


def sign_in_as_member(client) -> None:
    """Sign in to the member pages as member PM-1, with the code texted to their phone."""
    from portal.tests.conftest import sign_in_with_code

    a_member()
    sms.outbox.clear()
    assert sign_in_with_code(client, MEMBER_PHONE).status_code == 302


def log_in(client, django_user_model, role: str) -> None:
    if role == "superuser":
        client.force_login(django_user_model.objects.create_superuser("root", password="x-12345"))
    elif role == "member":
        sign_in_as_member(client)
    elif role != "anonymous":
        user = django_user_model.objects.create_user(role, password="x-12345", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(MATRIX))
def test_each_role_is_allowed_or_refused(client, django_user_model, settings, tmp_path, key, role):
    settings.MEDIA_ROOT = tmp_path
    entry = MATRIX[key]
    url = reverse(entry.name or key, kwargs=entry.kwargs())
    log_in(client, django_user_model, role)

    if entry.json:
        response = client.post(url, "{}", content_type="application/json")
    else:
        response = getattr(client, entry.method)(url, entry.data)

    status = response.status_code
    if role in entry.allowed:
        ok = entry.ok_for.get(role, entry.ok)
        assert status in (ok if isinstance(ok, tuple) else (ok,)), (
            f"{role} should open {key}: {status}"
        )
    elif role in VISITORS and entry.anonymous is not None:
        assert status == entry.anonymous, f"{role} on {key}: {status}"
    elif role in VISITORS:
        assert status == 302, f"{role} should be sent to log in on {key}: {status}"
        assert response["Location"].startswith(reverse(entry.login))
    else:
        assert status == entry.refused, f"{role} should be refused {key}: {status}"
        if status == 302:
            assert response["Location"].startswith(reverse(entry.login))


MEMBER_PAGES = sorted(
    key for key, entry in MATRIX.items() if key.startswith("portal:") and entry.kwargs is a_member
)


@pytest.mark.django_db
@pytest.mark.parametrize("key", MEMBER_PAGES)
def test_a_member_opens_no_other_members_page(client, key):
    """Signed in as PM-1, every page under another member's number, or a number nobody has,
    is "not found": the same answer, so it does not tell who is a member."""
    MemberFactory(member_no="PM-2")
    sign_in_as_member(client)
    entry = MATRIX[key]

    for number in ("PM-2", "NOBODY"):
        response = getattr(client, entry.method)(reverse(key, kwargs={"member_no": number}))
        assert response.status_code == 404, f"{key} of {number}: {response.status_code}"
