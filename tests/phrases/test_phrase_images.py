"""Quick phrases with an image (图文发送, seed 004): the admin attaches an image (checked by its content like
any chat image), the phrase panel marks it, and using it in a chat returns that chat's copy of the image,
which the agent then sends as an image message after the text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.translation import gettext as _

from backoffice.errors import NotFound
from backoffice.models import Shop, StaffAccount
from phrases.models import Phrase
from routing import services
from routing.models import Attachment, Conversation, Message
from tests.backoffice import factories
from tests.conftest import login_client
from tests.routing.images import image_bytes


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def add_phrase(client: Client, content: str, data: bytes, name: str = "size-chart.png") -> Any:
    form = {
        "content": content,
        "code": "cm",
        "keywords": "尺码",
        "image_file": SimpleUploadedFile(name, data),
    }
    return client.post(reverse("admin:phrases_phrase_add"), form)


def test_the_admin_attaches_an_image_and_refuses_a_file_that_is_not_one(
    owner_client: Client, owner: StaffAccount
) -> None:
    refused = add_phrase(owner_client, "亲，尺码表请看图", b"%PDF-1.7 not an image", "chart.png")
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["image_file"] == [
        _("Only JPEG, PNG, GIF and WebP images can be sent.")
    ]
    assert not Phrase.objects.exists() and not Attachment.objects.exists()

    assert add_phrase(owner_client, "亲，尺码表请看图", image_bytes("PNG", (1000, 800))).status_code == 302
    phrase = Phrase.objects.select_related("image").get()
    assert phrase.image is not None
    assert (phrase.image.shop_id, phrase.image.conversation_id, phrase.image.buyer_id) == (
        owner.shop_id,
        None,
        None,
    )
    page = owner_client.get(reverse("admin:phrases_phrase_change", args=[phrase.pk])).content.decode()
    assert f"/attachments/{phrase.image.pk}/thumb/" in page

    form = {"content": "亲，尺码表请看图", "code": "cm", "keywords": "尺码", "remove_image": "on"}
    assert (
        owner_client.post(reverse("admin:phrases_phrase_change", args=[phrase.pk]), form).status_code == 302
    )
    assert Phrase.objects.get().image_id is None


def test_using_a_phrase_with_an_image_in_a_chat_gives_that_chat_a_copy_to_send(
    owner_client: Client,
    owner_offline: StaffAccount,
    teammate: StaffAccount,
    shop_a: Shop,
    outsider: StaffAccount,
) -> None:
    add_phrase(owner_client, "亲，尺码表请看图", image_bytes("PNG"))
    phrase = Phrase.objects.get()
    services.set_agent_status(staff=teammate, status="online")
    conv, _decision = services.request_human(buyer=factories.buyer(shop_a, "ph-img-1", "买家甲"))
    client = login_client(teammate)
    listed = client.get("/api/v1/phrases/?q=尺码").json()["items"]
    assert [(p["id"], p["has_image"]) for p in listed] == [(phrase.pk, True)]

    used = client.post(
        f"/api/v1/phrases/{phrase.pk}/use", {"conversation_id": conv.pk}, content_type="application/json"
    )
    assert used.status_code == 200, used.content
    body = used.json()
    assert body["text"] == "亲，尺码表请看图"
    copy = Attachment.objects.get(pk=body["image"]["attachment"])
    assert copy.pk != phrase.image_id and (copy.conversation_id, copy.file) == (conv.pk, phrase.image.file)  # type: ignore[union-attr]

    # The workbench sends the text, then the image: an image message of this chat, seen by its buyer.
    conv = Conversation.objects.get(pk=conv.pk)
    services.post_agent_message(agent=teammate, conversation=conv, text=body["text"], client_msg_id="p-1")
    sent = services.post_agent_image(
        agent=teammate, conversation=conv, attachment_id=copy.pk, client_msg_id="p-2"
    )
    assert (sent.card or {})["kind"] == "image"
    assert [
        m.card["kind"] if m.card else None for m in Message.objects.filter(conversation=conv).order_by("seq")
    ] == [None, "image"]

    # Without a chat there is nothing to send it in; another shop's staff does not see the phrase at all.
    assert (
        client.post(f"/api/v1/phrases/{phrase.pk}/use", {}, content_type="application/json").json()["image"]
        is None
    )
    assert (
        login_client(outsider)
        .post(f"/api/v1/phrases/{phrase.pk}/use", {}, content_type="application/json")
        .status_code
        == 404
    )
    # The copy is this chat's only: another chat's agent cannot send it.
    other, _decision = services.request_human(buyer=factories.buyer(shop_a, "ph-img-2", "买家乙"))
    other = Conversation.objects.get(pk=other.pk)
    with pytest.raises(NotFound):
        services.post_agent_image(agent=teammate, conversation=other, attachment_id=copy.pk)
