"""The special review channel's pages, under /reviews/."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "reviews"

urlpatterns = [
    path("", views.QueueView.as_view(), name="queue"),
    path("cases/<int:pk>/", views.CaseView.as_view(), name="case"),
    path("cases/<int:pk>/proposal/", views.CaseUpdateView.as_view(), name="case_update"),
    path("cases/<int:pk>/open-voting/", views.CaseOpenVotingView.as_view(), name="case_open"),
    path("cases/<int:pk>/vote/", views.CaseVoteView.as_view(), name="case_vote"),
    path("cases/<int:pk>/decide/", views.CaseDecideView.as_view(), name="case_decide"),
    path("cases/<int:pk>/withdraw/", views.CaseWithdrawView.as_view(), name="case_withdraw"),
    path("nominate/<path:member_no>/", views.NominateView.as_view(), name="nominate"),
    path("quarters/", views.LatestQuarterView.as_view(), name="quarters"),
    path("quarters/<str:quarter>/", views.QuarterSummaryView.as_view(), name="quarter"),
    path(
        "quarters/<str:quarter>/export.csv",
        views.QuarterExportView.as_view(),
        name="quarter_export",
    ),
]
