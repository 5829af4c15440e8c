"""Staff pages: the member list and export, the member page, the actions on a member (each a
form, a confirmation step with a signed token, then one service call), bulk work and the audit
log. Every view checks a permission; a role without it gets 403 and does not see the button."""

from __future__ import annotations

import csv
import datetime
from functools import partial
from pathlib import PurePath

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django.views.generic import TemplateView

from loyalty.confirm import ConfirmationUsed, confirmation_token, confirmation_use
from loyalty.exceptions import DomainError, NotFound
from loyalty.masking import contacts_visible
from loyalty.money import format_fen, grouped, parse_amount
from loyalty.spreadsheet import csv_safe
from members.models import BlacklistEntry, Member
from members.services import member_lock
from reviews import services as review_services
from reviews.selectors import member_review_panel
from tiers import actions
from tiers.models import Tier
from tiers.selectors import open_override
from tiers.services import (
    override_end_refusal,
    override_until,
    tier_override_end,
    tier_override_set,
)

from . import bulk, forms
from .audit_actions import FILTER_SUGGESTIONS, action_label
from .audit_display import audit_fields
from .evidence import evidence_store
from .paging import lookahead_page
from .selectors import (
    audit_member_numbers,
    audit_search,
    member_action_stamp,
    member_export_rows,
    member_lookup,
    member_profile,
    member_search,
    members_by_number,
    no_such_member,
)

MEMBERS_PER_PAGE = 50
AUDIT_PER_PAGE = 50
CONFIRM_SALT = "backoffice.confirm"
BULK_CONFIRM_SALT = CONFIRM_SALT + ".bulk"


class StaffView(LoginRequiredMixin, PermissionRequiredMixin):
    """Anonymous visitors go to the login page; a logged-in user without the permission gets
    403 (PermissionRequiredMixin does so for authenticated users)."""


# --- Member list and export ----------------------------------------------------------------


class MemberListView(StaffView, TemplateView):
    permission_required = "members.view_member"
    template_name = "backoffice/member_list.html"

    def get_context_data(self, **kwargs):
        user = self.request.user
        unmasked = contacts_visible(user)
        form = forms.MemberSearchForm(self.request.GET, contacts_visible=unmasked)
        search = form.search_arguments()
        members = (
            Member.objects.none()
            if search is None
            else member_search(**search, contacts_visible=unmasked)
        )
        page = lookahead_page(members, self.request.GET.get("page"), MEMBERS_PER_PAGE)
        return super().get_context_data(
            form=form,
            page_obj=page,
            members=page.object_list,
            can_bulk=user.has_perm("tiers.add_tieroverride")
            or user.has_perm("members.add_blacklistentry"),
            phone_search_masked=not unmasked and form.masked_phone_query(),
            **kwargs,
        )


class _Echo:
    def write(self, value):
        return value


class MemberExportView(StaffView, View):
    """The filtered member list as CSV, streamed (UTF-8 with BOM, so Excel reads Chinese)."""

    permission_required = "members.view_member"

    def get(self, request):
        form = forms.MemberSearchForm(request.GET)
        search = form.search_arguments()
        if search is None:
            messages.error(request, _("Nothing was exported: correct the search first."))
            return redirect(f"{reverse('backoffice:member_list')}?{request.GET.urlencode()}")
        unmasked = contacts_visible(request.user)
        members = member_search(**search, contacts_visible=unmasked)
        writer = csv.writer(_Echo())

        def lines():
            yield "\ufeff"
            for row in member_export_rows(members, unmasked=unmasked):
                yield writer.writerow([csv_safe(cell) for cell in row])

        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="members-{stamp}.csv"'
        return response


# --- Member page ---------------------------------------------------------------------------


class MemberDetailView(StaffView, TemplateView):
    permission_required = "members.view_member"
    template_name = "backoffice/member_detail.html"

    def get_context_data(self, **kwargs):
        try:
            profile = member_profile(
                member_no=kwargs["member_no"],
                transactions_page=self.request.GET.get("tpage"),
                referrals_page=self.request.GET.get("rpage"),
                activities_page=self.request.GET.get("apage"),
            )
        except Member.DoesNotExist:
            raise no_such_member(kwargs["member_no"]) from None
        return super().get_context_data(
            profile=profile,
            member=profile.member,
            review_panel=member_review_panel(profile.member),
            **kwargs,
        )


