"""The live-chat pages, mounted at the site root by ``backoffice.urls``."""

from django.urls import path

from routing import views

app_name = "routing"

urlpatterns = [
    path("workbench/", views.workbench, name="workbench"),
    path("workbench/buyer/<int:conversation_id>/", views.buyer_panel, name="buyer-panel"),
    path("chat/<int:shop_id>/", views.buyer_chat, name="buyer-chat"),
    path("chat/<int:shop_id>/demo/", views.demo_picker, name="demo-picker"),
    path("chat/<int:shop_id>/images/", views.buyer_upload, name="buyer-upload"),
    path("attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path("attachments/<int:attachment_id>/thumb/", views.attachment_thumb, name="attachment-thumb"),
]
