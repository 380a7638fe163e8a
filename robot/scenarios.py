"""Data-aware answers (场景解决方案): what the robot says for an entry whose answer needs the buyer's order
data (``KnowledgeEntry.scenario``), from that data only.

Rules:
- logistics: the carrier and tracking number of the buyer's latest shipped order in this shop; an order
  shipped without a tracking number, or none shipped, is said as it is (a paid order not shipped yet gets its
  promised ship-by date when the order has one);
- urge shipping: the latest paid order's promised ship-by date while it waits to ship (past that date: the
  robot says so and hands over), or that it shipped, with carrier and tracking number;
- change address: what the latest order's state allows: before shipping it can be changed, so the robot
  hands the chat to a human who changes it; shipped, delivered or closed orders cannot, and the robot says
  why;
- missing data (no order, no ship-by date, no tracking number) is said, or handed over, never invented: the
  texts only carry facts read from the order, filled by phrases' renderer (``render_phrase``; the buyer's
  nickname and the order's number, ship date and tracking number are its variables).

The texts are buyer-facing Chinese, like the knowledge base's answers: data, not interface strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from backoffice.models import Order, OrderStatus
from phrases.services import render_phrase
from routing.models import Conversation

LOGISTICS = "logistics"
URGE_SHIPPING = "urge_shipping"
CHANGE_ADDRESS = "change_address"
SCENARIOS = (LOGISTICS, URGE_SHIPPING, CHANGE_ADDRESS)

PAID = (OrderStatus.TO_SHIP, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED)
SHIPPED = (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED)
CARRIER = "〔快递公司〕"  # filled after rendering: a carrier's name is shop data, never read as a variable

NO_ORDER = "{买家昵称}，没有查到您在本店的订单哦，麻烦确认一下下单的账号，或回复“转人工”让人工客服帮您查。"
SHIPPED_WITH_TRACKING = (
    "{买家昵称}，您的订单{订单号}已于{发货时间}发货，快递公司：" + CARRIER + "，快递单号：{快递单号}，"
    "复制单号即可查询物流进度哦~"
)
SHIPPED_NO_TRACKING = (
    "{买家昵称}，您的订单{订单号}已于{发货时间}发货，暂时没有查到快递单号，为您转人工客服核实。"
)
WAITING_WITH_DATE = (
    "{买家昵称}，您的订单{订单号}还没有发货，承诺在{发货时间}前发货，仓库正在加紧安排，请耐心等待~"
)
WAITING_LATE = (
    "{买家昵称}，您的订单{订单号}已超过承诺的发货时间（{发货时间}）还未发出，"
    "非常抱歉，为您转人工客服加急处理。"
)
WAITING_NO_DATE = "{买家昵称}，您的订单{订单号}还没有发货，暂时没有查到承诺的发货时间，为您转人工客服确认。"
UNPAID = "{买家昵称}，您的订单{订单号}还没有付款，付款后仓库会尽快安排发货哦~"
NOT_SHIPPED_FOR_LOGISTICS = "{买家昵称}，您的订单{订单号}还没有发货，所以暂时没有物流信息。"
ADDRESS_BEFORE_SHIPPING = (
    "{买家昵称}，您的订单{订单号}还没有发货，可以修改收货地址。请把新的收货人、电话和地址发过来，"
    "已为您转人工客服修改。"
)
ADDRESS_SHIPPED = (
    "{买家昵称}，您的订单{订单号}已经发货（" + CARRIER + "，单号{快递单号}），系统里无法再修改地址，"
    "可以联系快递公司改派，或回复“转人工”。"
)
ADDRESS_SHIPPED_NO_TRACKING = (
    "{买家昵称}，您的订单{订单号}已经发货，系统里无法再修改地址，可以回复“转人工”让人工客服帮您联系快递改派。"
)
ADDRESS_DELIVERED = "{买家昵称}，您的订单{订单号}已经送达，无法再修改收货地址了哦。"
ADDRESS_CLOSED = "{买家昵称}，您的订单{订单号}已关闭，无需修改地址；重新下单时填写新地址即可。"


@dataclass(frozen=True)
class ScenarioAnswer:
    """The robot's answer, and whether the chat then goes to a human (data missing, or a human must act)."""

    text: str
    hand_over: bool = False


