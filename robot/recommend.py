"""Answer recommendation (答案推荐): mine the shop's own human replies for hot intents (urge shipping first),
so that agents see the replies that worked, and why.

Rules of ``compute``:
- the chats: rated 4 or 5 stars, ended within ``WINDOW`` (90 days) and at least 24 h ago, and not followed
  within 24 h of their end by a complaint (a chat of the buyer whose intent, or whose hand-off reason, is a
  complaint) or by a new human session of the buyer (the first one did not settle it);
- the replies: in those chats, the agent's first text reply after a buyer message, paired with that buyer
  message's intent (``robot.matching.detect_intent``; unsure messages pair with nothing);
- the intents: urge shipping always, and the shop's ``HOT`` most frequent others;
- near-duplicate replies are merged (character-bigram Jaccard at least ``MERGE``, like the unanswered
  questions' grouping); a merged reply shows the wording used most, how often it was used and the average
  rating of its chats; ranked by times used, then average rating; ``TOP`` per intent are kept.

The beat task (``run_due``): shops with a rating get a schedule row; due rows are claimed with a conditional
UPDATE by the database's clock (``due_at`` moved an interval on), SKIP LOCKED, in bounded batches, so two
runs at once never compute one shop twice; a shop's replies are replaced in one transaction, so running
again gives the same rows (idempotent)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone

from robot import matching
from robot.models import RecommendationRun, RecommendedReply
from robot.unanswered import key_of, similarity
from routing.intents import Intent
from routing.models import ArrivalReason, Conversation, Message, Rating, SenderKind

WINDOW = timedelta(days=90)
SETTLED = timedelta(hours=24)
INTERVAL = timedelta(hours=1)
MERGE = 0.7
TOP = 5
HOT = 4
BATCH = 20
MAX_CHATS = 2000  # most recent rated chats a computation reads per shop


@dataclass
class _Cluster:
    key: str
    texts: Counter[str] = field(default_factory=Counter)
    stars: list[int] = field(default_factory=list)

    @property
    def used(self) -> int:
        return len(self.stars)

    @property
    def average(self) -> float:
        return sum(self.stars) / len(self.stars)


def good_chats(shop_id: int, now: datetime) -> list[tuple[int, int]]:
    """(conversation id, stars) of the chats the module's rules mine, most recent first."""
    later = Conversation.objects.filter(
        buyer_id=OuterRef("conversation__buyer_id"),
        created_at__gt=OuterRef("conversation__ended_at"),
        created_at__lte=OuterRef("conversation__ended_at") + SETTLED,
    )
    human_again = later.filter(assigned_at__isnull=False)
    complaint = later.filter(Q(intent=Intent.COMPLAINT) | Q(handoff_reason=ArrivalReason.COMPLAINT))
    rows = (
        Rating.objects.filter(
            conversation__shop_id=shop_id,
            stars__gte=4,
            conversation__ended_at__gte=now - WINDOW,
            conversation__ended_at__lte=now - SETTLED,
        )
        .exclude(Exists(human_again))
        .exclude(Exists(complaint))
        .order_by("-conversation__ended_at")
        .values_list("conversation_id", "stars")[:MAX_CHATS]
    )
    return list(rows)


def _pairs(shop_id: int, chats: dict[int, int]) -> list[tuple[str, str, int]]:
    """(intent, reply, stars): each agent's first text reply after a buyer message of a known intent."""
    messages = (
        Message.objects.filter(conversation_id__in=chats, sender__in=[SenderKind.BUYER, SenderKind.AGENT])
        .filter(card__isnull=True)
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", "sender", "text")
    )
    intents: dict[str, str] = {}
    out: list[tuple[str, str, int]] = []
    waiting: dict[int, str] = {}  # conversation -> intent of the unanswered buyer message
    for conv_id, sender, text in messages.iterator(chunk_size=2000):
        if sender == SenderKind.BUYER:
            if text not in intents:
                intents[text] = matching.detect_intent(shop_id=shop_id, text=text)[0]
            if intents[text]:
                waiting[conv_id] = intents[text]
        elif conv_id in waiting:
            out.append((waiting.pop(conv_id), text, chats[conv_id]))
    return out


