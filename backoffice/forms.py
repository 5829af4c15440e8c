"""Forms of the staff pages: the member search, each action on a member, bulk work and the
audit log filter. They validate input; the services decide (a DomainError becomes a form
error)."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from loyalty.dates import DateError, year_check
from loyalty.exceptions import DomainError
from loyalty.money import AmountError, parse_amount
from members import services as facts
from members.importers import ValueRefused, activity_value, external_id_value, refund_of_value
from members.models import Member, Transaction
from tiers.models import Tier, TierOverride
from tiers.selectors import open_override
from tiers.services import (
    override_end_refusal,
    override_holder_check,
    override_replacement_refusal,
)

from . import bulk
from .selectors import SORTS, members_by_number

MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
EVIDENCE_EXTENSIONS = {".pdf", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".txt", ".eml", ".zip"}


def _tier_field(label, required: bool = False, empty_label=None):
    return forms.ModelChoiceField(
        label=label,
        required=required,
        queryset=Tier.objects.all(),
        to_field_name="code",
        empty_label=empty_label,
    )


# The browser's date pickers take only ISO values; Django would write a date given in Python in
# the language's own first input format (2026/09/06 in zh-hans), which the browser drops, showing
# an empty field.
def date_input() -> forms.DateInput:
    return forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})


def _range_check(form: forms.Form, first: str, last: str) -> None:
    """A reversed date range matches nothing: named at its second field, like any filter that
    cannot be read, so that an empty list is not taken for an answer."""
    start, end = form.cleaned_data.get(first), form.cleaned_data.get(last)
    if start and end and start > end:
        form.add_error(
            last,
            _(
                "The range %(start)s – %(end)s is reversed: the first date must not be after "
                "the second."
            )
            % {"start": start.isoformat(), "end": end.isoformat()},
        )


class _YearChecked:
    """A date field refusing the years the import and the API refuse (``loyalty.dates``)."""

    def validate(self, value) -> None:
        super().validate(value)
        if value is None:
            return
        day = timezone.localtime(value).date() if isinstance(value, datetime.datetime) else value
        try:
            year_check(day)
        except DateError as exc:
            raise forms.ValidationError(exc.describe(str(self.label), day.isoformat())) from None


class DateField(_YearChecked, forms.DateField):
    pass


class DateTimeField(_YearChecked, forms.DateTimeField):
    pass


def _date_field(label, required: bool = False):
    return DateField(label=label, required=required, widget=date_input())


def _moment_field():
    return DateTimeField(
        label=_("Date and time"),
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )


class ImportedTextField(forms.CharField):
    """Text read by the import's converter for its column (``members.importers``: an external
    id is NFKC-folded, ``ＴＸ０００１`` being ``TX0001``, and refused with a space or an
    invisible character inside; an activity's name is folded and refused with a bidirectional
    override ...), so that a staff page stores, folds and refuses what the import and the API do
    (``api.fields.ImportedTextField``), with the import's message at the field, named by its
    label. An empty value is the form's to judge (required or not)."""

    def __init__(self, convert, **kwargs):
        self.convert = convert
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return text
        try:
            return self.convert(text)
        except ValueRefused as refused:
            raise forms.ValidationError(refused.describe(str(self.label), text)) from None


def _reason_field():
    return forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required; kept in the audit log."),
    )


