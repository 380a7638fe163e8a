"""The demo shops' buyer self-service (issue 16), called from ``seed_demo`` for both demo shops: an FAQ,
every card, both service-window bars and the follow-up messages switched on. The main demo shop has the
robot's full-auto reception on, whose opening takes the FAQ's place (the rule); the second demo shop has the
robot off, so its buyers see the FAQ. Deterministic and idempotent: a shop that has its FAQ already gets
nothing."""

from __future__ import annotations

import datetime as dt

from backoffice.models import Product, StaffAccount
from robot.models import FaqItem
from robot.selfservice import cards, faq, followup, window

QUESTIONS = [
    ("什么时候发货？", "现货订单付款后48小时内发货，预售商品以商品页写明的时间为准。"),
    ("发什么快递？", "默认发中通或韵达，偏远地区发邮政；需要顺丰请联系客服补差价。"),
    ("可以修改收货地址吗？", "发货前可以在聊天页的「确认收货地址」卡片里自己修改哦。"),
    ("支持七天无理由退换吗？", "支持。签收后7天内，商品不影响二次销售即可申请退换。"),
    ("有发票吗？", "可以开具电子普通发票，下单时备注抬头和税号即可。"),
]


def seed_self_service(owner: StaffAccount) -> bool:
    """Configure the owner's shop; False when it was configured before."""
    shop = owner.shop
    if FaqItem.objects.for_shop(shop).exists():
        return False
    faq.set_opening(staff=owner, opening=f"亲，欢迎光临{shop.name}~ 常见问题点一下就有答案：")
    for question, answer in QUESTIONS:
        faq.add_question(staff=owner, question=question, answer=answer)
    cards.save_settings(staff=owner, cards=cards.ALL_CARDS, urge_after_hours=24)
    products = list(Product.objects.for_shop(shop).order_by("pk")[:3])
    window.add_entry(staff=owner, bar="presale", kind="membership_gift", text="入会即送10元无门槛券")
    window.add_entry(staff=owner, bar="presale", kind="shop_home", url=f"https://example.com/shop/{shop.pk}")
    for product in products[:2]:
        window.add_entry(staff=owner, bar="presale", kind="product_link", product_id=product.pk)
    for kind in ("logistics", "after_sale_request", "after_sale_progress"):
        window.add_entry(staff=owner, bar="aftersale", kind=kind)
    followup.save_settings(
        staff=owner,
        values={
            "care_on": True,
            "care_delay_hours": 2,
            "care_text": "亲，您的宝贝已签收啦~ 使用中有任何问题随时联系我们哦。",
            "return_visit_on": True,
            "return_visit_text": "亲，看到您已确认收货，对宝贝还满意吗？满意的话欢迎点亮五颗星哦！",
            "coupon_on": True,
            "coupon_text": "亲爱的，好久不见呀~ 送您一张满100减10的店铺优惠券，下次选购就能用！",
            "quiet_from": dt.time(22, 0),
            "quiet_until": dt.time(8, 0),
        },
    )
    for product in products:
        followup.set_care_note(
            staff=owner, product_id=product.pk, note=f"「{product.title}」首次使用前请先清洁，避免暴晒。"
        )
    return True
