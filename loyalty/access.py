"""Staff pages check who asks before they look up what the address names."""

from __future__ import annotations


class AccessCheckedFirst:
    """For a view with ``LoginRequiredMixin`` and ``PermissionRequiredMixin`` whose
    ``dispatch`` loads the object its URL names: call ``access_refused()`` first, so that an
    anonymous visitor is sent to the login page and a user without the permission gets 403
    whether or not the object exists (a 404 for some addresses only would tell outsiders which
    member numbers, cases or keys exist). Only the permissions the view requires are checked
    here: a ``has_permission`` that reads the object (the chair's seat for a case) runs in the
    mixin's own ``dispatch``, once the object is loaded."""

    def access_refused(self):
        user = self.request.user
        if not user.is_authenticated or not user.has_perms(self.get_permission_required()):
            return self.handle_no_permission()
        return None
