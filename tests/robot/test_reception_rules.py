"""Full-auto reception (robot.reception): who the robot receives, what it answers, when it hands over, with
which intent and reason, what it keeps; through the chat consumers' path (store, then the reception hook)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import time_machine
from django.utils import timezone, translation

from backoffice.models import Buyer, Shop, StaffAccount
from robot import diversion, reception
from robot.models import RobotSession, RobotTurn, UnansweredGroup, UnansweredQuestion
from robot.reception_config import save_reception
from routing import services
from routing.intents import Intent
from routing.models import Conversation, RoutingSettings
from routing.reception import Received
from tests.backoffice import factories
from tests.robot.conftest import say, transcript

UNSURE = ["asdfgh qwer", "你们家的猫叫什么名字"]


@pytest.fixture
def buyer(shop_a: Shop) -> Buyer:
    return factories.buyer(shop_a, "b1", "小王")


def conv_of(message_conv: Conversation) -> Conversation:
    return Conversation.objects.get(pk=message_conv.pk)


# --- who the robot receives ---


def test_with_the_robot_off_the_first_message_goes_to_a_human(
    buyer: Buyer, online_agent: StaffAccount
) -> None:
    conv = conv_of(say(buyer, "快递到哪了", "m1").conversation)
    assert (conv.state, conv.agent_id, conv.handoff_reason) == ("active", online_agent.pk, "no_robot")
    assert not RobotSession.objects.exists()
    assert [s for s, _t in transcript(conv)] == ["buyer"]


@pytest.mark.usefixtures("robot_on")
def test_the_robot_greets_with_its_opening_text_and_answers(buyer: Buyer, online_agent: StaffAccount) -> None:
    conv = conv_of(say(buyer, "在吗", "m1").conversation)
    assert (conv.state, conv.agent_id) == ("robot", None)
    said = transcript(conv)
    assert [s for s, _t in said] == ["buyer", "robot", "robot"]
    assert said[1][1].startswith("亲，您好，我是小鹿家居旗舰店的智能客服")  # {店铺名称} filled
    assert "{" not in said[2][1]
    session = RobotSession.objects.get(conversation=conv)
    assert (session.answered, session.handed_over_at) == (1, None)


@pytest.mark.usefixtures("robot_on")
def test_a_new_buyer_with_the_priority_entry_skips_the_robot(
    shop_a: Shop, buyer: Buyer, online_agent: StaffAccount
) -> None:
    RoutingSettings.objects.update_or_create(shop=shop_a, defaults={"new_buyer_priority": True})
    now = timezone.now()
    factories.order(shop_a, "N1", "b1", paid_at=now - timedelta(days=2))
    Buyer.objects.filter(pk=buyer.pk).update(first_paid_at=now - timedelta(days=2))
    buyer.refresh_from_db()
    conv = conv_of(say(buyer, "在吗", "m1").conversation)
    assert (conv.state, conv.agent_id, conv.priority) == ("active", online_agent.pk, True)
    assert not RobotSession.objects.exists()


@pytest.mark.usefixtures("robot_on")
def test_a_returning_buyer_without_the_priority_entry_gets_the_robot(
    shop_a: Shop, buyer: Buyer, online_agent: StaffAccount
) -> None:
    now = timezone.now()
    factories.order(shop_a, "N1", "b1", paid_at=now - timedelta(days=2))
    Buyer.objects.filter(pk=buyer.pk).update(first_paid_at=now - timedelta(days=2))
    buyer.refresh_from_db()  # a new buyer, but the shop has no priority entry
    assert conv_of(say(buyer, "在吗", "m1").conversation).state == "robot"


@pytest.mark.usefixtures("robot_on")
def test_diversion_sends_the_other_share_straight_to_humans(shop_a: Shop, online_agent: StaffAccount) -> None:
    diversion.save_rule(shop=shop_a, start=time(0), end=time(23, 59), ratio=0)
    buyer = factories.buyer(shop_a, "b9")
    with time_machine.travel(timezone.localtime().replace(hour=12), tick=False):
        conv = conv_of(say(buyer, "在吗", "m1").conversation)
    assert (conv.state, conv.handoff_reason) == ("active", "no_robot")


# --- answers ---


@pytest.mark.usefixtures("robot_on")
def test_logistics_is_answered_with_the_tracking_number(shop_a: Shop, buyer: Buyer) -> None:
    factories.order(
        shop_a,
        "S1",
        "b1",
        status="shipped",
        shipped_at=timezone.now(),
        carrier="顺丰速运",
        tracking_number="SF42",
    )
    conv = conv_of(say(buyer, "kd dao na le", "m1").conversation)
    answer = transcript(conv)[-1]
    assert answer[0] == "robot" and "SF42" in answer[1] and "顺丰速运" in answer[1]
    assert conv.state == "robot"


@pytest.mark.usefixtures("robot_on")
def test_a_resend_is_not_answered_twice(buyer: Buyer) -> None:
    first = say(buyer, "在吗", "m1")
    again = say(buyer, "在吗", "m1")
    assert again.pk == first.pk
    reception.receive([Received(first, buyer)])  # the hook called again with the stored message
    assert len(transcript(first.conversation)) == 3
    assert RobotTurn.objects.count() == 1


# --- hand-offs ---


@pytest.mark.usefixtures("robot_on")
@pytest.mark.parametrize("words", ["转人工", "人工客服", "找客服", "我要真人", "zrg"])
def test_the_buyer_asks_for_a_human_and_gets_one(
    buyer: Buyer, online_agent: StaffAccount, words: str
) -> None:
    conv = conv_of(say(buyer, words, "m1").conversation)
    assert (conv.state, conv.agent_id, conv.handoff_reason) == ("active", online_agent.pk, "buyer_asked")
    assert [s for s, _t in transcript(conv)] == ["buyer", "robot", "robot", "system"]  # opening, hand-off


@pytest.mark.usefixtures("robot_on")
def test_a_negated_request_for_a_human_is_not_one() -> None:
    assert reception.asks_for_human("转人工")
    assert not reception.asks_for_human("不用转人工了 谢谢")


@pytest.mark.usefixtures("robot_on")
def test_the_hand_off_carries_the_intent_of_the_whole_conversation(
    shop_a: Shop, buyer: Buyer, online_agent: StaffAccount
) -> None:
    factories.order(shop_a, "S1", "b1", status="shipped", shipped_at=timezone.now(), tracking_number="SF42")
    say(buyer, "你好", "m1")
    say(buyer, "快递到哪了", "m2")
    say(buyer, "物流怎么一直没更新", "m3")
    conv = conv_of(say(buyer, "转人工", "m4").conversation)
    assert (conv.intent, conv.handoff_reason) == ("logistics", "buyer_asked")  # not the last one's ask_human
    assert RobotSession.objects.get(conversation=conv).intent == "logistics"
    said = transcript(conv)
    assert [s for s, _t in said[-3:]] == ["buyer", "robot", "system"]
    with translation.override("zh-hans"):
        assert str(Intent.LOGISTICS.label) in said[-1][1]  # the agent sees why and what the buyer wants


def test_the_conversation_intent_sums_confidences_and_leaves_out_greetings() -> None:
    turns = [("greeting", 0.99), ("urge_shipping", 0.6), ("logistics", 0.9), ("ask_human", 0.95)]
    assert reception.conversation_intent(turns) == "logistics"
    assert reception.conversation_intent(
        [("urge_shipping", 0.6), ("urge_shipping", 0.6), ("refund", 0.9)]
    ) == ("urge_shipping")
    assert reception.conversation_intent([("greeting", 0.9), ("", 0.2)]) == ""
    assert reception.conversation_intent([("refund", 0.5), ("invoice", 0.5)]) == "invoice"  # tie: the later


@pytest.mark.usefixtures("robot_on")
def test_two_unsure_answers_in_a_row_hand_over(buyer: Buyer, online_agent: StaffAccount) -> None:
    first = say(buyer, UNSURE[0], "m1")
    conv = conv_of(first.conversation)
    assert conv.state == "robot"
    assert transcript(conv)[-1][1].startswith("抱歉，我没太明白")
    conv = conv_of(say(buyer, UNSURE[1], "m2").conversation)
    assert (conv.state, conv.handoff_reason) == ("active", "robot_unsure")


@pytest.mark.usefixtures("robot_on")
def test_an_answer_in_between_resets_the_unsure_count(buyer: Buyer) -> None:
    say(buyer, UNSURE[0], "m1")
    say(buyer, "在吗", "m2")
    conv = conv_of(say(buyer, UNSURE[1], "m3").conversation)
    assert conv.state == "robot"


def test_the_unsure_limit_is_the_shops(shop_a: Shop, buyer: Buyer, online_agent: StaffAccount) -> None:
    save_reception(shop_a, {"full_auto": True, "unsure_limit": 1})
    conv = conv_of(say(buyer, UNSURE[0], "m1").conversation)
    assert (conv.state, conv.handoff_reason) == ("active", "robot_unsure")


@pytest.mark.usefixtures("robot_on")
@pytest.mark.parametrize("text", ["你们这是什么垃圾店 气死我了", "我要投诉你们", "再不发货我就打12315"])
def test_a_complaint_or_an_angry_message_hands_over_at_once(
    buyer: Buyer, online_agent: StaffAccount, text: str
) -> None:
    conv = conv_of(say(buyer, text, "m1").conversation)
    assert (conv.state, conv.handoff_reason) == ("active", "complaint")


@pytest.mark.usefixtures("robot_on")
def test_a_calm_message_stays_with_the_robot(buyer: Buyer) -> None:
    conv = conv_of(say(buyer, "什么时候发货呀 谢谢", "m1").conversation)
    assert conv.state == "robot"


@pytest.mark.usefixtures("robot_on")
def test_robot_time_does_not_count_in_the_human_response_time(
    buyer: Buyer, online_agent: StaffAccount
) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        say(buyer, "在吗", "m1")
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        conv = conv_of(say(buyer, "转人工", "m2").conversation)
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        services.post_agent_message(
            agent=online_agent, conversation=conv, text="您好，我是阿杰", client_msg_id="a1"
        )
    conv.refresh_from_db()
    assert conv.first_response_seconds == pytest.approx(60)


@pytest.mark.usefixtures("robot_on")
def test_after_the_hand_off_the_robot_is_silent(buyer: Buyer, online_agent: StaffAccount) -> None:
    say(buyer, "转人工", "m1")
    conv = conv_of(say(buyer, "在吗", "m2").conversation)
    assert transcript(conv)[-1] == ("buyer", "在吗")


# --- what is kept ---


@pytest.mark.usefixtures("robot_on")
def test_unanswered_questions_are_kept_and_grouped(shop_a: Shop) -> None:
    for n, text in enumerate(["你们家的猫叫什么名字", "你们家的猫叫啥名字呀", "你们家的猫叫什么名字？"]):
        say(factories.buyer(shop_a, f"u{n}"), text, f"m{n}")
    say(factories.buyer(shop_a, "u9"), "asdfgh qwer", "m9")
    groups = {g.text: g.count for g in UnansweredGroup.objects.all()}
    assert groups == {"你们家的猫叫什么名字": 3, "asdfgh qwer": 1}
    assert UnansweredQuestion.objects.count() == 4


@pytest.mark.usefixtures("robot_on")
def test_resolved_by_the_robot_means_ended_without_hand_off_and_no_human_within_a_day(
    shop_a: Shop, online_agent: StaffAccount
) -> None:
    calm, again, handed = (factories.buyer(shop_a, p) for p in ("r1", "r2", "r3"))
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ends = []
        for buyer in (calm, again):
            conv = say(buyer, "在吗", f"{buyer.pk}-1").conversation
            services.end_conversation(conversation=conv, reason="auto")
            ends.append(conv.pk)
        say(handed, "转人工", "h-1")
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        services.request_human(buyer=again)  # back within a day, to a human
    resolved = set(RobotSession.objects.resolved().values_list("conversation_id", flat=True))
    assert resolved == {ends[0]}
    assert RobotSession.objects.handed_over().count() == 1


@pytest.mark.usefixtures("robot_on")
def test_a_hand_off_that_failed_is_made_at_the_next_message(
    buyer: Buyer, online_agent: StaffAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = services.hand_over
    monkeypatch.setattr(
        services, "hand_over", lambda arrivals: [RuntimeError("routing is down")] * len(arrivals)
    )
    with pytest.raises(RuntimeError):
        say(buyer, "转人工", "m1")
    conv = Conversation.objects.get(buyer=buyer)
    assert conv.state == "robot" and RobotSession.objects.get(conversation=conv).handed_over_at is not None
    monkeypatch.setattr(services, "hand_over", real)
    conv = conv_of(say(buyer, "人呢", "m2").conversation)
    assert (conv.state, conv.agent_id, conv.handoff_reason) == ("active", online_agent.pk, "buyer_asked")
    assert [s for s, _t in transcript(conv)].count("system") == 1  # the notice is not repeated


@pytest.mark.usefixtures("robot_on")
def test_a_batch_of_several_chats_is_received_in_order_each_on_its_own(
    shop_a: Shop, online_agent: StaffAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routing.consumers import Send, _buyer_sends

    one, two = factories.buyer(shop_a, "s1"), factories.buyer(shop_a, "s2")
    calls: list[int] = []
    real = services.hand_over

    def counted(arrivals: list[services.Arrival]) -> list[Exception | None]:
        calls.append(len(arrivals))
        return real(arrivals)

    monkeypatch.setattr(services, "hand_over", counted)
    frames = [
        (one, Send(type="send", client_msg_id="a", text="在吗")),
        (two, Send(type="send", client_msg_id="b", text="转人工")),
        (one, Send(type="send", client_msg_id="c", text="什么时候发货")),
        (two, Send(type="send", client_msg_id="d", text="在吗")),
    ]
    results = _buyer_sends(frames)
    assert not any(isinstance(r, Exception) for r in results)
    assert calls == [1]  # the batch's hand-offs routed together
    first, second = (Conversation.objects.get(buyer=b) for b in (one, two))
    assert (first.state, second.state, second.agent_id) == ("robot", "active", online_agent.pk)
    # Stored together first (group commit), then read in order: the opening and an answer to each.
    assert [s for s, _t in transcript(first)] == ["buyer", "buyer", "robot", "robot", "robot"]


@pytest.mark.usefixtures("robot_on")
def test_switching_the_robot_off_sends_its_chats_to_humans_at_their_next_message(
    shop_a: Shop, buyer: Buyer, online_agent: StaffAccount
) -> None:
    say(buyer, "在吗", "m1")
    save_reception(shop_a, {"full_auto": False})
    conv = conv_of(say(buyer, "什么时候发货", "m2").conversation)
    assert (conv.state, conv.agent_id, conv.handoff_reason) == ("active", online_agent.pk, "no_robot")
