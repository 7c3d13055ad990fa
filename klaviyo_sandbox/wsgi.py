"""WSGI entry point serving only the sandbox, for a process of its own under gunicorn:

gunicorn klaviyo_sandbox.wsgi -b 127.0.0.1:8100
"""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# Before the first request, so every resolver this process builds is the sandbox's.
settings.ROOT_URLCONF = "klaviyo_sandbox.server_urls"
