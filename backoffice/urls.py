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

# Member search and export, actions on a member, bulk work, evidence files and the audit log.
# Actions live under their own prefix: ``members/<path:member_no>/`` above would swallow
# ``members/X/override/`` (member numbers may contain slashes).
urlpatterns += [
    path("export/members.csv", views.MemberExportView.as_view(), name="member_export"),
    path("bulk/", views.BulkView.as_view(), name="bulk"),
    path("audit/", views.AuditLogView.as_view(), name="audit_log"),
    path(
        "blacklist-evidence/<int:pk>/",
        views.BlacklistEvidenceView.as_view(),
        name="blacklist_evidence",
    ),
    *[
        path(
            f"member-actions/{slug}/<path:member_no>/",
            view.as_view(),
            name=f"member_{slug.replace('-', '_')}",
        )
        for slug, view in [
            ("override", views.OverrideSetView),
            ("override-end", views.OverrideEndView),
            ("blacklist", views.BlacklistView),
            ("blacklist-lift", views.BlacklistLiftView),
            ("convert", views.ConvertView),
            ("reevaluate", views.ReevaluateView),
            ("transaction", views.TransactionRecordView),
            ("referral", views.ReferralRecordView),
            ("activity", views.ActivityRecordView),
        ]
    ],
]
