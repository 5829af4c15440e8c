"""The site's answers to a request no view took (Django's handler404, handler400 and
handler500): the staff and member pages' templates, but JSON under the API's own paths, whose
clients read every error as JSON (README, "Errors")."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.views import defaults

from loyalty.exceptions import NotFound

# The API's endpoints (its documentation pages above them are pages).
API_PREFIX = "/api/v1/"


def is_api(request) -> bool:
    path = request.path_info
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def _resolves(path: str) -> bool:
    """Whether an endpoint is at ``path`` (not the API's last pattern, this 404)."""
    try:
        return resolve(path).view_name != "api:not_found"
    except Resolver404:
        return False


def page_not_found(request, exception):
    if is_api(request):
        return api_not_found(request)
    if isinstance(exception, NotFound):
        return render(request, "404.html", {"reason": str(exception)}, status=404)
    return defaults.page_not_found(request, exception)


def api_not_found(request):
    """The API's own 404 (also behind its URLs' last pattern, ``api.views.not_found``, so that
    it answers with DEBUG on too, where Django shows its technical page instead of
    ``handler404``)."""
    detail = _("There is nothing at this address.")
    # The API does not redirect to the address with a slash (ApiSlashMiddleware): it says so.
    with_slash = f"{request.path_info}/"
    if not request.path_info.endswith("/") and _resolves(with_slash):
        detail = _("There is nothing at this address. Did you mean %(path)s?") % {
            "path": request.path[: len(request.path) - len(request.path_info)] + with_slash
        }
    return _refusal(detail, 404)


def bad_request(request, exception):
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return _refusal(body_too_large(), 413)
    return _refusal(_("The request was refused."), 400)


def body_too_large() -> str:
    return _("The body is too large: at most %(size)s bytes.") % {
        "size": f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}"
    }


def server_error(request):
    """A failure of ours: the page for people, JSON for the API's clients."""
    if not is_api(request):
        return defaults.server_error(request)
    return _refusal(
        _(
            "The server failed to answer this request. Sending it again is safe: what was "
            "already recorded is not recorded twice. Tell the administrator if it goes on."
        ),
        500,
    )


def _refusal(detail: str, status: int) -> JsonResponse:
    """The API's error body, with Chinese written as is (as DRF writes it, not escaped)."""
    body = {"detail": detail}
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
