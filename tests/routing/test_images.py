"""Images in chat (routing/attachments.py): uploads checked by content and refused with a clear error (never a
500), stored re-encoded under random names with a thumbnail, served only to the chat's buyer and the shop's
staff with the IM permission; image messages over the real sockets; emoji in text."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.files.storage import default_storage
from django.test import Client
from django.utils.translation import gettext as _
from PIL import Image

from backoffice.errors import Conflict, Invalid, NotFound
from backoffice.models import Buyer, Shop, StaffAccount
from backoffice.validation import text_error
from routing import attachments, services, tokens
from routing.models import Attachment, Conversation, Message
from tests.backoffice import factories
from tests.conftest import login_client
from tests.routing.images import image_bytes, jpeg_with_exif
from tests.routing.sockets import (
    agent,
    agent_socket,
    buyer,
    buyer_socket,
    connect,
    frames_until,
    layer,
    until,
)

__all__ = ["agent", "buyer", "layer"]  # fixtures


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Any) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


ONLY_IMAGES = "Only JPEG, PNG, GIF and WebP images can be sent."
PIXELS = "An image may have at most %(mp)s million pixels."
IMAGE = "[Image]"


def upload_as_buyer(buyer: Buyer, data: bytes, name: str = "photo.jpg", token: str | None = None) -> Any:
    token = tokens.buyer_token(buyer) if token is None else token
    return Client().post(
        f"/chat/{buyer.shop_id}/images/?token={token}", {"file": _file(data, name)}, format="multipart"
    )


def _file(data: bytes, name: str) -> Any:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape; the data is tiny)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


# --- refused uploads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.jpg", "The file is empty."),
        (b"just some text, not a photo\n", "photo.jpg", ONLY_IMAGES),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "invoice.png", ONLY_IMAGES),
        (image_bytes("BMP"), "photo.bmp", ONLY_IMAGES),
        (image_bytes("JPEG")[:300], "truncated.jpg", "The image is damaged or incomplete."),
        (image_bytes("PNG")[:-40], "truncated.png", "The image is damaged or incomplete."),
        (png_claiming(100_000, 100_000), "bomb.png", PIXELS),
    ],
    ids=["zero-bytes", "text-named-jpg", "pdf-named-png", "bmp", "truncated-jpeg", "truncated-png", "bomb"],
)
def test_a_bad_file_is_refused_with_its_reason_and_stores_nothing(
    shop_a: Shop, media: Path, data: bytes, name: str, message: str
) -> None:
    buyer = factories.buyer(shop_a, "img-b1", "买家甲")
    response = upload_as_buyer(buyer, data, name)
    assert response.status_code == 422, response.content
    assert response.json()["detail"] == (_(message) % {"mp": "40"} if message == PIXELS else _(message))
    assert not Attachment.objects.exists()
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_too_many_bytes_or_pixels_by_the_settings_are_refused(shop_a: Shop, settings: Any) -> None:
    buyer = factories.buyer(shop_a, "img-b1", "买家甲")
    settings.CHAT_IMAGE_MAX_BYTES = 1000
    big = image_bytes("PNG", (300, 300), compress_level=0)
    response = upload_as_buyer(buyer, big)
    assert (response.status_code, response.json()["detail"]) == (
        422,
        _("An image may be at most %(mb)s MB.") % {"mb": "0.000953674"},
    )
    settings.CHAT_IMAGE_MAX_BYTES = 10 * 1024 * 1024
    settings.CHAT_IMAGE_MAX_PIXELS = 10_000
    response = upload_as_buyer(buyer, image_bytes("PNG", (200, 200)))
    assert response.status_code == 422
    assert response.json()["detail"] == _(PIXELS) % {"mp": "0.01"}
    assert not Attachment.objects.exists()


def test_no_file_a_get_or_a_bad_token_is_no_500(shop_a: Shop, shop_b: Shop) -> None:
    buyer = factories.buyer(shop_a, "img-b1", "买家甲")
    token = tokens.buyer_token(buyer)
    assert Client().post(f"/chat/{shop_a.pk}/images/?token={token}").status_code == 422
    assert Client().get(f"/chat/{shop_a.pk}/images/?token={token}").status_code == 405
    assert upload_as_buyer(buyer, image_bytes(), token="nonsense").status_code == 403
    wrong_shop = Client().post(
        f"/chat/{shop_b.pk}/images/?token={token}", {"file": _file(image_bytes(), "a.png")}
    )
    assert wrong_shop.status_code == 403
    assert not Attachment.objects.exists()


# --- accepted uploads --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_each_format_is_stored_re_encoded_under_a_random_name_with_a_thumbnail(
    shop_a: Shop, fmt: str, content_type: str
) -> None:
    buyer = factories.buyer(shop_a, "img-b1", "买家甲")
    response = upload_as_buyer(buyer, image_bytes(fmt, (1280, 960)), name="../../我的包裹.jpg")
    assert response.status_code == 201, response.content
    card = response.json()
    stored = Attachment.objects.get(pk=card["attachment"])
    assert (stored.content_type, stored.width, stored.height) == (content_type, 1280, 960)
    assert "包裹" not in stored.file and ".." not in stored.file
    assert stored.file.startswith(f"chat/{shop_a.pk}/")
    with default_storage.open(stored.thumbnail) as thumb:
        assert Image.open(thumb).size == (320, 240) == (card["thumb_width"], card["thumb_height"])
    with default_storage.open(stored.file) as full:
        assert Image.open(full).format == fmt
    assert (
        card["url"] == f"/attachments/{stored.pk}/"
        and card["thumb_url"] == f"/attachments/{stored.pk}/thumb/"
    )


def test_a_photo_loses_its_exif_camera_and_gps(shop_a: Shop) -> None:
    original = Image.open(io.BytesIO(jpeg_with_exif()))
    assert original.getexif()  # the control: the upload has EXIF
    buyer = factories.buyer(shop_a, "img-b1", "买家甲")
    stored = Attachment.objects.get(pk=upload_as_buyer(buyer, jpeg_with_exif()).json()["attachment"])
    with default_storage.open(stored.file) as full:
        data = full.read()
    assert not Image.open(io.BytesIO(data)).getexif()
    assert b"PhoneMaker" not in data


# --- who may see it ----------------------------------------------------------------------------------------


@pytest.fixture
def chat_image(shop_a: Shop, teammate: StaffAccount, owner_offline: StaffAccount) -> tuple[Attachment, Buyer]:
    """A buyer's image sent in their chat with the teammate."""
    services.set_agent_status(staff=teammate, status="online")
    buyer = factories.buyer(shop_a, "img-b1", "买家甲")
    services.request_human(buyer=buyer)
    attachment = Attachment.objects.get(pk=upload_as_buyer(buyer, image_bytes()).json()["attachment"])
    message = services.post_buyer_messages([services.BuyerSend(buyer, _(IMAGE), "img-1", attachment.pk)])[0]
    assert isinstance(message, Message)
    attachment.refresh_from_db()
    assert attachment.conversation_id == message.conversation_id
    return attachment, buyer


