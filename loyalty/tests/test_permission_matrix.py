"""One permission matrix for every staff URL × every role.

``MATRIX`` has one entry per URL name (namespaced, as ``reverse`` takes it): the roles that may
open it and how to build its arguments. ``test_every_url_has_an_entry`` walks the URL resolver,
so a URL added without an entry fails here. Other apps add their entries to ``MATRIX`` (or
``MATRIX.update(...)`` from their own module imported here). Admin and the language switch are
Django's own and checked elsewhere.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from loyalty.roles import ROLES as ROLE_GROUPS
from members.models import Member
from members.tests.factories import BlacklistEntryFactory, MemberFactory, PurchaseFactory
from tiers.models import Benefit, TierPolicy

ROLES = ["anonymous", "ops", "ops_lead", "committee", "policy_owner", "auditor", "superuser"]
STAFF = frozenset(ROLES) - {"anonymous"}
OPS = frozenset({"ops", "ops_lead", "superuser"})
EVERYONE = frozenset(ROLES)
NOBODY: frozenset[str] = frozenset()
LEADS = frozenset({"ops_lead", "superuser"})
OWNERS = frozenset({"policy_owner", "superuser"})
JOBS = frozenset({"ops", "ops_lead", "policy_owner", "auditor", "superuser"})
COMMITTEE = frozenset({"committee", "superuser"})
SKIPPED_NAMESPACES = {"admin"}
TODAY = datetime.date(2026, 6, 30)
SKIPPED_NAMES = {"set_language"}  # Django's language switch: POST, open to everyone


def a_member() -> dict:
    member = Member.objects.filter(member_no="PM-1").first() or MemberFactory(member_no="PM-1")
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
    """Who may open a URL: ``allowed`` get ``ok`` (200 unless said), others 403; anonymous
    visitors are sent to the login page unless the URL is public."""

    allowed: frozenset[str]
    kwargs: Callable[[], dict] = dict
    method: str = "get"
    ok: int = 200
    public: bool = False
    data: dict = field(default_factory=dict)
    refused: int = 403  # what a logged-in role that may not open it gets
    anonymous: int | None = None  # None: sent to the staff login (unless public)
    json: bool = False  # the body is JSON (the API), empty: an allowed role gets a 400


MATRIX: dict[str, Entry] = {
    "home": Entry(EVERYONE, ok=302, public=True),
    "login": Entry(EVERYONE, public=True),
    "logout": Entry(EVERYONE, method="post", ok=302, public=True),
    "backoffice:member_list": Entry(STAFF),
    "backoffice:member_detail": Entry(STAFF, a_member),
    "backoffice:member_export": Entry(STAFF),
    "backoffice:bulk": Entry(OPS),
    "backoffice:audit_log": Entry(frozenset({"auditor", "superuser"})),
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
    "jobs:member_notifications": Entry(JOBS, a_member),
    "jobs:notification_resend": Entry(OPS, a_notification, method="post", ok=302),
    # The committee.
    "reviews:queue": Entry(STAFF),
    "reviews:case": Entry(STAFF, a_case),
    "reviews:case_update": Entry(OPS, a_case, method="post", ok=302),
    "reviews:case_open": Entry(OPS, a_case, method="post", ok=302),
    "reviews:case_vote": Entry(COMMITTEE, a_case, method="post", ok=302),
    "reviews:case_decide": Entry(COMMITTEE, a_case),
    "reviews:case_withdraw": Entry(OPS, a_case),
    "reviews:nominate": Entry(OPS, a_member),
    "reviews:quarters": Entry(STAFF, ok=302),
    "reviews:quarter": Entry(STAFF, lambda: {"quarter": "2026Q1"}),
    "reviews:quarter_export": Entry(STAFF, lambda: {"quarter": "2026Q1"}),
    # API keys (staff pages) and the API's documentation.
    "api:key_list": Entry(frozenset({"ops_lead", "auditor", "superuser"})),
    "api:key_create": Entry(frozenset({"ops_lead", "superuser"})),
    "api:key_revoke": Entry(frozenset({"ops_lead", "superuser"}), an_api_key),
    "api:schema": Entry(EVERYONE, public=True),
    "api:swagger": Entry(EVERYONE, public=True),
    "api:redoc": Entry(EVERYONE, public=True),
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
    # Member pages: members only; staff and visitors are sent to the member sign-in.
    "portal:login": Entry(EVERYONE, public=True),
    "portal:login_code": Entry(EVERYONE, ok=302, public=True),  # no code asked for yet
    "portal:login_password": Entry(EVERYONE, public=True),
    "portal:rules": Entry(EVERYONE, public=True),
    "portal:home": Entry(NOBODY, refused=302, anonymous=302),
    "portal:logout": Entry(NOBODY, method="post", refused=302, anonymous=302),
    "portal:password": Entry(NOBODY, a_member, refused=302, anonymous=302),
    "portal:tier": Entry(NOBODY, a_member, refused=302, anonymous=302),
    "portal:member_code": Entry(NOBODY, a_member, refused=302, anonymous=302),
    "portal:purchases": Entry(NOBODY, a_member, refused=302, anonymous=302),
    "portal:history": Entry(NOBODY, a_member, refused=302, anonymous=302),
    # For load balancers.
    "healthz": Entry(EVERYONE, public=True),
}


def url_names(resolver=None, namespace: str = "") -> list[str]:
    names = []
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in SKIPPED_NAMESPACES:
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names += url_names(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name not in SKIPPED_NAMES:
            names.append(f"{namespace}{pattern.name}")
    return names


def test_every_url_has_an_entry():
    missing = [name for name in url_names() if name not in MATRIX]
    assert not missing, f"add these URLs to MATRIX: {missing}"
    assert "None" not in "".join(url_names()), "every URL needs a name"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_role_is_allowed_or_refused(client, django_user_model, settings, tmp_path, name, role):
    settings.MEDIA_ROOT = tmp_path
    entry = MATRIX[name]
    url = reverse(name, kwargs=entry.kwargs())
    if role == "superuser":
        client.force_login(django_user_model.objects.create_superuser("root", password="x-12345"))
    elif role != "anonymous":
        user = django_user_model.objects.create_user(role, password="x-12345")
        if role in ROLE_GROUPS:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)

    if entry.json:
        response = client.post(url, "{}", content_type="application/json")
    else:
        response = getattr(client, entry.method)(url, entry.data)

    if role == "anonymous" and entry.anonymous is not None:
        assert response.status_code == entry.anonymous, (
            f"anonymous on {name}: {response.status_code}"
        )
    elif role == "anonymous" and not entry.public:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif role in entry.allowed:
        assert response.status_code == entry.ok, (
            f"{role} should open {name}: {response.status_code}"
        )
    else:
        assert response.status_code == entry.refused, f"{role} should be refused {name}"
