"""Unanswered questions (未解决问题): every buyer question the robot could not answer is kept, grouped by
similarity, so that the owner sees what buyers ask and turns a group into a knowledge-base entry.

Grouping: a question's key is its matching form (``backoffice.text.normalize``) without spaces,
punctuation and emoji; it joins the shop's open group (not turned into an entry yet) with the same key, else
the most similar open group among the shop's ``RECENT`` latest when the character-bigram Jaccard similarity
of the keys is at least ``SIMILAR``, else it starts a new group. Once per buyer message (a resend is not
counted twice)."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, NotFound
from backoffice.models import StaffAccount
from backoffice.text import normalize
from robot import knowledge
from robot.models import KnowledgeEntry, UnansweredGroup, UnansweredQuestion
from robot.models.knowledge import MAX_QUESTION
from routing.models import Message

SIMILAR = 0.5
RECENT = 300
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def key_of(text: str) -> str:
    """The grouping form of a question: normalized, letters and digits only."""
    return _NOISE.sub("", normalize(text))[:2000]


def _bigrams(key: str) -> set[str]:
    return {key[i : i + 2] for i in range(len(key) - 1)} or {key}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the character bigrams of two keys."""
    one, other = _bigrams(a), _bigrams(b)
    return len(one & other) / len(one | other) if one | other else 0.0


def _group_for(shop_id: int, key: str) -> UnansweredGroup | None:
    open_groups = UnansweredGroup.objects.filter(shop_id=shop_id, entry_id__isnull=True)
    same = open_groups.filter(key=key).first()
    if same is not None:
        return same
    best, best_score = None, SIMILAR
    for group in open_groups.order_by("-last_asked_at")[:RECENT].only("pk", "key"):
        score = similarity(key, group.key)
        if score >= best_score:
            best, best_score = group, score
    return best


def record(*, message: Message) -> UnansweredQuestion | None:
    """Keep a buyer message the robot could not answer, in its group; None for a message kept already or
    with nothing to group (only punctuation or emoji)."""
    key = key_of(message.text)
    if not key:
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            group = _group_for(message.shop_id, key)
            if group is None:
                group = UnansweredGroup.objects.create(
                    shop_id=message.shop_id, text=message.text[:2000], key=key, last_asked_at=now
                )
            else:
                UnansweredGroup.objects.filter(pk=group.pk).update(count=F("count") + 1, last_asked_at=now)
            return UnansweredQuestion.objects.create(
                shop_id=message.shop_id, group=group, message=message, text=message.text[:2000]
            )
    except IntegrityError:  # this message is kept already
        return None


def similar_questions(group: UnansweredGroup, limit: int = 20) -> list[str]:
    """The group's other wordings (distinct, latest first), for the new entry's similar questions."""
    seen = {group.text}
    out = []
    for text in group.questions.order_by("-pk").values_list("text", flat=True)[:200]:
        if text not in seen:
            seen.add(text)
            out.append(text)
        if len(out) >= limit:
            break
    return out


def make_entry(*, actor: StaffAccount, group: UnansweredGroup, answer: str, intent: str) -> KnowledgeEntry:
    """Turn an unanswered group into a knowledge-base entry of the actor's shop in one step: the group's
    text is the standard question (cut to the question's length), its other wordings the similar questions;
    the knowledge base's rules apply (``robot.knowledge.create_entry``: the right, the answer, the intent).
    The group is closed (``entry_id``) in the same transaction; a group already turned into an entry, or of
    another shop, is refused."""
    if group.shop_id != actor.shop_id:
        raise NotFound(_("No such unanswered question in this shop."))
    with transaction.atomic():
        locked = UnansweredGroup.objects.select_for_update().get(pk=group.pk)
        if locked.entry_id is not None:
            raise Conflict(_("This question is already in the knowledge base."))
        question = locked.text.strip()[:MAX_QUESTION]
        similar = [q.strip()[:MAX_QUESTION] for q in similar_questions(locked)]
        entry = knowledge.create_entry(
            actor=actor,
            question=question,
            similar_questions=[q for q in similar if q and q != question],
            answer=answer,
            intent=intent,
        )
        locked.entry_id = entry.pk
        locked.save(update_fields=["entry_id"])
    group.entry_id = entry.pk
    return entry