@pytest.mark.parametrize("path", ["/attachments/{id}/", "/attachments/{id}/thumb/"])
def test_the_image_is_served_to_its_buyer_and_the_shops_im_staff_only(
    chat_image: tuple[Attachment, Buyer],
    path: str,
    shop_a: Shop,
    teammate: StaffAccount,
    colleague: StaffAccount,
    outsider: StaffAccount,
) -> None:
    attachment, buyer = chat_image
    url = path.format(id=attachment.pk)
    own = Client().get(f"{url}?token={tokens.buyer_token(buyer)}")
    assert own.status_code == 200 and own["Content-Type"].startswith("image/")
    assert own["Cache-Control"] == "private, max-age=86400" and own["X-Content-Type-Options"] == "nosniff"
    assert login_client(teammate).get(url).status_code == 200
    assert login_client(colleague).get(url).status_code == 200  # the shop's staff with IM
    other_buyer = factories.buyer(shop_a, "img-b2", "买家乙")
    assert Client().get(f"{url}?token={tokens.buyer_token(other_buyer)}").status_code == 404
    buyer_b = factories.buyer(outsider.shop, "img-b3", "乙店买家")
    assert Client().get(f"{url}?token={tokens.buyer_token(buyer_b)}").status_code == 404
    assert login_client(outsider).get(url).status_code == 404  # another shop's staff
    no_im = factories.staff(shop_a, "no_im", "运营", im=False)
    assert login_client(no_im).get(url).status_code == 403
    assert Client().get(url).status_code == 403  # anonymous
    assert Client().get(f"{url}?token=nonsense").status_code == 403
    assert login_client(teammate).get(path.format(id=2_000_000_000)).status_code == 404


def test_no_route_serves_the_stored_files_as_they_are(
    chat_image: tuple[Attachment, Buyer], teammate: StaffAccount
) -> None:
    attachment, _buyer = chat_image
    client = login_client(teammate)
    for prefix in ("/media/", "/static/", "/"):
        assert client.get(prefix + attachment.file).status_code == 404


