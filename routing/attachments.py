"""Images in chat (buyers photograph a damaged parcel, agents send a size chart): checking, storing and
serving an uploaded image, and tying it to the message that shows it.

Rules, enforced here for every door (the buyer page's upload, the workbench's, the admin's phrase image):
- **The content decides, never the name or the Content-Type.** Pillow reads the file; JPEG, PNG, GIF and
  WebP are accepted, anything else (text named .jpg, a PDF, a truncated or damaged image, zero bytes) is
  refused with a clear error (``Invalid``: a 422, or the page's error text), never a 500.
- **Bounded**: at most ``CHAT_IMAGE_MAX_BYTES`` bytes (default 10 MB) and ``CHAT_IMAGE_MAX_PIXELS`` pixels
  (default 40 million; width x height is read from the header before anything is decoded, so a
  decompression bomb is refused before it takes memory), and an animation at most ``MAX_FRAMES`` frames.
- **Re-encoded** in its own format (the first frame's orientation applied): what is stored has no EXIF, GPS
  position, camera or comment of the original. Animations keep their frames.
- **Random names** (``chat/<shop id>/<32 hex>.<ext>``): the uploaded name is never used, nor stored.
- **Thumbnails**, at most ``THUMB_SIZE`` pixels on their longer side, made at upload (JPEG, or PNG when the
  image has transparency).
- **One chat.** A buyer's upload belongs to that buyer until it is sent, then to the chat it was sent in; an
  agent's belongs to the chat it was uploaded for. Sending it in another chat is refused. A quick phrase's
  image belongs to the shop; each use of the phrase in a chat makes that chat a copy (same files, own row).
- **Served only** to the chat's buyer (their token) and the shop's staff with the IM permission
  (``routing.views.attachment``), from ``MEDIA_ROOT`` (under ``var/``), which no static route serves.
"""

from __future__ import annotations

import io
import secrets
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from backoffice.errors import Conflict, Invalid, NotFound
from backoffice.models import Buyer, Shop, StaffAccount
from routing.models import Attachment, Conversation

THUMB_SIZE = 320
MAX_FRAMES = 300
# Pillow's own formats -> (content type, file extension). Nothing else is stored.
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
BUYER_UPLOADS_PER_HOUR = 60  # a buyer's uploads in the last hour (the chat page sends what it uploads)


def max_bytes() -> int:
    return int(settings.CHAT_IMAGE_MAX_BYTES)


def max_pixels() -> int:
    return int(settings.CHAT_IMAGE_MAX_PIXELS)


def image_text() -> str:
    """The text of an image message, for transcripts and exports that show no images."""
    return _("[Image]")


@dataclass(frozen=True)
class Checked:
    """An image as it will be stored: re-encoded, with its thumbnail."""

    content_type: str
    extension: str
    data: bytes
    width: int
    height: int
    thumbnail: bytes
    thumbnail_extension: str
    thumb_width: int
    thumb_height: int


def refused(message: str) -> Invalid:
    return Invalid(message, errors=[{"field": "file", "message": message}])


def too_many_pixels_message() -> str:
    return _("An image may have at most %(mp)s million pixels.") % {"mp": f"{max_pixels() / 1e6:g}"}


def too_large_message() -> str:
    return _("An image may be at most %(mb)s MB.") % {"mb": f"{max_bytes() / 1024 / 1024:g}"}


def _opened(data: bytes) -> Image.Image:
    """The image of ``data`` as Pillow reads its header (nothing decoded yet), within the limits."""
    if not data:
        raise refused(_("The file is empty."))
    if len(data) > max_bytes():
        raise refused(too_large_message())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except UnidentifiedImageError:
        raise refused(_("Only JPEG, PNG, GIF and WebP images can be sent.")) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own, larger bound
        raise refused(too_many_pixels_message()) from None
    except Exception:  # Pillow's decoders raise many kinds on a broken file: each is a broken file here
        raise refused(_("The image is damaged or incomplete.")) from None
    width, height = image.size
    try:
        frames = int(getattr(image, "n_frames", 1) or 1)  # GIF and WebP count by reading the frames
    except Exception:
        raise refused(_("The image is damaged or incomplete.")) from None
    if width < 1 or height < 1 or width * height > max_pixels():
        raise refused(too_many_pixels_message())
    if frames > MAX_FRAMES or width * height * frames > max_pixels() * 10:
        raise refused(_("The animation has too many frames."))
    return image


