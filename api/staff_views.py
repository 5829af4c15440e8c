"""Staff pages for API keys: the list, creating one (the key is shown once, on the answer to
the form, never stored) and revoking one with a reason after a confirmation step."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, ListView

from loyalty.access import AccessCheckedFirst
from loyalty.exceptions import DomainError
from loyalty.paging import FirstPageOnBadNumber

from .models import ApiKey, Scope
from .selectors import api_key_list
from .services import api_key_create, api_key_revoke


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Client system"), max_length=100, help_text=_("e.g. POS, e-commerce, CRM")
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    requests_per_minute = forms.IntegerField(
        label=_("Requests per minute"), min_value=1, max_value=1_000_000, required=False,
        help_text=_("Leave empty for the default."),
    )  # fmt: skip


class RevokeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class ApiKeyListView(LoginRequiredMixin, PermissionRequiredMixin, FirstPageOnBadNumber, ListView):
    permission_required = "api.view_apikey"
    template_name = "api/key_list.html"
    context_object_name = "keys"
    paginate_by = 50

    def get_queryset(self):
        return api_key_list()


@method_decorator(never_cache, name="dispatch")
class ApiKeyCreateView(LoginRequiredMixin, PermissionRequiredMixin, FormView):
    permission_required = "api.add_apikey"
    template_name = "api/key_create.html"
    form_class = ApiKeyForm

    def form_valid(self, form):
        try:
            api_key, raw_key = api_key_create(
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                requests_per_minute=form.cleaned_data["requests_per_minute"],
                actor=self.request.user,
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        # Rendered, not redirected: the key exists only in this answer (never_cache).
        return render(
            self.request, "api/key_created.html", {"api_key": api_key, "raw_key": raw_key}
        )


class ApiKeyRevokeView(AccessCheckedFirst, LoginRequiredMixin, PermissionRequiredMixin, FormView):
    permission_required = "api.revoke_apikey"
    template_name = "api/key_revoke.html"
    form_class = RevokeForm

    def load_objects(self, **kwargs):
        self.api_key = get_object_or_404(ApiKey, pk=kwargs["pk"])

    def get_context_data(self, **kwargs):
        return super().get_context_data(api_key=self.api_key, **kwargs)

    def form_valid(self, form):
        try:
            api_key_revoke(
                api_key=self.api_key, reason=form.cleaned_data["reason"], actor=self.request.user
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        messages.success(
            self.request, _("The API key %(key)s was revoked.") % {"key": self.api_key}
        )
        return redirect("api:key_list")
