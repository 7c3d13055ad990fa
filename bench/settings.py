"""Settings of the bench's gunicorn: the product's, plus the bench-only URLs (bench.urls)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
