"""Staff pages for PIPL privacy requests about one member: export everything held (JSON or
CSV) and erase the personal data, after a confirmation step with a reason. The work is done in
members/privacy.py and, for the erasure (which also covers the member's notices),
notifications/privacy.py; these views check permissions, validate and call them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView, TemplateView

from loyalty.exceptions import DomainError
from members import privacy
from members.models import Member
from reviews import privacy as review_privacy

from .selectors import about_member, member_number_typed, no_such_member

EXPORT = "members.export_member_data"
ERASE = "members.erase_member_data"


def _member(member_no: str) -> Member:
    try:
        return Member.objects.get(member_no=member_no)
    except Member.DoesNotExist:
        raise no_such_member(member_no) from None


class PrivacyView(LoginRequiredMixin, TemplateView):
    """What can be done for this member: the exports and the erasure, each shown only to staff
    who may use it."""

    template_name = "backoffice/privacy/member.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not (
            request.user.has_perm(EXPORT) or request.user.has_perm(ERASE)
        ):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        member = _member(kwargs["member_no"])
        return super().get_context_data(
            member=member, erased=privacy.member_is_erased(member), **kwargs
        )


class ExportView(LoginRequiredMixin, PermissionRequiredMixin, View):
    """A download (POST, so that every export is a deliberate, audited action)."""

    permission_required = EXPORT
    http_method_names = ["post"]

    def post(self, request, member_no: str, fmt: str):
        member = _member(member_no)
        # Every audit entry the audit log attributes to the member, their linked rows' too.
        about = about_member(member)
        if fmt == "json":
            body = privacy.member_export_json(member=member, actor=request.user, audit_about=about)
            content_type = "application/json; charset=utf-8"
        else:
            body = privacy.member_export_csv(member=member, actor=request.user, audit_about=about)
            content_type = "text/csv; charset=utf-8"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="member-{member.pk}.{fmt}"'
        response["Cache-Control"] = "no-store"
        return response


class EraseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "For example the request's ticket number and date. Write no personal data here: "
            "the reason is kept in the audit log."
        ),
    )
    confirm_member_no = forms.CharField(label=_("Type the member number to confirm"), max_length=32)

    def __init__(self, *args, member: Member, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member

    def clean_confirm_member_no(self):
        # Read as staff type a number everywhere (full-width, another case).
        value = member_number_typed(self.cleaned_data["confirm_member_no"])
        if self.member.member_no not in (value, value.upper()):
            raise forms.ValidationError(_("This is not the member's number."))
        return value


class EraseView(LoginRequiredMixin, PermissionRequiredMixin, FormView):
    """The confirmation step (GET) and the erasure (POST)."""

    permission_required = ERASE
    template_name = "backoffice/privacy/erase.html"
    form_class = EraseForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.user.has_perm(ERASE):
            self.member = _member(kwargs["member_no"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "member": self.member}

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            member=self.member, erased=privacy.member_is_erased(self.member), **kwargs
        )

    def form_valid(self, form):
        try:
            member = review_privacy.member_erase(
                member=self.member,
                reason=form.cleaned_data["reason"],
                actor=self.request.user,
                linked_audit=about_member(self.member),
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("The member's personal data was erased. The anonymous number is %(no)s.")
            % {"no": member.member_no},
        )
        return redirect("backoffice:member_detail", member_no=member.member_no)
