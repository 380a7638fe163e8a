"""Build demo shops with Chinese sample data: ``manage.py seed_demo``.

The demo shop is set up the way a real shop runs: its staff, products (with images shipped in
``backoffice/static/backoffice/demo/products/``, one small SVG each), buyers and orders, pre-sale and
after-sale groups with order-state scopes, the template library as team phrases, and three weeks of past
chats with ratings (``backoffice.management.demo_chats``). Both shops are demo shops (``Shop.is_demo``: their
buyer picker needs no sign-in where the demo turned it on).

The data is deterministic (``random.Random(SEED)``); timestamps are relative to now. A second run finds the
demo shop and adds only what it lacks (a demo seeded by an older version gets its groups, phrases, images
and history), so a complete demo gets nothing. Every demo login has the published password
``shopdesk-demo``, so the command refuses to run with DEBUG off unless ``--force`` is given. The shop's data
goes through the services (``backoffice.services``, ``routing.config``, ``phrases.services``); the past
chats are written in bulk with their own times.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.templatetags.static import static
from django.utils import timezone

from backoffice.management import demo_chats
from backoffice.models import AddressChange, AfterSaleStatus, OrderStatus, Product, Role, Shop, StaffAccount
from backoffice.services import (
    create_shop,
    create_staff_account,
    grantable_rights,
    upsert_buyers,
    upsert_orders,
    upsert_products,
)

SEED = 20261122
DEMO_PASSWORD = "shopdesk-demo"  # noqa: S105 - published demo password; refused with DEBUG off unless --force

MAIN_SHOP = {"name": "小鹿家居旗舰店", "manager_name": "林晓鹿", "owner_login": "owner"}
SECOND_SHOP = {"name": "鹿鸣数码专营店", "manager_name": "王鸣", "owner_login": "owner2"}

SUPERVISOR = {"login": "supervisor", "display_name": "主管-林悦"}
# The supervisor calls buyers back: the owner granted the right to see their full phone numbers (the role
# has the other two already).
SUPERVISOR_RIGHTS = ["view_reports", "manage_routing", "view_full_phone"]

# "team": the routing group (demo_chats.GROUPS).
DEMO_AGENTS: list[dict[str, str]] = [
    {"login": "agent1", "display_name": "售前-小美", "team": "pre_sale"},
    {"login": "agent2", "display_name": "售前-小雅", "team": "pre_sale"},
    {"login": "agent3", "display_name": "售前-阿琳", "team": "pre_sale"},
    {"login": "agent4", "display_name": "售后-阿杰", "team": "after_sale"},
    {"login": "agent5", "display_name": "售后-大伟", "team": "after_sale"},
    {"login": "agent6", "display_name": "售后-小敏", "team": "after_sale"},
]
# agent1 also works for the second shop through an outsourcing agency (the same login, linked).
AGENCY_AGENT = {"login": "agent1", "display_name": "外包-小美"}

MAIN_COUNTS = {"buyers": 200, "orders": 500}
SECOND_COUNTS = {"buyers": 20, "orders": 30}
BATCH_SIZE = settings.API_BATCH_LIMIT

# (title, category, price in yuan)
HOME_PRODUCTS: list[tuple[str, str, str]] = [
    ("60支长绒棉四件套 纯棉床单被套 1.8m床", "床上用品", "399.00"),
    ("水洗棉简约格纹四件套 1.5m床", "床上用品", "229.00"),
    ("新疆棉花被 冬季加厚被芯 200x230cm", "床上用品", "289.00"),
    ("大豆纤维春秋被 四季通用空调被", "床上用品", "159.00"),
    ("记忆棉慢回弹枕头 护颈枕 单只装", "床上用品", "129.00"),
    ("天然乳胶枕 成人颈椎枕 单只装", "床上用品", "199.00"),
    ("冰丝凉席三件套 可水洗折叠 1.8m", "床上用品", "168.00"),
    ("加厚床垫保护垫 防滑榻榻米床褥", "床上用品", "139.00"),
    ("珊瑚绒毛毯 午睡盖毯 150x200cm", "家纺布艺", "69.90"),
    ("北欧风全遮光窗帘 成品定制 每米", "家纺布艺", "45.00"),
    ("棉麻沙发垫 四季通用防滑坐垫", "家纺布艺", "89.00"),
    ("纯棉抱枕套 ins风靠垫 含芯", "家纺布艺", "39.90"),
    ("客厅地毯 短绒耐脏 160x230cm", "家纺布艺", "259.00"),
    ("硅藻泥吸水地垫 浴室门口防滑垫", "家纺布艺", "29.90"),
    ("衣柜收纳箱 布艺可折叠 三件套", "收纳整理", "59.90"),
    ("透明抽屉式收纳柜 五层 塑料储物柜", "收纳整理", "169.00"),
    ("床底收纳箱 带轮扁平 大号", "收纳整理", "79.00"),
    ("桌面化妆品收纳盒 亚克力旋转", "收纳整理", "49.90"),
    ("真空压缩袋 电泵套装 12件", "收纳整理", "69.00"),
    ("门后挂钩 免打孔 不锈钢六钩", "收纳整理", "19.90"),
    ("多层鞋架 简易组装 家用门口", "收纳整理", "89.90"),
    ("304不锈钢炒锅 不粘锅 32cm 燃气电磁炉通用", "厨房用品", "239.00"),
    ("麦饭石不粘平底锅 煎锅 28cm", "厨房用品", "129.00"),
    ("抗菌防霉切菜板 双面可用", "厨房用品", "79.90"),
    ("德式菜刀套装 五件套 带刀架", "厨房用品", "199.00"),
    ("玻璃保鲜盒 微波炉可用 分隔饭盒 4件套", "厨房用品", "59.00"),
    ("厨房置物架 落地多层 调料架", "厨房用品", "139.00"),
    ("硅胶厨具套装 耐高温 锅铲汤勺 10件", "厨房用品", "89.00"),
    ("电热水壶 1.7L 304不锈钢 自动断电", "厨房用品", "99.00"),
    ("手冲咖啡壶套装 细口壶 滤杯 分享壶", "厨房用品", "158.00"),
    ("日式釉下彩陶瓷碗碟套装 家用 28头", "餐具", "269.00"),
    ("304不锈钢筷子 防滑防霉 10双装", "餐具", "39.90"),
    ("耐热玻璃水杯 带把 家用 6只装", "餐具", "49.00"),
    ("骨瓷马克杯 情侣对杯 礼盒装", "餐具", "79.00"),
    ("纯棉浴巾 A类加大加厚 70x140cm", "浴室用品", "59.90"),
    ("长绒棉毛巾 家用洗脸 4条装", "浴室用品", "49.90"),
    ("浴室置物架 免打孔 太空铝 双层", "浴室用品", "69.00"),
    ("增压花洒喷头 三档调节 淋浴套装", "浴室用品", "119.00"),
    ("马桶垫 加厚四季通用 带提手", "浴室用品", "29.90"),
    ("LED吸顶灯 客厅卧室 三色调光 50cm", "灯具照明", "299.00"),
    ("护眼台灯 学生阅读 无频闪", "灯具照明", "159.00"),
    ("感应小夜灯 充电式 走廊卧室 3只装", "灯具照明", "39.90"),
    ("北欧简约落地灯 客厅沙发旁", "灯具照明", "199.00"),
    ("北欧陶瓷花瓶 客厅摆件 干花插花", "家居装饰", "59.00"),
    ("实木相框摆台 7寸 三只装", "家居装饰", "45.00"),
    ("静音挂钟 客厅 简约创意 30cm", "家居装饰", "89.00"),
    ("无烟大豆蜡香薰蜡烛 礼盒装", "家居装饰", "69.00"),
    ("旋转拖把 免手洗 家用拖布桶", "清洁用品", "119.00"),
    ("除螨仪 床上吸尘器 紫外线杀菌", "清洁用品", "299.00"),
    ("静电除尘掸子 可伸缩 加长杆", "清洁用品", "29.90"),
]

DIGITAL_PRODUCTS: list[tuple[str, str, str]] = [
    ("无线蓝牙耳机 主动降噪 入耳式", "耳机音响", "299.00"),
    ("便携蓝牙音箱 IPX7防水 户外", "耳机音响", "159.00"),
    ("20000毫安充电宝 22.5W快充", "充电配件", "129.00"),
    ("65W氮化镓充电器 三口快充", "充电配件", "139.00"),
    ("Type-C编织快充数据线 1m 两条装", "充电配件", "39.90"),
    ("87键机械键盘 青轴 有线", "电脑外设", "259.00"),
    ("静音无线鼠标 办公家用", "电脑外设", "69.00"),
    ("铝合金桌面手机支架 可折叠", "手机配件", "39.00"),
    ("全屏钢化膜 防指纹 两片装", "手机配件", "29.90"),
    ("智能手环 心率血氧监测 长续航", "智能穿戴", "199.00"),
]

NICKNAME_HEADS = [
    "爱吃草莓的", "快乐的", "安静的", "勤劳的", "迷糊的", "温柔的", "元气", "慵懒的", "会飞的", "不吃香菜的",
    "早睡早起的", "爱旅行的", "努力的", "佛系", "奶茶续命的", "喜欢猫的", "追光的", "小小", "甜甜的",
    "认真的",
]  # fmt: skip  # a table of words: rows of a line, not a word a line
NICKNAME_TAILS = [
    "小熊", "猫咪", "兔子", "柠檬", "橘子", "星星", "月亮", "鲸鱼", "小鹿", "团子", "豆包",
    "布丁", "饼干", "芒果", "桃子", "云朵", "向日葵", "小仙女", "打工人", "宝妈", "学生党", "铲屎官",
]  # fmt: skip  # a table of words: rows of a line, not a word a line
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈姚"
)
GIVEN_NAMES = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "霞", "平", "刚", "子涵", "欣怡", "梓轩", "浩然", "雨桐", "思远", "佳怡", "一诺", "宇航", "诗涵",
    "俊杰", "晓燕", "建华", "文博", "雅琪", "嘉怡", "志强", "婷婷", "海燕",
]  # fmt: skip  # a table of words: rows of a line, not a word a line
MEMBER_LEVELS = {"普通会员": 55, "银卡会员": 25, "金卡会员": 15, "钻石会员": 5}
# How much more often a member of each level orders (loyal buyers order more).
ORDER_WEIGHT = {"普通会员": 1, "银卡会员": 2, "金卡会员": 3, "钻石会员": 5}

# region tag -> (full province name, {city: [districts]}, weight)
REGIONS: dict[str, tuple[str, dict[str, list[str]], int]] = {
    "广东": (
        "广东省",
        {"广州市": ["天河区", "海珠区", "番禺区"], "深圳市": ["南山区", "福田区", "宝安区"]},
        14,
    ),
    "浙江": ("浙江省", {"杭州市": ["西湖区", "余杭区", "滨江区"], "宁波市": ["鄞州区", "海曙区"]}, 12),
    "江苏": ("江苏省", {"南京市": ["鼓楼区", "建邺区"], "苏州市": ["姑苏区", "吴中区"]}, 11),
    "上海": ("上海市", {"上海市": ["浦东新区", "徐汇区", "闵行区", "静安区"]}, 8),
    "北京": ("北京市", {"北京市": ["朝阳区", "海淀区", "丰台区"]}, 7),
    "山东": ("山东省", {"济南市": ["历下区", "槐荫区"], "青岛市": ["市南区", "崂山区"]}, 8),
    "四川": ("四川省", {"成都市": ["武侯区", "锦江区", "成华区"], "绵阳市": ["涪城区"]}, 7),
    "湖北": ("湖北省", {"武汉市": ["洪山区", "江汉区", "武昌区"], "宜昌市": ["西陵区"]}, 6),
    "福建": ("福建省", {"福州市": ["鼓楼区", "仓山区"], "厦门市": ["思明区", "湖里区"]}, 6),
    "河南": ("河南省", {"郑州市": ["金水区", "二七区"], "洛阳市": ["洛龙区"]}, 6),
    "湖南": ("湖南省", {"长沙市": ["岳麓区", "天心区", "开福区"]}, 5),
    "安徽": ("安徽省", {"合肥市": ["蜀山区", "包河区"]}, 4),
    "陕西": ("陕西省", {"西安市": ["雁塔区", "未央区"]}, 3),
    "重庆": ("重庆市", {"重庆市": ["渝北区", "江北区", "南岸区"]}, 3),
}
STREETS = [
    "人民路", "解放路", "中山路", "建设路", "文化路", "幸福路", "和平路", "长江路",
    "黄河路", "朝阳路", "学院路", "新华路", "青年路", "光明路", "滨江大道",
]  # fmt: skip  # a table of words: rows of a line, not a word a line
COMMUNITIES = ["阳光花园", "锦绣家园", "翠湖苑", "金色家园", "万科城", "桂花园", "碧水湾", "时代广场公寓"]
PHONE_PREFIXES = ["138", "139", "135", "136", "150", "151", "158", "159", "177", "186", "187", "188", "199"]

# carrier -> (tracking number prefix, digits after it, weight)
CARRIERS: dict[str, tuple[str, int, int]] = {
    "顺丰速运": ("SF", 13, 20),
    "中通快递": ("78", 13, 25),
    "圆通速递": ("YT", 13, 20),
    "韵达快递": ("43", 13, 15),
    "申通快递": ("77", 13, 12),
    "京东物流": ("JDVA", 11, 8),
}

STATUS_WEIGHTS = {
    OrderStatus.UNPAID: 5,
    OrderStatus.TO_SHIP: 12,
    OrderStatus.SHIPPED: 15,
    OrderStatus.DELIVERED: 13,
    OrderStatus.COMPLETED: 45,
    OrderStatus.CLOSED: 10,
}
# Order age range in hours per status, chosen so that every later event is still in the past.
STATUS_AGE_HOURS = {
    OrderStatus.UNPAID: (0.05, 12),
    OrderStatus.TO_SHIP: (1, 60),
    OrderStatus.SHIPPED: (60, 144),
    OrderStatus.DELIVERED: (168, 336),
    OrderStatus.COMPLETED: (336, 1440),
    OrderStatus.CLOSED: (1, 1440),
}
AFTER_SALE_RATE = 0.12
AFTER_SALE_CHOICES = {
    OrderStatus.SHIPPED: [
        AfterSaleStatus.REFUND_REQUESTED,
        AfterSaleStatus.CANCELLED,
        AfterSaleStatus.REJECTED,
    ],
    OrderStatus.DELIVERED: [
        AfterSaleStatus.REFUND_REQUESTED,
        AfterSaleStatus.RETURN_REQUESTED,
        AfterSaleStatus.RETURNING,
        AfterSaleStatus.REFUNDED,
        AfterSaleStatus.REJECTED,
        AfterSaleStatus.CANCELLED,
    ],
    OrderStatus.COMPLETED: [
        AfterSaleStatus.RETURN_REQUESTED,
        AfterSaleStatus.RETURNING,
        AfterSaleStatus.REFUNDED,
        AfterSaleStatus.REJECTED,
        AfterSaleStatus.CANCELLED,
    ],
}
# (minimum subtotal, coupon) - 满299减30, 满199减20, 满99减10
COUPONS = [
    (Decimal("299"), Decimal("30.00")),
    (Decimal("199"), Decimal("20.00")),
    (Decimal("99"), Decimal("10.00")),
]
FREE_SHIPPING_FROM = Decimal("49")
FREIGHT = Decimal("6.00")
# Orders whose address is pushed again, changed: this many in a first round, then some of them once more.
ADDRESS_CHANGE_ROUNDS = [12, 3]


# --- people and places -------------------------------------------------------------------------------------


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def phone_number(rng: random.Random) -> str:
    return rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def street_address(rng: random.Random, region: str) -> str:
    province, cities, _weight = REGIONS[region]
    city = rng.choice(sorted(cities))
    district = rng.choice(cities[city])
    head = province + (city if city != province else "") + district
    return (
        f"{head}{rng.choice(STREETS)}{rng.randint(1, 999)}号{rng.choice(COMMUNITIES)}"
        f"{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元{rng.randint(1, 32)}{rng.randint(1, 4):02d}室"
    )


def make_contact(rng: random.Random, region: str) -> dict[str, str]:
    return {
        "receiver_name": person_name(rng),
        "receiver_phone": phone_number(rng),
        "address": street_address(rng, region),
    }


# --- catalogue and buyers ----------------------------------------------------------------------------------


PRODUCT_IMAGES = "backoffice/demo/products/"  # under the static files, one SVG per product


def product_image(platform_id: str) -> str:
    """The product's image shipped with the project, as a path on this site (the demo runs wherever it
    runs). No link to the product page: the demo's products have none."""
    return static(f"{PRODUCT_IMAGES}{platform_id}.svg")


