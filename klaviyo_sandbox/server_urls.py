"""ROOT_URLCONF of the sandbox as its own server process: the sandbox alone, at the root."""

from django.urls import include, path

urlpatterns = [path("", include("klaviyo_sandbox.urls"))]
