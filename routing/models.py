"""Routing domain: agent presence and seats, groups, routing settings, conversations (sessions), messages,
reply delays, routing traces, transfers and ratings.

Seat accounting: ``AgentState.load`` counts the agent's active conversations. It changes only inside the
services' transactions, together with the conversation row that caused it, so it always equals the number
of active conversations held by that agent.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from backoffice.models import Buyer, Product, Shop, ShopQuerySet, StaffAccount


class AgentStatus(models.TextChoices):
    ONLINE = "online", _("Online")
    BUSY = "busy", _("Busy")
    OFFLINE = "offline", _("Offline")


class AgentGroup(models.Model):
    """A group of agents (e.g. 售前 / 售后) with an optional reception scope.

    Scope dimensions, matched in priority order crowd > product > intent > order state:
    ``crowd`` maps a buyer tag to accepted values ({"member_level": ["金卡会员"]}), ``products`` lists
    products, ``intents`` robot intents, ``order_states`` order statuses (or "none" for no order).
    """

    shop = models.ForeignKey(
        Shop, on_delete=models.CASCADE, related_name="agent_groups", verbose_name=_("shop")
    )
    name = models.CharField(_("name"), max_length=50)
    crowd = models.JSONField(_("crowd scope"), default=dict, blank=True)
    products = models.ManyToManyField(Product, blank=True, related_name="+", verbose_name=_("product scope"))
    intents = models.JSONField(_("intent scope"), default=list, blank=True)
    order_states = models.JSONField(_("order-state scope"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("agent group")
        verbose_name_plural = _("agent groups")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class AgentState(models.Model):
    """An agent's presence, routing participation, group, weight and current load (seats in use)."""

    staff = models.OneToOneField(
        StaffAccount, on_delete=models.CASCADE, related_name="agent_state", verbose_name=_("agent")
    )
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    status = models.CharField(
        pgettext_lazy("agent", "status"),
        max_length=10,
        choices=AgentStatus.choices,
        default=AgentStatus.OFFLINE,
    )
    routing = models.BooleanField(
        _("takes part in routing"),
        default=True,
        help_text=_("A non-routing account is never assigned automatically; it may pull from the queue."),
    )
    group = models.ForeignKey(
        AgentGroup,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=pgettext_lazy("agent", "group"),
    )
    weight = models.PositiveSmallIntegerField(
        _("weight"), default=1, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    load = models.PositiveIntegerField(_("current load"), default=0)
    offline_routing = models.BooleanField(_("on the offline-routing list"), default=False)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    connections = models.PositiveIntegerField(_("open workbench tabs"), default=0)  # presence
    disconnected_at = models.DateTimeField(_("last tab closed at"), null=True, blank=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("agent state")
        verbose_name_plural = _("agent states")
        indexes = [models.Index(fields=["shop", "status"])]

    def __str__(self) -> str:
        return (
            f"{self.staff.display_name} {self.get_status_display()} {self.load}/{self.staff.max_concurrent}"
        )


class PresenceLease(models.Model):
    """The workbench tabs one server process (an event loop: ``events.loop_origin()``) holds open for one
    agent, and when that process last proved it is alive (``renewed_at``, database clock). A process renews
    its leases every PRESENCE_HEARTBEAT_SECONDS; one not renewed for PRESENCE_LEASE_SECONDS is a dead
    process's, and ``presence.expire_presence`` removes its tabs (routing/presence.py)."""

    process = models.CharField(_("server process"), max_length=80)
    staff = models.ForeignKey(
        StaffAccount, on_delete=models.CASCADE, related_name="+", verbose_name=_("agent")
    )
    tabs = models.PositiveIntegerField(_("open workbench tabs"), default=0)
    renewed_at = models.DateTimeField(_("renewed at"))

    class Meta:
        verbose_name = _("presence lease")
        verbose_name_plural = _("presence leases")
        constraints = [models.UniqueConstraint(fields=["process", "staff"], name="presence_lease_once")]
        indexes = [models.Index(fields=["renewed_at"], name="presence_lease_renewed")]

    def __str__(self) -> str:
        return f"{self.process} {self.staff_id}: {self.tabs}"


class AgentStatusChange(models.Model):
    """One change of an agent's status, with its time by the database clock: the intervals online and busy,
    and the agents online per hour, are read from these (reports). Written by ``set_agent_status`` and the
    presence expiry, in the transaction of the change."""

    staff = models.ForeignKey(StaffAccount, on_delete=models.CASCADE, related_name="+")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=AgentStatus.choices)
    at = models.DateTimeField(db_default=Now())

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("agent status change")
        verbose_name_plural = _("agent status changes")
        indexes = [
            models.Index(fields=["shop", "at"], name="status_change_shop_at"),
            models.Index(fields=["staff", "at"], name="status_change_staff_at"),
        ]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.get_status_display()} {self.at}"


