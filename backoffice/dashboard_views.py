"""The dashboard (the staff home page) and the home redirect."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views import View
from django.views.generic import TemplateView

from . import dashboard
from .forms import DateField, date_input


def home(request):
    """After login: the dashboard for staff who may see it, else the member list (which says
    what is missing); anonymous visitors go to the login page from there."""
    if request.user.has_perm("members.view_member"):
        return redirect("backoffice:dashboard")
    return redirect("backoffice:member_list")


class HomeView(View):
    def get(self, request):
        return home(request)


class MigrationForm(forms.Form):
    start = DateField(label=pgettext_lazy("date range", "From"), widget=date_input())
    end = DateField(label=pgettext_lazy("date range", "To"), widget=date_input())

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("The first date must not be after the second."))
        # Tiers are known up to today: a range into the future would read as "no movement".
        if data.get("end") and data["end"] > timezone.localdate():
            raise forms.ValidationError(_("The range must end today or earlier."))
        return data


class DashboardView(LoginRequiredMixin, PermissionRequiredMixin, TemplateView):
    permission_required = "members.view_member"
    template_name = "backoffice/dashboard/dashboard.html"

    def get_context_data(self, **kwargs):
        today = timezone.localdate()
        default = {"start": today - timedelta(days=90), "end": today}
        # Either date given binds the form, so that a missing or unreadable one is named
        # rather than quietly replaced by the default range.
        asked = "start" in self.request.GET or "end" in self.request.GET
        form = MigrationForm(self.request.GET if asked else None)
        dates = form.cleaned_data if form.is_bound and form.is_valid() else default
        if not form.is_bound:
            form = MigrationForm(initial=default)
        per_tier = dashboard.members_per_tier()
        share = dashboard.high_tier_share(today)
        movements = dashboard.tier_movements(today)
        charts = {
            "perTier": {
                "labels": [str(t.name) if t else str(_("no tier yet")) for t, _n in per_tier],
                "values": [n for _t, n in per_tier],
            },
            "share": {
                "labels": [row.day.isoformat() for row in share],
                "values": [row.percent for row in share],
            },
            "movements": {
                "labels": [str(_("last %(days)d days") % {"days": m.days}) for m in movements],
                "names": [
                    str(_("Upgrades by the rules")),
                    str(_("Raised otherwise")),
                    str(_("Downgrades")),
                ],
                "up": [m.upgrades for m in movements],
                "raised": [m.raised for m in movements],
                "down": [m.downgrades for m in movements],
            },
        }
        return super().get_context_data(
            today=today,
            per_tier=per_tier,
            per_status=dashboard.members_per_status(),
            share=share,
            retention=dashboard.high_value_retention(today),
            movements=movements,
            migration=dashboard.tier_migration(dates["start"], dates["end"]),
            migration_form=form,
            due=dashboard.downgrades_due(today),
            review_cases=dashboard.open_review_cases(),
            time_to_tier=dashboard.time_to_tier(today),
            charts=charts,
            **kwargs,
        )
