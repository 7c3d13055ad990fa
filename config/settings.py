"""Partyline settings: one file, read from the environment (and an optional .env file).

Every variable is documented in the README's "Settings" table. Misconfiguration stops the
process with a one-line message naming the variable (see `config.env.ConfigurationError`),
never with a traceback.
"""

from pathlib import Path

from config.env import ConfigurationError, database_config, env, exit_on_configuration_error

BASE_DIR = Path(__file__).resolve().parent.parent
env.read_env(BASE_DIR / ".env")

with exit_on_configuration_error():
    DEBUG = env.bool("DEBUG", default=False)

    # --- Secrets -----------------------------------------------------------------------
    # In DEBUG a random key is generated once and kept in a git-ignored file, so sessions
    # and encrypted tokens survive a restart of the development server.
    if env.str("SECRET_KEY", default=""):
        SECRET_KEY = env.str("SECRET_KEY")
    elif DEBUG:
        from config.env import development_secret_key

        SECRET_KEY = development_secret_key(BASE_DIR / ".dev-secret-key")
    else:
        raise ConfigurationError("SECRET_KEY is not set (it is required when DEBUG is off).")
    SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

    # Salts for django-fernet-encrypted-fields: the first encrypts, all of them decrypt.
    SALT_KEY = env.list("SALT_KEY", default=[])
    if not SALT_KEY:
        if not DEBUG:
            raise ConfigurationError("SALT_KEY is not set (it is required when DEBUG is off).")
        SALT_KEY = ["partyline-development-salt"]

    ALLOWED_HOSTS = env.list(
        "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
    )
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

    # --- Database ----------------------------------------------------------------------
    DATABASES = {
        "default": database_config(
            "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", base_dir=BASE_DIR
        ),
    }

    # --- Email -------------------------------------------------------------------------
    EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
    vars().update(EMAIL_CONFIG)
    DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Partyline <noreply@localhost>")
    SERVER_EMAIL = DEFAULT_FROM_EMAIL

    # --- Accounts ----------------------------------------------------------------------
    INVITE_MAX_AGE_DAYS = env.int("INVITE_MAX_AGE_DAYS", default=7)

    # --- Parties and the attendee pipeline ------------------------------------------------
    # Signups accumulate this long before their party's sync runs: a lone signup reaches
    # Klaviyo within seconds, a rush goes out in batches of up to 1,000.
    PARTY_SYNC_WINDOW_SECONDS = env.float("PARTY_SYNC_WINDOW_SECONDS", default=2.0)
    SYNC_SWEEP_INTERVAL_SECONDS = env.int("SYNC_SWEEP_INTERVAL_SECONDS", default=60)
    # How soon after sending Klaviyo's jobs are polled and list membership read back, and how
    # often a double opt-in attendee's confirmation is looked for.
    PARTY_VERIFY_INTERVAL_SECONDS = env.float("PARTY_VERIFY_INTERVAL_SECONDS", default=3.0)
    PARTY_CONFIRMATION_CHECK_SECONDS = env.int("PARTY_CONFIRMATION_CHECK_SECONDS", default=900)
    # Public signup limits (django-ratelimit syntax): generous per network, since a party
    # venue's guests may share one address.
    SIGNUP_RATE_PER_IP = env.str("SIGNUP_RATE_PER_IP", default="30/m")
    SIGNUP_RATE_PER_PARTY = env.str("SIGNUP_RATE_PER_PARTY", default="12000/m")

    # --- Cache (rate-limit counters) -------------------------------------------------------
    # In-process by default, which is right for one web process (`make run`); several web
    # processes share counters through Redis: CACHE_URL=redis://127.0.0.1:6379/1.
    CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
    # django-ratelimit predates Django's own Redis backend (atomic INCR) and flags it.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
    if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

    # --- Security behind a proxy ---------------------------------------------------------
    if env.bool("SECURE_PROXY_SSL", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)

    LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()

    # --- Klaviyo and its sandbox ---------------------------------------------------------
    # Without KLAVIYO_CLIENT_ID the product runs against the local sandbox Klaviyo
    # (klaviyo_sandbox/README.md): the sandbox app's well-known development credentials become
    # the product's, and the authorize and base URLs point at the sandbox, so the product's
    # code path is the one it takes against the real Klaviyo. With real credentials the
    # sandbox is neither installed nor mounted (and a system check refuses it if it is).
    KLAVIYO_SANDBOX = not env.str("KLAVIYO_CLIENT_ID", default="")
    # Where the product reaches the sandbox: mounted in-process by default, or its own
    # process (`manage.py sandbox_server --port 8100`, then SANDBOX_URL=http://127.0.0.1:8100).
    SANDBOX_URL = env.str("SANDBOX_URL", default="http://127.0.0.1:8000/sandbox/klaviyo").rstrip(
        "/"
    )
    # The sandbox's one OAuth app. Public development values: they protect nothing real.
    SANDBOX_CLIENT_ID = "partyline-sandbox"
    SANDBOX_CLIENT_SECRET = "partyline-sandbox-secret"  # noqa: S105
    if KLAVIYO_SANDBOX:
        KLAVIYO_CLIENT_ID = SANDBOX_CLIENT_ID
        KLAVIYO_CLIENT_SECRET = SANDBOX_CLIENT_SECRET
    else:
        KLAVIYO_CLIENT_ID = env.str("KLAVIYO_CLIENT_ID")
        KLAVIYO_CLIENT_SECRET = env.str("KLAVIYO_CLIENT_SECRET", default="")
        if not KLAVIYO_CLIENT_SECRET:
            raise ConfigurationError(
                "KLAVIYO_CLIENT_SECRET is not set (it is required when KLAVIYO_CLIENT_ID is)."
            )
    # None: derived from the request (it must still equal an allowlisted URL exactly).
    KLAVIYO_REDIRECT_URI = env.str("KLAVIYO_REDIRECT_URI", default="") or None
    KLAVIYO_SCOPES = env.str(
        "KLAVIYO_SCOPES",
        default=(
            "accounts:read lists:read lists:write profiles:read profiles:write subscriptions:write"
        ),
    )
    KLAVIYO_AUTHORIZE_URL = env.str(
        "KLAVIYO_AUTHORIZE_URL",
        default=(
            f"{SANDBOX_URL}/oauth/authorize"
            if KLAVIYO_SANDBOX
            else "https://www.klaviyo.com/oauth/authorize"
        ),
    )
    # Host of /oauth/token, /oauth/revoke and /api/.
    KLAVIYO_BASE_URL = env.str(
        "KLAVIYO_BASE_URL", default=SANDBOX_URL if KLAVIYO_SANDBOX else "https://a.klaviyo.com"
    ).rstrip("/")
    KLAVIYO_REVISION = env.str("KLAVIYO_REVISION", default="2026-07-15")
    # Every call to Klaviyo: its timeout, retries after 5xx/timeouts, and the longest
    # Retry-After or backoff waited inside one call (longer waits are rescheduled instead).
    KLAVIYO_HTTP_TIMEOUT = env.float("KLAVIYO_HTTP_TIMEOUT", default=10.0)
    KLAVIYO_MAX_RETRIES = env.int("KLAVIYO_MAX_RETRIES", default=3)
    KLAVIYO_MAX_RETRY_WAIT = env.float("KLAVIYO_MAX_RETRY_WAIT", default=30.0)
    # The sandbox app's redirect URI allowlist, matched exactly as Klaviyo does.
    SANDBOX_REDIRECT_URIS = env.list(
        "SANDBOX_REDIRECT_URIS",
        default=[
            "http://127.0.0.1:8000/integrations/klaviyo/callback/",
            "http://localhost:8000/integrations/klaviyo/callback/",
            "http://testserver/integrations/klaviyo/callback/",
        ],
    )
    # Seconds an access token lives (Klaviyo: 3600); short values exercise expiry in demos.
    SANDBOX_ACCESS_TOKEN_LIFETIME = env.int("SANDBOX_ACCESS_TOKEN_LIFETIME", default=3600)
    # Whether a refresh returns a new refresh token and revokes the old one.
    SANDBOX_ROTATE_REFRESH_TOKENS = env.bool("SANDBOX_ROTATE_REFRESH_TOKENS", default=True)
    # Seconds a bulk import or subscribe job takes before its profiles change (Klaviyo's jobs
    # are asynchronous too); 0 applies a job on the next request.
    SANDBOX_JOB_SECONDS = env.float("SANDBOX_JOB_SECONDS", default=1.5)
    if KLAVIYO_SANDBOX:
        # Its own database, so the product's tables never hold the sandbox's tokens and
        # neither side's writes wait on the other's locks.
        DATABASES["sandbox"] = database_config(
            "SANDBOX_DATABASE_URL",
            default=f"sqlite:///{BASE_DIR / 'sandbox.sqlite3'}",
            base_dir=BASE_DIR,
        )
        DATABASE_ROUTERS = ["klaviyo_sandbox.routers.SandboxRouter"]
    # --- end of Klaviyo and its sandbox ----------------------------------------------------


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "django_ratelimit",
    "accounts",
    "integrations",
    "parties",
]
if KLAVIYO_SANDBOX:  # Klaviyo and its sandbox: see the section above.
    INSTALLED_APPS.append("klaviyo_sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.tenancy.OrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context_processors.organizations",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication ------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # one day

# --- Background tasks (Django's tasks API through the django-tasks backport) ---------------
# The database backend keeps the queue in the product's own database, so any number of
# `manage.py db_worker` processes can share it (rows are claimed with SKIP LOCKED on
# PostgreSQL and an exclusive transaction on SQLite).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Internationalization ----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by WhiteNoise, no CDN) --------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security headers ------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
