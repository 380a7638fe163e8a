"""A hand-built day of conversations for the KPI tests (and the report pages' tests), made through routing's
real services at fixed local times (Asia/Shanghai), so every figure can be worked out by hand.

Day 2026-03-02 (local), agents A (teammate) and B (colleague), the owner offline:
- S1 10:00 robot session: buyer writes, robot answers, buyer ends at 10:02 (resolved by the robot).
- S2 10:10 robot, hand-off at 10:11 to A (only A online). A replies 10:12 (60 s, first). Buyer writes 10:13
  and 10:13:30 (one round); A replies 10:17 (240 s, slow). Rating invitation, 5 stars. A ends 10:20.
- S3 10:30 everyone busy: queued; buyer writes 10:30:10. B online 10:32: assigned (wait 120 s). A online,
  B transfers to A at 10:33 with a note. A replies 10:34:30 (150 s from 10:32, first, for A). Buyer writes
  10:35, no answer; A ends 10:39 (an unanswered round of 240 s: a miss).
- S4 10:40 everyone busy: queued, buyer writes 10:40:30, buyer ends 10:43 (abandoned).
- S5 10:50 proactive by A (A online); A writes 10:50:10 (no round); buyer 10:51; A replies 10:52 (60 s,
  first). Auto-ended 11:07; A replies 11:10 (a history reply: no round). Buyer rates 2 stars at 11:11.
Day 2026-03-01: S6 23:58 robot session, ended 00:05 on 03-02 (a robot-resolved session of 03-01).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import time_machine

from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import Conversation, EndReason
from tests.backoffice import factories

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 3, 2)
BEFORE = date(2026, 3, 1)


def at(hour: int, minute: int, second: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=TZ)


@dataclass
class Sessions:
    s1: Conversation
    s2: Conversation
    s3: Conversation
    s4: Conversation
    s5: Conversation
    s6: Conversation


def build(shop: Shop, owner: StaffAccount, a: StaffAccount, b: StaffAccount) -> Sessions:
    services.set_agent_status(staff=owner, status="offline")
    buyers = [factories.buyer(shop, f"kb{i}", f"买家{i}号") for i in range(1, 7)]
    with time_machine.travel(at(23, 58, day=BEFORE), tick=False) as clock:
        factories.order(shop, "KPI-ORDER-5", "kb5")  # ordered and paid a day before: to ship during S5
        services.post_buyer_message(buyer=buyers[5], text="昨晚的问题")
        s6 = Conversation.objects.get(buyer=buyers[5])
        services.post_robot_message(conversation=s6, text="机器人回答")
        clock.move_to(at(0, 5))
        services.end_conversation(conversation=s6, reason=EndReason.BUYER)

        clock.move_to(at(10, 0))
        services.post_buyer_message(buyer=buyers[0], text="在吗")
        s1 = Conversation.objects.get(buyer=buyers[0])
        clock.move_to(at(10, 0, 5))
        services.post_robot_message(conversation=s1, text="亲，在的")
        clock.move_to(at(10, 2))
        services.end_conversation(conversation=s1, reason=EndReason.BUYER)

        services.set_agent_status(staff=a, status="online")
        services.set_agent_status(staff=b, status="busy")
        clock.move_to(at(10, 10))
        services.post_buyer_message(buyer=buyers[1], text="这个杯子能进洗碗机吗")
        s2 = Conversation.objects.get(buyer=buyers[1])
        services.post_robot_message(conversation=s2, text="可以的")
        clock.move_to(at(10, 11))
        s2, _ = services.request_human(buyer=buyers[1])
        assert s2.agent_id == a.pk
        clock.move_to(at(10, 12))
        services.post_agent_message(agent=a, conversation=s2, text="您好，可以的")
        clock.move_to(at(10, 13))
        services.post_buyer_message(buyer=buyers[1], text="那微波炉呢")
        clock.move_to(at(10, 13, 30))
        services.post_buyer_message(buyer=buyers[1], text="还有烤箱")
        clock.move_to(at(10, 17))
        services.post_agent_message(agent=a, conversation=s2, text="微波炉可以，烤箱不行")
        clock.move_to(at(10, 17, 10))
        services.invite_rating(agent=a, conversation=s2)
        services.rate(buyer=buyers[1], conversation=s2, stars=5)
        clock.move_to(at(10, 20))
        services.end_conversation(conversation=s2, reason=EndReason.AGENT, by=a)

        services.set_agent_status(staff=a, status="busy")
        clock.move_to(at(10, 30))
        s3, _ = services.request_human(buyer=buyers[2])
        clock.move_to(at(10, 30, 10))
        services.post_buyer_message(buyer=buyers[2], text="快递到哪了")
        clock.move_to(at(10, 32))
        services.set_agent_status(staff=b, status="online")
        s3.refresh_from_db()
        assert s3.agent_id == b.pk
        services.set_agent_status(staff=a, status="online")
        clock.move_to(at(10, 33))
        services.transfer(conversation=s3, to_agent=a, by=b, note="物流问题请跟进")
        clock.move_to(at(10, 34, 30))
        services.post_agent_message(agent=a, conversation=s3, text="在路上了")
        clock.move_to(at(10, 35))
        services.post_buyer_message(buyer=buyers[2], text="什么时候到")
        clock.move_to(at(10, 39))
        services.end_conversation(conversation=s3, reason=EndReason.AGENT, by=a)

        services.set_agent_status(staff=a, status="busy")
        services.set_agent_status(staff=b, status="busy")
        clock.move_to(at(10, 40))
        s4, _ = services.request_human(buyer=buyers[3])
        clock.move_to(at(10, 40, 30))
        services.post_buyer_message(buyer=buyers[3], text="有人吗")
        clock.move_to(at(10, 43))
        services.end_conversation(conversation=s4, reason=EndReason.BUYER)

        services.set_agent_status(staff=a, status="online")
        clock.move_to(at(10, 50))
        s5 = services.start_proactive(agent=a, buyer=buyers[4])
        clock.move_to(at(10, 50, 10))
        services.post_agent_message(agent=a, conversation=s5, text="您的订单已发货")
        clock.move_to(at(10, 51))
        services.post_buyer_message(buyer=buyers[4], text="好的，几天到")
        clock.move_to(at(10, 52))
        services.post_agent_message(agent=a, conversation=s5, text="两三天")
        clock.move_to(at(11, 7))
        services.end_conversation(conversation=s5, reason=EndReason.AUTO)
        clock.move_to(at(11, 10))
        services.post_agent_message(agent=a, conversation=s5, text="还有问题随时找我")
        clock.move_to(at(11, 11))
        services.rate(buyer=buyers[4], conversation=s5, stars=2)
    return Sessions(*(Conversation.objects.get(pk=c.pk) for c in (s1, s2, s3, s4, s5, s6)))
