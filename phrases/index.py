"""A per-process, in-memory search index of each shop's phrases, so that suggestions take about a
millisecond with thousands of phrases.

Why: matching is "every query part occurs anywhere in the normalized text" (Chinese has no word boundaries),
which no ordinary database index serves. Measured with 5,000 phrases, ``LIKE '%发货%'`` on the normalized
column costs 3-5 ms on PostgreSQL and SQLite alike (p99 near 10 ms with the ORM on top), while a Python scan
of the same strings takes 0.3 ms. So each process keeps, per shop, what matching needs: id, owner, group,
code and normalized text of every phrase, the product links, and the usage counts.

Suggestions are built from the index alone (``ShopIndex.phrase``, through Django's ``Model.from_db``), so
a warm lookup costs two small queries: the stamp and the usage refresh.

Freshness (the stamped per-shop cache of ``backoffice.text``):
- Texts, codes, keywords, groups (and their names), images and links change only through
  ``phrases.services``, which calls ``changed(shop_id)`` first in the write's transaction: a new random
  stamp and the next version for the shop's "phrases" cache, recorded in its history with the ids of the
  phrases the write deletes; the write stores that version on every phrase row it changes
  (``Phrase.index_version``; a group's deletion too, on the phrases it ungroups). Every lookup reads the
  stamp. When it moved, the index at version N is brought up to date (``_update``) instead of reloaded:
  the rows above N through the (shop, index_version) index with their product links, the deleted ids from
  the history, and every group's name (a rename needs no phrase row); a new ``ShopIndex`` replaces the old,
  which lookups in other threads may still be reading. The versions of a shop commit in order (each writer
  holds the stamp row's lock until it commits), so reading version M means every write up to M can be
  read: a transaction that commits late holds back every later write, and no margin is needed. The whole
  shop is loaded when the update cannot be trusted: a process that just started or dropped the shop, an
  index whose (stamp, version) is not in the history (older than its last 1,000 writes, or built from a
  write rolled back later). ``ShopIndex.updates`` counts the updates since the last whole load.
- Measured with 5,000 phrases (``tests/bench/bench_phrases.py``, PostgreSQL, a quiet 2-CPU machine): the
  first lookup after an edit takes p50 11 ms, p99 13-14 ms by update, against p50 56-60 ms, p99 210-230 ms
  when the whole shop is reloaded (the old way, still the first lookup of a process).
- Deletes that bypass the services (a staff account's personal phrases going with the account, a product's
  links with the product) reach the index at the next whole load; until then they only leave entries
  nobody can see or find (an owner gone, a product no conversation shows).
- Usage counts change on every use and must not force reloads: each lookup of a cached index instead
  re-reads the counts of the shop's phrases used since its previous lookup (minus a minute, for
  transactions that commit late), through the (shop, last_used_at) index. A handful of rows.
At most ``MAX_SHOPS`` shops are kept per process (least recently used go first).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

from django.utils import timezone

from backoffice.text import StampedShopCache
from phrases.models import Phrase, PhraseGroup

MAX_SHOPS = 64
USAGE_MARGIN = timedelta(minutes=1)


PHRASE_FIELDS = ("id", "shop_id", "owner_id", "group_id", "content", "code", "keywords", "image_id")
GROUP_FIELDS = ("id", "shop_id", "owner_id", "name")


@dataclass(frozen=True, slots=True)
class Entry:
    pk: int
    owner_id: int | None
    group_id: int | None
    code: str
    text: str  # normalized content and keywords: what matching reads
    content: str
    keywords: str
    image_id: int | None = None  # a phrase with an image (图文发送): the panel marks it


@dataclass
class ShopIndex:
    shop_id: int
    team: list[Entry]
    personal: dict[int, list[Entry]]  # owner id -> their phrases
    linked: dict[int, frozenset[int]]  # product id -> ids of phrases linked to it
    products: dict[int, list[int]]  # phrase id -> ids of its linked products
    group_names: dict[int, str]
    usage: dict[int, tuple[int, datetime | None]]  # phrase id -> (usage count, last used)
    usage_checked_at: datetime
    updates: int = 0  # incremental updates since the shop was last loaded whole
    lock: threading.Lock = field(default_factory=threading.Lock)

    def visible(self, staff_id: int) -> list[Entry]:
        return self.team + self.personal.get(staff_id, [])

    def usage_count(self, pk: int) -> int:
        return self.usage.get(pk, (0, None))[0]

    def phrase(self, entry: Entry, *, linked: bool = False) -> Phrase:
        """A fresh ``Phrase`` instance of ``entry`` as the ORM would load it (other fields deferred), with
        its group, ``linked`` and ``product_ids``."""
        db = Phrase.objects.db
        count, last_used_at = self.usage.get(entry.pk, (0, None))
        row = (
            entry.pk,
            self.shop_id,
            entry.owner_id,
            entry.group_id,
            entry.content,
            entry.code,
            entry.keywords,
            entry.image_id,
        )
        phrase = Phrase.from_db(
            db, (*PHRASE_FIELDS, "usage_count", "last_used_at"), (*row, count, last_used_at)
        )
        name = self.group_names.get(entry.group_id) if entry.group_id is not None else None
        if name is not None:  # None also when the group went between the two loading queries
            phrase.group = PhraseGroup.from_db(
                db, GROUP_FIELDS, (entry.group_id, self.shop_id, entry.owner_id, name)
            )
        phrase.linked = linked  # type: ignore[attr-defined]
        phrase.product_ids = self.products.get(entry.pk, [])  # type: ignore[attr-defined]
        return phrase


def changed(shop_id: int, *, removed: Iterable[int] = ()) -> int:
    """Call inside the transaction of any write that changes what search matches, before the write, with
    the ids of the phrases it deletes; store the version it returns in ``Phrase.index_version`` of every
    phrase row the write changes."""
    return _cache.changed(shop_id, removed=removed)


def version(shop_id: int) -> str:
    """The shop's phrase version as of this process's last lookup (call it after one: no query): it changes
    with every write that changes what search matches (an edit, an import), so a page can tell that the list
    it shows is out of date. "" when unknown (no write yet, or no lookup in this process)."""
    return _cache.cached_stamp(shop_id) or ""


def shop_index(shop_id: int) -> ShopIndex:
    """The shop's current index: updated or reloaded when its stamp moved, its usage counts refreshed
    unless just loaded."""
    index, loaded = _cache.get(shop_id)
    if not loaded:
        _refresh_usage(shop_id, index)
    return index


ENTRY_FIELDS = ("pk", "owner_id", "group_id", "code", "search_text", "content", "keywords", "image_id")


def _load(shop_id: int) -> ShopIndex:
    checked_at = timezone.now()
    entries: list[Entry] = []
    usage: dict[int, tuple[int, datetime | None]] = {}
    rows = Phrase.objects.filter(shop_id=shop_id).order_by("pk")
    for *values, count, last_used_at in rows.values_list(*ENTRY_FIELDS, "usage_count", "last_used_at"):
        entries.append(Entry(*values))
        usage[values[0]] = (count, last_used_at)
    products: dict[int, list[int]] = {}
    through = Phrase.products.through.objects.filter(phrase__shop_id=shop_id).order_by("product_id")
    for product_id, phrase_id in through.values_list("product_id", "phrase_id"):
        products.setdefault(phrase_id, []).append(product_id)
    return _built(shop_id, entries, products=products, usage=usage, usage_checked_at=checked_at, updates=0)


def _update(shop_id: int, old: ShopIndex, since: int, removed: set[int]) -> ShopIndex:
    """``old`` (the index at version ``since``) brought up to date: the phrases written after ``since``
    (their rows and links) replace or join the old entries, the ``removed`` ones go, the groups are
    re-read."""
    changed: dict[int, Entry] = {}
    with old.lock:  # other lookups may be refreshing its usage counts
        usage, usage_checked_at = dict(old.usage), old.usage_checked_at
    rows = Phrase.objects.filter(shop_id=shop_id, index_version__gt=since)
    for *values, count, last_used_at in rows.values_list(*ENTRY_FIELDS, "usage_count", "last_used_at"):
        changed[values[0]] = Entry(*values)
        usage[values[0]] = (count, last_used_at)
    gone = removed | changed.keys()
    old_entries = [*old.team, *(e for mine in old.personal.values() for e in mine)]
    kept = [e for e in old_entries if e.pk not in gone]
    for pk in removed:
        usage.pop(pk, None)
    products = {pk: ids for pk, ids in old.products.items() if pk not in gone}
    through = Phrase.products.through.objects.filter(
        phrase__shop_id=shop_id, phrase__index_version__gt=since
    ).order_by("product_id")
    for product_id, phrase_id in through.values_list("product_id", "phrase_id"):
        products.setdefault(phrase_id, []).append(product_id)
    return _built(
        shop_id,
        sorted([*kept, *changed.values()], key=attrgetter("pk")),  # sorted runs: near linear
        products=products,
        usage=usage,
        usage_checked_at=usage_checked_at,
        updates=old.updates + 1,
    )


def _built(
    shop_id: int,
    entries: list[Entry],  # in primary-key order
    *,
    products: dict[int, list[int]],
    usage: dict[int, tuple[int, datetime | None]],
    usage_checked_at: datetime,
    updates: int,
) -> ShopIndex:
    team: list[Entry] = []
    personal: dict[int, list[Entry]] = {}
    for entry in entries:
        (team if entry.owner_id is None else personal.setdefault(entry.owner_id, [])).append(entry)
    links: dict[int, set[int]] = {}
    for phrase_id, product_ids in products.items():
        for product_id in product_ids:
            links.setdefault(product_id, set()).add(phrase_id)
    return ShopIndex(
        shop_id=shop_id,
        team=team,
        personal=personal,
        linked={k: frozenset(v) for k, v in links.items()},
        products=products,
        group_names=dict(PhraseGroup.objects.filter(shop_id=shop_id).values_list("pk", "name")),
        usage=usage,
        usage_checked_at=usage_checked_at,
        updates=updates,
    )


def _refresh_usage(shop_id: int, index: ShopIndex) -> None:
    now = timezone.now()
    since = index.usage_checked_at - USAGE_MARGIN
    used = Phrase.objects.filter(shop_id=shop_id, last_used_at__gte=since)
    fresh = {pk: (count, last) for pk, count, last in used.values_list("pk", "usage_count", "last_used_at")}
    with index.lock:
        index.usage.update(fresh)
        index.usage_checked_at = max(index.usage_checked_at, now)


def clear() -> None:
    """Forget every cached shop (tests and benchmarks)."""
    _cache.clear()


_cache = StampedShopCache("phrases", _load, update=_update, max_shops=MAX_SHOPS)
