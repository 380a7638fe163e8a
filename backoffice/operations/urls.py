from django.urls import path

from backoffice.operations import views

app_name = "ops"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("service-requests/<int:request_id>/handle/", views.handle_request, name="handle-request"),
    path("settings/holiday-pause/", views.holiday_pause, name="holiday-pause"),
]
