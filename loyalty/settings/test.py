"""Test settings: the same as base, with fast hashing and django-q2 running tasks inline."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from .base import *  # noqa: E402, F403
from .base import DATABASES, Q_CLUSTER, env  # noqa: E402

# Tests (and the browser tests' live server) speak plain HTTP; production keeps the secure
# defaults of base.py, checked by loyalty/tests/test_deploy.py.
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# django-q2 reads its Conf at import, so sync mode must be set here, not with override_settings.
# The qcluster processes a test starts run with Q_SYNC=false and share the test database.
Q_CLUSTER = {**Q_CLUSTER, "sync": env.bool("Q_SYNC", default=True), "retry": 60, "timeout": 30}
# Memory-backed where the system has it: a file on disk makes the suite several times slower.
_TMP = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so that worker processes started by a test can open it too.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(_TMP / f"loyalty-test-{os.getpid()}.sqlite3")
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests serve static files from the app folders; there is no collectstatic output to look for.
WHITENOISE_AUTOREFRESH = True
# Django's test Client.login() authenticates without a request, which axes refuses; real logins
# through the login page are still rate-limited (loyalty/tests/test_login_guard.py).
AUTHENTICATION_BACKENDS = [
    "loyalty.login_guard.TestClientAxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Texts (sign-in codes, notices) are kept in notifications.sms.outbox for the tests to read.
SMS_BACKEND = "locmem"
