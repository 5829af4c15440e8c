"""Staff pages (the back office): members now; policies, dashboard, audit log and jobs join here."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "backoffice"

urlpatterns = [
    path("members/", views.MemberListView.as_view(), name="member_list"),
    path("members/<path:member_no>/", views.MemberDetailView.as_view(), name="member_detail"),
]
