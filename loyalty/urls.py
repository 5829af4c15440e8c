"""Site URLs: the health check, staff login, the staff pages, the member pages (/my/), the
REST API (/api/), the language switch and the Django admin."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from backoffice.dashboard_views import HomeView

from .health import healthz


def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin, the API docs)."""
    return redirect(static("favicon.svg"), permanent=True)


urlpatterns = [
    # The staff home page: the dashboard for those who may see it, else the member list.
    path("", HomeView.as_view(), name="home"),
    # The API first: the tills' requests are most of the traffic, and every pattern tried
    # before theirs costs each of them (a failed include lists all it tried).
    path("api/", include("api.urls")),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    # LogoutView accepts POST only, so a link or a prefetch cannot log anyone out.
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("my/", include("portal.urls")),
    path("jobs/", include("jobs.urls")),
    path("", include("backoffice.urls")),
    path("reviews/", include("reviews.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "loyalty.error_pages.bad_request"
handler404 = "loyalty.error_pages.page_not_found"
handler500 = "loyalty.error_pages.server_error"
