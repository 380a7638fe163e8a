"""What routing keeps for every shop and staff account from its creation, called by backoffice's services
(the settings ``SHOP_SETUP`` and ``STAFF_ACCOUNT_SETUP``): the shop's one routing-settings row (the admin
opens it as one page) and each account's agent state (offline, weight 1, no group), so that an agent is put
in a group on the staff account form before they first open the workbench. Migration
``0010_settings_and_agent_states`` gave the shops and accounts created before this theirs."""

from __future__ import annotations

from backoffice.models import Shop, StaffAccount
from routing.services import agent_state, routing_settings


def set_up_shop(shop: Shop) -> None:
    routing_settings(shop)


def set_up_staff_account(staff: StaffAccount) -> None:
    agent_state(staff)
