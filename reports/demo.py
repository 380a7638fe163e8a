"""The reports' part of the demo (called by ``seed_demo``): quality reviews of some past chats by the
supervisor, and the daily rollups of every past day (the beat task's work, done at once), so the report
pages have something to show at once. Deterministic (the same sessions every run) and idempotent (a review
per reviewer and session is replaced; a day's rollup is replaced)."""

from __future__ import annotations

from backoffice.models import Shop, StaffAccount
from reports import rollups
from reports.models import QualityReview, QualityTag
from routing.models import Conversation, ConversationState

REVIEWS = 12
COMMENTS = (
    ("态度很好，解释清楚", 92, [QualityTag.ATTITUDE, QualityTag.EXPERTISE]),
    ("回复偏慢，买家等了较久", 68, [QualityTag.TIMELINESS]),
    ("专业度不够，尺码建议不准确", 72, [QualityTag.EXPERTISE]),
    ("及时跟进物流，买家满意", 95, [QualityTag.TIMELINESS, QualityTag.ATTITUDE]),
)


def seed(shop: Shop, supervisor: StaffAccount) -> list[str]:
    """Reviews and rollups; what was added, for seed_demo's summary."""
    added = []
    sessions = list(
        Conversation.objects.for_shop(shop)
        .filter(state=ConversationState.ENDED, agent__isnull=False)
        .order_by("created_at", "pk")
        .values_list("pk", "agent_id")[: REVIEWS * 7 : 7]
    )
    made = 0
    for i, (conv_id, agent_id) in enumerate(sessions):
        comment, score, tags = COMMENTS[i % len(COMMENTS)]
        _review, created = QualityReview.objects.update_or_create(
            conversation_id=conv_id,
            reviewer=supervisor,
            defaults={
                "agent_id": agent_id,
                "score": score,
                "tags": [str(t) for t in tags],
                "comment": comment,
            },
        )
        made += created
    if made:
        added.append(f"{made} quality reviews")
    while rollups.roll_up(batch=50):  # every past day, so the pages read rollups at once (not "added")
        pass
    return added
