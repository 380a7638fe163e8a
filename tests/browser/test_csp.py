"""The pages under their Content-Security-Policy in a real browser: the workbench with a chat, a product
card and its dialogs, the buyer chat page, the admin's pages (sign-in, lists, forms with their widgets, the
language menu), the console home (the shop menu) and the API docs (Swagger UI) are refused nothing.

Two collectors, each failing the test: a ``securitypolicyviolation`` listener put in every page before its
scripts run (``window.__csp``, checked page by page) and Chromium's console messages (``watch`` in
conftest.py, for every browser test). Product images are https URLs on other hosts; the browser's requests
to them are answered here (``route``), so no test reaches outside the machine."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice import services as shop_services
from backoffice.models import Shop, StaffAccount
from routing import services
from routing.tokens import buyer_token
from tests.backoffice import factories
from tests.browser.conftest import CSP_REFUSAL, open_workbench, requires_chromium, requires_live_stack
from tests.conftest import PASSWORD

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]

VIOLATIONS = """
(() => {
  const seen = (window.__csp = []);
  document.addEventListener("securitypolicyviolation", (event) => {
    const where = `${event.sourceFile}:${event.lineNumber}`;
    seen.push(`${event.effectiveDirective} refused ${event.blockedURI || "inline"} (${where})`);
  });
})();
"""
# A 1x1 transparent PNG: the answer to the browser's requests for product images on other hosts.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
IMAGE = "https://img.example.com/products/csp-mug.png"


def watched(context: Any) -> Any:
    """The context with the violation listener in each page, and other hosts' images answered here."""
    context.add_init_script(VIOLATIONS)
    context.route(
        "https://**/*", lambda route: route.fulfill(status=200, content_type="image/png", body=PIXEL)
    )
    return context


def refused(page: Any) -> list[str]:
    seen: list[str] = page.evaluate("() => window.__csp")
    return seen


def visit(page: Any, url: str, ready: str) -> None:
    """Open ``url``, wait for ``ready`` (a selector) and check that nothing was refused."""
    page.goto(url)
    expect(page.locator(ready).first).to_be_visible()
    assert refused(page) == [], f"{url}: {refused(page)}"


@pytest.fixture
def owner_online(owner: StaffAccount) -> StaffAccount:
    services.set_agent_status(staff=owner, status="online")
    return owner


def test_workbench_and_buyer_chat_page_with_a_product_card_are_refused_nothing(
    new_context: Any, shop_a: Shop, owner_online: StaffAccount
) -> None:
    shop_services.upsert_products(
        shop=shop_a,
        records=[
            {
                "platform_id": "csp-mug",
                "title": "北欧风陶瓷马克杯",
                "price": "39.90",
                "category": "",
                "image_url": IMAGE,
                "url": "https://shop.example.com/item/csp-mug",
            }
        ],
    )
    factories.order(shop_a, "O-CSP-1", "csp-b1")
    buyer = factories.buyer(shop_a, "csp-b1", "爱吃草莓的小熊")
    chat = watched(new_context()).new_page()
    chat.goto(f"/chat/{shop_a.pk}/?token={buyer_token(buyer)}")
    expect(chat.locator("#conn-state")).to_have_attribute("data-state", "open")  # the socket: connect-src
    workbench = open_workbench(lambda staff: watched(new_context(staff)), owner_online)

    chat.locator("#input").fill("这个杯子有货吗")
    chat.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("这个杯子有货吗")
    expect(workbench.locator("#buyer-panel .order")).to_contain_text("O-CSP-1")  # the panel, fetched

    workbench.keyboard.press("Alt+P")
    workbench.locator("#product-q").fill("马克杯")
    workbench.locator("#product-results button.result").click()
    card = chat.locator("#transcript .card-product")
    expect(card.locator(".card-title")).to_have_text("北欧风陶瓷马克杯")
    image = card.locator("img")
    expect(image).to_have_attribute("src", IMAGE)
    chat.wait_for_function("() => document.querySelector('.card-product img').naturalWidth === 1")  # shown

    workbench.keyboard.press("Alt+T")
    expect(workbench.locator("#transfer-dialog")).to_be_visible()
    workbench.keyboard.press("Escape")
    workbench.locator("#phrase-new").click()
    expect(workbench.locator("#phrase-form")).to_be_visible()
    for page in (chat, workbench):
        assert refused(page) == [], refused(page)


