"""Images in chat: uploads for a chat and agents' image messages (the buyers' go through the group commit of
``messages.post_buyer_messages``). The checks, storage and the one-chat rule are ``routing.attachments``'."""

from __future__ import annotations

from django.db import transaction

from backoffice.models import Buyer, StaffAccount
from routing import attachments
from routing.access import require_chatting
from routing.models import Attachment, Conversation, Message
from routing.services.messages import post_agent_message


def upload_buyer_image(*, buyer: Buyer, data: bytes) -> Attachment:
    """A buyer's image, stored until they send it (in whatever chat is open then)."""
    return attachments.store_image(shop=buyer.shop, buyer=buyer, data=data)


def upload_agent_image(*, staff: StaffAccount, conversation: Conversation, data: bytes) -> Attachment:
    """An agent's image for a chat they may read (the caller fetched it through ``routing.access``); the
    account must be chatting (active, IM permission)."""
    require_chatting(staff)
    return attachments.store_image(shop=conversation.shop, staff=staff, conversation=conversation, data=data)


def post_agent_image(
    *, agent: StaffAccount, conversation: Conversation, attachment_id: int, client_msg_id: str = ""
) -> Message:
    """An agent's image message: an image uploaded for this chat (or a quick phrase's copy for it), with the
    rules of a reply (``post_agent_message``: only the chat's agent, timers, resends stored once)."""
    with transaction.atomic():
        card = attachments.claim_for_agent(conversation, attachment_id)
        return post_agent_message(
            agent=agent,
            conversation=conversation,
            text=attachments.image_text(),
            client_msg_id=client_msg_id,
            card=card,
        )
