from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from config.views import healthz

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("integrations.urls")),
    path("", include("parties.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    *(
        [path("sandbox/klaviyo/", include("klaviyo_sandbox.urls"))]
        if settings.KLAVIYO_SANDBOX
        else []
    ),
]