def test_admin_pages_the_language_menu_and_the_sign_in_page_are_refused_nothing(
    new_context: Any, role_groups: None, shop_a: Shop, owner: StaffAccount
) -> None:
    order = factories.order(shop_a, "O-CSP-2", "csp-b2")
    admin = watched(new_context(owner)).new_page()
    for url, ready in [
        ("/admin/", "#content-main"),
        ("/admin/backoffice/buyer/", "#result_list"),
        (f"/admin/backoffice/order/{order.pk}/change/", "#content-main"),
        ("/admin/backoffice/staffaccount/add/", "#content-main form"),
        ("/admin/phrases/phrase/add/", ".selector"),  # the products' two-list widget (SelectFilter2.js)
        ("/admin/phrases/phrase/import/", "#content-main form"),
        ("/admin/routing/agentgroup/add/", "#content-main form"),
    ]:
        visit(admin, url, ready)

    # The language menu submits itself on change (menus.js, no inline handler).
    admin.locator("#user-tools select[name=language]").select_option("en")
    expect(admin.locator("html")).to_have_attribute("lang", "en")
    assert refused(admin) == [], refused(admin)

    anonymous = watched(new_context()).new_page()
    visit(anonymous, "/admin/login/", "#login-form")


def test_the_console_home_and_its_shop_menu_are_refused_nothing(
    new_context: Any, shop_a: Shop, shop_b: Shop, owner: StaffAccount
) -> None:
    shop_services.create_staff_account(
        shop=shop_b, login="owner_a", password=PASSWORD, display_name="林晓鹿", role="agent", im_enabled=False
    )
    home = watched(new_context(owner)).new_page()
    visit(home, "/", "header")
    expect(home.locator("header")).to_contain_text(shop_a.name)
    home.locator("#shop-switch").select_option(str(shop_b.pk))  # submits itself (menus.js)
    expect(home.locator("header")).to_contain_text(shop_b.name)
    assert refused(home) == [], refused(home)


def test_the_api_docs_render_swagger_ui_from_our_files_refused_nothing(
    new_context: Any, owner: StaffAccount
) -> None:
    context = watched(new_context(owner))
    hosts: set[str] = set()
    context.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    docs = context.new_page()
    visit(docs, "/api/v1/docs", ".swagger-ui .opblock")
    docs.locator(".opblock-summary").first.click()  # an operation opens with its parameters
    expect(docs.locator(".opblock-body").first).to_be_visible()
    assert refused(docs) == [], refused(docs)
    assert len(hosts) == 1, f"the docs page asked other hosts: {hosts}"


def test_the_collectors_see_what_the_policy_refuses(
    new_context: Any, owner: StaffAccount, page_errors: list[str]
) -> None:
    """Both collectors at work: an inline handler injected into the page is refused and seen by each."""
    page = watched(new_context(owner)).new_page()
    visit(page, "/", "header")
    with page.expect_console_message(lambda message: CSP_REFUSAL in message.text):
        page.evaluate("""() => document.body.insertAdjacentHTML(
            "beforeend", '<img src="data:," onerror="window.__ran = 1">'
        )""")
    page.wait_for_function("() => window.__csp.length > 0")
    assert refused(page)[0].startswith("script-src-attr refused inline"), refused(page)
    assert page.evaluate("() => window.__ran") is None
    assert any(CSP_REFUSAL in error for error in page_errors), page_errors
    page_errors.clear()  # refused on purpose: not a failure of this test
