"""Committee pages: the queue, the case (evidence, votes, actions), hand nomination and the
quarter's summary with its CSV export. Thin: check the permission, validate the form, call one
service, redirect; a domain error becomes a message or a form error."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import FormView, ListView, TemplateView, View

from loyalty.access import AccessCheckedFirst
from loyalty.confirm import ConfirmationUsed, confirmation_token, confirmation_use
from loyalty.exceptions import DomainError, NotFound
from loyalty.paging import FirstPageOnBadNumber
from loyalty.spreadsheet import csv_safe
from members.models import Member

from . import services
from .forms import (
    DecideForm,
    NominateForm,
    ProposalForm,
    QueueFilterForm,
    VoteForm,
    WithdrawForm,
)
from .models import ReviewCase, Vote
from .quarters import Quarter
from .selectors import case_page, committee_queue, quarter_summary, quarters_with_cases

DECIDE_SALT = "reviews.case_decide"


class StaffMixin(AccessCheckedFirst, LoginRequiredMixin, PermissionRequiredMixin):
    """Anonymous visitors go to the login page; a logged-in user without the permission gets
    403."""


class QueueView(StaffMixin, FirstPageOnBadNumber, ListView):
    permission_required = "reviews.view_reviewcase"
    template_name = "reviews/queue.html"
    context_object_name = "cases"
    paginate_by = 25

    def get_queryset(self):
        self.form = QueueFilterForm(self.request.GET)
        self.form.is_valid()
        data = self.form.cleaned_data
        return committee_queue(
            self.request.user, state=data.get("state") or "open", quarter=data.get("quarter") or ""
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            form=self.form,
            quarters=quarters_with_cases(),
            today=timezone.localdate(),
            **kwargs,
        )


class CaseView(StaffMixin, TemplateView):
    permission_required = "reviews.view_reviewcase"
    template_name = "reviews/case_detail.html"

    def get_context_data(self, **kwargs):
        try:
            page = case_page(case_id=kwargs["pk"], user=self.request.user)
        except ReviewCase.DoesNotExist:
            raise NotFound(_("No such review case.")) from None
        case, user = page.case, self.request.user
        is_nominator = case.nominated_by_id is not None and case.nominated_by_id == user.pk
        can_change = user.has_perm("reviews.change_reviewcase") and case.is_open
        may_vote = (
            user.has_perm("reviews.vote_reviewcase")
            and page.my_seat is not None
            and not is_nominator
        )
        context = {
            "page": page,
            "case": case,
            "can_edit": can_change and case.state == ReviewCase.State.NOMINATED,
            "can_withdraw": can_change,
            "can_vote": may_vote
            and case.state in (ReviewCase.State.VOTING, ReviewCase.State.DISCUSSION),
            "can_decide": may_vote
            and page.my_seat.is_chair
            and case.state == ReviewCase.State.DISCUSSION,
            "is_nominator": is_nominator,
        }
        if context["can_edit"]:
            context["proposal_form"] = kwargs.pop("proposal_form", None) or ProposalForm(
                initial={
                    "uplift": case.uplift,
                    "validity_months": case.validity_months,
                    "message": case.message,
                }
            )
        if context["can_vote"]:
            context["vote_form"] = VoteForm(
                initial={"choice": page.my_vote.choice, "comment": page.my_vote.comment}
                if page.my_vote
                else None
            )
        return super().get_context_data(**context, **kwargs)


class CaseActionView(StaffMixin, View):
    """A POST on a case: validate the form, call the service, say what happened."""

    http_method_names = ["post"]
    form_class = None
    success_message = ""

    def perform(self, case: ReviewCase, data: dict) -> None:
        raise NotImplementedError

    def post(self, request, pk: int):
        case = get_object_or_404(ReviewCase, pk=pk)
        form = self.form_class(request.POST) if self.form_class else None
        if form is not None and not form.is_valid():
            return self.form_invalid(case, form)
        try:
            self.perform(case, form.cleaned_data if form else {})
        except DomainError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, self.success_message)
        return redirect("reviews:case", pk=case.pk)

    def form_invalid(self, case: ReviewCase, form):
        for errors in form.errors.values():
            for error in errors:
                messages.error(self.request, error)
        return redirect("reviews:case", pk=case.pk)


class CaseUpdateView(CaseActionView):
    """A refused proposal is shown again on the case page with its errors at the fields (a
    message naming a tier), not as a message after a redirect."""

    permission_required = "reviews.change_reviewcase"
    form_class = ProposalForm

    def form_invalid(self, case: ReviewCase, form):
        page = CaseView()
        page.setup(self.request, pk=case.pk)
        context = page.get_context_data(pk=case.pk, proposal_form=form)
        if not context["can_edit"]:  # no form on the page to show the errors at
            return super().form_invalid(case, form)
        return page.render_to_response(context, status=400)

    def perform(self, case, data):
        services.case_update(case=case, actor=self.request.user, **data)
        self.success_message = _("The proposal was saved.")


class CaseOpenVotingView(CaseActionView):
    permission_required = "reviews.change_reviewcase"

    def perform(self, case, data):
        services.case_open_voting(case=case, actor=self.request.user)
        self.success_message = _("Voting is open.")


class CaseVoteView(CaseActionView):
    permission_required = "reviews.vote_reviewcase"
    form_class = VoteForm

    def perform(self, case, data):
        services.case_vote(
            case=case,
            voter=self.request.user,
            approve=data["choice"] == Vote.Choice.APPROVE,
            comment=data["comment"],
        )
        self.success_message = _("Your vote was recorded.")


class ConfirmCaseView(StaffMixin, FormView):
    """A destructive or final action on its own page: the reason, then a confirming button."""

    template_name = "reviews/case_confirm.html"
    heading = ""
    explanation = ""
    button = ""

    def load_objects(self, **kwargs):
        self.case = get_object_or_404(ReviewCase.objects.select_related("member"), pk=kwargs["pk"])

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            case=self.case,
            # A withdrawn or decided case: the page says so instead of offering the action.
            closed=not self.case.is_open,
            heading=self.heading,
            explanation=self.explanation,
            button=self.button,
            **kwargs,
        )

    def form_valid(self, form):
        try:
            self.perform(form.cleaned_data)
        except DomainError as error:
            form.add_error(None, str(error))
            return self.form_invalid(form)
        return redirect("reviews:case", pk=self.case.pk)


class CaseWithdrawView(ConfirmCaseView):
    permission_required = "reviews.change_reviewcase"
    form_class = WithdrawForm

    @property
    def heading(self):
        return _("Withdraw review case #%(id)d") % {"id": self.case.pk}

    @property
    def explanation(self):
        return _("A withdrawn case is closed for good; the member can be nominated again.")

    @property
    def button(self):
        return _("Withdraw the case")

    def perform(self, data):
        services.case_withdraw(case=self.case, reason=data["reason"], actor=self.request.user)
        messages.success(self.request, _("The case was withdrawn."))


class CaseDecideView(ConfirmCaseView):
    """The chair's final decision in two steps: the form, then a confirmation page showing what
    the decision does (the tier an approval grants today, from the same service function the
    decision uses). The confirming POST carries only a signed token (this case, this user, the
    decision, the reason, the tier shown; ``loyalty.confirm``), valid for 30 minutes and used
    once; a stale or forged one is refused as such, one used already says so, and nothing is
    written."""

    permission_required = "reviews.vote_reviewcase"
    form_class = DecideForm

    def has_permission(self):
        # A form the decision service would refuse whatever the case's state is not offered:
        # only the chair decides, and not a case they nominated.
        return (
            super().has_permission()
            and services.case_decider_refusal(self.case, self.request.user) is None
        )

    def get_context_data(self, **kwargs):
        # The chair decides only in discussion: before that the page says why, like a closed case.
        return super().get_context_data(
            not_in_discussion=self.case.is_open and self.case.state != ReviewCase.State.DISCUSSION,
            **kwargs,
        )

    @property
    def heading(self):
        return _("Decide review case #%(id)d") % {"id": self.case.pk}

    @property
    def explanation(self):
        return _(
            "As the chair you decide the case in discussion. The decision is final; an approval "
            "grants the exceptional upgrade at once."
        )

    @property
    def button(self):
        return _("Review the decision")

    def post(self, request, *args, **kwargs):
        if "change" in request.POST:
            # Back from the confirmation to the form, with what the chair entered.
            form = self.form_class(
                initial={key: request.POST.get(key, "") for key in ("decision", "reason")}
            )
            return self.render_to_response(self.get_context_data(form=form))
        if "confirm_token" in request.POST:
            return self._confirmed(request.POST["confirm_token"])
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        decision = form.cleaned_data["decision"]
        try:
            preview = services.case_decision_preview(
                case=self.case,
                approve=decision == "approve",
                reason=form.cleaned_data["reason"],
                actor=self.request.user,
            )
        except DomainError as error:
            form.add_error(None, str(error))
            return self.form_invalid(form)
        payload = {
            "c": self.case.pk,
            "u": self.request.user.pk,
            "d": decision,
            "r": preview.reason,
            "t": preview.tier.pk if preview.tier else None,
        }
        token = confirmation_token(payload, salt=DECIDE_SALT)
        return self.render_to_response(
            self.get_context_data(
                form=form,
                preview=preview,
                token=token,
                decision_label=dict(form.fields["decision"].choices)[decision],
            )
        )

    def _confirmed(self, token: str):
        try:
            # The token is marked used in the decision's transaction: a refused decision leaves
            # it unused; a recorded one refuses the same page confirmed again, saying so.
            with transaction.atomic():
                payload = confirmation_use(token, salt=DECIDE_SALT)
                if payload is None or (payload.get("c"), payload.get("u")) != (
                    self.case.pk,
                    self.request.user.pk,
                ):
                    transaction.set_rollback(True)  # another's token stays theirs to confirm
                    messages.error(
                        self.request,
                        _("The confirmation expired or is not valid; nothing was recorded."),
                    )
                    return redirect("reviews:case_decide", pk=self.case.pk)
                services.case_decide(
                    case=self.case,
                    approve=payload["d"] == "approve",
                    reason=payload["r"],
                    actor=self.request.user,
                    expected_tier_id=payload["t"],
                )
        except ConfirmationUsed as used:
            messages.error(self.request, str(used))
            return redirect("reviews:case_decide", pk=self.case.pk)
        except DomainError as error:
            form = self.get_form_class()({"decision": payload["d"], "reason": payload["r"]})
            form.is_valid()
            form.add_error(None, str(error))
            return self.form_invalid(form)
        messages.success(self.request, _("The decision was recorded."))
        return redirect("reviews:case", pk=self.case.pk)


class NominateView(StaffMixin, FormView):
    permission_required = "reviews.add_reviewcase"
    template_name = "reviews/nominate.html"
    form_class = NominateForm

    def load_objects(self, **kwargs):
        self.member = get_object_or_404(Member, member_no=kwargs["member_no"])

    def get_context_data(self, **kwargs):
        return super().get_context_data(member=self.member, **kwargs)

    def form_valid(self, form):
        try:
            case = services.case_nominate(
                member=self.member,
                justification=form.cleaned_data["justification"],
                actor=self.request.user,
            )
        except DomainError as error:
            form.add_error(None, str(error))
            return self.form_invalid(form)
        messages.success(self.request, _("The member was nominated for special review."))
        return redirect("reviews:case", pk=case.pk)


def _quarter(text: str) -> Quarter:
    try:
        return Quarter.parse(text)
    except DomainError:
        raise NotFound(_("No such quarter.")) from None


class QuarterSummaryView(StaffMixin, FirstPageOnBadNumber, ListView):
    """The quarter's counts, and its cases 25 a page (a quarter of a large program has
    hundreds)."""

    permission_required = "reviews.view_reviewcase"
    template_name = "reviews/quarter_summary.html"
    context_object_name = "cases"
    paginate_by = 25

    def get_queryset(self):
        self.summary = quarter_summary(_quarter(self.kwargs["quarter"]))
        return self.summary.cases

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            summary=self.summary, quarters=quarters_with_cases(), **kwargs
        )


class QuarterExportView(StaffMixin, View):
    """The quarter's summary, then its cases, as one CSV file."""

    permission_required = "reviews.view_reviewcase"

    def get(self, request, quarter: str):
        summary = quarter_summary(_quarter(quarter))
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="reviews-{summary.quarter}.csv"'
        response.write("\ufeff")  # Excel reads UTF-8 (Chinese names) only with a BOM
        writer = csv.writer(response)

        def row(*cells):
            writer.writerow([csv_safe(cell) for cell in cells])

        row("profile", "nominated", "approved", "rejected", "withdrawn", "open")
        for line in [*summary.profiles, summary.total]:
            row(line.code, line.nominated, line.approved, line.rejected, line.withdrawn, line.open)
        row()
        row("tier", "granted")
        for tier, count in summary.granted:
            row(tier.code, count)
        row()
        row(
            "case", "member_no", "name", "profiles", "nominated_by", "state", "qualified_tier",
            "uplift", "granted_tier", "ends_on", "decided_at", "reason", "message",
        )  # fmt: skip
        for case in summary.cases:
            row(
                case.pk,
                case.member.member_no,
                case.member.name,
                " ".join(case.profiles) or "hand",
                case.nominated_by.get_username() if case.nominated_by else "",
                case.state,
                case.qualified_tier.code,
                case.uplift,
                case.granted_tier.code if case.granted_tier else "",
                case.override.ends_on if case.override else "",
                timezone.localtime(case.decided_at).strftime("%Y-%m-%d %H:%M")
                if case.decided_at
                else "",
                case.decision_reason_display,
                case.message,
            )
        return response


class LatestQuarterView(StaffMixin, View):
    """The summary of the latest quarter with cases (or of the quarter just ended)."""

    permission_required = "reviews.view_reviewcase"

    def get(self, request):
        quarters = quarters_with_cases()
        latest = quarters[0] if quarters else str(Quarter.just_ended(timezone.localdate()))
        return redirect(reverse("reviews:quarter", kwargs={"quarter": latest}))
