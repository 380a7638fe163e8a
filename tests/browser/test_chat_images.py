"""Images and emoji in chat, as a buyer and an agent use them: the buyer photographs a parcel and sends it
from the chat page, the agent sees its thumbnail (served to staff) and opens it; the agent sends a size chart,
which the buyer's page shows (served to the buyer with their token), and an emoji from the picker."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice.models import Shop, StaffAccount
from phrases import services as phrase_services
from routing.models import Attachment, Message
from tests.browser.conftest import open_chat, open_workbench, requires_chromium, requires_live_stack
from tests.routing.images import image_bytes

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]

LOADED = "(img) => img.complete && img.naturalWidth > 0"  # the thumbnail really arrived (not a broken image)


def choose(page: Any, data: bytes, name: str, mime: str) -> None:
    page.locator("#image-input").set_input_files({"name": name, "mimeType": mime, "buffer": data})


def test_buyer_sends_a_photo_agent_sees_the_thumbnail_and_answers_with_an_image_and_an_emoji(
    new_context: Any, shop_a: Shop, agent: StaffAccount
) -> None:
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop_a, "img-live-1", "拍照的买家")
    chat.locator("#input").fill("快递破损了")
    chat.locator("#input").press("Enter")
    row = workbench.locator("#session-list li.session")
    expect(row).to_have_count(1)

    # The buyer photographs the parcel: uploaded, sent as an image message, shown as its thumbnail.
    choose(chat, image_bytes("JPEG", (1600, 1200)), "IMG_0001.jpg", "image/jpeg")
    mine = chat.locator("#transcript .msg.mine .card-image img")
    expect(mine).to_have_count(1)
    expect(chat.locator("#transcript .msg.mine .state").last).to_have_attribute("data-state", "acked")
    chat.wait_for_function(LOADED, arg=mine.element_handle())  # loads after the ack on a busy machine

    # The agent sees the thumbnail (at most 320 px), which links to the full image; the list says [图片].
    theirs = workbench.locator("#transcript .msg.theirs .card-image img")
    expect(theirs).to_have_count(1)
    workbench.wait_for_function(LOADED, arg=theirs.element_handle())
    assert theirs.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [320, 240]
    link = workbench.locator("#transcript .msg.theirs .card-image")
    attachment = Attachment.objects.get(buyer__platform_id="img-live-1")
    expect(link).to_have_attribute("href", re.compile(f"/attachments/{attachment.pk}/$"))
    full = workbench.request.get(f"/attachments/{attachment.pk}/")
    assert full.status == 200 and full.headers["content-type"] == "image/jpeg"
    expect(row.locator('[data-field="preview"]')).to_have_text(
        workbench.evaluate(
            "() => JSON.parse(document.getElementById('wb-initial').textContent).strings.image_text"
        )
    )

    # The agent sends a size chart from the image button: the buyer's page shows it, loaded with its token.
    choose(workbench, image_bytes("PNG", (900, 600)), "尺码表.png", "image/png")
    expect(workbench.locator("#transcript .msg.mine .card-image img")).to_have_count(1)
    chart = chat.locator("#transcript .msg.theirs .card-image img")
    expect(chart).to_have_count(1)
    chat.wait_for_function(LOADED, arg=chart.element_handle())

    # And an emoji from the picker, inserted at the caret between the typed words.
    workbench.locator("#input").fill("亲，收到")
    workbench.locator("#emoji-btn").click()
    workbench.locator('#emoji-panel .emoji[data-emoji="👍"]').click()
    expect(workbench.locator("#emoji-panel")).to_be_visible()
    workbench.locator("#input").press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text").last).to_have_text("亲，收到👍")
    assert list(
        Message.objects.filter(conversation__buyer__platform_id="img-live-1")
        .order_by("seq")
        .values_list("card__kind", flat=True)
    ) == [None, "image", "image", None]


def test_a_file_that_is_not_an_image_gets_a_clear_error_on_the_buyer_page(
    new_context: Any, shop_a: Shop, agent: StaffAccount
) -> None:
    chat = open_chat(new_context, shop_a, "img-live-2", "传错文件的买家")
    choose(chat, b"just text, named like a photo", "photo.jpg", "image/jpeg")
    expect(chat.locator("#banner")).to_be_visible()
    expect(chat.locator("#transcript .msg")).to_have_count(0)
    assert not Attachment.objects.exists()


def test_the_buyer_inserts_an_emoji_at_the_caret(new_context: Any, shop_a: Shop, agent: StaffAccount) -> None:
    chat = open_chat(new_context, shop_a, "img-live-3", "爱用表情的买家")
    chat.locator("#input").fill("好的谢谢")
    chat.locator("#input").evaluate("(input) => input.setSelectionRange(2, 2)")
    # The grid opens on demand only: hidden when the page opens (it covered half a phone's screen), shown by
    # the button, hidden again by it.
    expect(chat.locator("#emoji-panel")).to_be_hidden()
    chat.locator("#emoji-btn").click()
    expect(chat.locator("#emoji-panel")).to_be_visible()
    chat.locator("#emoji-btn").click()
    expect(chat.locator("#emoji-panel")).to_be_hidden()
    chat.locator("#emoji-btn").click()
    chat.locator('#emoji-panel .emoji[data-emoji="😊"]').click()
    expect(chat.locator("#input")).to_have_value("好的😊谢谢")
    chat.locator("#input").press("Enter")
    expect(chat.locator("#transcript .msg.mine .text")).to_have_text("好的😊谢谢")
    expect(chat.locator("#transcript .msg.mine .state")).to_have_attribute("data-state", "acked")


def test_a_phrase_with_an_image_sends_its_text_and_the_image(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    """图文发送 (seed 004): "/" + code sends the text, then the image; from the panel, the text goes into the
    reply box and the image waits beside it until the agent sends."""
    phrase = phrase_services.create_phrase(actor=owner, scope="team", content="亲，尺码表请看图", code="cm")
    phrase_services.set_phrase_image(actor=owner, phrase=phrase, data=image_bytes("PNG", (800, 600)))
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop_a, "img-live-4", "问尺码的买家")
    chat.locator("#input").fill("有尺码表吗")
    chat.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("有尺码表吗")

    workbench.locator("#input").press_sequentially("/cm")
    expect(workbench.locator("#suggest-list .suggestion")).to_have_count(1)
    workbench.locator("#input").press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text("亲，尺码表请看图")
    expect(chat.locator("#transcript .msg.theirs .card-image img")).to_have_count(1)

    # From the panel: inserted to edit, the image shown beside the reply box, both sent with Enter.
    entry = workbench.locator("#phrase-list .p-all button.phrase", has_text="尺码表")
    expect(entry.locator(".p-image")).to_be_visible()
    entry.click()
    expect(workbench.locator("#attach-chip img")).to_be_visible()
    workbench.locator("#input").press("End")
    workbench.locator("#input").press_sequentially("～")
    workbench.locator("#input").press("Enter")
    expect(chat.locator("#transcript .msg.theirs .card-image img")).to_have_count(2)
    expect(chat.locator("#transcript .msg.theirs .text").last).to_have_text("亲，尺码表请看图～")
    expect(workbench.locator("#attach-chip")).to_be_hidden()
    kinds = Message.objects.filter(conversation__buyer__platform_id="img-live-4").order_by("seq")
    assert [m.card["kind"] if m.card else m.text for m in kinds] == [
        "有尺码表吗",
        "亲，尺码表请看图",
        "image",
        "亲，尺码表请看图～",
        "image",
    ]
