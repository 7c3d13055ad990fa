from django.urls import path

from parties import attendee_views, flow_views, public_views, question_views, views

app_name = "parties"

urlpatterns = [
    path("parties/", views.party_list, name="party_list"),
    path("parties/new/", views.party_create, name="party_create"),
    path("parties/<int:pk>/", views.party_detail, name="party_detail"),
    path("parties/<int:pk>/live/", views.party_live, name="party_live"),
    path("parties/<int:pk>/edit/", views.party_edit, name="party_edit"),
    path("parties/<int:pk>/duplicate/", views.party_duplicate, name="party_duplicate"),
    path("parties/<int:pk>/signups/", views.party_signups, name="party_signups"),
    path("parties/<int:pk>/cancel/", views.party_cancel, name="party_cancel"),
    path("parties/<int:pk>/delete/", views.party_delete, name="party_delete"),
    path("parties/<int:pk>/test-events/", views.party_test_events, name="party_test_events"),
    path("parties/<int:pk>/attendees.csv", views.attendees_csv, name="attendees_csv"),
    path("parties/<int:pk>/reconcile/", views.party_reconcile, name="party_reconcile"),
    path(
        "parties/<int:pk>/reconcile/<int:reconciliation_pk>.csv",
        views.reconcile_csv,
        name="reconcile_csv",
    ),
    path("parties/<int:pk>/retry-failed/", views.party_retry_failed, name="party_retry_failed"),
    path(
        "parties/<int:pk>/attendees/<int:attendee_pk>/retry/",
        views.attendee_retry,
        name="attendee_retry",
    ),
    path(
        "parties/<int:pk>/attendees/<int:attendee_pk>/promote/",
        views.attendee_promote,
        name="attendee_promote",
    ),
    path(
        "parties/<int:pk>/attendees/<int:attendee_pk>/cancel/",
        views.attendee_cancel,
        name="attendee_cancel",
    ),
    path(
        "parties/<int:pk>/attendees/<int:attendee_pk>/new-link/",
        views.attendee_link_renew,
        name="attendee_link_renew",
    ),
    path("parties/<int:pk>/questions/", question_views.question_list, name="question_list"),
    path(
        "parties/<int:pk>/questions/<int:question_pk>/",
        question_views.question_edit,
        name="question_edit",
    ),
    path(
        "parties/<int:pk>/questions/<int:question_pk>/move/",
        question_views.question_move,
        name="question_move",
    ),
    path(
        "parties/<int:pk>/questions/<int:question_pk>/remove/",
        question_views.question_remove,
        name="question_remove",
    ),
    path(
        "parties/<int:pk>/questions/<int:question_pk>/restore/",
        question_views.question_restore,
        name="question_restore",
    ),
    path("p/<slug:slug>/", public_views.signup, name="signup"),
    path("p/<slug:slug>/thanks/", public_views.signup_thanks, name="signup_thanks"),
    # The same form inside an organizer's own site (parties.embed).
    path("p/<slug:slug>/embed/", public_views.signup_embedded, name="signup_embed"),
    path(
        "p/<slug:slug>/calendar.ics",
        public_views.party_calendar_file,
        name="party_calendar",
    ),
    # An attendee's own page (its link is the key).
    path("a/<str:token>/", attendee_views.attendee_manage, name="attendee_manage"),
    path("a/<str:token>/cancel/", attendee_views.attendee_cancel, name="attendee_manage_cancel"),
    path("a/<str:token>/claim/", attendee_views.attendee_claim, name="attendee_manage_claim"),
    path(
        "a/<str:token>/sign-up-again/",
        attendee_views.attendee_register_again,
        name="attendee_manage_register_again",
    ),
    path(
        "a/<str:token>/calendar.ics",
        attendee_views.attendee_calendar_file,
        name="attendee_calendar",
    ),
    path("parties/<int:pk>/flows/refresh/", flow_views.flows_refresh, name="flows_refresh"),
    path("guides/klaviyo-flows/", flow_views.flows_guide, name="flows_guide"),
]
