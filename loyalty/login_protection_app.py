"""django-axes (login throttling) as installed here: under a name staff can read in either
language in the admin, since axes gives its app none."""

from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _


class LoginProtectionConfig(AxesAppConfig):
    verbose_name = _("Login protection")
