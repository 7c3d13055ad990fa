from django.urls import path

from door import views

app_name = "door"

urlpatterns = [
    path("door/", views.party_list, name="party_list"),
    path("parties/<int:pk>/door/", views.door_page, name="door_page"),
    path("parties/<int:pk>/door/guests.json", views.guest_list, name="guest_list"),
    path("parties/<int:pk>/door/search/", views.guest_search, name="guest_search"),
    path("parties/<int:pk>/door/check-in/", views.check_in, name="check_in"),
    path("parties/<int:pk>/door/undo/", views.check_in_undo, name="check_in_undo"),
    path("parties/<int:pk>/door/walk-in/", views.walk_in, name="walk_in"),
]
