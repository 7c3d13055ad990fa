"""ROOT_URLCONF of the sandbox as its own server process: the sandbox alone, at the root.

Outside DEBUG the sandbox's pages need a staff login (`views.operator_only`), which they ask
for at the admin's login page; this process has a bare admin site for that, with no models
registered: it logs staff in and out and shows none of the product's data.
"""

from django.contrib.admin import AdminSite
from django.urls import include, path

staff_login_site = AdminSite(name="admin")

urlpatterns = [
    path("admin/", staff_login_site.urls),
    path("", include("klaviyo_sandbox.urls")),
]
