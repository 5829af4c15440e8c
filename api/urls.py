"""Under /api/: the REST API (version 1), its OpenAPI schema, Swagger UI and ReDoc, and the
staff pages for API keys."""

from __future__ import annotations

from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

# Imported with the schema's views: drf-spectacular finds its extensions (the API key's
# description) by import, and the batch commands, which load no URLs, skip its 0.1 s import.
from . import schema, staff_views, views  # noqa: F401 - schema registers an extension

app_name = "api"


class AnyText:
    """Any text, slashes and line breaks included (``path`` stops at a line break, and then no
    route matches and the answer would be the site's HTML 404 instead of the API's JSON)."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyText, "anytext")

urlpatterns = [
    # Staff pages (HTML) for the keys other systems use.
    path("keys/", staff_views.ApiKeyListView.as_view(), name="key_list"),
    path("keys/new/", staff_views.ApiKeyCreateView.as_view(), name="key_create"),
    path("keys/<int:pk>/revoke/", staff_views.ApiKeyRevokeView.as_view(), name="key_revoke"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="swagger"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"),
        name="redoc",
    ),
    path("v1/members/", views.MemberListCreate.as_view(), name="members"),
    # Member numbers may hold slashes: the tier routes come first, the member's page last.
    path(
        "v1/members/<anytext:member_no>/tier/history",
        views.MemberTierHistory.as_view(),
        name="member_tier_history",
    ),
    path("v1/members/<anytext:member_no>/tier", views.MemberTierView.as_view(), name="member_tier"),
    path("v1/members/<anytext:member_no>/", views.MemberDetail.as_view(), name="member"),
    path("v1/transactions/", views.TransactionCreate.as_view(), name="transactions"),
    path("v1/transactions/batch/", views.TransactionBatch.as_view(), name="transaction_batch"),
    path(
        "v1/transactions/<anytext:external_id>/",
        views.TransactionDetail.as_view(),
        name="transaction",
    ),
    path("v1/referrals/", views.ReferralCreate.as_view(), name="referrals"),
    path("v1/activities/", views.ActivityCreate.as_view(), name="activities"),
    # Anything else under v1/: the API's JSON 404 (naming the address with its final slash
    # when that one exists), never a redirect or the site's HTML page.
    # The API's root without its slash: no redirect either.
    path("v1", views.not_found, name="not_found_root"),
    re_path(r"^v1/", views.not_found, name="not_found"),
]
