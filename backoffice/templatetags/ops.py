"""Template filters of the after-sale workbench: a request's guide and the actions open to it now."""

from __future__ import annotations

from django import template

from backoffice.models import AfterSaleKind, AfterSaleReason, AfterSaleRequest, Order
from backoffice.operations import aftersale

register = template.Library()


@register.filter
def after_sale_guide(request: AfterSaleRequest) -> aftersale.Guide:
    return aftersale.guide(request)


@register.filter
def after_sale_actions(request: AfterSaleRequest) -> list[tuple[str, str]]:
    """(action, label) of every action, in order; the template hides those not open now."""
    return [(action, str(aftersale.ACTION_LABELS[action])) for action in aftersale.ACTIONS]


@register.filter
def after_sale_open(request: AfterSaleRequest) -> list[str]:
    return aftersale.next_actions(request)


@register.simple_tag
def after_sale_choices() -> dict[str, list[tuple[str, str]]]:
    """The kinds and reasons an agent chooses from when opening a request from the chat."""
    return {
        "kinds": [(value, str(label)) for value, label in AfterSaleKind.choices],
        "reasons": [(value, str(label)) for value, label in AfterSaleReason.choices],
    }


@register.filter
def has_open_after_sale(order: Order) -> bool:
    """Whether the order (its after-sale requests prefetched) has one still open: it may have only one."""
    return any(a.state not in aftersale.CLOSED for a in order.after_sales.all())
