from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("REST API")

    def ready(self) -> None:
        # Registers the OpenAPI description of the API key authentication (drf-spectacular
        # discovers extensions by import).
        from . import schema  # noqa: F401
