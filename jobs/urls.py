from __future__ import annotations

from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("", views.JobsOverviewView.as_view(), name="overview"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run_detail"),
    path("start/<str:kind>/", views.JobStartView.as_view(), name="job_start"),
    path(
        "members/<path:member_no>/notifications/",
        views.MemberNotificationsView.as_view(),
        name="member_notifications",
    ),
    path(
        "members/<path:member_no>/notifications/<int:pk>/resend/",
        views.NotificationResendView.as_view(),
        name="notification_resend",
    ),
]
