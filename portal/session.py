"""The member's sign-in lives under its own session keys, apart from Django's auth: a member is
never ``request.user``, so staff pages and the admin treat a member as anonymous."""

from __future__ import annotations

from django.http import HttpRequest

from members.models import Member

MEMBER_KEY = "portal_member_id"
# "code" or "password": a member who came in with an SMS code may set a password without
# typing the old one (the code proved the phone); one who came in with a password must.
METHOD_KEY = "portal_signed_in_by"
PENDING_PHONE_KEY = "portal_pending_phone"


def member_sign_in(request: HttpRequest, member: Member, *, method: str) -> None:
    # A new session key on sign-in, so a key planted before it cannot ride along.
    request.session.cycle_key()
    request.session[MEMBER_KEY] = member.pk
    request.session[METHOD_KEY] = method
    request.session.pop(PENDING_PHONE_KEY, None)


def member_sign_out(request: HttpRequest) -> None:
    for key in (MEMBER_KEY, METHOD_KEY, PENDING_PHONE_KEY):
        request.session.pop(key, None)
    request.session.cycle_key()


def signed_in_member_id(request: HttpRequest) -> int | None:
    return request.session.get(MEMBER_KEY)


def signed_in_with_code(request: HttpRequest) -> bool:
    return request.session.get(METHOD_KEY) == "code"
