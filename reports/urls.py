"""The report pages, mounted under /reports/ by ``backoffice.urls``."""

from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.kpi_page, name="kpis"),
    path("history/", views.history_page, name="history"),
    path("history/<int:conversation_id>/", views.session_page, name="session"),
    path("history/<int:conversation_id>/review/", views.review, name="review"),
    path("history/<int:conversation_id>/transfer/", views.transfer, name="transfer"),
    path("live/", views.live_page, name="live"),
    path("hourly/", views.hourly_page, name="hourly"),
    path("insight/", views.insight_page, name="insight"),
]
