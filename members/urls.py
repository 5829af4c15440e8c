from __future__ import annotations

from django.urls import path

from . import views

app_name = "members"

urlpatterns = [
    path("", views.MemberListView.as_view(), name="list"),
    path("<path:member_no>/", views.MemberDetailView.as_view(), name="detail"),
]
