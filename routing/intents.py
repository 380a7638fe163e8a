"""The built-in buyer intents: the codes a hand-over carries (``services.request_human(..., intent=...)``) and
a group's intent scope offers. Defined here, in routing, so that the robot (which reads intents from buyer
messages) imports them and routing never imports the robot; there is no other list of intent codes."""

from __future__ import annotations

from django.db import models
from django.utils.translation import pgettext_lazy


class Intent(models.TextChoices):
    URGE_SHIPPING = "urge_shipping", pgettext_lazy("intent", "Urge shipping")  # 催发货
    LOGISTICS = "logistics", pgettext_lazy("intent", "Logistics")  # 物流
    CHANGE_ADDRESS = "change_address", pgettext_lazy("intent", "Change address")  # 改地址
    RETURN_EXCHANGE = "return_exchange", pgettext_lazy("intent", "Return or exchange")  # 退换货
    REFUND = "refund", pgettext_lazy("intent", "Refund")  # 退款
    INVOICE = "invoice", pgettext_lazy("intent", "Invoice")  # 发票
    COUPON = "coupon", pgettext_lazy("intent", "Coupon or discount")  # 优惠
    SIZE_SPEC = "size_spec", pgettext_lazy("intent", "Size or specification")  # 尺码/规格
    PRODUCT_QUESTION = "product_question", pgettext_lazy("intent", "Product question")  # 商品咨询
    COMPLAINT = "complaint", pgettext_lazy("intent", "Complaint")  # 投诉
    ASK_HUMAN = "ask_human", pgettext_lazy("intent", "Ask for a human")  # 转人工
    GREETING = "greeting", pgettext_lazy("intent", "Greeting")  # 问候
