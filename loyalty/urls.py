"""Site URLs: staff login, the staff pages, the language switch and the Django admin."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="backoffice:member_list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    # LogoutView accepts POST only, so a link or a prefetch cannot log anyone out.
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("backoffice.urls")),
    path("reviews/", include("reviews.urls")),
    path("admin/", admin.site.urls),
]
