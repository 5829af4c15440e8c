"""Staff pages for policy versions (list, detail, edit a draft, diff, impact preview, publish)
and for tier names and benefits. Thin: check the permission, read through a selector or
validate a form, call one service, redirect or render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import ListView, TemplateView, View

from loyalty.access import AccessCheckedFirst
from loyalty.exceptions import DomainError
from loyalty.paging import FirstPageOnBadNumber
from tiers import services
from tiers.benefits import benefit_ordering_problems
from tiers.diff import policy_diff, rule_lines
from tiers.models import Benefit, Tier, TierPolicy
from tiers.policy import PolicyError, PolicyInvalid, ordering_problems, policy_errors
from tiers.preview import policy_preview
from tiers.selectors import (
    announced_policy,
    engine_policy,
    policy_base,
    policy_in_force,
    policy_versions,
    tiers_by_code,
)

from .policy_forms import (
    GROUP_KINDS,
    METRIC_CHOICES,
    BenefitFormSet,
    PolicySettingsForm,
    PublishForm,
    ReasonForm,
    RulesEditor,
    TierNamesForm,
)


class StaffPermissionMixin(AccessCheckedFirst, LoginRequiredMixin, PermissionRequiredMixin):
    """Anonymous visitors go to the login page; a logged-in user without the permission
    gets 403."""


def _tiers() -> list[Tier]:
    return sorted(tiers_by_code().values(), key=lambda t: t.rank, reverse=True)


def _tier_names() -> dict[str, str]:
    return {tier.code: tier.name for tier in Tier.objects.all()}


def _warnings(policy: TierPolicy) -> list[str]:
    """Higher tiers easier to reach than lower ones; none when the rules do not parse."""
    try:
        problems = ordering_problems(engine_policy(policy))
    except PolicyError:
        return []
    names = _tier_names()
    return [problem.message(names) for problem in problems]


class PolicyMixin(StaffPermissionMixin):
    def get_policy(self) -> TierPolicy:
        return get_object_or_404(
            TierPolicy.objects.select_related("based_on"), version=self.kwargs["version"]
        )


class PolicyListView(StaffPermissionMixin, FirstPageOnBadNumber, ListView):
    permission_required = "tiers.view_tierpolicy"
    template_name = "backoffice/policies/policy_list.html"
    context_object_name = "versions"
    paginate_by = 20

    def get_queryset(self):
        return policy_versions(timezone.localdate())

    def get_context_data(self, **kwargs):
        return super().get_context_data(announced=announced_policy(timezone.localdate()), **kwargs)


class PolicyDetailView(PolicyMixin, TemplateView):
    permission_required = "tiers.view_tierpolicy"
    template_name = "backoffice/policies/policy_detail.html"

    def get_context_data(self, **kwargs):
        policy = self.get_policy()
        listed = next(v for v in policy_versions(timezone.localdate()) if v.policy.pk == policy.pk)
        tiers = [(tier, rule_lines(policy.rules.get(tier.code))) for tier in _tiers()]
        return super().get_context_data(
            policy=policy,
            listed=listed,
            tier_rules=tiers,
            warnings=_warnings(policy),
            **kwargs,
        )


class PolicyDraftCreateView(StaffPermissionMixin, View):
    permission_required = ("tiers.add_tierpolicy", "tiers.change_tierpolicy")
    http_method_names = ["post"]

    def post(self, request):
        draft = services.policy_draft_create(actor=request.user)
        messages.success(
            request,
            _("Draft v%(version)d created from v%(base)d.")
            % {"version": draft.version, "base": draft.based_on.version},
        )
        return redirect("backoffice:policy_edit", version=draft.version)


class PolicyEditView(PolicyMixin, TemplateView):
    permission_required = "tiers.change_tierpolicy"
    template_name = "backoffice/policies/policy_edit.html"

    def load_objects(self, **kwargs):
        self.policy = self.get_policy()
        if self.policy.status != TierPolicy.Status.DRAFT:
            messages.error(self.request, _("A published version is never edited."))
            return redirect("backoffice:policy_detail", version=self.policy.version)
        return None

    def get(self, request, *args, **kwargs):
        form = PolicySettingsForm(instance=self.policy)
        editor = RulesEditor.from_policy(self.policy, _tiers())
        return self.render_to_response(self.get_context_data(form=form, editor=editor))

    def post(self, request, *args, **kwargs):
        form = PolicySettingsForm(request.POST, instance=TierPolicy.objects.get(pk=self.policy.pk))
        editor = RulesEditor.from_post(request.POST, _tiers())
        op = request.POST.get("op", "")
        if op:
            # Adding or removing a condition redraws the form; nothing is saved yet.
            editor.apply(op)
            return self.render_to_response(self.get_context_data(form=form, editor=editor))
        if form.is_valid():
            try:
                services.policy_draft_update(
                    policy=self.policy,
                    actor=request.user,
                    loaded=form.cleaned_data["loaded"],
                    rules=editor.rules(),
                    **{name: form.cleaned_data[name] for name in form.Meta.fields},
                )
            except PolicyInvalid as invalid:
                editor.attach(invalid.errors)
            except services.StaleEdit as stale:
                # Nothing to correct on the page: said on its own, not as a marked mistake.
                messages.error(request, str(stale))
                return self.render_to_response(
                    self.get_context_data(form=form, editor=editor), status=409
                )
            except DomainError as error:
                editor.general_errors.append(str(error))
            else:
                messages.success(request, _("Draft saved."))
                return redirect("backoffice:policy_detail", version=self.policy.version)
        else:
            # The rules are checked too, so every problem of the page shows at once.
            editor.attach(
                policy_errors(
                    rules=editor.rules(),
                    tier_ranks={tier.code: tier.rank for tier in _tiers()},
                    window_kind=form.cleaned_data.get("window_kind", self.policy.window_kind),
                    downgrade_step=form.cleaned_data.get(
                        "downgrade_step", self.policy.downgrade_step
                    ),
                )
            )
        return self.render_to_response(self.get_context_data(form=form, editor=editor), status=400)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            policy=self.policy, group_kinds=GROUP_KINDS, metrics=METRIC_CHOICES, **kwargs
        )


class PolicyDiffView(PolicyMixin, TemplateView):
    permission_required = "tiers.view_tierpolicy"
    template_name = "backoffice/policies/policy_diff.html"

    def get_context_data(self, **kwargs):
        policy = self.get_policy()
        base = policy_base(policy, timezone.localdate())
        tiers = _tiers()
        diff = policy_diff(base, policy, [t.code for t in tiers])
        return super().get_context_data(
            policy=policy,
            base=base,
            diff=diff,
            tier_diffs=list(zip(tiers, diff.tiers, strict=True)),
            **kwargs,
        )


class PolicyPreviewView(PolicyMixin, TemplateView):
    permission_required = "tiers.view_tierpolicy"
    template_name = "backoffice/policies/policy_preview.html"

    def get_context_data(self, **kwargs):
        policy = self.get_policy()
        today = timezone.localdate()
        # Compared with the version it was drafted from, as on the Diff tab: a draft based on a
        # version announced for later shows its own changes, not that version's as well.
        base = policy_base(policy, today)
        try:
            preview = policy_preview(draft=policy, as_of=today, baseline=base)
        except PolicyError as error:
            preview, error_text = None, str(error)
        else:
            error_text = ""
        publish_form = None
        if policy.status == TierPolicy.Status.DRAFT and self.request.user.has_perm(
            "tiers.publish_tierpolicy"
        ):
            # After a refused publication, the date as the owner typed it. The boxes are ticked
            # again, by hand: a link could not tick them for anyone.
            typed = self.request.GET.get("effective_from")
            publish_form = PublishForm(
                initial={"effective_from": typed or services.policy_earliest_effective_date(today)}
            )
        return super().get_context_data(
            policy=policy,
            preview=preview,
            error=error_text,
            warnings=_warnings(policy),
            publish_form=publish_form,
            notice_days=settings.POLICY_NOTICE_DAYS,
            base_in_force=base == policy_in_force(today),
            **kwargs,
        )


class PolicyPublishView(PolicyMixin, View):
    permission_required = "tiers.publish_tierpolicy"
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        policy = self.get_policy()
        form = PublishForm(request.POST)
        # Back to the preview with the date typed, so that a refusal does not lose it.
        back = (
            reverse("backoffice:policy_preview", kwargs={"version": policy.version})
            + "?"
            + urlencode({"effective_from": request.POST.get("effective_from", "")})
        )
        if not form.is_valid():
            for name, field_errors in form.errors.items():
                for error in field_errors:
                    messages.error(request, f"{form.fields[name].label}: {error}")
            return HttpResponseRedirect(back)
        try:
            services.policy_publish(
                policy=policy,
                effective_from=form.cleaned_data["effective_from"],
                accept_warnings=form.cleaned_data["accept_warnings"],
                actor=request.user,
            )
        except PermissionDenied:
            raise
        except DomainError as error:
            messages.error(request, str(error))
            return HttpResponseRedirect(back)
        messages.success(
            request,
            _("Version %(version)d is published, in force from %(date)s.")
            % {"version": policy.version, "date": form.cleaned_data["effective_from"].isoformat()},
        )
        return redirect("backoffice:policy_detail", version=policy.version)


# --- Tier names and benefits --------------------------------------------------------------


BENEFIT_FIELDS = BenefitFormSet.form.Meta.fields


class TierListView(StaffPermissionMixin, TemplateView):
    permission_required = "tiers.view_tier"
    template_name = "backoffice/policies/tier_list.html"

    def get_context_data(self, **kwargs):
        tiers = list(Tier.objects.prefetch_related("benefits").order_by("-rank"))
        return super().get_context_data(
            tiers=tiers, benefit_problems=benefit_ordering_problems(tiers), **kwargs
        )


class TierEditView(StaffPermissionMixin, TemplateView):
    permission_required = ("tiers.change_tier", "tiers.add_benefit", "tiers.change_benefit")
    template_name = "backoffice/policies/tier_edit.html"

    def load_objects(self, **kwargs):
        self.tier = get_object_or_404(Tier, code=kwargs["code"])

    def _forms(self, data=None):
        names = TierNamesForm(data, instance=Tier.objects.get(pk=self.tier.pk))
        benefits = BenefitFormSet(data, queryset=self.tier.benefits.all(), prefix="benefit")
        reason = ReasonForm(data)
        return names, benefits, reason

    def get(self, request, *args, **kwargs):
        names, benefits, reason = self._forms()
        return self.render_to_response(
            self.get_context_data(names=names, benefits=benefits, reason=reason)
        )

    def post(self, request, *args, **kwargs):
        names, benefits, reason = self._forms(request.POST)
        if request.POST.get("loaded", "") != services.tier_page_stamp(self.tier):
            # Said before validating: a benefit removed since would fail its row's hidden id,
            # a mistake no field of the page can show.
            messages.error(request, str(services.StaleEdit()))
            return self.render_to_response(
                self.get_context_data(names=names, benefits=benefits, reason=reason), status=409
            )
        # Each form validated, so every mistake is marked at once.
        valid = [form.is_valid() for form in (names, benefits, reason)]
        if all(valid):
            why = reason.cleaned_data["reason"]
            try:
                with transaction.atomic():
                    self._save(names, benefits, why)
            except DomainError as error:
                messages.error(request, str(error))
            else:
                messages.success(request, _("Tier and benefits saved."))
                return redirect("backoffice:tier_list")
        return self.render_to_response(
            self.get_context_data(names=names, benefits=benefits, reason=reason), status=400
        )

    def _save(self, names, benefits, why: str) -> None:
        """The page's changes, all or none (the caller's transaction), refused when the tier
        changed since the page was drawn."""
        services.tier_page_lock(self.tier, loaded=names.cleaned_data["loaded"])
        services.tier_rename(
            tier=self.tier,
            name_zh=names.cleaned_data["name_zh"],
            name_en=names.cleaned_data["name_en"],
            reason=why,
            actor=self.request.user,
        )
        for form in benefits.forms:
            if form.has_changed():
                services.benefit_save(
                    tier=self.tier,
                    benefit=form.instance if form.instance.pk else None,
                    reason=why,
                    actor=self.request.user,
                    **{name: form.cleaned_data[name] for name in BENEFIT_FIELDS},
                )

    def get_context_data(self, **kwargs):
        return super().get_context_data(tier=self.tier, **kwargs)


class BenefitDeleteView(StaffPermissionMixin, TemplateView):
    """Removing a benefit asks for confirmation and a reason (kept in the audit log)."""

    permission_required = "tiers.delete_benefit"
    template_name = "backoffice/policies/benefit_delete.html"

    def load_objects(self, **kwargs):
        self.benefit = Benefit.objects.select_related("tier").filter(pk=kwargs["pk"]).first()
        if self.benefit is None or self.benefit.tier.code != kwargs["code"]:
            raise Http404

    def get(self, request, *args, **kwargs):
        return self.render_to_response(self.get_context_data(form=ReasonForm()))

    def post(self, request, *args, **kwargs):
        form = ReasonForm(request.POST)
        if form.is_valid():
            services.benefit_delete(
                benefit=self.benefit, reason=form.cleaned_data["reason"], actor=request.user
            )
            messages.success(request, _("Benefit removed."))
            return redirect("backoffice:tier_edit", code=self.benefit.tier.code)
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def get_context_data(self, **kwargs):
        return super().get_context_data(benefit=self.benefit, **kwargs)
