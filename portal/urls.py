"""Member pages under /my/. The fixed paths come first: a member number may contain slashes."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("login/code/", views.login_code, name="login_code"),
    path("login/password/", views.login_password, name="login_password"),
    path("logout/", views.logout, name="logout"),
    path("rules/", views.rules, name="rules"),
    path("<path:member_no>/member-code.svg", views.member_code, name="member_code"),
    path("<path:member_no>/purchases/", views.purchases, name="purchases"),
    path("<path:member_no>/history/", views.history, name="history"),
    path("<path:member_no>/password/", views.password, name="password"),
    path("<path:member_no>/", views.tier, name="tier"),
]
