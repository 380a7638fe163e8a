"""Answer recommendation (robot.recommend): the shop's own replies of well-rated, settled chats, merged,
ranked and explained; the beat task is idempotent and claims each due shop once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from backoffice.models import Buyer, Shop, StaffAccount
from robot import recommend, tasks
from robot.models import RecommendationRun, RecommendedReply
from routing import services
from routing.models import Conversation
from tests.backoffice import factories
from tests.conftest import requires_postgres
from tests.robot.conftest import say

START = timezone.now() - timedelta(days=5)


def chat(
    agent: StaffAccount, buyer: Buyer, pairs: list[tuple[str, str]], stars: int, at: datetime
) -> Conversation:
    """A served chat at ``at``: the buyer asks, the agent answers, the agent ends it, the buyer rates it."""
    with time_machine.travel(at, tick=False):
        conv = None
        for n, (asked, answered) in enumerate(pairs):
            conv = say(buyer, asked, f"{at}-{n}").conversation
            conv = Conversation.objects.get(pk=conv.pk)
            services.post_agent_message(
                agent=agent, conversation=conv, text=answered, client_msg_id=f"a{at}-{n}"
            )
        assert conv is not None
        conv = services.end_conversation(conversation=conv, reason="agent", by=agent)
        services.rate(buyer=buyer, conversation=conv, stars=stars)
    return conv


@pytest.fixture
def server(shop_a: Shop, owner: StaffAccount) -> StaffAccount:
    services.set_agent_status(staff=owner, status="offline")
    staff = factories.staff(shop_a, "agent_rec", "售后-阿杰")
    services.set_agent_status(staff=staff, status="online")
    return staff


def buyers(shop: Shop, n: int) -> list[Buyer]:
    return [factories.buyer(shop, f"rb{i}", f"买家{i}") for i in range(n)]


def test_replies_of_good_chats_are_merged_ranked_and_explained(shop_a: Shop, server: StaffAccount) -> None:
    b = buyers(shop_a, 4)
    chat(server, b[0], [("什么时候发货", "亲，订单48小时内发货哦")], 5, START)
    chat(server, b[1], [("怎么还不发货", "亲 订单48小时内发货哦~")], 4, START + timedelta(hours=1))
    chat(server, b[2], [("啥时候发货啊", "仓库正在打包，今天就发")], 5, START + timedelta(hours=2))
    chat(server, b[3], [("快递到哪了", "已经发顺丰了")], 5, START + timedelta(hours=3))
    recommend.compute(shop_id=shop_a.pk)
    urge = list(RecommendedReply.objects.filter(intent="urge_shipping").order_by("rank"))
    assert [(r.times_used, r.average_rating) for r in urge] == [(2, 4.5), (1, 5.0)]
    assert "48小时内发货" in urge[0].text and "打包" in urge[1].text
    assert RecommendedReply.objects.filter(intent="logistics").count() == 1


def test_low_ratings_and_unsettled_chats_are_left_out(shop_a: Shop, server: StaffAccount) -> None:
    b = buyers(shop_a, 4)
    chat(server, b[0], [("什么时候发货", "低分回复 不要学")], 3, START)
    chat(server, b[1], [("什么时候发货", "又来找人工的回复")], 5, START)
    chat(server, b[1], [("在吗", "在的")], 5, START + timedelta(hours=3))  # back to a human within a day
    complained = chat(server, b[2], [("什么时候发货", "后来被投诉的回复")], 5, START)
    with time_machine.travel(complained.ended_at + timedelta(hours=2), tick=False):  # type: ignore[operator]
        Conversation.objects.create(shop=shop_a, buyer=b[2], state="robot", intent="complaint")
    chat(server, b[3], [("什么时候发货", "好回复 今天发")], 5, START)
    recommend.compute(shop_id=shop_a.pk)
    texts = set(RecommendedReply.objects.filter(intent="urge_shipping").values_list("text", flat=True))
    assert texts == {"好回复 今天发"}


def test_a_chat_ended_less_than_a_day_ago_is_not_mined_yet(shop_a: Shop, server: StaffAccount) -> None:
    chat(server, buyers(shop_a, 1)[0], [("什么时候发货", "今天发")], 5, timezone.now() - timedelta(hours=2))
    assert recommend.compute(shop_id=shop_a.pk) == []


def test_the_task_is_idempotent_and_claims_a_due_shop_once(shop_a: Shop, server: StaffAccount) -> None:
    chat(server, buyers(shop_a, 1)[0], [("什么时候发货", "亲，订单48小时内发货哦")], 5, START)
    assert tasks.recommend_answers() == 1
    first = list(RecommendedReply.objects.values_list("intent", "text", "times_used", "rank"))
    assert tasks.recommend_answers() == 0  # not due again for an hour
    RecommendationRun.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    assert tasks.recommend_answers() == 1
    assert list(RecommendedReply.objects.values_list("intent", "text", "times_used", "rank")) == first


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_compute_each_shop_once(shop_a: Shop, shop_b: Shop, server: StaffAccount) -> None:
    chat(server, buyers(shop_a, 1)[0], [("什么时候发货", "今天发")], 5, START)
    RecommendationRun.objects.bulk_create(
        [
            RecommendationRun(shop=shop, due_at=timezone.now() - timedelta(minutes=1))
            for shop in (shop_a, shop_b)
        ]
    )
    done: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            done.append(recommend.run_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) in ([0, 2], [1, 1])
    assert RecommendationRun.objects.filter(computed_at__isnull=False).count() == 2