class BlacklistEvidenceView(StaffView, View):
    """An evidence file, to staff who may read blacklist entries; never from a public URL."""

    permission_required = "members.view_blacklistentry"

    def get(self, request, pk: int):
        entry = get_object_or_404(BlacklistEntry, pk=pk)
        if not entry.evidence_file or not default_storage.exists(entry.evidence_file.name):
            raise NotFound(_("This entry has no evidence file."))
        return FileResponse(
            default_storage.open(entry.evidence_file.name, "rb"),
            as_attachment=True,
            filename=PurePath(entry.evidence_file.name).name,
        )


# --- Actions on one member -----------------------------------------------------------------


MEMBER_CHANGED = gettext_lazy(
    "Someone else changed this member's status, tier or override since the confirmation page "
    "was shown: nothing was done. Check the details and submit again to see the member as they "
    "are now."
)


class MemberActionView(StaffView, View):
    """GET shows the form; POST checks it and shows a confirmation page carrying a signed token
    (bound to this user, member and action, valid for 30 minutes); POST of that token performs
    the action through its service. Nothing is changed by a GET."""

    template_name = "backoffice/member_action.html"
    action = ""
    form_class = forms.ReasonForm
    title = ""
    question = ""
    done = ""
    danger = False
    # The confirmation page stands on the member's status, tier and open override (what an
    # override replaces or ends, what a blacklisting revokes): confirmed after they changed,
    # it does nothing.
    shows_member_state = False

    def dispatch(self, request, *args, **kwargs):
        self.member_no = kwargs.get("member_no", "")
        return super().dispatch(request, *args, **kwargs)

    def _member(self) -> Member:
        try:
            return member_lookup(self.member_no)
        except Member.DoesNotExist:
            raise no_such_member(self.member_no) from None

    def _render(self, member, form, *, token: str = "", summary=None):
        return render(
            self.request,
            self.template_name,
            {
                "member": member,
                "form": form,
                "view": self,
                "token": token,
                "summary": summary or [],
                "action_url": self.request.path,
            },
        )

    def _form(self, member, *args, **kwargs):
        return self.form_class(*args, member=member, **kwargs)

    def get(self, request, member_no):
        member = self._member()
        return self._render(member, self._form(member, initial=self.initial(member)))

    def post(self, request, member_no):
        member = self._member()
        if "confirm_token" in request.POST:
            return self._confirmed(member, request.POST["confirm_token"])
        form = self._form(member, request.POST, request.FILES)
        if not form.is_valid():
            return self._render(member, form)
        raw = {
            name: request.POST.get(name, "")
            for name, field in form.fields.items()
            if not isinstance(field, forms.forms.FileField)
        }
        payload = {
            "a": self.action,
            "m": member.pk,
            "u": request.user.pk,
            "d": raw,
            "f": self.prepare(form.cleaned_data),
            "s": member_action_stamp(member),
        }
        token = confirmation_token(payload, salt=CONFIRM_SALT)
        return self._render(member, form, token=token, summary=self.summary(form))

    def _confirmed(self, member, token: str):
        # The token is marked used in the action's transaction: a refused action leaves it
        # unused, so Back and Confirm may try again; a done one refuses a second Confirm.
        try:
            with transaction.atomic():
                payload = confirmation_use(token, salt=CONFIRM_SALT)
                if payload is None:
                    messages.error(
                        self.request, _("The confirmation expired or is not valid; try again.")
                    )
                    return self._render(member, self._form(member, initial=self.initial(member)))
                if (payload["a"], payload["m"], payload["u"]) != (
                    self.action,
                    member.pk,
                    self.request.user.pk,
                ):
                    raise PermissionDenied
                locked = member_lock(member)  # as they are now, until the action is done
                form = self._form(member, payload["d"])
                valid = form.is_valid()
                if self.shows_member_state and payload.get("s") != member_action_stamp(locked):
                    # Back to the form, filled in: submitting it shows the member as they are
                    # (a page drawn before stamps existed has none, and comes back too).
                    form.add_error(None, MEMBER_CHANGED)
                    valid = False
                if valid:
                    self.perform(member, form.cleaned_data, payload.get("f") or "")
                else:
                    transaction.set_rollback(True)  # the token stays unused
            if not valid:
                # Drawn once the transaction is over: the page reads the member's tier again.
                return self._render(member, form)
        except ConfirmationUsed as exc:
            messages.error(self.request, str(exc))
            return self._render(member, self._form(member, initial=self.initial(member)))
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self._render(member, form)
        messages.success(self.request, self.done)
        return redirect("backoffice:member_detail", member_no=member.member_no)

    def initial(self, member) -> dict:
        return {}

    def prepare(self, cleaned: dict) -> str:
        """Work done before the confirmation page (storing an upload); returns a file name."""
        return ""

    def summary(self, form) -> list[tuple[str, str]]:
        rows = []
        for name, field in form.fields.items():
            value = form.cleaned_data.get(name)
            if value in (None, ""):
                continue
            if isinstance(value, datetime.datetime):
                value = timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
            elif isinstance(value, datetime.date):
                value = value.strftime("%Y-%m-%d")
            elif hasattr(value, "name") and not isinstance(value, Member):
                value = PurePath(value.name).name if hasattr(value, "size") else value.name
            elif isinstance(value, Member):
                value = f"{value.member_no} {value.name}"
            elif isinstance(field, forms.forms.ChoiceField):
                value = dict(field.choices).get(value, value)  # its label, translated
            elif name in getattr(form, "money_fields", ()):
                value = format_fen(parse_amount(value))  # as it will be stored: ¥1,280.50
            rows.append((str(field.label), str(value)))
        return rows

    def perform(self, member, cleaned: dict, file_name: str) -> None:
        raise NotImplementedError


