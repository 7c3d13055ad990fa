"""The product's URLs plus the baselines of scenarios 1 and 2, served by the same gunicorn
(bench only)."""

from django.urls import path

from bench import views
from config.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/insert/", views.insert, name="bench_insert"),
    path("bench/relay/", views.relay, name="bench_relay"),
    path("bench/no-events/p/<slug:slug>/", views.signup_without_events, name="bench_no_events"),
    *product_urlpatterns,
]
