"""The late-shipment compensation table of seed 002, at its edges, and how a multi-item order counts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backoffice.operations.compensation import late_shipment_voucher, order_unit_price


@pytest.mark.parametrize(
    ("unit_price", "order_amount", "voucher"),
    [
        ("0.00", "0.00", "0.00"),
        ("3.00", "3.00", "0.00"),  # 3 yuan or less: none
        ("3.00", "900.00", "0.00"),  # the unit price decides the tier, not the order amount
        ("3.01", "3.01", "3.00"),  # more than 3: 3 yuan
        ("299.99", "299.99", "3.00"),
        ("299.99", "5999.80", "3.00"),  # below 300 it stays 3 yuan however large the order
        ("300.00", "300.00", "3.00"),  # 300 or more: 1% of the order amount
        ("300.00", "455.55", "4.56"),  # 1% rounded half up to the fen
        ("300.00", "455.45", "4.55"),
        ("3000.00", "3000.00", "30.00"),
        ("3000.01", "3000.01", "30.00"),  # at most 30 yuan
        ("5000.00", "10000.00", "30.00"),
    ],
)
def test_voucher_follows_the_seed_table(unit_price: str, order_amount: str, voucher: str) -> None:
    got = late_shipment_voucher(unit_price=Decimal(unit_price), order_amount=Decimal(order_amount))
    assert got == Decimal(voucher)
    assert str(got) == voucher  # exact decimals, two places


def test_multi_item_order_counts_once_on_its_dearest_item() -> None:
    prices = [Decimal("2.50"), Decimal("350.00"), Decimal("19.90")]
    assert order_unit_price(prices) == Decimal("350.00")
    # 1% of the whole order (2.50 + 350.00 + 19.90 = 372.40), once: not per item.
    assert late_shipment_voucher(
        unit_price=order_unit_price(prices), order_amount=Decimal("372.40")
    ) == Decimal("3.72")


def test_order_of_only_cheap_items_owes_nothing() -> None:
    assert order_unit_price([Decimal("1.00"), Decimal("3.00")]) == Decimal("3.00")
    assert late_shipment_voucher(unit_price=Decimal("3.00"), order_amount=Decimal("4.00")) == 0


def test_order_without_items_owes_nothing() -> None:
    assert order_unit_price([]) == 0


@pytest.mark.parametrize(("unit_price", "order_amount"), [("-0.01", "10.00"), ("10.00", "-1.00")])
def test_negative_amounts_are_refused(unit_price: str, order_amount: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        late_shipment_voucher(unit_price=Decimal(unit_price), order_amount=Decimal(order_amount))
