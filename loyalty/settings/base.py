"""Settings for every environment; behaviour differs only by environment variables."""

from __future__ import annotations

import datetime
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Production must set its own secret; only a DEBUG run falls back to a throwaway one. Django
# checks the key when something first uses it, so management commands (import, recompute) run
# without it, while the web server refuses to start without it (see loyalty/wsgi.py).
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key" if DEBUG else "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "loyalty.login_protection_app.LoginProtectionConfig",  # django-axes
    "loyalty",
    "members",
    "notifications",
    "tiers",
    "reviews",
    "backoffice",
    "portal",
    "jobs",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "loyalty.middleware.ApiSlashMiddleware",  # CommonMiddleware, no slash redirects for the API
    "loyalty.middleware.MethodNotAllowedPage",  # inside LocaleMiddleware: in the reader's language
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees the failed logins of every view and turns a lockout into its page.
    "axes.middleware.AxesMiddleware",
]

# Axes checks every login first (refusing locked-out clients), then Django's own backend
# authenticates. A custom login (the member pages) must call
# ``authenticate(request=request, username=..., password=...)``: without the request axes
# cannot count the attempt and refuses it (see README, "Security settings").
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "loyalty.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "loyalty.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process, imports and django-q2 workers share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    # Kept between requests in production (gunicorn's workers); not under runserver (DEBUG, as
    # `make run` serves), whose thread per request would each keep its own until the server
    # stops, and exhaust PostgreSQL's connections under load.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if DEBUG else 60)
    # psycopg prepares a statement after this many runs on a connection. Only the hot paths'
    # hand-written statements can be prepared (loyalty/rows.py, hot_cursor); 0 turns it off,
    # e.g. behind a connection pooler in transaction mode.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        env.int("DB_PREPARE_THRESHOLD", default=5) or None
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded files (blacklist evidence): kept in the default storage, served to staff only through
# permission-checked views, never from a public URL.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- REST API (api/) --------------------------------------------------------------------
# Other systems authenticate with API keys (api.authentication); staff use their session in the
# browsable API. Each view names its scopes (api.permissions); throttling is per key, with the
# key's own rate (api.throttles).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.ApiKeyThrottle"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "COERCE_DECIMAL_TO_STRING": True,
}
# Requests per minute a new API key may make, unless staff give it its own rate.
API_KEY_DEFAULT_RATE = env.int("API_KEY_DEFAULT_RATE", default=6000)
SPECTACULAR_SETTINGS = {
    "TITLE": "Membership tiers API",
    "DESCRIPTION": (
        "Push members, transactions, referrals and activities from other systems (POS, "
        "e-commerce, CRM) and read members' tiers. Authenticate with "
        "`Authorization: Api-Key <key>`; every write re-evaluates the member at once and "
        "answers with the member's tier after it."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.request_bodies_closed",
    ],
    "ENUM_NAME_OVERRIDES": {
        "FloorKindEnum": "tiers.models.TierOverride.Kind",
        "TransactionKindEnum": "members.models.Transaction.Kind",
    },
    # Swagger UI and ReDoc from our own static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Optional Redis (REDIS_URL, e.g. redis://127.0.0.1:6379/0): the shared cache, and the task
# broker unless Q_BROKER_URL names another. Without it the cache is a database table created by
# a migration (jobs/migrations), so `migrate` alone is enough, and the broker is django-q2's ORM
# broker (it keeps a task that was in flight when a worker died; Redis is faster but loses it).
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "loyalty_cache",
        }
    }

# django-q2: the ORM broker on the configured database by default (nothing else to install);
# Redis when Q_BROKER_URL is set (e.g. redis://127.0.0.1:6379/0). Every cluster that shares the
# broker, the name and SECRET_KEY shares the queue, on this host or others.
Q_BROKER_URL = env("Q_BROKER_URL", default=REDIS_URL)
Q_CLUSTER = {
    "name": "loyalty",
    "label": _("Task queue"),  # the admin's name for django-q's pages
    "workers": env.int("Q_WORKERS", default=2),
    # A chunk of 20,000 members takes seconds; a task still running after `timeout` is killed,
    # and an unacknowledged one returns after `retry` (larger, or long tasks would run twice).
    "timeout": env.int("Q_TIMEOUT", default=600),
    "retry": env.int("Q_RETRY", default=720),
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "time_zone": TIME_ZONE,
    "cache": "default",
    **({"redis": Q_BROKER_URL} if Q_BROKER_URL else {"orm": "default"}),
}

