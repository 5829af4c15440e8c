from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Audit")

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from . import checks  # noqa: F401  (registers the system checks)
        from .login_guard import audit_lockout
        from .roles import sync_roles

        # Infrastructure, not domain rules: the default groups follow the code after migrate,
        # and a login lockout leaves an audit entry.
        post_migrate.connect(sync_roles, dispatch_uid="loyalty.sync_roles")
        user_locked_out.connect(audit_lockout, dispatch_uid="loyalty.audit_lockout")
