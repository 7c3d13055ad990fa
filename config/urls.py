from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts import limits
from config.views import favicon, healthz
from core.limits import limited
from parties import views as party_views

urlpatterns = [
    # The front door: the organization's checklist and parties (the layer that sees both).
    path("", party_views.home, name="home"),
    path("", include("accounts.urls")),
    path("", include("integrations.urls")),
    path("", include("parties.urls")),
    path("", include("door.urls")),
    path("", include("privacy.urls")),
    # The admin's login meets the same per-address ceiling as the product's (django-axes
    # already locks out an account+address there too).
    path(
        "admin/login/",
        limited(limits.LOGIN_PER_ADDRESS, reason="login attempts from your network")(
            admin.site.login
        ),
    ),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    *(
        [path("sandbox/klaviyo/", include("klaviyo_sandbox.urls"))]
        if settings.KLAVIYO_SANDBOX
        else []
    ),
]

# JSON for /api/ paths, the usual pages elsewhere (config/views.py).
handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
