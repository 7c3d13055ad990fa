"""Partyline settings: one file, read from the environment (and an optional .env file).

Every variable is documented in the README's "Settings" table. Misconfiguration stops the
process with a one-line message naming the variable (see `config.env.ConfigurationError`),
never with a traceback.
"""

from pathlib import Path

import csp.constants

from config import env as config_env
from config.env import (
    ConfigurationError,
    cache_config,
    database_config,
    env,
    exit_on_configuration_error,
    url_origin,
)
from config.log_config import logging_config

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
    # Where people reach Partyline, for links in emails sent without a request (a connection
    # needing reconnect): by default the origin of KLAVIYO_REDIRECT_URI, else the dev server.
    # A redirect URI that is not an absolute URL gives no origin; it is not refused here (as a
    # bad SITE_URL, a variable nobody set) but by a system check naming it, which
    # `manage.py klaviyo_doctor` reports too (integrations/checks.py).
    if env.str("SITE_URL", default=""):
        SITE_URL = url_origin(env.str("SITE_URL"), variable="SITE_URL")
    else:
        SITE_URL = (
            config_env.origin(env.str("KLAVIYO_REDIRECT_URI", default=""))
            or "http://127.0.0.1:8000"
        )

    # --- Accounts ----------------------------------------------------------------------
    INVITE_MAX_AGE_DAYS = env.int("INVITE_MAX_AGE_DAYS", default=7)

    # --- Parties and the attendee pipeline ------------------------------------------------
    # Signups accumulate this long before their party's sync runs: a lone signup reaches
    # Klaviyo within seconds, a rush goes out in batches of up to 1,000.
    PARTY_SYNC_WINDOW_SECONDS = env.float("PARTY_SYNC_WINDOW_SECONDS", default=2.0)
    # Lifecycle events of one Klaviyo account (every party's) accumulate this long between
    # write calls while a rush lasts; a full batch of 1,000 goes out at once.
    EVENTS_SEND_WINDOW_SECONDS = env.float("EVENTS_SEND_WINDOW_SECONDS", default=2.0)
    SYNC_SWEEP_INTERVAL_SECONDS = env.int("SYNC_SWEEP_INTERVAL_SECONDS", default=60)
    # How soon after sending Klaviyo's jobs are polled and list membership read back, and how
    # often a double opt-in attendee's confirmation is looked for.
    PARTY_VERIFY_INTERVAL_SECONDS = env.float("PARTY_VERIFY_INTERVAL_SECONDS", default=3.0)
    PARTY_CONFIRMATION_CHECK_SECONDS = env.int("PARTY_CONFIRMATION_CHECK_SECONDS", default=900)
    # A party's sync lease; a live worker renews it, a killed one's lapses this long after.
    PARTY_SYNC_LEASE_SECONDS = env.float("PARTY_SYNC_LEASE_SECONDS", default=45.0)
    # Public signup limits (django-ratelimit syntax): generous per network, since a party
    # venue's guests may share one address.
    SIGNUP_RATE_PER_IP = config_env.rate("SIGNUP_RATE_PER_IP", default="30/m")
    SIGNUP_RATE_PER_PARTY = config_env.rate("SIGNUP_RATE_PER_PARTY", default="12000/m")
    # Requests to attendees' own pages (reads included) per network: plenty for a household
    # managing their registrations, and it makes guessing a page's link slower than hopeless.
    MANAGE_RATE_PER_IP = config_env.rate("MANAGE_RATE_PER_IP", default="60/m")
    # An organizer's "Send me test events" (nine events into the Klaviyo account each time).
    SAMPLE_EVENTS_RATE_PER_PARTY = config_env.rate("SAMPLE_EVENTS_RATE_PER_PARTY", default="1/m")

    # --- The door (check-in) -------------------------------------------------------------
    # A check-in's `Checked In to Party` waits this long, and is sent only if the check-in
    # still stands then: an undo within it (a tap on the wrong guest) sends nothing.
    DOOR_CHECKIN_GRACE_SECONDS = config_env.positive_int("DOOR_CHECKIN_GRACE_SECONDS", default=120)

    # --- Abuse limits (core/limits.py, accounts/limits.py; README "Abuse limits") ----------
    # The reverse proxies in front of Partyline (addresses or CIDR networks). Only a request
    # arriving from one of them has X-Forwarded-For read, and then only its rightmost hop that
    # is not one of them: by default nobody is trusted and the header, which any client can
    # write, is ignored.
    TRUSTED_PROXIES = config_env.ip_networks("TRUSTED_PROXIES")
    # Failed logins lock out one account *from one address* (django-axes), for a while:
    # after LOGIN_FAILURE_LIMIT failures that pair waits LOGIN_LOCKOUT_SECONDS from the one
    # that started the lockout. Keyed on account and address together so that someone
    # guessing a password elsewhere never locks its owner out of their own account from their
    # own network, and the lockout expires by itself so nobody is locked out for good (an
    # operator can also lift it in the admin, "Access attempts").
    LOGIN_FAILURE_LIMIT = config_env.positive_int("LOGIN_FAILURE_LIMIT", default=5)
    LOGIN_LOCKOUT_SECONDS = config_env.positive_int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
    # ...while one address guessing across many accounts meets this ceiling on login posts.
    LOGIN_RATE_PER_IP = config_env.rate("LOGIN_RATE_PER_IP", default="100/h")
    # Reset emails: per address, and per target address so nobody's inbox can be flooded.
    PASSWORD_RESET_RATE_PER_IP = config_env.rate("PASSWORD_RESET_RATE_PER_IP", default="10/h")
    PASSWORD_RESET_RATE_PER_EMAIL = config_env.rate("PASSWORD_RESET_RATE_PER_EMAIL", default="3/h")
    # Account signups (each creates an organization) and invite links, per address.
    ACCOUNT_SIGNUP_RATE_PER_IP = config_env.rate("ACCOUNT_SIGNUP_RATE_PER_IP", default="10/h")
    INVITE_RATE_PER_IP = config_env.rate("INVITE_RATE_PER_IP", default="60/h")
    # The JSON API, per personal API token (per user for calls made with a browser session).
    API_RATE_PER_TOKEN = config_env.rate("API_RATE_PER_TOKEN", default="120/m")

    # --- Cache (rate-limit counters) -------------------------------------------------------
    # In-process by default, which is right for one web process (`make run`); several web
    # processes share counters through Redis: CACHE_URL=redis://127.0.0.1:6379/1.
    CACHES = {
        "default": cache_config("CACHE_URL", default="locmemcache://"),
        # Rendered public-page fragments, in each process's own memory: each is keyed on
        # everything it shows, so nothing needs to be shared or invalidated, and a rush of
        # visitors costs one rendering per process instead of one per visit.
        "fragments": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "partyline-fragments",
            "TIMEOUT": 600,
            "OPTIONS": {"MAX_ENTRIES": 2000},
        },
    }
    # How many web processes serve the site; gunicorn reads the same variable as its number of
    # workers, so set this instead of --workers.
    WEB_CONCURRENCY = config_env.positive_int("WEB_CONCURRENCY", default=1)
    # django-ratelimit predates Django's own Redis backend (atomic INCR) and flags it.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
    if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        if WEB_CONCURRENCY > 1 and not DEBUG:
            # Each process would count on its own: every limit multiplied by the process count.
            raise ConfigurationError(
                f"CACHE_URL is a per-process cache but WEB_CONCURRENCY={WEB_CONCURRENCY}: "
                "rate limits need a cache all processes share, such as "
                "CACHE_URL=redis://127.0.0.1:6379/1."
            )
        if WEB_CONCURRENCY == 1:
            # One process's memory holds every counter there is, so the library's "not a
            # shared cache" error does not apply. With several processes in DEBUG it stands.
            SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

    # --- HTTPS, behind a proxy or not -------------------------------------------------------
    # Only behind a proxy that sets X-Forwarded-Proto itself (and strips the client's).
    if env.bool("SECURE_PROXY_SSL", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
    # Plain-http requests are redirected to https outside DEBUG, except the health check, which
    # load balancers call over http inside the network.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    # HSTS, sent on https responses only. A year by default outside DEBUG; preloading is a
    # commitment browsers ship and take months to undo, so it is the operator's to opt into.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # `check --deploy` asks for preload (security.W021): leaving it off is the choice above.
        SILENCED_SYSTEM_CHECKS.append("security.W021")

    LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()

    # --- Klaviyo and its sandbox ---------------------------------------------------------
    # In sandbox mode the product runs against the local sandbox Klaviyo
    # (klaviyo_sandbox/README.md): the sandbox app's well-known development credentials become
    # the product's, and the authorize and base URLs point at the sandbox, so the product's
    # code path is the one it takes against the real Klaviyo. With real credentials the
    # sandbox is neither installed nor mounted (and a system check refuses it if it is).
    # Sandbox mode is the default only in DEBUG (`make run`). Anywhere else a missing
    # KLAVIYO_CLIENT_ID stops the process unless KLAVIYO_SANDBOX=true asks for the sandbox by
    # name: a deployment that forgot its credentials must not quietly serve a fake Klaviyo
    # (whose pages then need a staff login, and a system check warns).
    _klaviyo_client_id = env.str("KLAVIYO_CLIENT_ID", default="")
    KLAVIYO_SANDBOX = env.bool("KLAVIYO_SANDBOX", default=DEBUG and not _klaviyo_client_id)
    if KLAVIYO_SANDBOX and _klaviyo_client_id:
        raise ConfigurationError(
            "KLAVIYO_SANDBOX is on while KLAVIYO_CLIENT_ID is set: unset one of them "
            "(the sandbox never runs beside real credentials)."
        )
    if not KLAVIYO_SANDBOX and not _klaviyo_client_id:
        raise ConfigurationError(
            "KLAVIYO_CLIENT_ID is not set: set your Klaviyo app's credentials, or "
            "KLAVIYO_SANDBOX=true to run against the built-in sandbox Klaviyo "
            "(the default only when DEBUG is on)."
        )
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
        KLAVIYO_CLIENT_ID = _klaviyo_client_id
        KLAVIYO_CLIENT_SECRET = env.str("KLAVIYO_CLIENT_SECRET", default="")
        if not KLAVIYO_CLIENT_SECRET:
            raise ConfigurationError(
                "KLAVIYO_CLIENT_SECRET is not set (it is required when KLAVIYO_CLIENT_ID is)."
            )
    # None: derived from the request (it must still equal an allowlisted URL exactly).
    KLAVIYO_REDIRECT_URI = env.str("KLAVIYO_REDIRECT_URI", default="") or None
    # The list pipeline's scopes, then lifecycle events' (integrations.klaviyo.config).
    KLAVIYO_SCOPES = env.str(
        "KLAVIYO_SCOPES",
        default=(
            "accounts:read lists:read lists:write profiles:read profiles:write subscriptions:write "
            "events:write events:read metrics:read flows:read"
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
    # Klaviyo revokes a refresh token unused for 90 days: connections whose last refresh is
    # older than this are refreshed by the worker's keep-alive pass (integrations/tasks.py).
    KLAVIYO_KEEPALIVE_DAYS = config_env.positive_int("KLAVIYO_KEEPALIVE_DAYS", default=30)
    if KLAVIYO_KEEPALIVE_DAYS >= 90:
        raise ConfigurationError(
            "KLAVIYO_KEEPALIVE_DAYS must be under 90: Klaviyo revokes refresh tokens unused "
            "for 90 days."
        )
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
    # Set by `manage.py sandbox_server`, which applies jobs in a thread of its own.
    SANDBOX_JOBS_IN_BACKGROUND = False
    if KLAVIYO_SANDBOX:
        # Its own database, so the product's tables never hold the sandbox's tokens and
        # neither side's writes wait on the other's locks.
        DATABASES["sandbox"] = database_config(
            "SANDBOX_DATABASE_URL",
            default=f"sqlite:///{BASE_DIR / 'sandbox.sqlite3'}",
            base_dir=BASE_DIR,
        )
        DATABASE_ROUTERS = ["klaviyo_sandbox.routers.SandboxRouter"]
    # Where a form's redirect may take the browser (Content-Security-Policy's form-action,
    # below): connect to the consent page, the sandbox's consent page to the callback.
    OAUTH_REDIRECT_ORIGINS = list(
        dict.fromkeys(
            [
                url_origin(KLAVIYO_AUTHORIZE_URL, variable="KLAVIYO_AUTHORIZE_URL"),
                *(
                    url_origin(uri, variable="SANDBOX_REDIRECT_URIS")
                    for uri in (SANDBOX_REDIRECT_URIS if KLAVIYO_SANDBOX else [])
                ),
            ]
        )
    )
    # --- end of Klaviyo and its sandbox ----------------------------------------------------


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "django_tasks",
    # Before django_tasks_db: its `db_worker` command is the library's worker made to
    # survive a dropped database connection (core/management/commands/db_worker.py).
    "core",
    "accounts",
    "integrations",
    "parties",
    "door",
    "privacy",
    "django_tasks_db",
    "django_ratelimit",
    "axes",
]
if KLAVIYO_SANDBOX:  # Klaviyo and its sandbox: see the section above.
    INSTALLED_APPS.append("klaviyo_sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Public pages in their party's language (or the browser's), every other page in
    # English; nothing a request activates outlives it. Before CSRF, whose refusal of a
    # public form is a public page too.
    "config.languages.PageLanguageMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.tenancy.OrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # With DEBUG on (`make run`), a public page that does not exist answers the product's 404.
    "config.not_found.PublicNotFoundMiddleware",
    # A stored token the server's keys cannot decrypt: a page saying the operator must fix
    # the keys (503), never a server error.
    "integrations.middleware.SecretKeysProblemMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
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
            # The wording filters (`possessive`, `clock`, `sentence`) in every template.
            "builtins": ["core.templatetags.wording"],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication ------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24  # one day

# --- Failed logins (django-axes; the numbers are LOGIN_* above) -----------------------------
# The axes backend refuses a locked-out account+address before any password is checked, on
# every login form (the product's and the admin's); failures are kept in the database, so
# every process sees them and an operator can lift a lockout in the admin.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = "accounts.limits.login_failure_limit"
AXES_COOLOFF_TIME = "accounts.limits.login_lockout_period"
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.limits.login_username"
AXES_CLIENT_IP_CALLABLE = "core.limits.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.limits.login_locked_out"
# A lockout ends on time however often the locked-out person retries meanwhile, and a
# successful login forgets that pair's earlier failures.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
# Failures only: no table of every successful login with its address.
AXES_DISABLE_ACCESS_LOG = True
# Masked in axes' log lines and in the request data it keeps with each failure.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
# Any other use of django-ratelimit's "ip" key counts the same address as ours.
RATELIMIT_IP_META_KEY = "core.limits.client_address"

# --- Background tasks (Django's tasks API through the django-tasks backport) ---------------
# The database backend keeps the queue in the product's own database, so any number of
# `manage.py db_worker` processes can share it (rows are claimed with SKIP LOCKED on
# PostgreSQL and an exclusive transaction on SQLite).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Internationalization ----------------------------------------------------------------
# The organizer's pages are in English. A party's public pages (signup, thanks, each
# attendee's own page) are in the party's language, one of LANGUAGES (`Party.language`);
# a public address that finds no party speaks the browser's (config/languages.py).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
# The product's translations, compiled (`make messages`): locale/<language>/LC_MESSAGES.
LOCALE_PATHS = [BASE_DIR / "locale"]
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
# (HTTPS redirect, HSTS and secure cookies depend on the environment: see the top of the file.)
# Cookies are never readable by script, and ride along cross-site only on top-level GET
# navigations: Lax, not Strict, because Klaviyo's redirect back to the OAuth callback must
# carry the organizer's session.
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): our own scripts, stylesheets and images only; no inline
# script, event handler or style attribute anywhere (tests/security/test_templates.py scans the
# templates). Forms post to us, and a form's redirect must be allowed too: connect answers
# with a redirect to Klaviyo's consent page, and the sandbox's consent page (when it is on)
# with one to the product's callback.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.SELF],
        "script-src": [csp.constants.SELF],
        "style-src": [csp.constants.SELF],
        "img-src": [csp.constants.SELF],
        "object-src": [csp.constants.NONE],
        "base-uri": [csp.constants.NONE],
        "frame-ancestors": [csp.constants.NONE],
        "form-action": [csp.constants.SELF, *OAUTH_REDIRECT_ORIGINS],
    },
}
# Permissions-Policy (django-permissions-policy): browser features the product never uses are
# off for it and anything it might embed; the party page's Copy link button writes to the
# clipboard.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in [
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "clipboard-read",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    ]
} | {"clipboard-write": ["self"]}

# --- Logging ------------------------------------------------------------------------------------
# Every handler scrubs secrets from what it prints (config/log_config.py).
LOGGING = logging_config(level=LOG_LEVEL)
