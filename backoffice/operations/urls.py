from django.urls import path

from backoffice.operations import views

app_name = "ops"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("service-requests/<int:request_id>/handle/", views.handle_request, name="handle-request"),
    path("settings/holiday-pause/", views.holiday_pause, name="holiday-pause"),
    path("delay-reports/", views.delay_reports, name="delay-reports"),
    path(
        "delay-reports/<int:report_id>/withdraw/", views.withdraw_delay_report, name="withdraw-delay-report"
    ),
    path("delay-reports/evidence/<int:evidence_id>/", views.evidence_file, name="delay-evidence"),
    path("after-sales/<int:after_sale_id>/act/", views.act_after_sale, name="act-after-sale"),
]