def _encode(image: Image.Image, fmt: str) -> bytes:
    """The image re-encoded in ``fmt`` with none of the original's metadata (EXIF, XMP, ICC, comments)."""
    out = io.BytesIO()
    if getattr(image, "is_animated", False) and fmt in ("GIF", "WEBP"):
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
        durations = [frame.info.get("duration", 100) for frame in frames]
        loop = image.info.get("loop", 0)
        frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=durations, loop=loop)
        return out.getvalue()
    frame = ImageOps.exif_transpose(image) or image
    if fmt == "JPEG":
        frame = frame.convert("RGB") if frame.mode not in ("RGB", "L") else frame
        frame.save(out, "JPEG", quality=88, optimize=True)
    elif fmt == "WEBP":
        frame.save(out, "WEBP", quality=88)
    elif fmt == "GIF":
        frame.save(out, "GIF")
    else:
        frame.save(out, "PNG", optimize=True)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> tuple[bytes, str, int, int]:
    """A thumbnail of the first frame: JPEG, or PNG when it has transparency."""
    image.seek(0)
    frame = ImageOps.exif_transpose(image) or image
    alpha = frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info)
    frame = frame.convert("RGBA" if alpha else "RGB")
    frame.thumbnail((THUMB_SIZE, THUMB_SIZE))
    out = io.BytesIO()
    if alpha:
        frame.save(out, "PNG", optimize=True)
    else:
        frame.save(out, "JPEG", quality=80)
    return out.getvalue(), "png" if alpha else "jpg", frame.width, frame.height


def check_image(data: bytes) -> Checked:
    """``data`` as an image to store (re-encoded, with its thumbnail), or Invalid saying why not."""
    image = _opened(data)
    fmt = str(image.format)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            encoded = _encode(image, fmt)
            thumbnail, thumb_ext, thumb_width, thumb_height = _thumbnail(image)
            width, height = Image.open(io.BytesIO(encoded)).size  # as stored (the orientation applied)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise refused(too_many_pixels_message()) from None
    except Exception:  # as in _opened: whatever a broken file makes Pillow raise, it is a broken file
        raise refused(_("The image is damaged or incomplete.")) from None
    content_type, extension = FORMATS[fmt]
    return Checked(
        content_type=content_type,
        extension=extension,
        data=encoded,
        width=width,
        height=height,
        thumbnail=thumbnail,
        thumbnail_extension=thumb_ext,
        thumb_width=thumb_width,
        thumb_height=thumb_height,
    )


def _save_file(shop_id: int, extension: str, data: bytes) -> str:
    name = f"chat/{shop_id}/{secrets.token_hex(16)}.{extension}"
    return default_storage.save(name, ContentFile(data))


def store_image(
    *,
    shop: Shop,
    data: bytes,
    buyer: Buyer | None = None,
    staff: StaffAccount | None = None,
    conversation: Conversation | None = None,
) -> Attachment:
    """Check ``data`` (``check_image``) and store it with its thumbnail under random names: a buyer's upload
    (``buyer``), an agent's for a chat (``staff`` and ``conversation``) or a phrase image (``staff`` only).
    A buyer may upload ``BUYER_UPLOADS_PER_HOUR`` images an hour."""
    if buyer is not None:
        since = timezone.now() - timedelta(hours=1)
        if Attachment.objects.filter(buyer=buyer, created_at__gte=since).count() >= BUYER_UPLOADS_PER_HOUR:
            raise refused(_("Too many images in the last hour; please wait a moment."))
    checked = check_image(data)
    return Attachment.objects.create(
        shop=shop,
        buyer=buyer,
        uploaded_by=staff,
        conversation=conversation,
        file=_save_file(shop.pk, checked.extension, checked.data),
        thumbnail=_save_file(shop.pk, checked.thumbnail_extension, checked.thumbnail),
        content_type=checked.content_type,
        size=len(checked.data),
        width=checked.width,
        height=checked.height,
        thumb_width=checked.thumb_width,
        thumb_height=checked.thumb_height,
    )