class OverrideSetView(MemberActionView):
    permission_required = "tiers.add_tieroverride"
    shows_member_state = True
    action = "override_set"
    form_class = forms.OverrideForm
    title = gettext_lazy("Set a tier override")
    question = gettext_lazy(
        "The member will hold at least this tier until the end date, and still move up when "
        "the rules give more. Set it?"
    )
    done = gettext_lazy("The override is set.")

    def summary(self, form) -> list[tuple[str, str]]:
        rows = super().summary(form)
        replaced = open_override(form.member)
        if replaced is not None:
            # What the member holds by it may end with it (tiers.services.tier_override_set).
            rows.append(
                (
                    _("Replaces the open override"),
                    _("%(tier)s %(until)s")
                    % {"tier": replaced.tier.name, "until": override_until(replaced.ends_on)},
                )
            )
        return rows

    def perform(self, member, cleaned, file_name):
        tier_override_set(
            member=member,
            tier=cleaned["tier"],
            reason=cleaned["reason"],
            ends_on=cleaned["ends_on"],
            message=cleaned.get("message", ""),
            actor=self.request.user,
        )


class OverrideEndView(MemberActionView):
    permission_required = "tiers.change_tieroverride"
    shows_member_state = True
    action = "override_end"
    form_class = forms.OverrideEndForm
    title = gettext_lazy("End the override early")
    question = gettext_lazy(
        "Today becomes the end of the tier year the override held: a member below that tier is "
        "warned now and keeps it for the notice period. End it?"
    )
    done = gettext_lazy("The override has ended.")
    danger = True

    def perform(self, member, cleaned, file_name):
        override = open_override(member)
        if override is None:
            raise DomainError(override_end_refusal(None))
        tier_override_end(override=override, reason=cleaned["reason"], actor=self.request.user)


class BlacklistView(MemberActionView):
    permission_required = "members.add_blacklistentry"
    shows_member_state = True
    action = "blacklist"
    form_class = forms.BlacklistForm
    title = gettext_lazy("Add to the blacklist")
    question = gettext_lazy(
        "The membership is revoked at once: the member loses their tier and takes no part in "
        "evaluation until the entry is lifted. Blacklist?"
    )
    done = gettext_lazy("The member is blacklisted.")
    danger = True

    def prepare(self, cleaned):
        # Stored now: the confirming POST carries only the signed token.
        return evidence_store(cleaned.get("evidence_file"))

    def perform(self, member, cleaned, file_name):
        # Withdraws the member's open review case too.
        review_services.member_blacklist(
            member=member,
            reason=cleaned["reason"],
            evidence=cleaned.get("evidence", ""),
            evidence_file=file_name,
            actor=self.request.user,
        )


class BlacklistLiftView(MemberActionView):
    permission_required = "members.lift_blacklistentry"
    shows_member_state = True
    action = "blacklist_lift"
    form_class = forms.BlacklistLiftForm
    title = gettext_lazy("Lift the blacklist entry")
    question = gettext_lazy(
        "The member returns to the status they had before the entry: an active member is "
        "evaluated at once, an experience member holds no tier until converted. Lift the entry?"
    )
    done = gettext_lazy(
        "The blacklist entry is lifted; the member has the status they had before it."
    )

    def perform(self, member, cleaned, file_name):
        actions.blacklist_lift(member=member, reason=cleaned["reason"], actor=self.request.user)


