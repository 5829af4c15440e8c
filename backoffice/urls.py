"""Staff pages (the back office): members now; policies, dashboard, audit log and jobs join here."""

from __future__ import annotations

from django.urls import path, re_path

from . import privacy_views, views

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
]
