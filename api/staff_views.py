"""Staff pages for API keys: the list, creating one (the key is shown once, on the answer to
the form, never stored) and revoking one with a reason after a confirmation step."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, ListView

from loyalty.access import AccessCheckedFirst
from loyalty.confirm import ConfirmationUsed, confirmation_token, confirmation_use
from loyalty.exceptions import DomainError
from loyalty.paging import FirstPageOnBadNumber

from .models import ApiKey, Scope
from .selectors import api_key_list
from .services import api_key_create, api_key_revoke

# The create form's one-time token (loyalty.confirm): the answer shows the key and cannot be a
# redirect, so reloading it sends the form again; the second sending creates nothing.
_CREATE_SALT = "api.key_create"


class ApiKeyForm(forms.Form):
    once = forms.CharField(widget=forms.HiddenInput, required=False)
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

    def get_initial(self):
        return {"once": confirmation_token({"u": self.request.user.pk}, salt=_CREATE_SALT)}

    def form_valid(self, form):
        try:
            with transaction.atomic():  # the token is used up only with the key created
                once = confirmation_use(form.cleaned_data["once"], salt=_CREATE_SALT)
                if once is None or once["u"] != self.request.user.pk:
                    raise DomainError(_("The form expired; fill it in again."))
                api_key, raw_key = api_key_create(
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    requests_per_minute=form.cleaned_data["requests_per_minute"],
                    actor=self.request.user,
                )
        except ConfirmationUsed:
            # Nothing went wrong: the key exists once, as asked.
            messages.info(
                self.request,
                _(
                    "This form was already sent: its key was created once and is in the list "
                    "(its secret was shown once and is not kept). To create another key, fill in "
                    "the form again."
                ),
            )
            return redirect("api:key_list")
        except DomainError as exc:
            # As filled in, with a new token (the old one may have expired).
            data = self.request.POST.copy()
            data["once"] = self.get_initial()["once"]
            form = self.get_form_class()(data=data)
            form.is_valid()
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
