"""The demo shop's service side for ``seed_demo``: pre-sale and after-sale groups with order-state scopes,
the template library as team phrases, and three weeks of past chats with ratings.

The chats are written the way the services write live ones, with the times a real day would have given
them (the services stamp "now", so the rows are built here and written in bulk): each conversation ended
(by its agent, by the buyer, or auto-ended 15 minutes after the agent's last message), its messages in
sequence with buyer and agent turns, a reply delay per answered buyer turn (the first one also on the
conversation), its routing decision (queued first when every agent of its group was busy), transfers with
their note and decision, and a rating for most. Agents' status changes (online and offline around their
shifts) give the reports their online hours. Times lie in the shop's opening hours (09:00-23:00, the
shop's time zone) of the last ``DAYS`` days, all before now.

This module sits at the top of the project with the command (it imports routing and phrases; the import
contract in pyproject.toml names it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models

from backoffice.models import Buyer, Order, OrderStatus, Shop, StaffAccount
from phrases.models import Phrase
from phrases.services import import_templates
from routing import config
from routing.models import (
    AgentGroup,
    AgentStatus,
    AgentStatusChange,
    Conversation,
    ConversationState,
    DecisionOutcome,
    DecisionRule,
    EndReason,
    Message,
    Rating,
    ReplyDelay,
    RoutingDecision,
    SenderKind,
    Transfer,
)
from routing.services import AUTO_END_AFTER

DAYS = 21
MARKER = "demo-"  # client_msg_id prefix of the seeded messages: a shop that has them has its history
PRE_SALE, AFTER_SALE = "pre_sale", "after_sale"
# Pre-sale: buyers without an order, or whose latest order is unpaid or closed (never paid). After-sale:
# a paid order, from waiting to ship to completed (returns and refunds are after-sale states of those).
GROUPS: dict[str, tuple[str, list[str]]] = {
    PRE_SALE: ("售前组", ["none", OrderStatus.UNPAID, OrderStatus.CLOSED]),
    AFTER_SALE: (
        "售后组",
        [OrderStatus.TO_SHIP, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED],
    ),
}
# Shifts in the shop's time zone: (start hour, end hour); agents take them in turn.
SHIFTS = [(9, 18), (13, 23), (9, 18)]
CHATS_PER_DAY = (7, 12)
# Busy hours: after lunch and the evening.
HOUR_WEIGHTS = {
    9: 3,
    10: 5,
    11: 5,
    12: 3,
    13: 4,
    14: 6,
    15: 5,
    16: 4,
    17: 3,
    18: 3,
    19: 5,
    20: 7,
    21: 8,
    22: 4,
}
CLOSINGS = ["感谢您的耐心，祝您生活愉快～", "不客气亲，有问题随时找我哦", "好的亲，有需要随时联系我们～"]
STARS = {5: 62, 4: 20, 3: 9, 2: 5, 1: 4}
RATED = 0.6


@dataclass(frozen=True)
class Script:
    """One chat: ``lines`` of (who, text) with who "b" (buyer), "a" (agent) or "t" (transfer, the text is
    the note; the next agent lines are the new agent's). ``states``: the buyer's latest order states it
    fits ("none": no order)."""

    team: str
    states: tuple[str, ...]
    lines: tuple[tuple[str, str], ...]
    stars: tuple[int, ...] = ()  # the rating's range when rated (default: ``STARS``)
    to_supervisor: bool = False  # the transfer goes to the supervisor, not to another team
    ends: tuple[str, ...] = (EndReason.AGENT, EndReason.AGENT, EndReason.AUTO, EndReason.BUYER)


_NONE_UNPAID = ("none", OrderStatus.UNPAID, OrderStatus.CLOSED)
_PAID = (OrderStatus.TO_SHIP, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED)
_RECEIVED = (OrderStatus.DELIVERED, OrderStatus.COMPLETED)

SCRIPTS: list[Script] = [
    Script(
        PRE_SALE,
        _NONE_UNPAID,
        (
            ("b", "在吗？{product}还有货吗"),
            ("a", "在的亲～这款现在有现货，今天下单48小时内发货哦"),
            ("b", "发什么快递？到浙江要几天"),
            ("a", "默认中通或圆通，江浙沪一般两天左右就到啦"),
            ("b", "好的，我现在拍"),
            ("a", "感谢亲的支持！拍下后有任何问题随时找我哦"),
        ),
    ),
    Script(
        PRE_SALE,
        _NONE_UNPAID,
        (
            ("b", "这个现在有优惠吗"),
            ("a", "亲，店铺现在有满199减20、满299减30的券，在商品页领券后下单自动抵扣哦"),
            ("b", "买两件能一起用满299的吗"),
            ("a", "可以的亲，同一个订单满299就能用，两件一起拍更划算～"),
            ("b", "好，那我凑一单"),
            ("a", "好的，记得先领券再下单哦，祝您购物愉快"),
        ),
    ),
    Script(
        PRE_SALE,
        _NONE_UNPAID,
        (
            ("b", "{product}是什么材质的？会不会有味道"),
            ("a", "亲，这款按A类标准生产，拆开后通风半天左右就没有味道了，家里有宝宝也可以放心用"),
            ("b", "可以机洗吗"),
            ("a", "可以的，建议30度以下冷水、轻柔模式，晾干时避免暴晒哦"),
            ("b", "好的谢谢"),
        ),
    ),
    Script(
        PRE_SALE,
        (OrderStatus.UNPAID,),
        (
            ("b", "我刚拍了还没付款，地址填错了能改吗"),
            ("a", "亲，付款前您可以在订单详情里直接修改收货地址哦；付款后也可以联系我们帮您改"),
            ("b", "找到了，已经改好了"),
            ("a", "好的亲，付款后我们会按新地址尽快发货～"),
        ),
    ),
    Script(
        PRE_SALE,
        _NONE_UNPAID,
        (
            ("b", "记忆棉枕头和乳胶枕哪个软一点？"),
            ("a", "亲，记忆棉的偏软、贴合颈部；乳胶的回弹更好、支撑力强一些。平时侧睡多的话更推荐乳胶款哦"),
            ("b", "我是侧睡，那就乳胶的吧"),
            ("a", "好的～乳胶款现在满99还能减10元，下单前记得领券"),
        ),
    ),
    Script(
        PRE_SALE,
        _NONE_UNPAID,
        (
            ("b", "可以开发票吗？公司报销用"),
            ("a", "可以的亲，下单时备注发票抬头和税号，或者收货后在订单页申请电子发票都可以"),
            ("b", "个人抬头也能开吧"),
            ("a", "个人抬头也可以开的哦，电子发票会发到您的订单里"),
        ),
    ),
    Script(
        PRE_SALE,
        _NONE_UNPAID,
        (
            ("b", "{product}有没有大一点的尺寸"),
            ("a", "亲，目前这款只有页面上的这几个规格哦，您家里的尺寸方便告诉我吗？我帮您看看哪个合适"),
            ("b", "我再量一下"),
            ("a", "好的，量好了随时找我～"),
        ),
        ends=(EndReason.AUTO,),
    ),
    Script(
        AFTER_SALE,
        (OrderStatus.SHIPPED,),
        (
            ("b", "我的快递到哪了？订单号{order}"),
            ("a", "亲，帮您查了，包裹已由{carrier}揽收，单号{tracking}，目前在运输途中，预计1-2天送达"),
            ("b", "怎么这么慢"),
            ("a", "非常抱歉让您久等了，最近件量比较大，我这边帮您催一下快递，有进展第一时间告诉您"),
            ("b", "好吧"),
        ),
        stars=(3, 4, 5),
    ),
    Script(
        AFTER_SALE,
        (OrderStatus.TO_SHIP,),
        (
            ("b", "付款两天了怎么还没发货"),
            ("a", "亲，抱歉久等了，您的订单{order}已经在打包了，今天之内一定发出"),
            ("b", "今天能发就行"),
            ("a", "发货后会有物流通知，您留意一下哦，感谢耐心等待"),
        ),
    ),
    Script(
        AFTER_SALE,
        _RECEIVED,
        (
            ("b", "收到的{product}外包装破了，里面也有压坏的地方"),
            ("a", "亲，非常抱歉给您带来不好的体验！麻烦拍一下破损处和外包装的照片发给我"),
            ("b", "照片在订单里上传了"),
            ("a", "收到，已经为您登记补发，新的今天发出；破损的不用寄回了"),
            ("b", "那还可以，谢谢"),
            ("a", "不客气亲，给您添麻烦了，有问题随时找我"),
        ),
    ),
    Script(
        AFTER_SALE,
        _RECEIVED,
        (
            ("b", "我想退货，尺寸买错了"),
            ("a", "亲，支持7天无理由退换的，您在订单{order}里点“申请售后”，选择退货退款就可以"),
            ("b", "运费谁出？"),
            ("a", "这单有运费险，寄回的运费会自动理赔到您的账户，不用担心哦"),
            ("b", "好，我去申请了"),
        ),
    ),
    Script(
        AFTER_SALE,
        _RECEIVED,
        (
            ("b", "退款什么时候到账"),
            ("a", "亲，仓库已经收到您寄回的商品，退款已经提交，原路退回一般1-3个工作日到账"),
            ("b", "好的"),
        ),
        ends=(EndReason.AUTO, EndReason.BUYER),
    ),
    Script(
        AFTER_SALE,
        (OrderStatus.COMPLETED,),
        (
            ("b", "{product}怎么清洗比较好"),
            ("a", "亲，建议用中性洗涤剂，冷水手洗或洗衣机轻柔模式，平铺晾干就可以"),
            ("b", "好的谢谢"),
            ("a", "不客气～用得满意的话欢迎给个好评哦"),
        ),
    ),
    Script(
        AFTER_SALE,
        (OrderStatus.TO_SHIP, OrderStatus.SHIPPED),
        (
            ("b", "说好的48小时发货，都第三天了"),
            ("a", "亲，实在抱歉，这批货仓库出库延迟了，已经给您加急处理"),
            ("b", "你们太慢了，我要投诉"),
            ("a", "理解您的心情，非常抱歉。我给您申请了一张10元无门槛券作为补偿，今天一定发出"),
            ("b", "行吧"),
        ),
        stars=(1, 2, 3),
    ),
    Script(
        AFTER_SALE,
        (OrderStatus.COMPLETED,),
        (
            ("b", "上次买的{product}很好用，想再买一套送人，有礼盒装吗"),
            ("a", "感谢亲的认可！新品和礼盒由售前同事为您推荐，我帮您转接一下哦"),
            ("t", "老客户想复购送礼，咨询礼盒装"),
            ("a", "亲您好，我是售前客服～礼盒装有的，下单时备注“礼盒”就可以免费包装，还能写贺卡"),
            ("b", "太好了，那我现在下单"),
            ("a", "好的，老客户还可以用满299减30的券，记得先领取哦"),
        ),
        stars=(4, 5),
    ),
    Script(
        AFTER_SALE,
        _RECEIVED,
        (
            ("b", "东西用了三天就坏了，你们必须给我赔偿"),
            ("a", "亲，非常抱歉！赔偿方案需要主管确认，我马上请主管来处理，请稍等"),
            ("t", "买家要求赔偿，{order}，情绪激动，请主管跟进"),
            ("a", "您好，我是客服主管。给您带来麻烦非常抱歉，这单我们为您全额退款，商品不用寄回"),
            ("b", "这还差不多"),
            ("a", "退款已经提交，1-3个工作日原路到账，再次向您致歉"),
        ),
        stars=(2, 3, 4),
        to_supervisor=True,
        ends=(EndReason.AGENT,),
    ),
]


# --- set-up ------------------------------------------------------------------------------------------------


def has_groups(shop: Shop) -> bool:
    return AgentGroup.objects.for_shop(shop).exists()


def set_up_routing(
    owner: StaffAccount, teams: dict[str, list[StaffAccount]], supervisor: StaffAccount
) -> dict[str, AgentGroup]:
    """The two groups with their order-state scopes and their agents (the first of each team with weight 2:
    the most experienced takes more chats); the supervisor takes no chats automatically (pulls from the
    queue, receives transfers). A shop that has groups keeps them."""
    existing = {g.name: g for g in AgentGroup.objects.for_shop(owner.shop)}
    if existing:
        return {team: existing[name] for team, (name, _states) in GROUPS.items() if name in existing}
    groups = {}
    for team, (name, states) in GROUPS.items():
        group = config.save_group(actor=owner, group=AgentGroup(name=name, order_states=list(states)))
        groups[team] = group
        for index, agent in enumerate(teams[team]):
            config.configure_agent_routing(
                actor=owner,
                staff=agent,
                group=group,
                weight=2 if index == 0 else 1,
                routing=True,
                offline_routing=False,
            )
    config.configure_agent_routing(
        actor=owner, staff=supervisor, group=None, weight=1, routing=False, offline_routing=False
    )
    return groups


def import_team_phrases(owner: StaffAccount) -> int:
    """The template library as the team's phrases (the service is idempotent; a shop that already imported
    it is not asked again, so a second seed writes nothing)."""
    if Phrase.objects.filter(shop_id=owner.shop_id, owner=None).exclude(template_key="").exists():
        return 0
    return import_templates(actor=owner, scope="team").created


# --- past chats --------------------------------------------------------------------------------------------


@dataclass
class _Rows:
    conversations: list[Conversation] = field(default_factory=list)
    # per conversation (same index): its messages, delays, decisions, transfers, rating
    messages: list[list[Message]] = field(default_factory=list)
    delays: list[list[ReplyDelay]] = field(default_factory=list)
    decisions: list[list[RoutingDecision]] = field(default_factory=list)
    transfers: list[list[Transfer]] = field(default_factory=list)
    ratings: list[Rating | None] = field(default_factory=list)


@dataclass(frozen=True)
class _BuyerFacts:
    buyer_id: int
    state: str
    facts: dict[str, str]


def has_history(shop_id: int) -> bool:
    return Message.objects.filter(shop_id=shop_id, client_msg_id__startswith=MARKER).exists()


def _buyer_facts(shop_id: int) -> list[_BuyerFacts]:
    """Every buyer of the shop with the state of their latest order and its facts for the scripts."""
    latest: dict[int, Order] = {}
    orders = (
        Order.objects.filter(shop_id=shop_id).prefetch_related("items").order_by("buyer_id", "-created_at")
    )
    for order in orders:
        latest.setdefault(order.buyer_id, order)
    facts = []
    for buyer_id in Buyer.objects.filter(shop_id=shop_id).order_by("pk").values_list("pk", flat=True):
        found = latest.get(buyer_id)
        if found is None:
            facts.append(_BuyerFacts(buyer_id, "none", {}))
            continue
        order = found
        items = list(order.items.all())
        facts.append(
            _BuyerFacts(
                buyer_id,
                order.status,
                {
                    "order": order.number,
                    "carrier": order.carrier or "中通快递",
                    "tracking": order.tracking_number or "—",
                    "product": items[0].title.split(" ")[0] if items else "这款商品",
                },
            )
        )
    return facts


def _on_shift(team: list[StaffAccount], moment: datetime, tz: ZoneInfo) -> list[StaffAccount]:
    hour = moment.astimezone(tz).hour
    return [a for i, a in enumerate(team) if SHIFTS[i % len(SHIFTS)][0] <= hour < SHIFTS[i % len(SHIFTS)][1]]


def _fill(text: str, facts: dict[str, str]) -> str:
    return text.format(product=facts.get("product", "这款商品"), **{k: facts.get(k, "") for k in _KEYS})


_KEYS = ("order", "carrier", "tracking")


def build_history(
    *,
    owner: StaffAccount,
    groups: dict[str, AgentGroup],
    teams: dict[str, list[StaffAccount]],
    supervisor: StaffAccount,
    now: datetime,
    seed: int,
) -> int:
    """Three weeks of ended chats (module docstring); returns how many. Written in bulk."""
    rng = random.Random(seed)
    tz = owner.shop.zone  # the shop's opening hours, in its own time zone
    buyers = _buyer_facts(owner.shop_id)
    by_team: dict[str, list[Script]] = {PRE_SALE: [], AFTER_SALE: []}
    for script in SCRIPTS:
        by_team[script.team].append(script)
    rows = _Rows()
    today = now.astimezone(tz).date()
    for day in range(DAYS, -1, -1):
        for start in _chat_starts(rng, today - timedelta(days=day), tz, now):
            buyer = rng.choice(buyers)
            team = next(t for t, (_name, states) in GROUPS.items() if buyer.state in states)
            fitting = [s for s in by_team[team] if buyer.state in s.states]
            if not fitting:
                continue
            agents = _on_shift(teams[team], start, tz) or teams[team]
            _chat(
                rows,
                rng,
                rng.choice(fitting),
                buyer,
                groups[team],
                rng.choice(agents),
                start,
                now,
                teams,
                supervisor,
            )
    _write(rows)
    _write_shifts(owner.shop_id, teams, today, tz, now)
    return len(rows.conversations)


def _chat_starts(rng: random.Random, day: date, tz: ZoneInfo, now: datetime) -> list[datetime]:
    count = rng.randint(*CHATS_PER_DAY) + (3 if day.weekday() >= 5 else 0)
    hours = rng.choices(list(HOUR_WEIGHTS), weights=list(HOUR_WEIGHTS.values()), k=count)
    starts = [
        datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=tz) for hour in hours
    ]
    # Every chat of the seed has ended before now (with room for its auto-end and its rating).
    return sorted(s for s in starts if s < now - timedelta(hours=2))


def _chat(
    rows: _Rows,
    rng: random.Random,
    script: Script,
    buyer: _BuyerFacts,
    group: AgentGroup,
    agent: StaffAccount,
    start: datetime,
    now: datetime,
    teams: dict[str, list[StaffAccount]],
    supervisor: StaffAccount,
) -> None:
    index = len(rows.conversations)
    queued = rng.random() < 0.25  # every agent of the group was full: the chat waited in the queue
    assigned_at = start + timedelta(seconds=rng.randint(40, 240) if queued else rng.randint(1, 4))
    conv = Conversation(
        shop_id=group.shop_id,
        buyer_id=buyer.buyer_id,
        state=ConversationState.ENDED,
        agent=agent,
        group=group,
        handoff_reason="no_robot",
        created_at=start,
        queued_at=start if queued else None,
        assigned_at=assigned_at,
    )
    decisions = []
    rule = DecisionRule.ORDER_STATE
    if queued:
        rule = DecisionRule.QUEUE_DRAIN
        decisions.append(
            _decision(conv, DecisionRule.ORDER_STATE_ALL_FULL, DecisionOutcome.QUEUED, None, group, start)
        )
    decisions.append(_decision(conv, rule, DecisionOutcome.ASSIGNED, agent, group, assigned_at))

    messages: list[Message] = []
    delays: list[ReplyDelay] = []
    transfers: list[Transfer] = []
    current = agent
    moment = start
    waiting_from: datetime | None = assigned_at  # the reply timer starts at the assignment
    first_response: float | None = None
    last_buyer = start
    lines = script.lines
    if lines[-1][0] == "b":  # the agent closes politely: the chat ends read (no unread badge in history)
        lines = (*lines, ("a", rng.choice(CLOSINGS)))
    for who, text in lines:
        if who == "t":
            target = supervisor if script.to_supervisor else _colleague(rng, teams, current)
            moment += timedelta(seconds=rng.randint(10, 40))
            note = _fill(text, buyer.facts)
            transfers.append(
                Transfer(
                    conversation=conv,
                    from_agent=current,
                    to_agent=target,
                    by=current,
                    note=note,
                    created_at=moment,
                )
            )
            decisions.append(
                _decision(conv, DecisionRule.TRANSFER, DecisionOutcome.ASSIGNED, target, None, moment, note)
            )
            current, waiting_from = target, moment
            conv.agent = target
            continue
        if who == "b":
            moment = max(moment, start) + timedelta(seconds=rng.randint(12, 90) if messages else 0)
            last_buyer = moment
            if waiting_from is None:
                waiting_from = moment
        else:
            moment = max(moment, assigned_at) + timedelta(seconds=rng.randint(8, 55))
            if waiting_from is not None:
                seconds = (moment - waiting_from).total_seconds()
                first = first_response is None
                first_response = seconds if first else first_response
                delays.append(
                    ReplyDelay(
                        conversation=conv,
                        agent=current,
                        waited_from=waiting_from,
                        replied_at=moment,
                        seconds=seconds,
                        is_first=first,
                    )
                )
                waiting_from = None
        seq = len(messages) + 1
        messages.append(
            Message(
                conversation=conv,
                shop_id=group.shop_id,
                seq=seq,
                sender=SenderKind.BUYER if who == "b" else SenderKind.AGENT,
                agent=None if who == "b" else current,
                text=_fill(text, buyer.facts),
                client_msg_id=f"{MARKER}{index}-{seq}",
                created_at=moment,
            )
        )
    reason = rng.choice(script.ends)
    if reason == EndReason.AUTO:
        ended_at = moment + AUTO_END_AFTER
    else:
        ended_at = moment + timedelta(seconds=rng.randint(20, 120))
    conv.end_reason = reason
    conv.ended_at = ended_at
    conv.last_buyer_message_at = last_buyer
    conv.silent_since = moment  # the shop's last message: the auto-end clock
    conv.first_response_seconds = first_response
    conv.last_seq = len(messages)
    rating = None
    if rng.random() < RATED:
        stars = (
            rng.choice(script.stars) if script.stars else rng.choices(list(STARS), list(STARS.values()))[0]
        )
        rated_at = ended_at + timedelta(minutes=rng.randint(1, 90))
        rating = Rating(conversation=conv, agent=current, stars=stars, updated_at=min(rated_at, now))
    rows.conversations.append(conv)
    rows.messages.append(messages)
    rows.delays.append(delays)
    rows.decisions.append(decisions)
    rows.transfers.append(transfers)
    rows.ratings.append(rating)


def _colleague(
    rng: random.Random, teams: dict[str, list[StaffAccount]], current: StaffAccount
) -> StaffAccount:
    """A transfer target: an agent of the other team (after-sale hands a repeat purchase to pre-sale)."""
    other = AFTER_SALE if current in teams[PRE_SALE] else PRE_SALE
    return rng.choice(teams[other])


def _decision(
    conv: Conversation,
    rule: str,
    outcome: str,
    winner: StaffAccount | None,
    group: AgentGroup | None,
    at: datetime,
    note: str = "",
) -> RoutingDecision:
    candidates = [[winner.pk, 1, winner.max_concurrent, 1]] if winner is not None else []
    return RoutingDecision(
        conversation=conv,
        rule=rule,
        outcome=outcome,
        winner=winner,
        group=group,
        candidates=candidates,
        note=note,
        created_at=at,
    )


def _bulk_with_times(model: type[models.Model], objs: Sequence[models.Model], times: Sequence[str]) -> None:
    """``bulk_create`` stamps auto_now(_add) fields with now: write the rows, then set their own times."""
    kept = [[getattr(obj, name) for name in times] for obj in objs]
    model._default_manager.bulk_create(objs, batch_size=500)
    for obj, values in zip(objs, kept, strict=True):
        for name, value in zip(times, values, strict=True):
            setattr(obj, name, value)
    model._default_manager.bulk_update(objs, list(times), batch_size=500)


def _write(rows: _Rows) -> None:
    _bulk_with_times(Conversation, rows.conversations, ["created_at"])
    # The rows below refer to their conversation objects, which have their ids now.
    _bulk_with_times(Message, [m for ms in rows.messages for m in ms], ["created_at"])
    ReplyDelay.objects.bulk_create([d for ds in rows.delays for d in ds], batch_size=500)
    _bulk_with_times(RoutingDecision, [d for ds in rows.decisions for d in ds], ["created_at"])
    _bulk_with_times(Transfer, [t for ts in rows.transfers for t in ts], ["created_at"])
    _bulk_with_times(Rating, [r for r in rows.ratings if r is not None], ["updated_at"])


def _write_shifts(
    shop_id: int, teams: dict[str, list[StaffAccount]], today: date, tz: ZoneInfo, now: datetime
) -> None:
    """Each agent's shift of every day: online at its start, offline at its end (``SHIFTS``, taken in turn
    within a team, as ``_on_shift`` reads them). A shift not over yet ends an hour before now, after the
    seeded chats: every agent is offline now, as the seed leaves them."""
    changes = []
    latest_start, latest_end = now - timedelta(hours=2), now - timedelta(hours=1)
    for day in range(DAYS, -1, -1):
        when = today - timedelta(days=day)
        for index, agent in ((i, a) for team in teams.values() for i, a in enumerate(team)):
            begin, end = (
                datetime.combine(when, time(hour), tzinfo=tz) for hour in SHIFTS[index % len(SHIFTS)]
            )
            if begin < latest_start:
                changes.append(
                    AgentStatusChange(staff=agent, shop_id=shop_id, status=AgentStatus.ONLINE, at=begin)
                )
                changes.append(
                    AgentStatusChange(
                        staff=agent, shop_id=shop_id, status=AgentStatus.OFFLINE, at=min(end, latest_end)
                    )
                )
    AgentStatusChange.objects.bulk_create(changes, batch_size=500)


def summary(shop: Shop) -> str:
    groups = ", ".join(AgentGroup.objects.for_shop(shop).values_list("name", flat=True))
    chats = Conversation.objects.for_shop(shop).filter(state=ConversationState.ENDED).count()
    rated = Rating.objects.for_shop(shop).count()
    phrases = Phrase.objects.filter(shop_id=shop.pk, owner=None).count()
    return f"groups {groups}; {phrases} team phrases; {chats} past chats, {rated} rated"
