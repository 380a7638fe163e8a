"""Deleting a shop (``manage.py delete_shop``, ``services.delete_shop``) deletes the files the apps stored
for it once the delete commits: its chat images with their thumbnails and its delay-report evidence. Another
shop's files stay. (Before, the rows went with the shop and the files stayed on disk for good.)"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from backoffice import services
from backoffice.models import Shop
from backoffice.operations import delays
from routing import attachments
from tests.ops.conftest import to_ship
from tests.routing.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)  # the files go once the delete commits


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def stored(media: Path) -> set[str]:
    return {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}


def files_of(shop: Shop) -> set[str]:
    image = attachments.store_image(shop=shop, data=image_bytes("PNG", (600, 400)))
    now = timezone.now()
    delays.report_delay(
        shop=shop,
        reason="weather",
        region="浙江省",
        starts_at=now,
        ends_at=now + timedelta(days=2),
        files=[delays.Upload(name="通知.png", data=image_bytes("PNG", (40, 30)))],
    )
    evidence = set(delays.shop_files(shop))
    assert len(evidence) == 1 and image.file != image.thumbnail
    return {image.file, image.thumbnail, *evidence}


def test_deleting_a_shop_deletes_its_files_and_only_its_files(
    shop_a: Shop, shop_b: Shop, media: Path
) -> None:
    mine, theirs = files_of(shop_a), files_of(shop_b)
    assert stored(media) == mine | theirs
    out = StringIO()
    call_command("delete_shop", str(shop_a.pk), stdout=out)  # a dry run without --yes
    assert "--yes" in out.getvalue() and stored(media) == mine | theirs
    call_command("delete_shop", str(shop_a.pk), "--yes", stdout=out)
    assert not Shop.objects.filter(pk=shop_a.pk).exists()
    assert Shop.objects.filter(pk=shop_b.pk).exists()
    assert stored(media) == theirs
    with pytest.raises(CommandError):
        call_command("delete_shop", str(shop_a.pk), "--yes")


def test_a_rolled_back_delete_keeps_the_files(shop_a: Shop, media: Path) -> None:
    mine, pk = files_of(shop_a), shop_a.pk
    with pytest.raises(RuntimeError), transaction.atomic():
        services.delete_shop(shop=shop_a)
        raise RuntimeError("rolled back")
    assert Shop.objects.filter(pk=pk).exists()
    assert stored(media) == mine


def test_a_shop_with_orders_is_refused_with_a_clear_error_and_keeps_everything(
    shop_a: Shop, media: Path
) -> None:
    """Orders keep their buyers (``Order.buyer`` is PROTECT): the command says so and deletes nothing."""
    mine = files_of(shop_a)
    to_ship(shop_a, "K1", ship_in=timedelta(hours=5))
    with pytest.raises(CommandError, match="may not be deleted"):
        call_command("delete_shop", str(shop_a.pk), "--yes")
    assert Shop.objects.filter(pk=shop_a.pk).exists()
    assert stored(media) == mine