def _merge(replies: list[tuple[str, int]]) -> list[_Cluster]:
    clusters: list[_Cluster] = []
    for text, stars in replies:
        key = key_of(text)
        if not key:
            continue
        home = next((c for c in clusters if c.key == key or similarity(c.key, key) >= MERGE), None)
        if home is None:
            home = _Cluster(key)
            clusters.append(home)
        home.texts[text] += 1
        home.stars.append(stars)
    return clusters


def compute(*, shop_id: int, now: datetime | None = None) -> list[RecommendedReply]:
    """Replace the shop's recommended replies by the ones its chats give now (the module's rules)."""
    now = now or timezone.now()
    chats = dict(good_chats(shop_id, now))
    by_intent: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for intent, text, stars in _pairs(shop_id, chats):
        by_intent[intent].append((text.strip(), stars))
    others = sorted(
        (i for i in by_intent if i not in (Intent.URGE_SHIPPING, Intent.GREETING, Intent.ASK_HUMAN)),
        key=lambda i: (-len(by_intent[i]), i),
    )
    hot = [Intent.URGE_SHIPPING.value, *others[:HOT]]
    rows = []
    for intent in hot:
        clusters = sorted(_merge(by_intent.get(intent, [])), key=lambda c: (-c.used, -c.average, c.key))
        for rank, cluster in enumerate(clusters[:TOP], start=1):
            text = sorted(cluster.texts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            rows.append(
                RecommendedReply(
                    shop_id=shop_id,
                    intent=intent,
                    text=text,
                    times_used=cluster.used,
                    average_rating=round(cluster.average, 2),
                    rank=rank,
                    computed_at=now,
                )
            )
    with transaction.atomic():
        RecommendedReply.objects.filter(shop_id=shop_id).delete()
        RecommendedReply.objects.bulk_create(rows)
    return rows


def _schedule_new_shops() -> None:
    """Every shop with a rating gets a schedule row, due now."""
    rated = (
        Rating.objects.exclude(conversation__shop_id__in=RecommendationRun.objects.values("shop_id"))
        .values_list("conversation__shop_id", flat=True)
        .distinct()
    )
    RecommendationRun.objects.bulk_create(
        [RecommendationRun(shop_id=shop_id, due_at=timezone.now()) for shop_id in set(rated)],
        ignore_conflicts=True,
    )


def _claim(batch: int) -> list[int]:
    """Claim up to ``batch`` due shops (SKIP LOCKED, then a conditional update by the database's clock)."""
    with transaction.atomic():
        due = list(
            RecommendationRun.objects.filter(due_at__lte=Now())
            .select_for_update(skip_locked=True)
            .order_by("due_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not due:
            return []
        RecommendationRun.objects.filter(pk__in=due, due_at__lte=Now()).update(due_at=Now() + INTERVAL)
        return list(RecommendationRun.objects.filter(pk__in=due).values_list("shop_id", flat=True))


def run_due(*, batch: int = BATCH, limit: int = 500) -> int:
    """The beat task's work: compute every due shop (at most ``limit`` a run); the shops computed."""
    _schedule_new_shops()
    done = 0
    while done < limit:
        shops = _claim(min(batch, limit - done))
        if not shops:
            break
        for shop_id in shops:
            compute(shop_id=shop_id)
            RecommendationRun.objects.filter(shop_id=shop_id).update(computed_at=Now())
        done += len(shops)
    return done


def for_intent(*, shop_id: int, intent: str, limit: int = 3) -> list[RecommendedReply]:
    """The recommended replies of an intent, best first."""
    return list(RecommendedReply.objects.filter(shop_id=shop_id, intent=intent).order_by("rank")[:limit])
