"""FAQ (issue 16): six questions at most, shown unless full-auto reception is on, a tap stored as the buyer's
question and the system's answer (idempotent), the right, and the buyer endpoint's refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from backoffice.errors import Conflict, Forbidden, Invalid
from backoffice.models import Role, Shop, StaffAccount
from robot.models import FaqItem, RobotSettings
from robot.selfservice import faq
from routing.models import Conversation, ConversationState, Message, SenderKind
from routing.tokens import buyer_token
from tests.backoffice import factories


@pytest.fixture
def questions(owner: StaffAccount) -> list[FaqItem]:
    faq.set_opening(staff=owner, opening="您好，欢迎光临小鹿家居~")
    return [
        faq.add_question(staff=owner, question="什么时候发货？", answer="付款后48小时内发货。"),
        faq.add_question(staff=owner, question="可以退换吗？", answer="支持7天无理由退换。"),
    ]


def ask_url(shop: Shop, buyer: Any) -> str:
    return f"/chat/{shop.pk}/self-service/faq/?token={buyer_token(buyer)}"


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_a_seventh_question_is_refused_with_a_clear_error(owner: StaffAccount) -> None:
    for n in range(faq.MAX_QUESTIONS):
        faq.add_question(staff=owner, question=f"问题{n}", answer="答案")
    with pytest.raises(Invalid, match=r"最多|at most"):
        faq.add_question(staff=owner, question="第七个", answer="答案")
    assert FaqItem.objects.for_shop(owner.shop).count() == 6


def test_an_agent_without_the_faq_right_cannot_configure_it(teammate: StaffAccount) -> None:
    with pytest.raises(Forbidden):
        faq.add_question(staff=teammate, question="问", answer="答")


def test_operations_role_has_the_faq_right(shop_a: Shop) -> None:
    ops = factories.staff(shop_a, "ops_a", "运营-小赵", role=Role.OPERATIONS)
    assert faq.add_question(staff=ops, question="问", answer="答").pk


def test_the_buyer_sees_the_opening_and_questions_without_answers(
    questions: list[FaqItem], shop_a: Shop
) -> None:
    buyer = factories.buyer(shop_a)
    shown = faq.faq_for_buyer(buyer)
    assert shown == {
        "opening": "您好，欢迎光临小鹿家居~",
        "questions": [{"id": q.pk, "question": q.question} for q in questions],
    }


def test_the_faq_is_not_shown_while_full_auto_reception_is_on(questions: list[FaqItem], shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a)
    RobotSettings.objects.create(shop=shop_a, full_auto=True)
    assert faq.faq_for_buyer(buyer) is None
    with pytest.raises(Conflict):
        faq.ask(buyer=buyer, item_id=questions[0].pk, client_msg_id="c1")


def test_tapping_a_question_stores_it_and_its_answer_without_a_human_session(
    questions: list[FaqItem], shop_a: Shop
) -> None:
    buyer = factories.buyer(shop_a)
    question, answer = faq.ask(buyer=buyer, item_id=questions[0].pk, client_msg_id="tap-1")
    conv = Conversation.objects.get(buyer=buyer)
    assert conv.state == ConversationState.ROBOT and conv.agent_id is None and conv.waiting_since is None
    stored = list(Message.objects.filter(conversation=conv).order_by("seq").values_list("sender", "text"))
    assert stored == [(SenderKind.BUYER, "什么时候发货？"), (SenderKind.SYSTEM, "付款后48小时内发货。")]
    assert (question.seq, answer.seq) == (1, 2)


def test_a_repeated_tap_with_the_same_id_stores_nothing_new(questions: list[FaqItem], shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a)
    first = faq.ask(buyer=buyer, item_id=questions[0].pk, client_msg_id="tap-1")
    again = faq.ask(buyer=buyer, item_id=questions[0].pk, client_msg_id="tap-1")
    assert [m.pk for m in first] == [m.pk for m in again]
    assert Message.objects.filter(conversation__buyer=buyer).count() == 2


def test_tapping_while_an_agent_serves_is_refused(questions: list[FaqItem], shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a)
    Conversation.objects.create(shop=shop_a, buyer=buyer, state=ConversationState.ACTIVE)
    with pytest.raises(Conflict):
        faq.ask(buyer=buyer, item_id=questions[0].pk, client_msg_id="tap-1")
    assert not Message.objects.filter(conversation__buyer=buyer).exists()


def test_buyer_endpoint_taps_a_question(client: Client, questions: list[FaqItem], shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a)
    response = post(client, ask_url(shop_a, buyer), {"question": questions[1].pk, "client_msg_id": "x1"})
    assert response.status_code == 201
    assert response.json()["answer_seq"] == 2


def test_buyer_endpoint_refuses_bad_input_and_writes_nothing(
    client: Client, questions: list[FaqItem], shop_a: Shop, shop_b: Shop
) -> None:
    buyer = factories.buyer(shop_a)
    url = ask_url(shop_a, buyer)
    assert client.post(url, "{not json", content_type="application/json").status_code == 400
    assert post(client, url, [1, 2]).status_code == 400
    assert post(client, url, {"question": questions[0].pk, "client_msg_id": "a\x00"}).status_code == 422
    surrogate = '{"question": ' + str(questions[0].pk) + ', "client_msg_id": "\\ud800"}'
    assert client.post(url, surrogate, content_type="application/json").status_code == 422
    assert post(client, url, {"question": 2**63, "client_msg_id": "x"}).status_code == 422
    assert post(client, url, {"question": True, "client_msg_id": "x"}).status_code == 422
    assert post(client, url, {"question": "abc", "client_msg_id": "x"}).status_code == 422
    assert post(client, url, {"question": 999999, "client_msg_id": "x"}).status_code == 404
    other = faq.add_question(
        staff=StaffAccount.objects.get(shop=shop_b, role=Role.OWNER), question="乙店问题", answer="乙店答案"
    )
    assert post(client, url, {"question": other.pk, "client_msg_id": "x"}).status_code == 404
    assert post(client, f"/chat/{shop_a.pk}/self-service/faq/", {"question": 1}).status_code == 403
    assert not Message.objects.exists()


def test_faq_settings_page_adds_and_refuses_the_seventh(owner_client: Client, owner: StaffAccount) -> None:
    for n in range(6):
        response = owner_client.post(
            "/self-service/faq/", {"op": "add", "question": f"问{n}", "answer": "答"}
        )
        assert response.status_code == 302
    response = owner_client.post("/self-service/faq/", {"op": "add", "question": "问7", "answer": "答"})
    assert response.status_code == 422
    assert "6" in response.content.decode()
    assert FaqItem.objects.for_shop(owner.shop).count() == 6


def test_faq_settings_page_needs_the_right(teammate_client: Client) -> None:
    assert teammate_client.get("/self-service/faq/").status_code == 403


def test_faq_markup_is_stored_as_text_and_shown_escaped(owner_client: Client, owner: StaffAccount) -> None:
    owner_client.post(
        "/self-service/faq/", {"op": "add", "question": "<script>x</script>", "answer": "<b>答</b>"}
    )
    page = owner_client.get("/self-service/faq/").content.decode()
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page


def test_the_faq_is_not_offered_while_an_agent_serves(questions: list[FaqItem], shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a)
    assert faq.faq_for_buyer(buyer) is not None
    Conversation.objects.create(shop=shop_a, buyer=buyer, state=ConversationState.ACTIVE)
    assert faq.faq_for_buyer(buyer) is None