# Notifications (notifications/): e-mail through Django's backend, SMS through SMS_BACKEND.
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="noreply@example.com")
# "console" logs each message; "http" posts it to SMS_GATEWAY_URL with SMS_GATEWAY_KEY; or the
# dotted path of a class with send(phone, text).
SMS_BACKEND = env("SMS_BACKEND", default="console")
SMS_GATEWAY_URL = env("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_KEY = env("SMS_GATEWAY_KEY", default="")
SMS_GATEWAY_TIMEOUT = env.int("SMS_GATEWAY_TIMEOUT", default=10)
# Whether a blacklisted member is told their membership was revoked (a business decision).
NOTIFY_BLACKLISTED = env.bool("NOTIFY_BLACKLISTED", default=False)
# Delivery attempts of one e-mail or SMS before it is marked failed; retries back off.
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=4)
# E-mail and SMS about events older than this (a recompute of past dates) are not sent; the
# in-app message is still stored.
NOTIFICATION_MAX_AGE_DAYS = env.int("NOTIFICATION_MAX_AGE_DAYS", default=7)

# How many members the recompute reads, evaluates and writes at a time (bounds memory).
RECOMPUTE_CHUNK_SIZE = env.int("RECOMPUTE_CHUNK_SIZE", default=20000)
# Connections a full recompute in one process evaluates ranges on at once (PostgreSQL only).
RECOMPUTE_WORKERS = env.int("RECOMPUTE_WORKERS", default=2)
# How many rows import_csv stages at a time (bounds its memory, whatever the file's size).
IMPORT_CHUNK_SIZE = env.int("IMPORT_CHUNK_SIZE", default=10000)

# 公示期: a published policy version takes effect no sooner than this many days later, so
# members are told of the change before it applies.
POLICY_NOTICE_DAYS = env.int("POLICY_NOTICE_DAYS", default=7)


# --- Security: secure by default whenever DEBUG is off ------------------------------------
# Every value can be changed by an environment variable; the defaults with DEBUG off are what
# ``manage.py check --deploy`` asks for (README, "Security settings").
SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SECURE)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE)
# Behind a reverse proxy that terminates TLS: trust its X-Forwarded-Proto header. Only set this
# when the proxy always sets (or strips) the header, or clients could claim HTTPS themselves.
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Load balancers probe /healthz over plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Staff sessions end after a working day (seconds), and when the browser closes if asked to.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=False)

# --- Login rate limit (django-axes) -------------------------------------------------------
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# Minutes until a locked-out client may try again (0: locked until staff reset it with
# ``manage.py axes_reset_username USERNAME``).
_cooloff_minutes = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=_cooloff_minutes) if _cooloff_minutes else None
# Lock the pair (user name, address): guessing one account from one address stops, and nobody
# can lock a colleague out from elsewhere. Addresses come from loyalty.login_guard.client_ip,
# which trusts X-Forwarded-For only for TRUSTED_PROXY_COUNT proxies.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "loyalty.login_guard.client_ip"
AXES_LOCKOUT_CALLABLE = "loyalty.login_guard.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Health check -------------------------------------------------------------------------
# /healthz answers 503 when the last successful nightly recompute is older than this many
# hours (0: report its age only). The function that reads it is provided by the jobs app.
HEALTHZ_RECOMPUTE_MAX_AGE_HOURS = env.int("HEALTHZ_RECOMPUTE_MAX_AGE_HOURS", default=36)
HEALTHZ_LAST_RECOMPUTE = "jobs.selectors.last_successful_recompute"

# --- Logging: to stdout, plain text or JSON lines (LOG_FORMAT=json) -----------------------
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "loyalty.log_format.JsonLinesFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Django's own request and security loggers propagate here (tracebacks of 500s go to the
    # log, never to the page). Its default handlers are dropped: with DEBUG on, its console
    # handler wrote every warning a second time (a 403's traceback twice).
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
