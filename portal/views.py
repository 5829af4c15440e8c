"""Member pages. A member sees only their own: every page under a member number answers 404
for any number but the signed-in member's. Views are thin: a form, a service or a selector,
then render or redirect."""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from members.models import Member
from members.services import member_language_record

from . import selectors, services
from .forms import CodeForm, PasswordSignInForm, PhoneForm, SetPasswordForm
from .session import (
    PENDING_PHONE_KEY,
    member_sign_in,
    member_sign_out,
    signed_in_member_id,
    signed_in_with_code,
)

PURCHASES_PER_PAGE = 20


def _client_ip(request: HttpRequest) -> str:
    # The address the connection came from. Behind a reverse proxy, the proxy must set
    # REMOTE_ADDR (e.g. gunicorn's --forwarded-allow-ips): X-Forwarded-For is never trusted here.
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _render(request, template: str, context: dict | None = None, *, member=None, status=200):
    context = {
        "portal_member": member,
        "portal_tab": request.resolver_match.url_name,
        "next": _next_url(request),
        **(context or {}),
    }
    return render(request, template, context, status=status)


def _not_found(request: HttpRequest, member: Member | None) -> HttpResponse:
    # Answered under a member page's address (another member's number): no tab is current.
    return _render(
        request, "portal/not_found.html", {"portal_tab": None}, member=member, status=404
    )


def member_page(view):
    """Signed-in members only, and only under their own member number: anyone else's number,
    existing or not, is "not found"."""

    @functools.wraps(view)
    @never_cache
    def wrapper(request: HttpRequest, member_no: str, *args, **kwargs):
        member = selectors.signed_in_member(signed_in_member_id(request))
        if member is None:
            member_sign_out(request)  # a member since erased, too
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        if member.member_no != member_no:
            return _not_found(request, member)
        if member.status == Member.Status.BLACKLISTED:
            member_sign_out(request)
            return _render(request, "portal/revoked.html", status=403)
        # Notices are written in the language the member chose for these pages (the switch's
        # cookie): a browser's own preference alone is not the member's choice.
        if settings.LANGUAGE_COOKIE_NAME in request.COOKIES:
            member_language_record(member=member, language=translation.get_language())
        return view(request, member, *args, **kwargs)

    return wrapper


def home(request: HttpRequest) -> HttpResponse:
    member = selectors.signed_in_member(signed_in_member_id(request))
    if member is None:
        return redirect("portal:login")
    return redirect("portal:tier", member_no=member.member_no)


def _after_sign_in(request: HttpRequest, member: Member) -> HttpResponse:
    return redirect(_next_url(request) or reverse("portal:tier", args=[member.member_no]))


def _with_next(request: HttpRequest, name: str) -> str:
    url = reverse(name)
    next_url = _next_url(request)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


# --- Signing in -----------------------------------------------------------------------------


def login(request: HttpRequest) -> HttpResponse:
    """Step one of the SMS sign-in: the phone number."""
    form = PhoneForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            phone = services.signin_code_request(
                phone=form.cleaned_data["phone"], client_ip=_client_ip(request)
            )
        except services.SignInError as error:
            form.add_error("phone", str(error))
        else:
            request.session[PENDING_PHONE_KEY] = phone
            return redirect(_with_next(request, "portal:login_code"))
    return _render(request, "portal/login.html", {"form": form})


def login_code(request: HttpRequest) -> HttpResponse:
    """Step two: the code. "Send again" asks for a new code for the same number."""
    phone = request.session.get(PENDING_PHONE_KEY)
    if not phone:
        return redirect(_with_next(request, "portal:login"))
    form = CodeForm()
    if request.method == "POST" and request.POST.get("action") == "resend":
        try:
            services.signin_code_request(phone=phone, client_ip=_client_ip(request))
        except services.SignInError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("A new code is on its way."))
        return redirect(_with_next(request, "portal:login_code"))
    if request.method == "POST":
        form = CodeForm(request.POST)
        if form.is_valid():
            try:
                member = services.signin_code_verify(phone=phone, code=form.cleaned_data["code"])
            except services.SignInError as error:
                form.add_error("code", str(error))
            else:
                member_sign_in(request, member, method="code")
                return _after_sign_in(request, member)
    masked = f"{phone[:3]} **** {phone[-4:]}"
    return _render(request, "portal/login_code.html", {"form": form, "masked_phone": masked})


def login_password(request: HttpRequest) -> HttpResponse:
    form = PasswordSignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            member = services.member_password_sign_in(
                identifier=form.cleaned_data["identifier"],
                password=form.cleaned_data["password"],
            )
        except services.SignInError as error:
            form.add_error(None, str(error))
        else:
            member_sign_in(request, member, method="password")
            return _after_sign_in(request, member)
    return _render(request, "portal/login_password.html", {"form": form})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    member_sign_out(request)
    messages.success(request, _("You have signed out."))
    return redirect("portal:login")


# --- The member's own pages -----------------------------------------------------------------


@member_page
def tier(request: HttpRequest, member: Member) -> HttpResponse:
    page = selectors.member_home(member)
    return _render(request, "portal/tier.html", {"page": page}, member=member)


@member_page
def member_code(request: HttpRequest, member: Member) -> HttpResponse:
    response = HttpResponse(
        selectors.member_code_svg(member.member_no), content_type="image/svg+xml"
    )
    response["Content-Disposition"] = 'inline; filename="member-code.svg"'
    return response


@member_page
def purchases(request: HttpRequest, member: Member) -> HttpResponse:
    counted = selectors.counted_purchases(member)
    page_obj = None
    if counted is not None:
        page_obj = Paginator(counted.purchases, PURCHASES_PER_PAGE).get_page(
            request.GET.get("page")
        )
    return _render(
        request,
        "portal/purchases.html",
        {"counted": counted, "page_obj": page_obj, "standing": selectors.member_standing(member)},
        member=member,
    )


@member_page
def history(request: HttpRequest, member: Member) -> HttpResponse:
    return _render(
        request, "portal/history.html", {"history": selectors.tier_history(member)}, member=member
    )


@member_page
def password(request: HttpRequest, member: Member) -> HttpResponse:
    account = selectors.member_account(member)
    needs_current = (
        account is not None and account.has_password and not signed_in_with_code(request)
    )
    form = SetPasswordForm(request.POST or None, needs_current=needs_current)
    if request.method == "POST" and form.is_valid():
        try:
            services.member_password_set(
                member=member,
                password=form.cleaned_data["new_password"],
                current_password=form.cleaned_data.get("current_password")
                if needs_current
                else None,
            )
        except services.SignInError as error:
            form.add_error("current_password", str(error))
        except ValidationError as error:
            form.add_error("new_password", error)
        else:
            messages.success(
                request,
                _("Your password is set. Next time, sign in with your member number or phone."),
            )
            return redirect("portal:tier", member_no=member.member_no)
    return _render(
        request,
        "portal/password.html",
        {"form": form, "has_password": account is not None and account.has_password},
        member=member,
    )


def rules(request: HttpRequest) -> HttpResponse:
    """The rules of every tier, public (透明性): nobody needs to sign in to read them."""
    in_force, announced = selectors.today_policies(timezone.localdate())
    member = selectors.signed_in_member(signed_in_member_id(request))
    return _render(
        request,
        "portal/rules.html",
        {"in_force": in_force, "announced": announced},
        member=member,
    )