def make_products(catalogue: Sequence[tuple[str, str, str]], id_prefix: str) -> list[dict[str, Any]]:
    records = []
    for index, (title, category, price) in enumerate(catalogue, start=1):
        platform_id = f"{id_prefix}{index:04d}"
        records.append(
            {
                "platform_id": platform_id,
                "title": title,
                "price": Decimal(price),
                "category": category,
                "image_url": product_image(platform_id),
                "url": "",
            }
        )
    return records


def make_buyers(rng: random.Random, count: int, first_number: int) -> list[dict[str, Any]]:
    """Buyer records; ``first_paid_at`` is filled in later from their orders."""
    nicknames = rng.sample([head + tail for head in NICKNAME_HEADS for tail in NICKNAME_TAILS], count)
    regions = list(REGIONS)
    region_weights = [REGIONS[r][2] for r in regions]
    records = []
    for offset, nickname in enumerate(nicknames):
        level = rng.choices(list(MEMBER_LEVELS), weights=list(MEMBER_LEVELS.values()))[0]
        region = rng.choices(regions, weights=region_weights)[0]
        records.append(
            {
                "platform_id": f"dy_buyer_{first_number + offset:04d}",
                "nickname": nickname,
                "tags": {"member_level": level, "region": region},
                "first_paid_at": None,
            }
        )
    return records


