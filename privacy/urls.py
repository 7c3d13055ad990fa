from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("settings/personal-data/", views.person_find, name="person_find"),
    path("settings/personal-data/export/", views.person_export, name="person_export"),
    path("settings/personal-data/erase/", views.person_erase, name="person_erase"),
    # On the attendee's own page (its link is the key).
    path("a/<str:token>/my-data/", views.attendee_export, name="attendee_export"),
    path("a/<str:token>/erase/", views.attendee_erase, name="attendee_erase"),
]
