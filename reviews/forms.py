from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.exceptions import DomainError

from .models import ReviewCase, Vote
from .services import MAX_REASON_LENGTH, MAX_VALIDITY_MONTHS, message_check


class QueueFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("State"),
        required=False,
        choices=[("open", _("Open cases")), ("all", _("All states")), *ReviewCase.State.choices],
    )
    quarter = forms.RegexField(
        label=_("Quarter"),
        required=False,
        regex=r"^\d{4}Q[1-4]$",
        widget=forms.TextInput(attrs={"placeholder": "2026Q2", "size": 8}),
    )


class ProposalForm(forms.Form):
    uplift = forms.TypedChoiceField(
        label=_("Proposed uplift"), choices=ReviewCase.Uplift.choices, coerce=int
    )
    validity_months = forms.IntegerField(
        label=_("Validity (months)"), min_value=1, max_value=MAX_VALIDITY_MONTHS
    )
    message = forms.CharField(
        label=_("Message to the member"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Shown to the member with the exceptional upgrade. Name no tier: the notice names "
            "the tier granted on the day of the decision."
        ),
    )

    def clean_message(self) -> str:
        message = self.cleaned_data["message"]
        try:
            message_check(message)
        except DomainError as error:
            raise forms.ValidationError(str(error), code="names_a_tier") from None
        return message


class VoteForm(forms.Form):
    choice = forms.ChoiceField(
        label=_("Your vote"), choices=Vote.Choice.choices, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when you reject."),
    )


class DecideForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("approve", _("Approve")), ("reject", _("Reject"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "A rejection sends the member this reason; an approval sends them the case's message."
        ),
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


class NominateForm(forms.Form):
    justification = forms.CharField(
        label=_("Justification"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Why this member deserves the committee's attention."),
    )
