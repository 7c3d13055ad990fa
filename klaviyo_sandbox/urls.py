"""The sandbox's URLs, relative to its mount point (/sandbox/klaviyo/ in the product, / in
`manage.py sandbox_server`). API and OAuth paths answer with and without a trailing slash, as
Klaviyo does."""

from django.urls import path, re_path

from klaviyo_sandbox import api_views, event_views, flow_views, oauth_views, views

app_name = "klaviyo_sandbox"


def _api(pattern: str) -> str:
    return rf"^api/{pattern}/?$"


urlpatterns = [
    # OAuth
    re_path(r"^oauth/authorize/?$", oauth_views.authorize, name="authorize"),
    re_path(r"^oauth/token/?$", oauth_views.token, name="token"),
    re_path(r"^oauth/revoke/?$", oauth_views.revoke, name="revoke"),
    # REST API
    re_path(_api("accounts"), api_views.accounts, name="api_accounts"),
    re_path(_api(r"accounts/(?P<account_id>[^/]+)"), api_views.account, name="api_account"),
    re_path(_api("lists"), api_views.lists, name="api_lists"),
    re_path(_api(r"lists/(?P<list_id>[^/]+)"), api_views.list_detail, name="api_list"),
    re_path(
        _api(r"lists/(?P<list_id>[^/]+)/profiles"),
        api_views.list_profiles,
        name="api_list_profiles",
    ),
    re_path(
        _api(r"lists/(?P<list_id>[^/]+)/relationships/profiles"),
        api_views.list_profile_relationships,
        name="api_list_profile_relationships",
    ),
    re_path(_api("profiles"), api_views.profiles, name="api_profiles"),
    re_path(_api("profile-import"), api_views.profile_import, name="api_profile_import"),
    re_path(
        _api("profile-bulk-import-jobs"), api_views.bulk_import_jobs, name="api_bulk_import_jobs"
    ),
    re_path(
        _api(r"profile-bulk-import-jobs/(?P<job_id>[^/]+)"),
        api_views.bulk_import_job,
        name="api_bulk_import_job",
    ),
    re_path(
        _api(r"profile-bulk-import-jobs/(?P<job_id>[^/]+)/import-errors"),
        api_views.bulk_import_job_errors,
        name="api_bulk_import_job_errors",
    ),
    re_path(
        _api("profile-subscription-bulk-create-jobs"),
        api_views.subscription_jobs,
        name="api_subscription_jobs",
    ),
    re_path(
        _api("data-privacy-deletion-jobs"),
        api_views.data_privacy_deletion_jobs,
        name="api_data_privacy_deletion_jobs",
    ),
    re_path(_api("events"), event_views.events, name="api_events"),
    re_path(
        _api("event-bulk-create-jobs"),
        event_views.event_bulk_create_jobs,
        name="api_event_bulk_create_jobs",
    ),
    re_path(_api("metrics"), event_views.metrics, name="api_metrics"),
    re_path(_api("metric-aggregates"), event_views.metric_aggregates, name="api_metric_aggregates"),
    re_path(_api(r"metrics/(?P<metric_id>[^/]+)"), event_views.metric_detail, name="api_metric"),
    re_path(
        _api(r"metrics/(?P<metric_id>[^/]+)/flow-triggers"),
        flow_views.metric_flow_triggers,
        name="api_metric_flow_triggers",
    ),
    re_path(_api("flows"), flow_views.flows, name="api_flows"),
    re_path(_api(r"flows/(?P<flow_id>[^/]+)"), flow_views.flow_detail, name="api_flow"),
    re_path(r"^api/(?P<path>.*)$", api_views.unknown),
    # The sandbox's own pages
    path("", views.home, name="root"),
    path("accounts/<str:account_id>/", views.account_detail, name="account"),
    path("lists/<str:list_id>/", views.list_detail, name="list"),
    path("memberships/<int:pk>/confirm/", views.membership_confirm, name="membership_confirm"),
    path(
        "accounts/<str:account_id>/suppressions/",
        views.suppression_add,
        name="suppression_add",
    ),
    path(
        "profiles/<str:pk>/unsuppress/",
        views.suppression_remove,
        name="suppression_remove",
    ),
    path("accounts/<str:account_id>/flows/", views.flow_list, name="flows"),
    path("accounts/<str:account_id>/flows/new/", views.flow_create, name="flow_create"),
    path("flows/<str:pk>/status/", views.flow_status, name="flow_status"),
    path(
        "installations/<int:pk>/uninstall/",
        views.installation_uninstall,
        name="installation_uninstall",
    ),
    path(
        "installations/<int:pk>/expire-access-tokens/",
        views.installation_expire_access_tokens,
        name="installation_expire",
    ),
    path("faults/start/", views.fault_start, name="fault_start"),
    path("faults/clear/", views.fault_clear, name="fault_clear"),
    path("calls/", views.call_log, name="calls"),
]
