from django.contrib import admin
from django.urls import include, path

from backoffice import views
from backoffice.api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("switch-shop/", views.switch_shop, name="switch-shop"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("routing.urls")),
]
