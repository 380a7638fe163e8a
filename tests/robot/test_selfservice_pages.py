"""The owner's self-service settings pages: every refusal is shown on the page (never a 500) and writes
nothing; another shop's ids are a 404; each page needs its right."""

from __future__ import annotations

import pytest
from django.test import Client

from backoffice.models import Shop, StaffAccount
from robot.models import FaqItem, FollowUpSettings, ProductCareNote, SelfServiceSettings, WindowEntry
from robot.selfservice import faq
from tests.backoffice import factories

PAGES = ["/self-service/faq/", "/self-service/cards/", "/self-service/window/", "/self-service/follow-up/"]


@pytest.mark.parametrize("url", PAGES)
def test_each_page_needs_its_right_and_a_sign_in(url: str, teammate_client: Client, client: Client) -> None:
    assert teammate_client.get(url).status_code == 403
    assert client.get(url).status_code == 302  # to the sign-in page


@pytest.mark.parametrize("url", PAGES)
def test_each_page_opens_for_the_owner(url: str, owner_client: Client) -> None:
    assert owner_client.get(url).status_code == 200


@pytest.mark.parametrize("url", PAGES)
def test_an_unknown_operation_is_refused(url: str, owner_client: Client) -> None:
    assert owner_client.post(url, {"op": "nope"}).status_code == 422


def test_bad_text_is_refused_and_nothing_written(owner_client: Client, owner: StaffAccount) -> None:
    post = owner_client.post
    assert post("/self-service/faq/", {"op": "add", "question": "a\x00", "answer": "b"}).status_code == 422
    assert post("/self-service/faq/", {"op": "add", "question": "问" * 101, "answer": "b"}).status_code == 422
    assert post("/self-service/faq/", {"op": "opening", "opening": "\x00"}).status_code == 422
    assert (
        post("/self-service/faq/", {"op": "update", "id": "x", "question": "q", "answer": "a"}).status_code
        == 422
    )
    assert (
        post(
            "/self-service/window/",
            {"op": "add", "bar": "presale", "kind": "membership_gift", "text": "\x00"},
        ).status_code
        == 422
    )
    assert (
        post("/self-service/window/", {"op": "arrange", "bar": "presale", "entry": ["abc"]}).status_code
        == 422
    )
    assert (
        post("/self-service/cards/", {"op": "save", "cards": ["nope"], "urge_after_hours": "24"}).status_code
        == 422
    )
    assert (
        post(
            "/self-service/cards/", {"op": "save", "cards": [], "urge_after_hours": "99999999999999999999999"}
        ).status_code
        == 422
    )
    follow = {"op": "save", "care_delay_hours": "24", "quiet_from": "25:00", "quiet_until": "08:00"}
    assert post("/self-service/follow-up/", follow).status_code == 422
    assert (
        post("/self-service/follow-up/", {**follow, "quiet_from": "22:00", "care_text": "\x00"}).status_code
        == 422
    )
    assert not FaqItem.objects.exists() and not WindowEntry.objects.exists()
    assert not SelfServiceSettings.objects.exists() and not FollowUpSettings.objects.exists()


def test_another_shops_ids_are_404(owner_client: Client, outsider: StaffAccount, shop_b: Shop) -> None:
    theirs = faq.add_question(staff=outsider, question="乙店问题", answer="乙店答案")
    product = factories.product(shop_b, "pb")
    post = owner_client.post
    assert (
        post(
            "/self-service/faq/", {"op": "update", "id": theirs.pk, "question": "改", "answer": "改"}
        ).status_code
        == 404
    )
    assert post("/self-service/faq/", {"op": "delete", "id": theirs.pk}).status_code == 404
    assert (
        post("/self-service/follow-up/", {"op": "note", "product": product.pk, "note": "改"}).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.question == "乙店问题" and not ProductCareNote.objects.exists()


def test_follow_up_settings_are_saved(owner_client: Client, owner: StaffAccount) -> None:
    form = {
        "op": "save",
        "care_on": "on",
        "care_delay_hours": "6",
        "care_text": "亲，已签收~",
        "quiet_from": "21:30",
        "quiet_until": "09:00",
    }
    assert owner_client.post("/self-service/follow-up/", form).status_code == 302
    saved = FollowUpSettings.objects.get(shop=owner.shop)
    assert (saved.care_on, saved.care_delay_hours, saved.coupon_on) == (True, 6, False)
    assert saved.quiet_from.strftime("%H:%M") == "21:30"


def test_card_settings_are_saved(owner_client: Client, owner: StaffAccount) -> None:
    form = {"op": "save", "cards": ["track_parcel", "confirm_receipt"], "urge_after_hours": "12"}
    assert owner_client.post("/self-service/cards/", form).status_code == 302
    saved = SelfServiceSettings.objects.get(shop=owner.shop)
    assert saved.cards == ["track_parcel", "confirm_receipt"] and saved.urge_after_hours == 12
