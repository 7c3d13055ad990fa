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

    # --- Security behind a proxy ---------------------------------------------------------
    if env.bool("SECURE_PROXY_SSL", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)

    LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()


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
    "accounts",
    "integrations",
    "parties",
]

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