def test_a_missing_file_is_a_404_not_a_500(
    chat_image: tuple[Attachment, Buyer], teammate: StaffAccount
) -> None:
    attachment, _buyer = chat_image
    default_storage.delete(attachment.file)
    assert login_client(teammate).get(f"/attachments/{attachment.pk}/").status_code == 404


# --- the workbench's upload (API) --------------------------------------------------------------------------


def staff_upload(client: Client, conversation_id: int, data: bytes) -> Any:
    return client.post(
        f"/api/v1/routing/conversations/{conversation_id}/images", {"file": _file(data, "size-chart.png")}
    )


def test_the_agent_uploads_for_their_chat_others_are_refused(
    chat_image: tuple[Attachment, Buyer],
    teammate: StaffAccount,
    colleague: StaffAccount,
    outsider: StaffAccount,
) -> None:
    conv_id = chat_image[0].conversation_id
    assert conv_id is not None
    response = staff_upload(login_client(teammate), conv_id, image_bytes("JPEG"))
    assert response.status_code == 201, response.content
    stored = Attachment.objects.get(pk=response.json()["attachment"])
    assert (stored.conversation_id, stored.uploaded_by_id, stored.buyer_id) == (conv_id, teammate.pk, None)
    assert staff_upload(login_client(colleague), conv_id, image_bytes()).status_code == 403  # not theirs
    assert staff_upload(login_client(outsider), conv_id, image_bytes()).status_code == 404
    no_im = factories.staff(teammate.shop, "no_im", "运营", im=False)
    assert staff_upload(login_client(no_im), conv_id, image_bytes()).status_code == 403
    refused = staff_upload(login_client(teammate), conv_id, b"not an image")
    assert (refused.status_code, refused.json()["detail"]) == (
        422,
        _("Only JPEG, PNG, GIF and WebP images can be sent."),
    )
    assert Attachment.objects.filter(conversation_id=conv_id).count() == 2


# --- image messages ----------------------------------------------------------------------------------------


def test_the_workbench_list_preview_of_an_image_says_image(
    chat_image: tuple[Attachment, Buyer], teammate: StaffAccount
) -> None:
    rows = login_client(teammate).get("/api/v1/routing/conversations?scope=active").json()
    assert [(row["last_kind"], row["last_text"]) for row in rows] == [("image", _(IMAGE))]
    page = login_client(teammate).get("/workbench/").content.decode()
    assert f'data-field="preview">{_(IMAGE)}</span>' in page
    attachment = chat_image[0]
    transcript = login_client(teammate).get(
        f"/api/v1/routing/conversations/{attachment.conversation_id}/messages"
    )
    assert [m["card"] for m in transcript.json()] == [attachments.card(attachment)]  # history has it too


def test_an_upload_is_sent_in_one_chat_only(
    chat_image: tuple[Attachment, Buyer], teammate: StaffAccount
) -> None:
    attachment, buyer = chat_image
    conv = Conversation.objects.get(attachments=attachment)
    services.end_conversation(conversation=conv, reason="agent", by=teammate)
    again = services.post_buyer_messages([services.BuyerSend(buyer, _(IMAGE), "img-2", attachment.pk)])[0]
    assert isinstance(again, Conflict)  # the buyer's next chat: the image was another chat's
    other = factories.buyer(buyer.shop, "img-b2", "买家乙")
    stolen = services.post_buyer_messages([services.BuyerSend(other, _(IMAGE), "img-3", attachment.pk)])[0]
    assert isinstance(stolen, NotFound)  # another buyer's upload
    assert Message.objects.filter(card__attachment=attachment.pk).count() == 1
    assert not Conversation.objects.filter(buyer=other).exists()  # refused before a chat was opened


