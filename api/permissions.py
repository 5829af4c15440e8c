"""What a caller may do: an API key by its scopes, a staff session by its model permissions
(the same ones the back office checks)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiKey, Scope

# A staff user in the browsable API needs these permissions for a scope.
STAFF_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Scope.MEMBERS_READ: ("members.view_member",),
    Scope.MEMBERS_WRITE: ("members.add_member", "members.change_member"),
    Scope.TRANSACTIONS_READ: ("members.view_transaction",),
    Scope.TRANSACTIONS_WRITE: ("members.add_transaction",),
    Scope.REFERRALS_WRITE: ("members.add_referral",),
    Scope.ACTIVITIES_WRITE: ("members.add_activityparticipation",),
    Scope.TIERS_READ: ("tiers.view_membertier",),
}


def required_scope(view, method: str) -> str | None:
    """A view declares ``read_scope`` (GET, HEAD, OPTIONS) and ``write_scope`` (the rest)."""
    return getattr(view, "read_scope" if method in SAFE_METHODS else "write_scope", None)


class HasScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not hasattr(view, request.method.lower()):
            # A method the view does not offer is not a matter of scope: let the view answer
            # 405 with its Allow header.
            return True
        if request.method == "OPTIONS":
            # Asking what an endpoint offers: any of its scopes will do (a write-only endpoint
            # has no read scope).
            scopes = [getattr(view, name, None) for name in ("read_scope", "write_scope")]
            scopes = [scope for scope in scopes if scope]
            if any(self._holds(request, scope) for scope in scopes):
                return True
            if isinstance(request.auth, ApiKey):
                self.message = _(
                    "This key lacks the scopes of this endpoint: %(scopes)s (any one will do)."
                ) % {"scopes": ", ".join(scopes)}
            return False
        scope = required_scope(view, request.method)
        if scope is None:
            return False
        if self._holds(request, scope):
            return True
        if isinstance(request.auth, ApiKey):
            self.message = _("This key lacks the scope %(scopes)s.") % {"scopes": scope}
        return False

    @staticmethod
    def _holds(request, scope: str) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.auth.has_scope(scope)
        return request.user.has_perms(STAFF_PERMISSIONS[scope])