def shop_files(shop: Shop) -> list[str]:
    """The storage paths of the shop's images and thumbnails (``SHOP_FILES``: deleted with the shop)."""
    pairs = Attachment.objects.filter(shop=shop).values_list("file", "thumbnail")
    return [path for pair in pairs for path in pair]


def card(attachment: Attachment) -> dict[str, Any]:
    """The image card of a message (``Message.card``): what both pages need to show the thumbnail and open
    the image. The URLs answer only the chat's buyer (adding their token) and the shop's staff."""
    return {
        "kind": "image",
        "attachment": attachment.pk,
        "url": reverse("routing:attachment", args=[attachment.pk]),
        "thumb_url": reverse("routing:attachment-thumb", args=[attachment.pk]),
        "width": attachment.width,
        "height": attachment.height,
        "thumb_width": attachment.thumb_width,
        "thumb_height": attachment.thumb_height,
    }


def uploaded_by(buyer: Buyer, attachment_id: int) -> bool:
    return Attachment.objects.filter(pk=attachment_id, shop_id=buyer.shop_id, buyer_id=buyer.pk).exists()


def claim_for_buyer(conv: Conversation, buyer: Buyer, attachment_id: int) -> dict[str, Any]:
    """The buyer sends their upload in their (locked) conversation: it becomes that chat's, and its card is
    returned. Another buyer's upload, or any other id, is NotFound; one already sent in another chat (an
    earlier one of the buyer's) is a Conflict."""
    mine = Attachment.objects.filter(pk=attachment_id, shop_id=conv.shop_id, buyer_id=buyer.pk)
    if not mine.filter(Q(conversation__isnull=True) | Q(conversation=conv)).update(conversation=conv):
        if mine.exists():
            raise Conflict(_("This image was sent in another chat; upload it again."))
        raise NotFound(_("No such image."))
    return card(mine.get())


def claim_for_agent(conv: Conversation, attachment_id: int) -> dict[str, Any]:
    """An agent sends an image uploaded for this chat (or a quick phrase's copy for it): its card. Any other
    id (another chat's, a buyer's, another shop's) is NotFound."""
    found = Attachment.objects.filter(
        pk=attachment_id, shop_id=conv.shop_id, conversation=conv, buyer__isnull=True
    ).first()
    if found is None:
        raise NotFound(_("No such image in this chat."))
    return card(found)


def copy_for_conversation(
    *, source: Attachment, conversation: Conversation, staff: StaffAccount
) -> Attachment:
    """A quick phrase's image, ready to send in ``conversation``: a row of that chat's sharing the files."""
    if source.shop_id != conversation.shop_id:
        raise NotFound(_("No such image."))
    return Attachment.objects.create(
        shop_id=source.shop_id,
        conversation=conversation,
        uploaded_by=staff,
        file=source.file,
        thumbnail=source.thumbnail,
        content_type=source.content_type,
        size=source.size,
        width=source.width,
        height=source.height,
        thumb_width=source.thumb_width,
        thumb_height=source.thumb_height,
    )


def visible_to_buyer(buyer: Buyer, attachment_id: int) -> Attachment | None:
    """The image if the buyer may see it: their own upload, or an image of one of their chats."""
    return (
        Attachment.objects.filter(pk=attachment_id, shop_id=buyer.shop_id)
        .filter(Q(buyer=buyer) | Q(conversation__buyer=buyer))
        .first()
    )
