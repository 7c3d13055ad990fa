from django.urls import path, re_path

from integrations import api, views

app_name = "integrations"

urlpatterns = [
    path("settings/integrations/", views.settings_page, name="settings"),
    path("settings/integrations/<int:pk>/", views.connection_detail, name="connection_detail"),
    path("integrations/klaviyo/connect/", views.connect, name="klaviyo_connect"),
    path("integrations/klaviyo/install/", views.install, name="klaviyo_install"),
    path("integrations/klaviyo/callback/", views.callback, name="klaviyo_callback"),
    path("integrations/klaviyo/start/<str:state>/", views.start, name="klaviyo_start"),
    path("api/oauth/connect/klaviyo", api.connect_klaviyo, name="api_connect_klaviyo"),
    path("api/oauth/accounts", api.accounts, name="api_accounts"),
    path("api/oauth/accounts/<int:pk>", api.account_delete, name="api_account_delete"),
    re_path(r"^api/", api.not_found),
    path("integrations/klaviyo/<int:pk>/reconnect/", views.reconnect, name="klaviyo_reconnect"),
    path("integrations/klaviyo/<int:pk>/disconnect/", views.disconnect, name="klaviyo_disconnect"),
]