def make_contacts(rng: random.Random, buyers: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """One or two delivery addresses per buyer (home, sometimes work or family), in the buyer's region."""
    return {
        b["platform_id"]: [make_contact(rng, b["tags"]["region"]) for _ in range(rng.choice([1, 1, 1, 2]))]
        for b in buyers
    }


# --- orders ------------------------------------------------------------------------------------------------


def tracking_number(rng: random.Random, carrier: str) -> str:
    prefix, digits, _weight = CARRIERS[carrier]
    return prefix + "".join(str(rng.randrange(10)) for _ in range(digits))


def hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=rng.randint(int(low * 3600), int(high * 3600)))


def order_timeline(rng: random.Random, status: str, now: datetime) -> dict[str, Any]:
    """Timestamps, carrier and tracking number; only the events that the status implies."""
    low, high = STATUS_AGE_HOURS[OrderStatus(status)]
    created_at = now - hours(rng, low, high)
    timeline: dict[str, Any] = {
        "created_at": created_at,
        "paid_at": None,
        "ship_by": None,
        "shipped_at": None,
        "picked_up_at": None,
        "delivered_at": None,
        "carrier": "",
        "tracking_number": "",
    }
    if status in (OrderStatus.UNPAID, OrderStatus.CLOSED):  # closed: never paid, timed out or cancelled
        return timeline
    paid_at = created_at + hours(rng, 1 / 60, 0.5)
    timeline.update(paid_at=paid_at, ship_by=paid_at + timedelta(hours=48))
    if status == OrderStatus.TO_SHIP:
        return timeline
    carrier = rng.choices(list(CARRIERS), weights=[c[2] for c in CARRIERS.values()])[0]
    shipped_at = paid_at + hours(rng, 2, 46)
    timeline.update(shipped_at=shipped_at, carrier=carrier, tracking_number=tracking_number(rng, carrier))
    if status == OrderStatus.SHIPPED and rng.random() < 0.1:  # label printed, courier has not picked it up
        return timeline
    picked_up_at = shipped_at + hours(rng, 1, 8)
    timeline["picked_up_at"] = picked_up_at
    if status == OrderStatus.SHIPPED:
        return timeline
    timeline["delivered_at"] = picked_up_at + hours(rng, 24, 96)
    return timeline


