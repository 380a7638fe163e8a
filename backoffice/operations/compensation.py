"""Late-shipment compensation (延迟发货赔付), the seed's table, on the product's unit price:

- unit price 3 yuan or less: none;
- more than 3 and less than 300 yuan: 3 yuan;
- 300 yuan or more: 1% of the order amount, at most 30 yuan.

An order with several items is counted once, as one order (the platform's penalty is per order, 3元/单),
on its highest unit price: the order falls in the tier of its dearest product. "The order amount" is the
order's total (``Order.total_amount``: goods less discount plus freight, what the buyer was asked to pay).
1% is rounded half up to the fen (0.01 yuan). Amounts are ``Decimal`` throughout: never a float.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

NO_COMPENSATION_UP_TO = Decimal("3.00")
FLAT_BELOW = Decimal("300.00")
FLAT = Decimal("3.00")
RATE = Decimal("0.01")
CAP = Decimal("30.00")
FEN = Decimal("0.01")


def late_shipment_voucher(*, unit_price: Decimal, order_amount: Decimal) -> Decimal:
    """The no-threshold voucher (yuan) owed for an order shipped late, by the table above. Negative amounts
    are refused (ValueError): they are never valid input."""
    if unit_price < 0 or order_amount < 0:
        raise ValueError("amounts must not be negative")
    if unit_price <= NO_COMPENSATION_UP_TO:
        return Decimal("0.00")
    if unit_price < FLAT_BELOW:
        return FLAT
    return min((order_amount * RATE).quantize(FEN, rounding=ROUND_HALF_UP), CAP)


def order_unit_price(unit_prices: Iterable[Decimal]) -> Decimal:
    """The unit price an order is counted on: its highest (0 for an order without items)."""
    return max(unit_prices, default=Decimal("0.00"))
