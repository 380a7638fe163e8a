"""The interactive service window (issue 16): fixed entries, eight at most, reordering (the settings page's
form, as drag and drop submits it), the bar by the buyer's state, and what each entry carries."""

from __future__ import annotations

import pytest
from django.test import Client

from backoffice.errors import Forbidden, Invalid, NotFound
from backoffice.models import Shop, StaffAccount
from robot.models import WindowEntry
from robot.selfservice import window
from tests.backoffice import factories

FIXED = ["rate", "send_product", "place_order"]


def kinds(shop: Shop, bar: str) -> list[str]:
    return [e.kind for e in window.entries_of(shop, bar)]


def fill(owner: StaffAccount, bar: str = "presale") -> list[WindowEntry]:
    p1, p2 = factories.product(owner.shop, "p1"), factories.product(owner.shop, "p2", "靠垫")
    return [
        window.add_entry(staff=owner, bar=bar, kind="logistics"),
        window.add_entry(staff=owner, bar=bar, kind="shop_home", url="https://shop.example.com/"),
        window.add_entry(staff=owner, bar=bar, kind="membership_gift", text="入会送10元券"),
        window.add_entry(staff=owner, bar=bar, kind="product_link", product_id=p1.pk),
        window.add_entry(staff=owner, bar=bar, kind="product_link", product_id=p2.pk),
    ]


def test_a_bar_holds_eight_entries_three_of_them_fixed(owner: StaffAccount) -> None:
    fill(owner)
    with pytest.raises(Invalid, match="8"):
        window.add_entry(staff=owner, bar="presale", kind="after_sale_progress")
    assert len(kinds(owner.shop, "presale")) == 5
    # the other bar has its own eight
    assert window.add_entry(staff=owner, bar="aftersale", kind="after_sale_progress").pk


@pytest.mark.parametrize("kind", FIXED)
def test_fixed_entries_cannot_be_added_moved_or_removed(owner: StaffAccount, kind: str) -> None:
    with pytest.raises(Invalid):
        window.add_entry(staff=owner, bar="presale", kind=kind)
    entries = window.window_for_buyer(factories.buyer(owner.shop), None)["entries"]
    assert [e["kind"] for e in entries] == FIXED  # always there, always first


def test_fixed_entries_stay_first_whatever_the_order(owner: StaffAccount) -> None:
    entries = fill(owner)
    window.arrange_bar(staff=owner, bar="presale", entry_ids=[e.pk for e in reversed(entries)])
    shown = [e["kind"] for e in window.window_for_buyer(factories.buyer(owner.shop), None)["entries"]]
    assert shown[:3] == FIXED
    assert shown[3:] == ["product_link", "product_link", "membership_gift", "shop_home", "logistics"]


def test_arranging_leaves_out_removes(owner: StaffAccount) -> None:
    entries = fill(owner)
    window.arrange_bar(staff=owner, bar="presale", entry_ids=[entries[2].pk, entries[0].pk])
    assert kinds(owner.shop, "presale") == ["membership_gift", "logistics"]


def test_another_shops_entry_cannot_be_arranged(owner: StaffAccount, outsider: StaffAccount) -> None:
    theirs = window.add_entry(staff=outsider, bar="presale", kind="logistics")
    with pytest.raises(NotFound):
        window.arrange_bar(staff=owner, bar="presale", entry_ids=[theirs.pk])
    assert WindowEntry.objects.filter(pk=theirs.pk).exists()


def test_refusals(owner: StaffAccount, outsider: StaffAccount, teammate: StaffAccount) -> None:
    window.add_entry(staff=owner, bar="presale", kind="logistics")
    with pytest.raises(Invalid):
        window.add_entry(staff=owner, bar="presale", kind="logistics")  # once per bar
    with pytest.raises(Invalid):
        window.add_entry(staff=owner, bar="presale", kind="shop_home")  # needs its link
    with pytest.raises(Invalid):
        window.add_entry(staff=owner, bar="presale", kind="shop_home", url="javascript:alert(1)")
    with pytest.raises(NotFound):
        other = factories.product(outsider.shop, "px")
        window.add_entry(staff=owner, bar="presale", kind="product_link", product_id=other.pk)
    with pytest.raises(Invalid):
        window.add_entry(staff=owner, bar="nowhere", kind="logistics")
    with pytest.raises(Forbidden):
        window.add_entry(staff=teammate, bar="presale", kind="after_sale_progress")


def test_the_bar_follows_the_buyers_state(owner: StaffAccount, shop_a: Shop) -> None:
    newcomer = factories.buyer(shop_a, "b0")
    assert window.bar_for_buyer(newcomer) == "presale"
    paid = factories.order(shop_a, "O1", "b1").buyer
    assert window.bar_for_buyer(paid) == "aftersale"
    unpaid = factories.order(shop_a, "O2", "b2", status="unpaid", paid_at=None).buyer
    assert window.bar_for_buyer(unpaid) == "presale"
    closed_with_after_sale = factories.order(
        shop_a, "O3", "b3", status="closed", after_sale_status="refund_requested"
    )
    assert window.bar_for_buyer(closed_with_after_sale.buyer) == "aftersale"


def test_entries_carry_what_they_show(owner: StaffAccount, shop_a: Shop) -> None:
    window.add_entry(staff=owner, bar="aftersale", kind="logistics")
    window.add_entry(staff=owner, bar="aftersale", kind="after_sale_progress")
    product = factories.product(shop_a, "p1")
    o = factories.order(
        shop_a,
        "O1",
        "b1",
        status="shipped",
        carrier="顺丰速运",
        tracking_number="SF1",
        after_sale_status="refund_requested",
    )
    shown = {e["kind"]: e for e in window.window_for_buyer(o.buyer, product)["entries"]}
    assert shown["logistics"]["parcel"] == {"order": "O1", "carrier": "顺丰速运", "tracking_number": "SF1"}
    assert shown["after_sale_progress"]["requests"][0]["order"] == "O1"
    assert shown["send_product"]["product"]["id"] == product.pk


def test_settings_page_reorders_as_the_drag_and_drop_form_posts(
    owner_client: Client, owner: StaffAccount
) -> None:
    entries = fill(owner)
    order = [entries[4].pk, entries[0].pk, entries[1].pk]
    response = owner_client.post(
        "/self-service/window/", {"op": "arrange", "bar": "presale", "entry": [str(pk) for pk in order]}
    )
    assert response.status_code == 302
    assert [e.pk for e in window.entries_of(owner.shop, "presale")] == order
    page = owner_client.get("/self-service/window/").content.decode()
    assert 'draggable="true"' in page


def test_settings_page_refuses_a_ninth_entry(owner_client: Client, owner: StaffAccount) -> None:
    fill(owner)
    response = owner_client.post(
        "/self-service/window/", {"op": "add", "bar": "presale", "kind": "after_sale_request"}
    )
    assert response.status_code == 422


def test_settings_page_needs_the_right(teammate_client: Client, outsider_client: Client) -> None:
    assert teammate_client.get("/self-service/window/").status_code == 403
    assert outsider_client.get("/self-service/window/").status_code == 200  # their own shop's


def test_home_links_the_settings_pages_by_right(owner_client: Client, teammate_client: Client) -> None:
    page = owner_client.get("/").content.decode()
    for url in (
        "/self-service/faq/",
        "/self-service/cards/",
        "/self-service/window/",
        "/self-service/follow-up/",
    ):
        assert f'href="{url}"' in page
    assert "/self-service/" not in teammate_client.get("/").content.decode()