def order_items(rng: random.Random, products: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    count = rng.choices([1, 2, 3], weights=[70, 22, 8])[0]
    return [
        {
            "title": p["title"],
            "product_platform_id": p["platform_id"],
            "quantity": rng.choices([1, 2, 3], weights=[80, 15, 5])[0],
            "unit_price": p["price"],
        }
        for p in rng.sample(list(products), count)
    ]


def order_amounts(rng: random.Random, items: Sequence[dict[str, Any]], paid: bool) -> dict[str, Decimal]:
    subtotal = sum((i["unit_price"] * i["quantity"] for i in items), Decimal("0.00"))
    freight = FREIGHT if subtotal < FREE_SHIPPING_FROM else Decimal("0.00")
    discount = Decimal("0.00")
    if rng.random() < 0.6:
        discount = next((coupon for minimum, coupon in COUPONS if subtotal >= minimum), discount)
    total = subtotal + freight - discount
    return {
        "total_amount": total,
        "discount_amount": discount,
        "freight_amount": freight,
        "paid_amount": total if paid else Decimal("0.00"),
    }


def order_number(rng: random.Random, taken: set[str]) -> str:
    """A new 19-digit platform order number."""
    while True:
        number = str(rng.randrange(6_900_000_000_000_000_000, 7_000_000_000_000_000_000))
        if number not in taken:
            taken.add(number)
            return number


def make_orders(
    rng: random.Random,
    count: int,
    buyers: Sequence[dict[str, Any]],
    contacts: dict[str, list[dict[str, str]]],
    products: Sequence[dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Orders over the last 60 days, every status at least once, newest first."""
    statuses = list(STATUS_WEIGHTS)
    statuses += rng.choices(statuses, weights=list(STATUS_WEIGHTS.values()), k=count - len(statuses))
    rng.shuffle(statuses)
    buyer_weights = [ORDER_WEIGHT[b["tags"]["member_level"]] for b in buyers]
    numbers: set[str] = set()
    records = []
    for status in statuses:
        number = order_number(rng, numbers)
        buyer = rng.choices(buyers, weights=buyer_weights)[0]
        contact = rng.choice(contacts[buyer["platform_id"]])
        timeline = order_timeline(rng, status, now)
        items = order_items(rng, products)
        after_sale = AfterSaleStatus.NONE
        if status in AFTER_SALE_CHOICES and rng.random() < AFTER_SALE_RATE:
            after_sale = rng.choice(AFTER_SALE_CHOICES[status])
        records.append(
            {
                "number": number,
                "buyer_platform_id": buyer["platform_id"],
                "status": str(status),
                "after_sale_status": str(after_sale),
                **order_amounts(rng, items, paid=timeline["paid_at"] is not None),
                **timeline,
                **contact,
                "items": items,
            }
        )
    return sorted(records, key=lambda r: r["created_at"], reverse=True)


def set_first_paid(buyers: Sequence[dict[str, Any]], orders: Sequence[dict[str, Any]]) -> None:
    first: dict[str, datetime] = {}
    for order in orders:
        paid_at = order["paid_at"]
        if paid_at is not None:
            pid = order["buyer_platform_id"]
            first[pid] = min(paid_at, first.get(pid, paid_at))
    for buyer in buyers:
        buyer["first_paid_at"] = first.get(buyer["platform_id"])


def address_change_rounds(
    rng: random.Random, orders: Sequence[dict[str, Any]], buyers: Sequence[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """Not-yet-shipped orders pushed again with a new address (buyers asking to change it before shipping)."""
    regions = {b["platform_id"]: b["tags"]["region"] for b in buyers}
    candidates = [o for o in orders if o["status"] in (OrderStatus.UNPAID, OrderStatus.TO_SHIP)]
    rounds = []
    for size in ADDRESS_CHANGE_ROUNDS:
        candidates = rng.sample(candidates, min(size, len(candidates)))
        changed = []
        for order in candidates:
            region = regions[order["buyer_platform_id"]]
            contact = make_contact(rng, region)
            if rng.random() < 0.7:  # usually the same receiver, only the address moves
                contact.update(receiver_name=order["receiver_name"], receiver_phone=order["receiver_phone"])
            changed.append({**order, **contact})
        candidates = changed
        rounds.append(changed)
    return rounds


# --- writing -----------------------------------------------------------------------------------------------


def upsert_in_batches(
    upsert: Callable[..., int], shop: Shop, records: Sequence[dict[str, Any]], size: int = BATCH_SIZE
) -> int:
    return sum(upsert(shop=shop, records=records[i : i + size]) for i in range(0, len(records), size))


def build_commerce(
    rng: random.Random,
    shop: Shop,
    catalogue: Sequence[tuple[str, str, str]],
    product_prefix: str,
    counts: dict[str, int],
    first_buyer_number: int,
    now: datetime,
) -> list[list[dict[str, Any]]]:
    """Products, buyers and orders of one shop. Returns the address-change rounds still to be pushed."""
    products = make_products(catalogue, product_prefix)
    buyers = make_buyers(rng, counts["buyers"], first_buyer_number)
    contacts = make_contacts(rng, buyers)
    orders = make_orders(rng, counts["orders"], buyers, contacts, products, now)
    set_first_paid(buyers, orders)
    upsert_in_batches(upsert_products, shop, products)
    upsert_in_batches(upsert_buyers, shop, buyers)
    upsert_in_batches(upsert_orders, shop, orders)
    return address_change_rounds(rng, orders, buyers)


def build_staff(main: Shop, second: Shop) -> None:
    supervisor_rights = (
        grantable_rights().filter(codename__in=SUPERVISOR_RIGHTS).exclude(group__name=Role.CS_SUPERVISOR)
    )
    create_staff_account(
        shop=main,
        login=SUPERVISOR["login"],
        password=DEMO_PASSWORD,
        display_name=SUPERVISOR["display_name"],
        role=Role.CS_SUPERVISOR,
        im_enabled=True,
        rights=supervisor_rights,
    )
    for agent in DEMO_AGENTS:
        create_staff_account(
            shop=main,
            login=agent["login"],
            password=DEMO_PASSWORD,
            display_name=agent["display_name"],
            role=Role.AGENT,
            im_enabled=True,
        )
    create_staff_account(
        shop=second,
        login=AGENCY_AGENT["login"],
        password=DEMO_PASSWORD,
        display_name=AGENCY_AGENT["display_name"],
        role=Role.AGENT,
        im_enabled=True,
    )


def demo_logins() -> list[str]:
    return [
        MAIN_SHOP["owner_login"],
        SUPERVISOR["login"],
        *(a["login"] for a in DEMO_AGENTS),
        SECOND_SHOP["owner_login"],
    ]


def find_demo_shop() -> Shop | None:
    return Shop.objects.filter(
        name=MAIN_SHOP["name"], staff__role=Role.OWNER, staff__user__username=MAIN_SHOP["owner_login"]
    ).first()


def build_demo(now: datetime) -> tuple[Shop, Shop]:
    """Everything, in order. The caller holds the transaction."""
    rng = random.Random(SEED)
    main = create_shop(owner_password=DEMO_PASSWORD, demo=True, **MAIN_SHOP)
    second = create_shop(owner_password=DEMO_PASSWORD, demo=True, **SECOND_SHOP)
    build_staff(main, second)
    main_changes = build_commerce(rng, main, HOME_PRODUCTS, "dy_item_", MAIN_COUNTS, 1, now)
    build_commerce(rng, second, DIGITAL_PRODUCTS, "dy_3c_", SECOND_COUNTS, 2001, now)
    for changed in main_changes:
        upsert_in_batches(upsert_orders, main, changed)
    return main, second


def local_images(shop: Shop, catalogue: Sequence[tuple[str, str, str]], id_prefix: str) -> int:
    """Products whose image is not the one shipped with the project (a demo of an older version linked to
    example.com) get it, through the integration's upsert; the others are left as they are."""
    stale = {
        pid
        for pid, image in Product.objects.for_shop(shop).values_list("platform_id", "image_url")
        if image != product_image(pid)
    }
    records = [r for r in make_products(catalogue, id_prefix) if r["platform_id"] in stale]
    return upsert_in_batches(upsert_products, shop, records) if records else 0


def complete_demo(main: Shop, second: Shop, now: datetime) -> list[str]:
    """What a real shop has beyond its data, each part added only where it is missing: product images,
    groups, team phrases, past chats. Returns what was added."""
    added = []
    if local_images(main, HOME_PRODUCTS, "dy_item_") + local_images(second, DIGITAL_PRODUCTS, "dy_3c_"):
        added.append("product images")
    if not main.is_demo or not second.is_demo:
        Shop.objects.filter(pk__in=[main.pk, second.pk]).update(is_demo=True)
        added.append("demo shop marks")
    staff = StaffAccount.objects.for_shop(main).select_related("user", "shop")
    accounts = {account.user.username: account for account in staff}
    owner, supervisor = accounts[MAIN_SHOP["owner_login"]], accounts[SUPERVISOR["login"]]
    teams = {
        team: [accounts[a["login"]] for a in DEMO_AGENTS if a["team"] == team]
        for team in (demo_chats.PRE_SALE, demo_chats.AFTER_SALE)
    }
    had_groups = demo_chats.has_groups(main)
    groups = demo_chats.set_up_routing(owner, teams, supervisor)
    if not had_groups:
        added.append("pre-sale and after-sale groups")
    if phrases := demo_chats.import_team_phrases(owner):
        added.append(f"{phrases} team phrases")
    if entries := _robot_knowledge(owner):
        added.append(f"{entries} knowledge-base entries")
    if not demo_chats.has_history(main.pk):
        count = demo_chats.build_history(
            owner=owner, groups=groups, teams=teams, supervisor=supervisor, now=now, seed=SEED + 1
        )
        added.append(f"{count} past chats")
    added += _robot_demo(main)
    from robot.demo_selfservice import seed_self_service  # lazy: the robot app sits above backoffice

    if seed_self_service(owner):
        added.append("buyer self-service (FAQ, cards, service window, follow-up)")
    # The second demo shop has the robot off: its buyers see the FAQ (the robot opening replaces it).
    second_owner = StaffAccount.objects.get(shop=second, user__username=SECOND_SHOP["owner_login"])
    if seed_self_service(second_owner):
        added.append(f"buyer self-service of {second.name}")
    added += _reports_demo(main, supervisor)
    from backoffice.operations import demo as operations_demo  # shop operations (issue 19)

    added += operations_demo.build(main, now)
    return added


def _robot_demo(shop: Shop) -> list[str]:
    from robot.demo import set_up_demo  # the robot sits above backoffice: imported here, by the seed only

    return set_up_demo(shop)


def _robot_knowledge(owner: StaffAccount) -> int:
    # The robot sits above backoffice: imported where it is used.
    from robot.demo_knowledge import add_knowledge

    return add_knowledge(owner)


def _reports_demo(shop: Shop, supervisor: StaffAccount) -> list[str]:
    from reports import demo  # the top layer: imported here only (pyproject's import contract allows it)

    return demo.seed(shop, supervisor)


class Command(BaseCommand):
    help = "Build demo shops with Chinese sample data (DEBUG only; every login's password is shopdesk-demo)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off. The demo logins have a published password: never in production.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                f"seed_demo creates logins with the published password {DEMO_PASSWORD!r}, which is dangerous "
                "outside development, so it refuses to run with DEBUG off. Pass --force to run it anyway."
            )
        now = timezone.now().replace(microsecond=0)
        with transaction.atomic():
            shop = find_demo_shop()
            second = Shop.objects.filter(
                name=SECOND_SHOP["name"],
                staff__role=Role.OWNER,
                staff__user__username=SECOND_SHOP["owner_login"],
            ).first()
            if shop is not None and second is not None:
                added = complete_demo(shop, second, now)
                if added:
                    self.stdout.write(f"The demo shop {shop.name} (id {shop.pk}) got: {', '.join(added)}.")
                else:
                    self.stdout.write(
                        f"The demo shop {shop.name} already exists (id {shop.pk}); already seeded."
                    )
                return
            taken = sorted(
                get_user_model().objects.filter(username__in=demo_logins()).values_list("username", flat=True)
            )
            if taken:
                raise CommandError(
                    f"These logins already exist outside the demo shop: {', '.join(taken)}. "
                    "Remove them or use a fresh database."
                )
            main, second = build_demo(now)
            complete_demo(main, second, now)
        self.print_summary(main, second)

    def print_summary(self, main: Shop, second: Shop) -> None:
        self.stdout.write(self.style.SUCCESS("Demo data seeded."))
        for shop in (main, second):
            buyers, products, orders = shop.buyers.count(), shop.products.count(), shop.orders.count()
            changes = AddressChange.objects.for_shop(shop).count()
            self.stdout.write(
                f"{shop.name} (id {shop.pk}): {buyers} buyers, {products} products, {orders} orders, "
                f"{changes} address changes"
            )
            for staff in shop.staff.select_related("user").order_by("pk"):
                self.stdout.write(
                    f"  {staff.user.username:<11} {staff.get_role_display()} · {staff.display_name}"
                )
        self.stdout.write(f"{main.name}: {demo_chats.summary(main)}")
        self.stdout.write(f"Password for every demo login: {DEMO_PASSWORD}")
        self.stdout.write(
            "First steps: sign in at /admin/ as agent1, open /workbench/ and go online (agents start "
            f"offline); play a buyer at /chat/{main.pk}/demo/ (no sign-in while DEMO_BUYER_PICKER is on)."
        )
