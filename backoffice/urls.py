"""Staff pages (the back office): members now; policies, dashboard, audit log and jobs join here."""

from __future__ import annotations

from django.urls import path, re_path

from . import dashboard_views, policy_views, privacy_views, views

app_name = "backoffice"

urlpatterns = [
    path("members/", views.MemberListView.as_view(), name="member_list"),
    path("members/<path:member_no>/", views.MemberDetailView.as_view(), name="member_detail"),
    # PIPL privacy requests. The more specific patterns come first: a member number may hold "/".
    re_path(
        r"^privacy/(?P<member_no>.+)/export\.(?P<fmt>json|csv)$",
        privacy_views.ExportView.as_view(),
        name="privacy_export",
    ),
    path(
        "privacy/<path:member_no>/erase/",
        privacy_views.EraseView.as_view(),
        name="privacy_erase",
    ),
    path("privacy/<path:member_no>/", privacy_views.PrivacyView.as_view(), name="privacy_member"),
    # Policy versions, tier names and benefits (policy owners), and the dashboard.
    path("policies/", policy_views.PolicyListView.as_view(), name="policy_list"),
    path("policies/new/", policy_views.PolicyDraftCreateView.as_view(), name="policy_draft_create"),
    path("policies/tiers/", policy_views.TierListView.as_view(), name="tier_list"),
    path("policies/tiers/<slug:code>/", policy_views.TierEditView.as_view(), name="tier_edit"),
    path(
        "policies/tiers/<slug:code>/benefits/<int:pk>/remove/",
        policy_views.BenefitDeleteView.as_view(),
        name="benefit_delete",
    ),
    path("policies/<int:version>/", policy_views.PolicyDetailView.as_view(), name="policy_detail"),
    path("policies/<int:version>/edit/", policy_views.PolicyEditView.as_view(), name="policy_edit"),
    path("policies/<int:version>/diff/", policy_views.PolicyDiffView.as_view(), name="policy_diff"),
    path(
        "policies/<int:version>/preview/",
        policy_views.PolicyPreviewView.as_view(),
        name="policy_preview",
    ),
    path(
        "policies/<int:version>/publish/",
        policy_views.PolicyPublishView.as_view(),
        name="policy_publish",
    ),
    path("dashboard/", dashboard_views.DashboardView.as_view(), name="dashboard"),
]
