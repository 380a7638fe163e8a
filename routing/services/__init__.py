"""Routing services: every write of the routing domain, each rule stated where it is enforced. Callers use
this package (``from routing import services``); the modules are its seams:

- ``rules``: the pure selection rules (groups by scope, idle ratio and weight, the offline-routing spread);
- ``seats``: seats, the settings and agent locks, load reconciliation;
- ``queue``: the queue's order, positions, wait estimates and events (reads);
- ``batch``: the batch writer shared by routing and the queue drain, and the routing trace;
- ``drain``: serving the queue (drain, pull, message-pool reassignment);
- ``arrivals``: hand-overs to a human, routing in batches, stranded arrivals;
- ``agents``: status (recorded), reception limit, routing configuration of an agent;
- ``sessions``: proactive chats, transfers, the end and the auto-end;
- ``messages``: buyer messages (group commit), agent replies and cards, robot and system messages;
- ``images``: image uploads for a chat and agents' image messages (``routing.attachments`` has the rules);
- ``ratings``: rating invitations and ratings.

Concurrency design (PostgreSQL is the source of truth), the same for every writer:
- **Routers take turns per shop** on the shop's ``RoutingSettings`` row (``seats.lock_routing_settings``):
  whoever holds it routes every waiting arrival of the shop in one batch, and the queue drain runs the same
  way; shops route in parallel. A settings change waits for the batch in progress.
- **Then the agent rows, in staff order** (``seats.load_agents(lock=True)``): the batch reads every load once
  under those locks and counts the seats it gives as it goes, so seat counts are exact, never "try and
  retry". Every other writer that touches several agents (a transfer, the auto-end sweep, the reroute of a
  chat whose agent left) locks or updates them in staff order too, so none deadlocks with a router.
- **Then the loads**: written in the same transaction as the conversation rows that caused them, so
  ``AgentState.load`` equals the agent's active chats. A single seat is taken by one conditional UPDATE
  (``load < max AND status = online``); the rules that allow going over the limit (returning buyer, no-queue
  mode, forced transfer, offline routing, pool reassignment) increment unconditionally. A load that drifted
  anyway is clamped at 0 and logged when seats are given back, and ``seats.reconcile_loads`` (beat) resets
  it to the open chats under the same locks.
- **A conversation's state changes under its row lock** (``select_for_update``), taken before the agent rows:
  an end racing a transfer, or a buyer message racing the auto-end sweep, is serialized. Queue heads and
  waiting arrivals are claimed with ``SKIP LOCKED``; pulling a given queued chat is a conditional claim, so
  of two agents pulling one chat exactly one wins.
- **Events after commit** (``routing.events.publish``): the database is the truth, the channel layer a hint.
"""

from routing.services.agents import configure_agent, set_agent_status, set_reception_limit
from routing.services.arrivals import (
    NEW_BUYER_FIRST_PAYMENT_WINDOW,
    RETURNING_BUYER_WINDOW,
    STRANDED_AFTER,
    Arrival,
    hand_over,
    request_human,
    route_pending,
    route_stranded,
)
from routing.services.batch import routing_trace
from routing.services.drain import (
    ROUTING_BATCH,
    drain_queue,
    pool_holder,
    pull_from_queue,
    reassign_from_pool,
    reassign_pool,
    require_pool_keeper,
)
from routing.services.images import post_agent_image, upload_agent_image, upload_buyer_image
from routing.services.messages import (
    HISTORY_REPLY_WINDOW,
    MAX_TEXT,
    BuyerSend,
    post_agent_card,
    post_agent_message,
    post_buyer_message,
    post_buyer_messages,
    post_robot_message,
    post_system_message,
    post_system_message_to_buyer,
)
from routing.services.queue import DEFAULT_HANDLE_SECONDS, pool_in_order, queue_in_order, queue_position
from routing.services.ratings import RATING_WINDOW, invite_rating, rate, rateable, rating_target
from routing.services.rules import BuyerContext, Candidate, pick_agent, select_groups
from routing.services.seats import (
    agent_state,
    load_matches_open_sessions,
    lock_routing_settings,
    reconcile_loads,
    routing_settings,
)
from routing.services.sessions import (
    AUTO_END_AFTER,
    PROACTIVE_ORDER_WINDOW,
    auto_end_idle,
    end_conversation,
    find_proactive_buyers,
    start_proactive,
    transfer,
)

__all__ = [
    "AUTO_END_AFTER",
    "DEFAULT_HANDLE_SECONDS",
    "HISTORY_REPLY_WINDOW",
    "MAX_TEXT",
    "NEW_BUYER_FIRST_PAYMENT_WINDOW",
    "PROACTIVE_ORDER_WINDOW",
    "RATING_WINDOW",
    "RETURNING_BUYER_WINDOW",
    "ROUTING_BATCH",
    "STRANDED_AFTER",
    "Arrival",
    "BuyerContext",
    "BuyerSend",
    "Candidate",
    "agent_state",
    "auto_end_idle",
    "configure_agent",
    "drain_queue",
    "end_conversation",
    "find_proactive_buyers",
    "hand_over",
    "invite_rating",
    "load_matches_open_sessions",
    "lock_routing_settings",
    "pick_agent",
    "pool_holder",
    "pool_in_order",
    "post_agent_card",
    "post_agent_image",
    "post_agent_message",
    "post_buyer_message",
    "post_buyer_messages",
    "post_robot_message",
    "post_system_message",
    "post_system_message_to_buyer",
    "pull_from_queue",
    "queue_in_order",
    "queue_position",
    "rate",
    "rateable",
    "rating_target",
    "reassign_from_pool",
    "reassign_pool",
    "reconcile_loads",
    "request_human",
    "require_pool_keeper",
    "route_pending",
    "route_stranded",
    "routing_settings",
    "routing_trace",
    "select_groups",
    "set_agent_status",
    "set_reception_limit",
    "start_proactive",
    "transfer",
    "upload_agent_image",
    "upload_buyer_image",
]