# --- over the real sockets ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("layer")
async def test_image_messages_both_ways_over_the_sockets_stored_once_and_resumed(
    agent: StaffAccount, buyer: Buyer
) -> None:
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    buyer_ws = buyer_socket(token)
    await connect(buyer_ws)
    upload = await database_sync_to_async(upload_as_buyer)(buyer, image_bytes("JPEG"), "破损.jpg")
    attachment = upload.json()["attachment"]

    frame = {"type": "image", "client_msg_id": "img-b1", "attachment": attachment}
    await buyer_ws.send_json_to(frame)
    ack = await until(buyer_ws, "ack")
    conv = ack["conversation"]
    await buyer_ws.send_json_to(frame)  # a resend: the same ack, nothing stored
    assert (await until(buyer_ws, "ack"))["id"] == ack["id"]
    await until(agent_ws, "assigned")
    await agent_ws.send_json_to({"type": "resume", "after": {str(conv): 0}})
    replayed = [f for f in await frames_until(agent_ws, "resumed") if f["type"] == "message"]
    assert [(m["sender"], m["text"], m["card"]["kind"], m["card"]["attachment"]) for m in replayed] == [
        ("buyer", _(IMAGE), "image", attachment)
    ]
    assert await database_sync_to_async(Message.objects.filter(conversation_id=conv).count)() == 1

    # The agent uploads a size chart for this chat and sends it; the buyer receives the image message.
    client = await database_sync_to_async(login_client)(agent)
    chart = await database_sync_to_async(staff_upload)(client, conv, image_bytes("PNG"))
    chart_id = chart.json()["attachment"]
    await agent_ws.send_json_to(
        {"type": "image", "conversation": conv, "client_msg_id": "img-a1", "attachment": chart_id}
    )
    assert (await until(agent_ws, "ack"))["seq"] == 2
    received = await until(buyer_ws, "message", seq=2)
    assert (received["sender"], received["card"]["kind"], received["card"]["attachment"]) == (
        "agent",
        "image",
        chart_id,
    )

    # The buyer's own upload, or another chat's image, is no image of this chat for the agent.
    await agent_ws.send_json_to(
        {"type": "image", "conversation": conv, "client_msg_id": "img-a2", "attachment": attachment}
    )
    error = await until(agent_ws, "error")
    assert (error["code"], error["client_msg_id"]) == ("not_found", "img-a2")
    await buyer_ws.send_json_to({"type": "image", "client_msg_id": "img-b2", "attachment": chart_id})
    assert (await until(buyer_ws, "error"))["code"] == "not_found"

    # A reconnecting buyer resumes the image messages too.
    await buyer_ws.disconnect()
    again = buyer_socket(token)
    await connect(again)
    await again.send_json_to({"type": "resume", "after": {str(conv): 0}})
    kinds = [f["card"]["kind"] for f in await frames_until(again, "resumed") if f["type"] == "message"]
    assert kinds == ["image", "image"]
    await again.disconnect()
    await agent_ws.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("layer")
async def test_emoji_round_trip_over_the_sockets(agent: StaffAccount, buyer: Buyer) -> None:
    """Astral-plane characters (emoji) are text like any other; a lone surrogate stays refused."""
    text = "收到👍😀 ❤️ 🇨🇳"
    assert text_error(text) is None and text_error("\ud83d") is not None
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "e-1", "text": text})
    conv = (await until(buyer_ws, "ack"))["conversation"]
    await until(agent_ws, "assigned")
    await agent_ws.send_json_to(
        {"type": "send", "conversation": conv, "client_msg_id": "e-2", "text": "好的😊"}
    )
    assert (await until(buyer_ws, "message", seq=2))["text"] == "好的😊"
    stored = await database_sync_to_async(
        lambda: list(
            Message.objects.filter(conversation_id=conv).order_by("seq").values_list("text", flat=True)
        )
    )()
    assert stored == [text, "好的😊"]
    await buyer_ws.send_to(text_data=json.dumps({"type": "send", "client_msg_id": "e-3", "text": "\ud83d"}))
    assert (await until(buyer_ws, "error"))["code"] == "invalid"
    await agent_ws.disconnect()
    await buyer_ws.disconnect()


# --- never a 500 -------------------------------------------------------------------------------------------


def test_damaged_variants_of_every_format_are_refused_as_invalid_never_an_error() -> None:
    """Bytes flipped and files cut at random (seeded), of each format and an animated GIF: each is stored or
    refused with Invalid, whatever Pillow's decoders raise inside."""
    rng = random.Random(14)
    frames = [Image.new("P", (40, 30), i) for i in range(5)]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    originals = [image_bytes(fmt, (60, 40)) for fmt in ("JPEG", "PNG", "GIF", "WEBP")] + [animated.getvalue()]
    assert attachments.check_image(animated.getvalue()).content_type == "image/gif"
    outcomes = {"stored": 0, "refused": 0}
    for original in originals:
        for _round in range(60):
            data = bytearray(original)
            for _flip in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[: rng.randrange(1, len(data))]
            try:
                attachments.check_image(bytes(data))
            except Invalid:
                outcomes["refused"] += 1
            else:
                outcomes["stored"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 300
