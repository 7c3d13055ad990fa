"""The product's URLs plus scenario 2's baselines, served by the same gunicorn (bench only)."""

from django.urls import path

from bench import views
from config.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/insert/", views.insert, name="bench_insert"),
    path("bench/relay/", views.relay, name="bench_relay"),
    *product_urlpatterns,
]