class MemberSearchForm(forms.Form):
    query = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=128,
        widget=forms.TextInput(
            attrs={
                "placeholder": _("Member number, name, phone or its last 4 digits"),
                "type": "search",
            }
        ),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All statuses")), *Member.Status.choices],
    )
    tier = _tier_field(_("Current tier"), empty_label=_("All tiers"))
    qualified_tier = _tier_field(_("Qualified tier"), empty_label=_("All tiers"))
    joined_from = _date_field(_("Joined from"))
    joined_to = _date_field(_("Joined until"))
    downgrade_due = forms.BooleanField(label=_("Downgrade due in 30 days"), required=False)
    open_warning = forms.BooleanField(label=_("Has an open warning"), required=False)
    has_override = forms.BooleanField(label=_("Has an override"), required=False)
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("member_no", _("Member number")),
            ("-member_no", _("Member number, descending")),
            ("name", pgettext_lazy("member name", "Name")),
            ("-joined_on", _("Newest members")),
            ("joined_on", _("Longest members")),
            ("-tier", _("Highest tier")),
            ("tier_year_end", _("Tier year ends soonest")),
        ],
    )

    def clean(self):
        data = super().clean()
        _range_check(self, "joined_from", "joined_to")
        return data

    def __init__(self, *args, contacts_visible: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not contacts_visible:
            # backoffice.selectors: phones masked are found by their last 4 digits only.
            self.fields["query"].widget.attrs["placeholder"] = _(
                "Member number, name or a phone's last 4 digits"
            )

    def masked_phone_query(self) -> bool:
        """The text looks like more of a phone than its last 4 digits."""
        query = self.data.get("query", "")
        digits = sum(ch.isdigit() for ch in query)
        return digits > 4 and not any(ch.isalpha() for ch in query)

    def search_arguments(self) -> dict | None:
        """The filters, or None when one does not validate: a search that cannot be read
        matches nobody rather than, with that filter left out, everybody (an export of
        every member where a few were asked for)."""
        if not self.is_valid():
            return None
        data = dict(self.cleaned_data)
        if data.get("sort") not in SORTS:
            data.pop("sort", None)
        return data


class MemberActionForm(forms.Form):
    """The form of an action on one member, who is ``member``: checks that depend on them (a
    service's, asked again when it records) are made here, so that a refusal is named at its
    field before the confirmation page, not after it."""

    def __init__(self, *args, member: Member | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.member = member


def _refused_as_form_error(check, *args) -> None:
    """A service's check (raising ``DomainError``) as the form's own error, on top."""
    try:
        check(*args)
    except DomainError as exc:
        raise forms.ValidationError(str(exc)) from None


class ReasonForm(MemberActionForm):
    reason = _reason_field()


class _CheckedReasonForm(ReasonForm):
    """A reason, for an action whose service refuses some members (``member_check``, asked
    again when it records): refused here, before the confirmation page."""

    member_check: Callable[[Member], None]

    def clean(self):
        cleaned = super().clean()
        if self.member is not None:
            _refused_as_form_error(type(self).member_check, self.member)
        return cleaned


class ConvertForm(_CheckedReasonForm):
    member_check = staticmethod(facts.convert_check)


class BlacklistLiftForm(_CheckedReasonForm):
    member_check = staticmethod(facts.blacklisted_check)


class ReevaluateForm(_CheckedReasonForm):
    member_check = staticmethod(facts.takes_part_check)


class OverrideEndForm(ReasonForm):
    def clean(self):
        cleaned = super().clean()
        if self.member is not None and (
            refusal := override_end_refusal(open_override(self.member))
        ):
            raise forms.ValidationError(refusal)
        return cleaned


class OverrideForm(MemberActionForm):
    tier = _tier_field(_("Tier (at least)"), required=True)
    ends_on = _date_field(_("Ends on (optional)"))
    message = forms.CharField(
        label=_("Message to the member (optional)"),
        help_text=_(
            "Sent to the member with the tier granted: in the app, and by e-mail or SMS where "
            "they have one. Leave empty to tell them nothing."
        ),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    reason = _reason_field()

    def clean_ends_on(self):
        ends_on = self.cleaned_data.get("ends_on")
        if ends_on is not None and ends_on <= timezone.localdate():
            raise forms.ValidationError(_("The end date must be after today."))
        return ends_on

    def clean(self):
        cleaned = super().clean()
        if self.member is not None:
            _refused_as_form_error(override_holder_check, self.member)
        if self.member is not None and cleaned.get("tier") is not None and not self.errors:
            refusal = override_replacement_refusal(
                open_override(self.member),
                tier=cleaned["tier"],
                ends_on=cleaned.get("ends_on"),
                kind=TierOverride.Kind.MANUAL,
            )
            if refusal:
                raise forms.ValidationError(refusal)
        return cleaned


class BlacklistForm(MemberActionForm):
    reason = _reason_field()
    evidence = forms.CharField(
        label=_("Evidence"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What shows it: ticket numbers, order numbers, what was said."),
    )
    evidence_file = forms.FileField(
        label=_("Evidence file (optional)"),
        required=False,
        help_text=_("PDF, image, text, e-mail or ZIP; at most 10 MB."),
    )

    def clean(self):
        cleaned = super().clean()
        if self.member is not None:
            _refused_as_form_error(facts.blacklist_check, self.member)
        return cleaned

    def clean_evidence_file(self):
        upload = self.cleaned_data.get("evidence_file")
        if upload is None:
            return None
        if upload.size > MAX_EVIDENCE_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        name = upload.name.lower()
        if not any(name.endswith(ext) for ext in EVIDENCE_EXTENSIONS):
            raise forms.ValidationError(
                _("This kind of file is not accepted: %(exts)s only.")
                % {"exts": ", ".join(sorted(EVIDENCE_EXTENSIONS))}
            )
        return upload


class TransactionForm(MemberActionForm):
    money_fields = ("amount",)  # the confirmation page shows these as amounts in yuan
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("purchase", _("purchase")), ("refund", _("refund"))]
    )
    external_id = ImportedTextField(external_id_value, label=_("External id"), max_length=64)
    amount = forms.CharField(
        label=_("Amount (¥)"), max_length=20, help_text=_("Up to 2 decimals, e.g. 1280.50")
    )
    occurred_at = _moment_field()
    refund_of = ImportedTextField(
        refund_of_value,
        label=_("Refund of (purchase external id)"),
        max_length=64,
        required=False,
    )
    reason = _reason_field()

    def clean_amount(self) -> str:
        # Checked here too, so that a bad amount is named at its field before the confirmation
        # page, not after it (the service checks it again when it records).
        amount = self.cleaned_data["amount"].strip()
        try:
            parse_amount(amount)
        except AmountError as exc:
            raise forms.ValidationError(str(exc)) from None
        return amount

    def clean_occurred_at(self):
        occurred_at = self.cleaned_data["occurred_at"]
        try:
            facts.fact_moment_check(occurred_at, what=_("A transaction"))
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from None
        return occurred_at

    def clean(self):
        data = super().clean()
        external_id = data.get("external_id", "")
        # Staff never mean to record a transaction again: the service would answer a repeat
        # (or a conflict) only after the confirmation page.
        if external_id and Transaction.objects.filter(external_id=external_id).exists():
            self.add_error(
                "external_id",
                _("A transaction with external id %(id)s is already recorded.")
                % {"id": external_id},
            )
            return data
        if "kind" in data:
            try:
                facts.refund_of_check(data["kind"], data.get("refund_of", ""))
            except DomainError as exc:
                self.add_error("refund_of", str(exc))
                return data
        if data.get("kind") != Transaction.Kind.REFUND or "refund_of" in self.errors:
            return data
        try:
            purchase = facts.refund_purchase_find(data.get("refund_of", ""))
        except DomainError as exc:
            self.add_error("refund_of", str(exc))
            return data
        if self.member is None or not data.get("amount") or data.get("occurred_at") is None:
            return data
        refusal = facts.refund_refusal(
            purchase=purchase,
            member=self.member,
            amount_fen=parse_amount(data["amount"]),
            occurred_at=data["occurred_at"],
        )
        if refusal is not None:
            self.add_error(*refusal)
        return data


class ReferralForm(MemberActionForm):
    referred_no = forms.CharField(label=_("Referred member number"), max_length=32)
    occurred_on = _date_field(_("Date (default: the day they joined)"))
    reason = _reason_field()

    def clean_referred_no(self):
        number = self.cleaned_data["referred_no"]
        member = members_by_number([number]).get(number)
        if member is None:
            raise forms.ValidationError(_("No member has this number."))
        return member

    def clean(self):
        data = super().clean()
        referred = data.get("referred_no")
        if self.member is None or not isinstance(referred, Member):
            return data
        try:
            stored = facts.referral_check(
                referrer=self.member, referred=referred, occurred_on=data.get("occurred_on")
            )
        except DomainError as exc:
            self.add_error(exc.field, str(exc))
            return data
        if stored is not None:
            self.add_error("referred_no", _("This referral was already recorded; nothing changed."))
        return data


class ActivityForm(MemberActionForm):
    activity = ImportedTextField(activity_value, label=_("Activity"), max_length=128)
    occurred_at = _moment_field()
    reason = _reason_field()

    def clean_occurred_at(self):
        occurred_at = self.cleaned_data["occurred_at"]
        try:
            facts.fact_moment_check(occurred_at, what=_("An activity"))
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from None
        return occurred_at

    def clean(self):
        data = super().clean()
        activity, occurred_at = data.get("activity"), data.get("occurred_at")
        # As for a transaction: a repeat would be answered only after the confirmation page.
        if (
            activity
            and occurred_at
            and self.member.activities.filter(activity=activity, occurred_at=occurred_at).exists()
        ):
            self.add_error("activity", _("This activity at this moment is already recorded."))
        return data


class BulkForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[
            (bulk.OVERRIDE, _("Tier override")),
            (bulk.BLACKLIST, _("Blacklist")),
        ],
    )
    member_numbers = forms.CharField(
        label=_("Member numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One per line, or separated by commas or spaces."),
    )
    csv_file = forms.FileField(
        label=_("…or a CSV file of member numbers"),
        required=False,
        help_text=_("A member_no column, or member numbers in the first column."),
    )
    tier = _tier_field(_("Tier (at least), for an override"))
    ends_on = _date_field(_("Override ends on (optional)"))
    evidence = forms.CharField(
        label=_("Evidence, for a blacklist entry"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    reason = _reason_field()

    def clean(self):
        data = super().clean()
        numbers = bulk.numbers_from_text(data.get("member_numbers", ""))
        upload = data.get("csv_file")
        if upload is not None:
            try:
                numbers += bulk.numbers_from_csv(upload.read())
            except DomainError as exc:
                self.add_error("csv_file", str(exc))
        if not numbers and not self.errors:
            raise forms.ValidationError(_("Give at least one member number."))
        data["numbers"] = numbers
        if data.get("action") == bulk.OVERRIDE and data.get("tier") is None:
            self.add_error("tier", _("Choose the tier of the override."))
        ends_on = data.get("ends_on")
        if ends_on is not None and ends_on <= timezone.localdate():
            self.add_error("ends_on", _("The end date must be after today."))
        return data


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Actor (username)"), required=False, max_length=150)
    member_no = forms.CharField(label=_("Member number"), required=False, max_length=32)
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "tier.override", "list": "audit-actions"}),
    )
    date_from = _date_field(_("Date from"))
    date_to = _date_field(_("Date until"))

    def clean(self):
        data = super().clean()
        _range_check(self, "date_from", "date_to")
        return data
