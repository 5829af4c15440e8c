"""Staff pages: the member list and the member page. Read-only; each view checks the
permission, asks a selector and renders."""

from __future__ import annotations

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView, TemplateView

from members.models import Member
from reviews.selectors import member_review_panel
from tiers.models import Tier

from .selectors import member_profile, member_search


class MemberSearchForm(forms.Form):
    query = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=128,
        widget=forms.TextInput(
            attrs={"placeholder": _("Member number, name or phone"), "type": "search"}
        ),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All statuses")), *Member.Status.choices],
    )
    tier = forms.ModelChoiceField(
        label=_("Current tier"),
        required=False,
        queryset=Tier.objects.all(),
        to_field_name="code",
        empty_label=_("All tiers"),
    )


class MemberListView(LoginRequiredMixin, PermissionRequiredMixin, ListView):
    permission_required = "members.view_member"
    template_name = "backoffice/member_list.html"
    context_object_name = "members"
    paginate_by = 50

    def get_queryset(self):
        self.form = MemberSearchForm(self.request.GET)
        # A filter that does not validate is left out (and shown as an error), not guessed at.
        self.form.is_valid()
        return member_search(**self.form.cleaned_data)

    def get_context_data(self, **kwargs):
        return super().get_context_data(form=self.form, **kwargs)


class MemberDetailView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    permission_required = "members.view_member"
    template_name = "backoffice/member_detail.html"

    def get_context_data(self, **kwargs):
        try:
            profile = member_profile(member_no=kwargs["member_no"])
        except Member.DoesNotExist:
            raise Http404(_("No member has this number.")) from None
        return super().get_context_data(
            profile=profile,
            member=profile.member,
            review_panel=member_review_panel(profile.member),
            **kwargs,
        )
