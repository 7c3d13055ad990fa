"""Settings for the test suite: the product's own settings, with test-only secrets.

Tests run with DEBUG off, like production, so they need the secrets production requires,
and they run against the sandbox Klaviyo, which outside DEBUG is asked for by name.
The environment still wins, so `DATABASE_URL=postgres://... make test` runs on PostgreSQL.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("SALT_KEY", "test-salt")
os.environ.setdefault("DEBUG", "false")
if not os.environ.get("KLAVIYO_CLIENT_ID"):  # a few tests start processes with real ones
    os.environ.setdefault("KLAVIYO_SANDBOX", "true")

from config.settings import *  # noqa: F403
from config.settings import STORAGES

# The manifest storage needs `collectstatic`; tests render templates without it.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Fast hashing: the suite creates many users; production keeps Django's default hashers.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test client and live server speak plain http; the redirect to https is tested on its own.
SECURE_SSL_REDIRECT = False
# Serve static files from the finders without a `collectstatic` run.
WHITENOISE_AUTOREFRESH = True
# Sandbox jobs apply on the next request, so a test can read a sync's result right away;
# the sandbox's own tests set a delay where they check the job's progress.
SANDBOX_JOB_SECONDS = 0
# Read Klaviyo's jobs and the list back straight after sending: tests move time themselves.
PARTY_VERIFY_INTERVAL_SECONDS = 0
