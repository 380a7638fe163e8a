"""The robot app's pages: buyer self-service beside the buyer chat page, and the owner's settings pages.
Mounted at the site root by ``backoffice.urls``."""

from django.urls import path

from robot.selfservice import buyer, pages

app_name = "robot"

urlpatterns = [
    path("chat/<int:shop_id>/self-service/", buyer.overview, name="selfservice"),
    path("chat/<int:shop_id>/self-service/faq/", buyer.ask, name="selfservice-faq"),
    path("chat/<int:shop_id>/self-service/cards/", buyer.act, name="selfservice-cards"),
    path("self-service/faq/", pages.faq_page, name="faq-settings"),
    path("self-service/cards/", pages.cards_page, name="cards-settings"),
    path("self-service/window/", pages.window_page, name="window-settings"),
    path("self-service/follow-up/", pages.followup_page, name="followup-settings"),
]
