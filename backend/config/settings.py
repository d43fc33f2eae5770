"""Settings, all from the environment (see README "Configuration").

Embedded default: SQLite file + in-memory channel layer + console e-mail, so a newcomer runs the
project with no services. ``SOCIALLAB_MODE=production`` refuses to start on SQLite, without Redis
or without a real secret key.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_str
from config.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BASE_DIR.parent
if str(REPO_DIR) not in sys.path:  # `matching` and `frontend` live at the repository root
    sys.path.insert(0, str(REPO_DIR))

MODE = env_str("SOCIALLAB_MODE", "development")
if MODE not in {"development", "production"}:
    raise ImproperlyConfigured(f"SOCIALLAB_MODE={MODE!r} must be 'development' or 'production'")
PRODUCTION = MODE == "production"

_DEV_SECRET = "dev-insecure-secret-key-only-for-the-embedded-default-never-in-production"
SECRET_KEY = env_str("SECRET_KEY", None if PRODUCTION else _DEV_SECRET) or ""
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{REPO_DIR / 'var' / 'db.sqlite3'}") or "",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL lets readers and one writer work together; the busy timeout waits for the lock
    # instead of failing at once when the worker and the web process write together.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    (REPO_DIR / "var").mkdir(exist_ok=True)

REDIS_URL = env_str("REDIS_URL", None)

if PRODUCTION:
    problems = []
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 40:
        problems.append("SECRET_KEY must be set to a random value of at least 40 characters")
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        problems.append("DATABASE_URL must point to PostgreSQL (SQLite is for development only)")
    if not REDIS_URL:
        problems.append("REDIS_URL must be set (the in-memory channel layer is for development only)")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must list the public host names")
    if DEBUG:
        problems.append("DEBUG must be off")
    if problems:
        raise ImproperlyConfigured("Production mode refuses to start: " + "; ".join(problems))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "audit",
    "marketplace",
    "cycles",
    "chat",
    "followup",
    "frontend",
]

MIDDLEWARE = [
    # First, so that every log line of a request (security redirects included) has its id.
    "config.middleware.RequestIdMiddleware",
    # Kept API answers for token callers, before the rest of the stack (config/response_cache.py).
    "config.response_cache.FrontDoorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "frontend.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
# The signed-in user of a page comes from the cache (accounts/authcache.py); ModelBackend stays
# listed so that sessions opened under its name keep working (it never signs anyone in: the
# cached backend answers every sign-in, and refuses for good on a wrong password).
AUTHENTICATION_BACKENDS = [
    "accounts.authcache.CachedModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Seconds a user row, a coordinator's territories and a token's owner stay cached; every change
# of them deletes the entries (accounts/authcache.py). 0: read the database on every request.
AUTH_CACHE_SECONDS = env_int("AUTH_CACHE_SECONDS", 60, minimum=0, maximum=3600)
# Megabytes of API answers each web process keeps (config/response_cache.py), on PostgreSQL only:
# an entry is served only while no table it read has changed. 0: compute every answer.
RESPONSE_CACHE_MB = env_int("RESPONSE_CACHE_MB", 64, minimum=0, maximum=4096)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/connexion/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [REPO_DIR / "frontend" / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = REPO_DIR / "var" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Social LAB <no-reply@sociallab.invalid>")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# --- Channels -----------------------------------------------------------------------------------
if REDIS_URL:
    # Pub/sub layer by default: it held 200 sockets and 300 msg/s per process in the chat load test
    # where the list-based core layer did not (docs/websocket.md, benchmarks/README.md "Chat").
    # Both deliver at most once; the chat resumes from the database. CHANNEL_LAYER=core selects
    # the core layer (for comparison runs) with a pool large enough for a process's sockets.
    _CHANNEL_LAYER = env_str("CHANNEL_LAYER", "pubsub")
    if _CHANNEL_LAYER == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNEL_LAYER_PREFIX", "sociallab")},
            }
        }
    elif _CHANNEL_LAYER == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [{"address": REDIS_URL, "max_connections": env_int("CHANNEL_LAYER_POOL", 1000, minimum=10)}],
                    "prefix": env_str("CHANNEL_LAYER_PREFIX", "sociallab"),
                    "capacity": 1000,
                    "expiry": 30,
                },
            }
        }
    else:
        raise ImproperlyConfigured(f"CHANNEL_LAYER={_CHANNEL_LAYER!r} must be 'pubsub' or 'core'")
    CACHES = {
        "default": {
            # Django's backend with one Redis client per pool, not one per call (accounts/redis_cache.py).
            "BACKEND": "accounts.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "sociallab",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background tasks (django-tasks with its database backend) ---------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "accounts.authcache.CachedTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.api.pagination.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "marketplace.api.filters.FilterBackend",  # django-filter, skipped when no filter is asked
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "marketplace.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env_str("THROTTLE_LOGIN", "10/min"),
        "register": env_str("THROTTLE_REGISTER", "20/hour"),
        "password_reset": env_str("THROTTLE_PASSWORD_RESET", "5/hour"),
        "user": env_str("THROTTLE_USER", "600/min"),
        "anon": env_str("THROTTLE_ANON", "120/min"),
        "gdpr": env_str("THROTTLE_GDPR", "10/hour"),
    },
    # Every API call counts per signed-in user or, anonymous, per address (accounts/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.UserThrottle", "accounts.throttling.AnonThrottle"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Failed sign-ins (accounts/throttling.py): per (account, address) and per address, never per
# account alone, so that nobody can lock someone else out.
LOGIN_FAILURES_PER_ACCOUNT_ADDRESS = env_int("LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 30, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "Social LAB matching API",
    "DESCRIPTION": "Entrepreneurs, mentors, sponsoring companies and coordinators. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "marketplace.api.schema.polymorphic_any_of",
    ],
    "ENUM_NAME_OVERRIDES": {
        "FormatEnum": "marketplace.models.Format.choices",
        "MeetingFormatEnum": "followup.models.MeetingFormat.choices",
        "OutcomeStatusEnum": "followup.models.OutcomeStatus.choices",
    },
}

# --- Security -------------------------------------------------------------------------------------
# Sessions read from the cache (Redis in production), written through to the database: a page
# no longer reads its session row (docs/operations.md, "Per-request cost").
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Pages hand the token to scripts in a data attribute (chat.js), so no script needs the cookie.
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Rotation: the previous key(s) still verify sessions, reset links and signed data while new ones
# are signed with SECRET_KEY (docs/operations.md). Whitespace-separated; a file via _FILE.
SECRET_KEY_FALLBACKS = (env_str("SECRET_KEY_FALLBACKS", "") or "").split()
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # The preload flag only allows a submission to browsers' lists; submitting is the operator's
    # call (it binds every subdomain to HTTPS for months). Off makes check --deploy warn (W021).
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_PROXY", True):
        # The proxy (deploy/Caddyfile) replaces any client-sent X-Forwarded-* with its own, so
        # these are trustworthy; the last X-Forwarded-For entry is the client (DRF throttles).
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        REST_FRAMEWORK["NUM_PROXIES"] = env_int("NUM_PROXIES", 1, minimum=0)
    if SECURE_SSL_REDIRECT:
        SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- Domain ---------------------------------------------------------------------------------------
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
# Retention (accounts/gdpr.py, `manage.py purge_retention`): abandoned sign-ups whose e-mail was
# never verified, and audit entries, are deleted after these ages.
RETENTION_UNVERIFIED_ACCOUNT_DAYS = env_int("RETENTION_UNVERIFIED_ACCOUNT_DAYS", 30, minimum=1)
RETENTION_AUDIT_DAYS = env_int("RETENTION_AUDIT_DAYS", 365, minimum=30)
# The coordinator dashboard's report (followup.reports.report_cached) is kept this many seconds
# per scope in the cache (Redis in production); 0 builds it on every view.
REPORT_CACHE_SECONDS = env_int("REPORT_CACHE_SECONDS", 60, minimum=0, maximum=3600)

# --- Logging: JSON lines with the request id in production (config/logging.py) -------------------
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be 'json' or 'text'")
LOGGING = logging_config(fmt=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO") or "INFO")
