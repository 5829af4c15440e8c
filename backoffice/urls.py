"""Staff pages (the back office): members now; policies, dashboard, audit log and jobs join here."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "backoffice"

urlpatterns = [
    path("members/", views.MemberListView.as_view(), name="member_list"),
    path("members/<path:member_no>/", views.MemberDetailView.as_view(), name="member_detail"),
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