class QueueOrder(models.TextChoices):
    FIFO = "fifo", _("First queued, first served")
    LIFO = "lifo", _("Last queued, first served")


class OfflineMode(models.TextChoices):
    """Where a chat goes when every agent is offline and no offline-routing agent takes it. The seeds
    differ: Kuaishou (004) and Douyin (000) queue it until an agent comes online, Taobao (003) leaves it in
    the message pool for the service assistant to hand out the next day. The queue is the default: it
    reaches the first agent online without anyone having to remember the pool."""

    QUEUE = "queue", _("Queue until an agent comes online")
    POOL = "pool", _("The message pool (service assistant or owner)")


class RoutingSettings(models.Model):
    shop = models.OneToOneField(
        Shop, on_delete=models.CASCADE, related_name="routing_settings", verbose_name=_("shop")
    )
    queue_order = models.CharField(
        _("queue order"), max_length=4, choices=QueueOrder.choices, default=QueueOrder.FIFO
    )
    no_queue = models.BooleanField(_("no-queue mode"), default=False)
    new_buyer_priority = models.BooleanField(_("new-buyer priority entry"), default=False)
    offline_routing = models.BooleanField(_("offline routing"), default=False)
    offline_mode = models.CharField(
        _("when everyone is offline"),
        max_length=5,
        choices=OfflineMode.choices,
        default=OfflineMode.QUEUE,
        help_text=_("After the offline-routing list (when it is on and has someone)."),
    )
    pool_auto_drain = models.BooleanField(
        _("give message-pool chats to agents as they come online"), default=False
    )
    pool_holder = models.ForeignKey(
        StaffAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("message pool holder (service assistant)"),
    )
    owner_routes_in_simple_mode = models.BooleanField(_("owner takes part in simple mode"), default=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("routing settings")
        verbose_name_plural = _("routing settings")

    def __str__(self) -> str:
        return gettext("routing settings of %(shop)s") % {"shop": self.shop}


class ConversationState(models.TextChoices):
    ROBOT = "robot", _("With the robot")
    ROUTING = "routing", _("Waiting for routing")
    QUEUED = "queued", _("Queued")
    POOL = "pool", _("In the message pool")
    ACTIVE = "active", _("With an agent")
    ENDED = "ended", _("Ended")


class EndReason(models.TextChoices):
    AGENT = "agent", _("Ended by the agent")
    BUYER = "buyer", _("Ended by the buyer")
    AUTO = "auto", _("Auto-ended (answered, then 15 minutes without a buyer message)")


class ArrivalReason(models.TextChoices):
    """Why a conversation came to routing (a hand-over to a human): stored on the conversation for the agent
    and the reports."""

    BUYER_ASKED = "buyer_asked", _("The buyer asked for a human")
    NO_ROBOT = "no_robot", _("The robot does not receive this chat")
    ROBOT_UNSURE = "robot_unsure", _("The robot could not answer")
    COMPLAINT = "complaint", _("A complaint or an angry buyer")
    AGENT_GONE = "agent_gone", _("The agent went offline")


class Conversation(models.Model):
    """One session (会话) between a buyer and the shop."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="conversations")
    buyer = models.ForeignKey(Buyer, on_delete=models.CASCADE, related_name="conversations")
    state = models.CharField(
        max_length=10, choices=ConversationState.choices, default=ConversationState.ROBOT
    )
    agent = models.ForeignKey(
        StaffAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="conversations"
    )
    group = models.ForeignKey(AgentGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    priority = models.BooleanField(default=False, help_text="new-buyer priority entry: front of its queue")
    source_product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    intent = models.CharField(max_length=50, blank=True)
    handoff_reason = models.CharField(
        max_length=20, choices=ArrivalReason.choices, blank=True, help_text="why it last came to routing"
    )
    proactive = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="when it last entered the queue (kept after the assignment)"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=10, choices=EndReason.choices, blank=True)
    last_buyer_message_at = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(
        null=True, blank=True, help_text="reply timer: since when the buyer waits for a human reply"
    )
    silent_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="auto-end clock: the shop's last message to a buyer who has been answered; null while the "
        "buyer waits for a reply (an unanswered buyer is never auto-ended)",
    )
    first_response_seconds = models.FloatField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            # auto-end sweep: answered active sessions by the time the buyer went silent
            models.Index(
                fields=["silent_since"],
                name="conv_active_by_silence",
                condition=models.Q(state="active", silent_since__isnull=False),
            ),
            # queue heads per shop and group
            models.Index(
                fields=["shop", "group", "-priority", "queued_at"],
                name="conv_queue_heads",
                condition=models.Q(state="queued"),
            ),
            models.Index(fields=["buyer", "-ended_at"]),
            # range scans of the reports: a shop's sessions by start and by end
            models.Index(fields=["shop", "created_at"], name="conv_shop_created"),
            models.Index(fields=["shop", "ended_at"], name="conv_shop_ended"),
            # arrivals waiting for a router (route_pending)
            models.Index(
                fields=["shop", "id"], name="conv_waiting_for_routing", condition=models.Q(state="routing")
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer"],
                condition=~models.Q(state="ended"),
                name="conv_one_open_session_per_buyer",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.buyer} {self.get_state_display()}"


class SenderKind(models.TextChoices):
    BUYER = "buyer", _("Buyer")
    AGENT = "agent", _("Agent")
    ROBOT = "robot", _("Robot")
    SYSTEM = "system", _("System")


class Message(models.Model):
    """A message of a conversation. ``shop`` repeats the conversation's shop so that the reports scan a
    shop's messages by time on one index. No default ordering: the largest table is read in ranges and by
    sequence, each query saying its order."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.PositiveIntegerField()
    sender = models.CharField(max_length=10, choices=SenderKind.choices)
    agent = models.ForeignKey(StaffAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    text = models.TextField(max_length=2000)
    card = models.JSONField(
        null=True, blank=True, help_text="a card shown instead of plain text: product or rating invitation"
    )
    client_msg_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [models.Index(fields=["shop", "created_at"], name="msg_shop_created")]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="msg_seq_per_conversation"),
            models.UniqueConstraint(
                fields=["conversation", "client_msg_id"],
                condition=~models.Q(client_msg_id=""),
                name="msg_client_id_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_sender_display()}#{self.seq}: {self.text[:30]}"


class ReplyDelay(models.Model):
    """One measured response: from the first unanswered buyer message (or the assignment) to the reply."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reply_delays")
    agent = models.ForeignKey(StaffAccount, on_delete=models.PROTECT, related_name="+")
    waited_from = models.DateTimeField()
    replied_at = models.DateTimeField()
    seconds = models.FloatField()
    is_first = models.BooleanField(default=False)

    shop_path = "conversation__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("reply delay")
        verbose_name_plural = _("reply delays")
        indexes = [models.Index(fields=["agent", "replied_at"], name="reply_delay_agent_at")]

    def __str__(self) -> str:
        return f"{self.seconds:.0f}s"


class DecisionOutcome(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned")
    QUEUED = "queued", _("Queued")
    POOL = "pool", _("Message pool")


class DecisionRule(models.TextChoices):
    """The rule that decided, one value per path through the pipeline (reports group by it). Automatic
    routing is "<how the group was chosen>/<how the agent was>": idle_ratio (the lowest load / (limit x
    weight), which with equal weights is the highest idle ratio; ties at random), no_queue (everyone full,
    no-queue mode: the best saturated agent), all_full (queued)."""

    RETURNING_BUYER = "returning_buyer", _("Returning buyer: their agent of the last 72 hours")
    CROWD = "group_by_crowd/idle_ratio", _("Crowd group, lowest weighted load")
    CROWD_NO_QUEUE = "group_by_crowd/no_queue", _("Crowd group, all full, no-queue mode")
    CROWD_ALL_FULL = "group_by_crowd/all_full", _("Crowd group, all full: queued")
    PRODUCT = "group_by_product/idle_ratio", _("Product group, lowest weighted load")
    PRODUCT_NO_QUEUE = "group_by_product/no_queue", _("Product group, all full, no-queue mode")
    PRODUCT_ALL_FULL = "group_by_product/all_full", _("Product group, all full: queued")
    INTENT = "group_by_intent/idle_ratio", _("Intent group, lowest weighted load")
    INTENT_NO_QUEUE = "group_by_intent/no_queue", _("Intent group, all full, no-queue mode")
    INTENT_ALL_FULL = "group_by_intent/all_full", _("Intent group, all full: queued")
    ORDER_STATE = "group_by_order_state/idle_ratio", _("Order-state group, lowest weighted load")
    ORDER_STATE_NO_QUEUE = "group_by_order_state/no_queue", _("Order-state group, all full, no-queue mode")
    ORDER_STATE_ALL_FULL = "group_by_order_state/all_full", _("Order-state group, all full: queued")
    DEFAULT = "group_default/idle_ratio", _("Default group, lowest weighted load")
    DEFAULT_NO_QUEUE = "group_default/no_queue", _("Default group, all full, no-queue mode")
    DEFAULT_ALL_FULL = "group_default/all_full", _("Default group, all full: queued")
    SIMPLE = "simple_mode/idle_ratio", _("Simple mode, lowest weighted load")
    SIMPLE_NO_QUEUE = "simple_mode/no_queue", _("Simple mode, all full, no-queue mode")
    SIMPLE_ALL_FULL = "simple_mode/all_full", _("Simple mode, all full: queued")
    ANY_ONLINE = "any_online_agent/idle_ratio", _("Nobody of the group online: any online agent")
    ANY_ONLINE_NO_QUEUE = "any_online_agent/no_queue", _("Any online agent, all full, no-queue mode")
    ANY_ONLINE_ALL_FULL = "any_online_agent/all_full", _("Any online agent, all full: queued")
    NONE_ONLINE = "none_online", _("Nobody online, agents busy: queued")
    OFFLINE_ROUTING = "offline_routing", _("Everyone offline: the offline-routing list")
    OFFLINE_QUEUE = "offline_queue", _("Everyone offline: queued until an agent comes online")
    MESSAGE_POOL = "message_pool", _("Everyone offline: the message pool")
    QUEUE_DRAIN = "queue_drain/idle_ratio", _("From the queue: a seat came free")
    POOL_DRAIN = "pool_drain/idle_ratio", _("From the message pool: an agent came online")
    PULLED_FROM_QUEUE = "pulled_from_queue", _("Taken from the queue by the agent")
    POOL_REASSIGNED = "pool_reassigned", _("Given from the message pool by a supervisor or its holder")
    PULLED_FROM_POOL = "pulled_from_pool", _("Taken from the message pool by the agent")
    PROACTIVE = "proactive", _("Proactive chat opened by the agent")
    TRANSFER = "transfer", _("Transferred")
    TRANSFER_FORCED = "transfer_forced", _("Transferred over the limit by a supervisor")


class RoutingDecision(models.Model):
    """The routing trace: what was considered and why the winner won. No default ordering (a large table,
    read per conversation in ``pk`` order and by the reports in ranges)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="routing_decisions")
    created_at = models.DateTimeField(auto_now_add=True)
    rule = models.CharField(max_length=40, choices=DecisionRule.choices)
    outcome = models.CharField(max_length=20, choices=DecisionOutcome.choices)
    winner = models.ForeignKey(
        StaffAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    group = models.ForeignKey(AgentGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    candidates = models.JSONField(
        default=list, help_text="[staff_id, load, max, weight] per candidate, as they stood at the decision"
    )
    note = models.CharField(max_length=200, blank=True)

    shop_path = "conversation__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("routing decision")
        verbose_name_plural = _("routing decisions")

    def __str__(self) -> str:
        return f"{self.get_rule_display()} → {self.get_outcome_display()}"

    def candidate_details(self, names: dict[int, str]) -> list[dict[str, Any]]:
        """The candidates with names, idle ratios and shares (``Candidate.share``). They are stored
        compactly (a trace is written for every decision, and a live-stream burst writes thousands a
        minute)."""
        return [
            {
                "staff_id": staff_id,
                "name": names.get(staff_id, ""),
                "load": load,
                "max": max_,
                "idle_ratio": round((max_ - load) / max_, 4),
                "weight": weight,
                "share": round(load / (max_ * weight), 4),
            }
            for staff_id, load, max_, weight in self.candidates
        ]


class Transfer(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="transfers")
    from_agent = models.ForeignKey(StaffAccount, on_delete=models.PROTECT, related_name="+")
    to_agent = models.ForeignKey(StaffAccount, on_delete=models.PROTECT, related_name="+")
    by = models.ForeignKey(StaffAccount, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=200, blank=True)
    forced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    shop_path = "conversation__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("chat transfer")
        verbose_name_plural = _("chat transfers")

    def __str__(self) -> str:
        return f"{self.from_agent_id} → {self.to_agent_id}"


class Rating(models.Model):
    """One rating per session, changeable while the session is open (glossary: 服务评价)."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="rating")
    agent = models.ForeignKey(StaffAccount, on_delete=models.PROTECT, related_name="+")
    stars = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    updated_at = models.DateTimeField(auto_now=True)

    shop_path = "conversation__shop"
    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")

    def __str__(self) -> str:
        return f"{self.stars}★"


class Attachment(models.Model):
    """An image of a chat (``routing.attachments`` states the rules): a buyer's upload (``buyer``; its chat is
    set when it is sent), an agent's upload for a chat (``uploaded_by`` and ``conversation``), or a quick
    phrase's image (``uploaded_by`` only; each use copies it into the chat). ``file`` and ``thumbnail`` are
    storage names under ``MEDIA_ROOT``, random, never the uploaded name."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    buyer = models.ForeignKey(Buyer, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    uploaded_by = models.ForeignKey(
        StaffAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    file = models.CharField(max_length=100)
    thumbnail = models.CharField(max_length=100)
    content_type = models.CharField(max_length=20)
    size = models.PositiveIntegerField(help_text="bytes as stored (re-encoded)")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    thumb_width = models.PositiveIntegerField()
    thumb_height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShopQuerySet.as_manager()

    class Meta:
        verbose_name = _("image")
        verbose_name_plural = _("images")
        indexes = [models.Index(fields=["buyer", "created_at"], name="attachment_buyer_created")]

    def __str__(self) -> str:
        return f"image #{self.pk} {self.width}x{self.height}"
