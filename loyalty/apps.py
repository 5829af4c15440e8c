from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Audit")

    def ready(self) -> None:
        from .roles import sync_roles

        # Infrastructure, not a domain rule: the default groups follow the code after migrate.
        post_migrate.connect(sync_roles, dispatch_uid="loyalty.sync_roles")