def _orders(conversation: Conversation) -> Any:
    return Order.objects.filter(shop_id=conversation.shop_id, buyer_id=conversation.buyer_id)


def _say(
    template: str, conversation: Conversation, order: Order | None, *, hand_over: bool = False
) -> ScenarioAnswer:
    context: dict[str, Any] = {"buyer_nickname": conversation.buyer.nickname}
    if order is not None:
        context["order_number"] = order.number
        context["tracking_number"] = order.tracking_number
        context["ship_date"] = order.shipped_at or order.ship_by
    text = render_phrase(content=template, context=context).text
    if order is not None:
        text = text.replace(CARRIER, order.carrier or "未记录")
    return ScenarioAnswer(text, hand_over)


def _shipped(conversation: Conversation, order: Order) -> ScenarioAnswer:
    if order.tracking_number:
        return _say(SHIPPED_WITH_TRACKING, conversation, order)
    return _say(SHIPPED_NO_TRACKING, conversation, order, hand_over=True)


def _waiting(conversation: Conversation, order: Order, now: datetime) -> ScenarioAnswer:
    if order.ship_by is None:
        return _say(WAITING_NO_DATE, conversation, order, hand_over=True)
    if order.ship_by < now:
        return _say(WAITING_LATE, conversation, order, hand_over=True)
    return _say(WAITING_WITH_DATE, conversation, order)


def logistics(conversation: Conversation, now: datetime) -> ScenarioAnswer:
    shipped = _orders(conversation).filter(status__in=SHIPPED).order_by("-shipped_at", "-created_at").first()
    if shipped is not None:
        return _shipped(conversation, shipped)
    waiting = _orders(conversation).filter(status=OrderStatus.TO_SHIP).order_by("-created_at").first()
    if waiting is not None:
        if waiting.ship_by is not None and waiting.ship_by >= now:
            return _say(NOT_SHIPPED_FOR_LOGISTICS + "承诺在{发货时间}前发货。", conversation, waiting)
        return _waiting(conversation, waiting, now)
    return _say(NO_ORDER, conversation, None)


def urge_shipping(conversation: Conversation, now: datetime) -> ScenarioAnswer:
    order = _orders(conversation).filter(status__in=PAID).order_by("-created_at", "-pk").first()
    if order is None:
        unpaid = _orders(conversation).filter(status=OrderStatus.UNPAID).order_by("-created_at").first()
        return _say(UNPAID, conversation, unpaid) if unpaid else _say(NO_ORDER, conversation, None)
    if order.status == OrderStatus.TO_SHIP:
        return _waiting(conversation, order, now)
    return _shipped(conversation, order)


def change_address(conversation: Conversation, now: datetime) -> ScenarioAnswer:
    order = _orders(conversation).order_by("-created_at", "-pk").first()
    if order is None:
        return _say(NO_ORDER, conversation, None)
    if order.status in (OrderStatus.UNPAID, OrderStatus.TO_SHIP):
        return _say(ADDRESS_BEFORE_SHIPPING, conversation, order, hand_over=True)
    if order.status == OrderStatus.SHIPPED:
        template = ADDRESS_SHIPPED if order.tracking_number else ADDRESS_SHIPPED_NO_TRACKING
        return _say(template, conversation, order)
    if order.status == OrderStatus.CLOSED:
        return _say(ADDRESS_CLOSED, conversation, order)
    return _say(ADDRESS_DELIVERED, conversation, order)


ANSWERS = {LOGISTICS: logistics, URGE_SHIPPING: urge_shipping, CHANGE_ADDRESS: change_address}


def answer(
    *, scenario: str, conversation: Conversation, now: datetime | None = None
) -> ScenarioAnswer | None:
    """The data-aware answer of ``scenario`` for this conversation's buyer; None for a plain entry."""
    fn = ANSWERS.get(scenario)
    return fn(conversation, now or timezone.now()) if fn is not None else None
