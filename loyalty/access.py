"""Staff pages check who asks before they look up what the address names."""

from __future__ import annotations


class AccessCheckedFirst:
    """Put before ``LoginRequiredMixin`` and ``PermissionRequiredMixin``: an anonymous visitor
    is sent to the login page and a user without the permissions the view requires gets 403
    before the view loads what its URL names (``load_objects``), so a made-up member number,
    case or key gets the same answer as a real one (a 404 for some addresses only would tell
    outsiders what exists). A ``has_permission`` that reads the object (the chair's seat for a
    case) runs after, in the mixins' own ``dispatch``."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated or not user.has_perms(self.get_permission_required()):
            return self.handle_no_permission()
        response = self.load_objects(**kwargs)
        if response is not None:
            return response
        return super().dispatch(request, *args, **kwargs)

    def load_objects(self, **kwargs):
        """Load what the URL names (raise Http404 when it names nothing), or answer at once."""
        return None
