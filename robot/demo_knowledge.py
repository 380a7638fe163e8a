"""The demo shop's knowledge base (``manage.py seed_demo``): the built-in intent set (a demo seeded before the
knowledge base existed gets it too) and product answers for a few demo products, scoped to them, so that a
buyer coming from such a product's page gets its own answer. Idempotent: an entry whose standard question
and product the shop has is left as it is."""

from __future__ import annotations

from backoffice.models import Product, StaffAccount
from robot import knowledge
from robot.models import KnowledgeEntry

# (product platform id, standard question, similar questions, answer, intent)
PRODUCT_ANSWERS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    (
        "dy_item_0000",
        "四件套是纯棉的吗",
        ("是什么面料", "是不是全棉", "会起球吗", "材质是什么"),
        "{买家昵称}您好，这款四件套是60支新疆长绒棉，100%纯棉，亲肤不起球。",
        "product_question",
    ),
    (
        "dy_item_0000",
        "四件套能机洗吗",
        ("怎么洗", "可以洗衣机洗吗", "会缩水吗", "掉色吗"),
        "可以机洗，建议30度以下冷水、轻柔模式，第一次洗涤略有浮色属正常，不缩水。",
        "product_question",
    ),
    (
        "dy_item_0000",
        "1.8米的床用哪个尺寸",
        ("床单多大", "被套尺寸多少", "1.5米床能用吗", "尺寸怎么选"),
        "1.8米床选220x240cm被套、245x250cm床单；1.5米床请拍1.5m规格。",
        "size_spec",
    ),
    (
        "dy_item_0002",
        "被子有多重",
        ("几斤的", "冬天够暖和吗", "厚不厚", "盖着热不热"),
        "这款冬被约6斤，适合室温10度左右的冬季使用，怕热的亲可以选4斤款。",
        "product_question",
    ),
    (
        "dy_item_0004",
        "枕头多高",
        ("枕头高度多少", "侧睡能用吗", "会不会太硬", "有味道吗"),
        "枕头高低两面，分别是7cm和9cm，慢回弹记忆棉，仰睡侧睡都合适；拆封后通风半天即可。",
        "product_question",
    ),
)


def add_knowledge(owner: StaffAccount) -> int:
    """Give the owner's shop the demo knowledge base; the number of entries added."""
    added = knowledge.ensure_builtin(owner.shop)
    products = {p.platform_id: p for p in Product.objects.for_shop(owner.shop)}
    for platform_id, question, similar, answer, intent in PRODUCT_ANSWERS:
        product = products.get(platform_id)
        if product is None:
            continue
        if KnowledgeEntry.objects.filter(shop=owner.shop, question=question, product=product).exists():
            continue
        knowledge.create_entry(
            actor=owner,
            question=question,
            similar_questions=list(similar),
            answer=answer,
            intent=intent,
            product=product,
            card_product=product,
        )
        added += 1
    return added
