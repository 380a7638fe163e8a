"""GET /api/v1/robot/match: the robot right, validation, tenancy, and the calibrated answer."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.test import Client

from backoffice.models import Product, Shop, StaffAccount
from robot import knowledge, matching

URL = "/api/v1/robot/match"


@pytest.fixture(autouse=True)
def _fresh_index() -> None:
    matching.clear()


def test_owner_gets_the_top_matches_with_scores_and_intent(owner_client: Client) -> None:
    response = owner_client.get(f"{URL}?text={quote('快递到哪了 三天了')}")
    assert response.status_code == 200
    body = response.json()
    assert body["intent"] == "logistics"
    assert body["answered"] is True
    assert body["candidates"][0]["entry"]["intent"] == "logistics"
    assert body["candidates"][0]["entry"]["scenario"] == "logistics"
    scores = [c["score"] for c in body["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert 0 < scores[0] <= 1


def test_out_of_scope_text_answers_no_intent(owner_client: Client) -> None:
    body = owner_client.get(f"{URL}?text={quote('明天会下雨吗')}").json()
    assert body["intent"] == ""
    assert body["answered"] is False


def test_agent_without_the_robot_right_is_refused(teammate_client: Client) -> None:
    assert teammate_client.get(f"{URL}?text=hi").status_code == 403


def test_anonymous_is_refused(client: Client) -> None:
    assert client.get(f"{URL}?text=hi").status_code in (401, 403)


@pytest.mark.parametrize(
    "query", ["", "?text=", "?text=%20%20", f"?text={'长' * 2001}", "?text=a%00b", "?text=a&limit=0"]
)
def test_bad_text_is_a_422(owner_client: Client, query: str) -> None:
    assert owner_client.get(URL + query).status_code == 422


def test_another_shops_product_is_a_404(owner_client: Client, outsider: StaffAccount) -> None:
    product = Product.objects.create(shop=outsider.shop, platform_id="b1", title="B", price=1)
    assert owner_client.get(f"{URL}?text=hi&product_id={product.pk}").status_code == 404
    assert owner_client.get(f"{URL}?text=hi&product_id=999999999").status_code == 404


def test_outsider_never_sees_shop_a_entries(outsider_client: Client, owner: StaffAccount) -> None:
    knowledge.create_entry(actor=owner, question="甲店独有的暗号问题", answer="甲店答案", intent="coupon")
    body = outsider_client.get(f"{URL}?text={quote('甲店独有的暗号问题')}").json()
    assert "甲店答案" not in str(body)


def test_product_scope_through_the_api(owner_client: Client, shop_a: Shop, owner: StaffAccount) -> None:
    product = Product.objects.create(shop=shop_a, platform_id="p1", title="保温杯", price=59)
    entry = knowledge.create_entry(
        actor=owner,
        question="保温杯能保温多久",
        similar_questions=["能保温多久"],
        answer="12小时",
        intent="product_question",
        product=product,
    )
    body = owner_client.get(f"{URL}?text={quote('能保温多久')}&product_id={product.pk}").json()
    assert body["candidates"][0]["entry"]["id"] == entry.pk
    assert body["candidates"][0]["entry"]["product_id"] == product.pk