class ConvertView(MemberActionView):
    permission_required = "members.change_member"
    shows_member_state = True
    action = "convert"
    form_class = forms.ConvertForm
    title = gettext_lazy("Convert to a full member")
    question = gettext_lazy(
        "The experience member becomes a full member and is evaluated at once. Convert?"
    )
    done = gettext_lazy("The member is now a full member.")

    def perform(self, member, cleaned, file_name):
        actions.member_convert(member=member, reason=cleaned["reason"], actor=self.request.user)


class ReevaluateView(MemberActionView):
    permission_required = "members.change_member"
    action = "reevaluate"
    form_class = forms.ReevaluateForm
    title = gettext_lazy("Evaluate now")
    question = gettext_lazy(
        "The member is evaluated today with the policy in force, as the nightly run would. "
        "Evaluate now?"
    )
    done = gettext_lazy("The member was evaluated.")

    def perform(self, member, cleaned, file_name):
        actions.member_reevaluate(member=member, reason=cleaned["reason"], actor=self.request.user)


class TransactionRecordView(MemberActionView):
    permission_required = "members.add_transaction"
    action = "transaction"
    form_class = forms.TransactionForm
    title = gettext_lazy("Record a purchase or refund")
    question = gettext_lazy("Record this transaction and evaluate the member again?")
    done = gettext_lazy("The transaction is recorded.")

    def perform(self, member, cleaned, file_name):
        _txn, created = actions.transaction_record(
            member=member,
            external_id=cleaned["external_id"],
            kind=cleaned["kind"],
            amount=cleaned["amount"],
            occurred_at=cleaned["occurred_at"],
            refund_of=cleaned.get("refund_of", ""),
            reason=cleaned["reason"],
            actor=self.request.user,
        )
        if not created:
            raise DomainError(_("This transaction was already recorded; nothing changed."))


class ReferralRecordView(MemberActionView):
    permission_required = "members.add_referral"
    action = "referral"
    form_class = forms.ReferralForm
    title = gettext_lazy("Record a referral made by this member")
    question = gettext_lazy("Record this referral and evaluate the member again?")
    done = gettext_lazy("The referral is recorded.")

    def perform(self, member, cleaned, file_name):
        _referral, created = actions.referral_record(
            referrer=member,
            referred=cleaned["referred_no"],
            occurred_on=cleaned.get("occurred_on"),
            reason=cleaned["reason"],
            actor=self.request.user,
        )
        if not created:
            raise DomainError(_("This referral was already recorded; nothing changed."))


class ActivityRecordView(MemberActionView):
    permission_required = "members.add_activityparticipation"
    action = "activity"
    form_class = forms.ActivityForm
    title = gettext_lazy("Record an activity")
    question = gettext_lazy("Record this activity and evaluate the member again?")
    done = gettext_lazy("The activity is recorded.")

    def perform(self, member, cleaned, file_name):
        _activity, created = actions.activity_record(
            member=member,
            activity=cleaned["activity"],
            occurred_at=cleaned["occurred_at"],
            reason=cleaned["reason"],
            actor=self.request.user,
        )
        if not created:
            raise DomainError(_("This activity was already recorded; nothing changed."))


# --- Bulk work -----------------------------------------------------------------------------

_BULK_PERMISSIONS = {
    bulk.OVERRIDE: "tiers.add_tieroverride",
    bulk.BLACKLIST: "members.add_blacklistentry",
}


