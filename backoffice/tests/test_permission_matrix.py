"""One permission matrix for every staff URL × every role.

``MATRIX`` has one entry per URL name (namespaced, as ``reverse`` takes it): the roles that may
open it and how to build its arguments. ``test_every_url_has_an_entry`` walks the URL resolver,
so a URL added without an entry fails here. Other apps add their entries to ``MATRIX`` (or
``MATRIX.update(...)`` from their own module imported here). Admin and the language switch are
Django's own and checked elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from loyalty.roles import ROLES as ROLE_GROUPS
from members.models import Member
from members.tests.factories import BlacklistEntryFactory, MemberFactory

ROLES = ["anonymous", "ops", "ops_lead", "committee", "policy_owner", "auditor", "superuser"]
STAFF = frozenset(ROLES) - {"anonymous"}
OPS = frozenset({"ops", "ops_lead", "superuser"})
EVERYONE = frozenset(ROLES)
SKIPPED_NAMESPACES = {"admin"}
SKIPPED_NAMES = {"set_language"}  # Django's language switch: POST, open to everyone


def a_member() -> dict:
    member = Member.objects.filter(member_no="PM-1").first() or MemberFactory(member_no="PM-1")
    return {"member_no": member.member_no}


def an_evidence_file() -> dict:
    name = default_storage.save("blacklist-evidence/matrix.txt", ContentFile(b"evidence"))
    entry = BlacklistEntryFactory(evidence_file=name)
    return {"pk": entry.pk}


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

    response = getattr(client, entry.method)(url, entry.data)

    if role == "anonymous" and not entry.public:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif role in entry.allowed:
        assert response.status_code == entry.ok, f"{role} should open {name}"
    else:
        assert response.status_code == 403, f"{role} should be refused {name}"
