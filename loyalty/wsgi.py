"""WSGI entry point. Refuses to start without a SECRET_KEY, so a misconfigured server fails at
start-up instead of at the first login."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings.base")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402

settings.SECRET_KEY  # noqa: B018 - raises ImproperlyConfigured when it is not set
