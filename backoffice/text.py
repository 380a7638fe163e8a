"""Text matching shared by every app that searches what people type (quick phrases, the robot's knowledge
base): the normalized form of a text, and a per-process cache of one search index per shop that is reloaded
when the shop's stamp for it changes.

``normalize``: NFKC (full-width to half-width), traditional to simplified Chinese (OpenCC t2s),
case-folded. Both sides of a match are normalized the same way, so "發貨" and "ＦＨ" find what "发货" and
"fh" find.

``StampedShopCache``: each process keeps, per shop, an index built by a loader function. Writers that change
what the index holds call ``changed(shop_id)`` inside their transaction: it writes a new random stamp for
(shop, cache name) (``backoffice.models.CacheStamp``). Every lookup reads the stamp (one primary-key query, in
plain SQL: it runs on every keystroke) and reloads the shop when it differs from the one the cached index was
built under. A random stamp rather than a counter, so a rolled-back write can never reuse one. A shop without
a stamp (nothing written through the services yet) is loaded each time and not cached: without a stamp to
compare, a cached copy could outlive a reset database. At most ``max_shops`` shops are kept (least recently
used go first). Writers of one shop all write its stamp row first, so they also share one lock order.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connection

from backoffice.models import CacheStamp

T = TypeVar("T")


@functools.cache
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def normalize(text: str) -> str:
    """The matching form of a text: NFKC, traditional to simplified Chinese, case-folded."""
    return str(_t2s().convert(unicodedata.normalize("NFKC", text))).casefold()


class StampedShopCache(Generic[T]):
    """One index per shop, built by ``load(shop_id)`` and kept while the shop's stamp is unchanged."""

    def __init__(self, name: str, load: Callable[[int], T], *, max_shops: int = 64) -> None:
        self.name = name
        self.load = load
        self.max_shops = max_shops
        self._shops: OrderedDict[int, tuple[str, T]] = OrderedDict()
        self._lock = threading.Lock()

    def changed(self, shop_id: int) -> None:
        """Call inside the transaction of any write that changes what the shop's index holds."""
        CacheStamp.objects.bulk_create(
            [CacheStamp(shop_id=shop_id, name=self.name, stamp=uuid.uuid4().hex)],
            update_conflicts=True,
            unique_fields=["shop", "name"],
            update_fields=["stamp"],
        )

    def get(self, shop_id: int) -> tuple[T, bool]:
        """The shop's current index, and whether it was just loaded (False: the cached one, whose parts that
        change without a stamp, such as usage counts, the caller may refresh)."""
        stamp = self.stamp(shop_id)
        with self._lock:
            cached = self._shops.get(shop_id)
            if cached is not None and cached[0] == stamp:
                self._shops.move_to_end(shop_id)
                return cached[1], False
        index = self.load(shop_id)  # the stamp was read first: a write in between only forces a reload
        if stamp is not None:
            with self._lock:
                self._shops[shop_id] = (stamp, index)
                self._shops.move_to_end(shop_id)
                while len(self._shops) > self.max_shops:
                    self._shops.popitem(last=False)
        return index, True

    def cached_stamp(self, shop_id: int) -> str | None:
        """The stamp of the shop's index as this process last loaded or checked it, without a query (None:
        not cached). Right after a lookup it is the stamp of what the lookup answered from."""
        with self._lock:
            cached = self._shops.get(shop_id)
        return cached[0] if cached is not None else None

    def stamp(self, shop_id: int) -> str | None:
        # Plain SQL: the ORM's own work costs ~0.5 ms of CPU per query on PostgreSQL (measured: 0.58 ms
        # through the ORM, 0.09 ms raw), and this runs on every keystroke of a search.
        table = connection.ops.quote_name(CacheStamp._meta.db_table)  # our own table name, quoted
        sql = f"SELECT stamp FROM {table} WHERE shop_id = %s AND name = %s"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [shop_id, self.name])
            row = cursor.fetchone()
        return row[0] if row else None

    def clear(self) -> None:
        """Forget every cached shop (tests and benchmarks)."""
        with self._lock:
            self._shops.clear()
