"""Staff pages of the jobs app: schedules, runs and failures; a run's chunks; starting a run
now; a member's notifications with a resend action. Each view checks a permission and calls a
selector or a service."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, ListView, TemplateView, View

from loyalty.exceptions import DomainError
from loyalty.paging import FirstPageOnBadNumber
from members.models import Member
from notifications.models import Notification
from notifications.services import notification_resend, resend_refusal
from tiers.services import Scope

from . import selectors, services
from .models import JobRun


class JobsOverviewView(LoginRequiredMixin, PermissionRequiredMixin, FirstPageOnBadNumber, ListView):
    permission_required = "jobs.view_jobrun"
    template_name = "jobs/overview.html"
    context_object_name = "runs"
    paginate_by = 25

    def get_queryset(self):
        return selectors.job_runs()

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            schedules=selectors.schedules_with_last_run(),
            failures=selectors.recent_failures(),
            failed_chunks=selectors.failed_chunks(),
            failed_notices=selectors.failed_notices(),
            startable=[(kind, JobRun.Kind(kind).label) for kind in services.STARTABLE],
            **kwargs,
        )


class RunDetailView(LoginRequiredMixin, PermissionRequiredMixin, DetailView):
    permission_required = "jobs.view_jobrun"
    template_name = "jobs/run_detail.html"
    model = JobRun
    context_object_name = "run"

    def get_context_data(self, **kwargs):
        return super().get_context_data(chunks=selectors.run_chunks(self.object), **kwargs)


class JobStartView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    """GET: what would run (the job, today, which members), or the run still going; POST:
    start it."""

    permission_required = "jobs.start_jobrun"
    template_name = "jobs/job_start.html"

    def kind(self) -> JobRun.Kind:
        if self.kwargs["kind"] not in services.STARTABLE:
            raise Http404
        return JobRun.Kind(self.kwargs["kind"])

    def get_context_data(self, **kwargs):
        kind = self.kind()
        kwargs["kind"] = kind
        return super().get_context_data(
            members=Scope(services.STARTABLE[kind]).label,
            as_of=timezone.localdate(),
            going=selectors.unfinished_run(kind),
            **kwargs,
        )

    def post(self, request, kind: str):
        try:
            run = services.job_start(kind=self.kind(), actor=request.user)
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect("jobs:job_start", kind=kind)
        messages.success(request, _("The run is started: its chunks are queued for the workers."))
        return redirect("jobs:run_detail", pk=run.pk)


class ResendForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)


class MemberNotificationsView(
    LoginRequiredMixin, PermissionRequiredMixin, FirstPageOnBadNumber, ListView
):
    permission_required = "notifications.view_notification"
    template_name = "jobs/member_notifications.html"
    context_object_name = "notifications"
    paginate_by = 50

    def get_queryset(self):
        self.member = get_object_or_404(Member, member_no=self.kwargs["member_no"])
        return selectors.notifications_of(self.member)

    def get_context_data(self, **kwargs):
        may_resend = self.request.user.has_perm("notifications.resend_notification")
        refusal = resend_refusal(self.member) if may_resend else None
        return super().get_context_data(
            member=self.member,
            can_resend=may_resend and refusal is None,
            resend_refusal=refusal,
            form=ResendForm(),
            **kwargs,
        )


class NotificationResendView(LoginRequiredMixin, PermissionRequiredMixin, View):
    permission_required = "notifications.resend_notification"
    http_method_names = ["post"]

    def post(self, request, member_no: str, pk: int):
        notification = get_object_or_404(Notification, pk=pk, member__member_no=member_no)
        form = ResendForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("A reason is required to resend a notification."))
        else:
            try:
                notification_resend(
                    notification=notification,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except DomainError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("The notification is queued to be sent again."))
        return redirect("jobs:member_notifications", member_no=member_no)