class BulkView(StaffView, View):
    """Select members (from the list or a CSV file), preview who changes, confirm, apply all
    or nothing."""

    template_name = "backoffice/bulk.html"

    def has_permission(self):
        return any(self.request.user.has_perm(p) for p in _BULK_PERMISSIONS.values())

    def _render(self, form, **context):
        return render(self.request, self.template_name, {"form": form, **context})

    def get(self, request):
        numbers = request.GET.getlist("member_no")
        return self._render(forms.BulkForm(initial={"member_numbers": "\n".join(numbers)}))

    def post(self, request):
        if "confirm_token" in request.POST:
            return self._apply(request.POST["confirm_token"])
        form = forms.BulkForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._render(form)
        data = form.cleaned_data
        self._check(data["action"])
        try:
            plan = bulk.bulk_preview(
                action=data["action"],
                member_nos=data["numbers"],
                tier=data.get("tier"),
                ends_on=data.get("ends_on"),
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self._render(form)
        payload = {
            "u": request.user.pk,
            "action": data["action"],
            "numbers": data["numbers"],
            "confirmed": plan.digest,
            "tier": data["tier"].code if data.get("tier") else "",
            "ends_on": data["ends_on"].isoformat() if data.get("ends_on") else "",
            "evidence": data.get("evidence", ""),
            "reason": data["reason"],
        }
        token = confirmation_token(payload, salt=BULK_CONFIRM_SALT)
        return self._render(form, plan=plan, token=token)

    def _check(self, action: str) -> None:
        if not self.request.user.has_perm(_BULK_PERMISSIONS.get(action, "-")):
            raise PermissionDenied

    def _apply(self, token: str):
        try:
            # Marked used in the batch's transaction, as for an action on one member.
            with transaction.atomic():
                payload = confirmation_use(token, salt=BULK_CONFIRM_SALT)
                if payload is None:
                    messages.error(
                        self.request, _("The confirmation expired or is not valid; try again.")
                    )
                    return self._render(forms.BulkForm())
                if payload["u"] != self.request.user.pk:
                    raise PermissionDenied
                self._check(payload["action"])
                tier = Tier.objects.get(code=payload["tier"]) if payload["tier"] else None
                ends_on = (
                    datetime.date.fromisoformat(payload["ends_on"]) if payload["ends_on"] else None
                )
                applied = bulk.bulk_apply(
                    action=payload["action"],
                    member_nos=payload["numbers"],
                    confirmed=payload["confirmed"],
                    reason=payload["reason"],
                    tier=tier,
                    ends_on=ends_on,
                    evidence=payload["evidence"],
                    actor=self.request.user,
                )
        except ConfirmationUsed as exc:
            messages.error(self.request, str(exc))
            return self._render(forms.BulkForm())
        except DomainError as exc:
            form = forms.BulkForm(
                initial={
                    "action": payload["action"],
                    "member_numbers": "\n".join(payload["numbers"]),
                    "tier": payload["tier"],
                    "ends_on": payload["ends_on"],
                    "evidence": payload["evidence"],
                    "reason": payload["reason"],
                }
            )
            messages.error(
                self.request,
                _("Nothing was applied: %(why)s") % {"why": exc},
            )
            return self._render(form)
        messages.success(
            self.request,
            ngettext("Applied to %(count)s member.", "Applied to %(count)s members.", applied)
            % {"count": grouped(applied)},
        )
        return redirect(reverse("backoffice:member_list"))


# --- Audit log -----------------------------------------------------------------------------


class AuditLogView(StaffView, TemplateView):
    """Every staff action and policy change, read-only: the application has no way to change
    or delete an entry (the admin shows it view-only too)."""

    permission_required = "loyalty.view_auditentry"
    template_name = "backoffice/audit_log.html"

    def get_context_data(self, **kwargs):
        form = forms.AuditFilterForm(self.request.GET)
        form.is_valid()
        data = dict(form.cleaned_data)
        member = None
        member_no = (data.pop("member_no", "") or "").strip()
        if member_no:
            member = members_by_number([member_no]).get(member_no)
            if member is None:
                form.add_error("member_no", _("No member has this number."))
        # A filter that cannot be read lists nothing, as on the member list: without it, the
        # log would list entries that were not asked for.
        entries = None if form.errors else audit_search(**data, member=member)
        page = lookahead_page(
            entries if entries is not None else [], self.request.GET.get("page"), AUDIT_PER_PAGE
        )
        numbers = audit_member_numbers(page)
        shown = partial(
            audit_fields,
            unmasked=contacts_visible(self.request.user),
            tier_names={tier.code: tier.name for tier in Tier.objects.all()},
        )
        rows = [
            (
                entry,
                numbers.get((entry.target_type, entry.target_id)),
                shown(entry, "before"),
                shown(entry, "after"),
            )
            for entry in page
        ]
        return super().get_context_data(
            form=form,
            page_obj=page,
            rows=rows,
            member_type=Member._meta.label_lower,
            actions=[(code, action_label(code)) for code in FILTER_SUGGESTIONS],
            **kwargs,
        )
