/* Buyer self-service on the chat page (robot/selfservice/buyer.py): the FAQ, the cards of the buyer's
   orders and the service window's bar above the input. Data is put on the page with textContent only
   (ChatCore.el). An FAQ tap or a card action is an HTTP call with the buyer's token; what it stores in the
   chat reaches the transcript over the page's socket like any message. */
(function () {
  "use strict";

  const C = window.ChatCore;
  const el = C.el;
  const $ = (id) => document.getElementById(id);
  const panel = $("ss-panel");
  if (!panel) return;
  const init = JSON.parse($("chat-initial").textContent);
  const S = $("ss-strings").dataset;
  // The page's strings name their values {like_this} (a template's translate tag keeps "%" as it is).
  const fmt = (template, params) =>
    String(template).replace(/\{(\w+)\}/g, (m, key) => (key in params ? String(params[key]) : m));
  const query = (extra) => {
    const params = new URLSearchParams({ token: init.token, ...(extra || {}) });
    return "?" + params.toString();
  };
  let state = { faq: null, cards: [], window: null };

  function post(url, body) {
    return fetch(url + query(), {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    })
      .then(async (r) => ({ ok: r.ok, status: r.status, data: await r.json().catch(() => ({})) }))
      // The server is away (the chat shows it is reconnecting): say so instead of an uncaught error.
      .catch(() => ({ ok: false, status: 0, data: { detail: S.offline } }));
  }

  function sheet(...children) {
    const box = $("ss-sheet");
    box.replaceChildren(...children);
    box.hidden = children.length === 0;
  }

  function failed(result) {
    sheet(el("p", { class: "ss-error" }, (result.data && result.data.detail) || fmt(S.failed, { status: result.status })));
  }

  // --- FAQ ---------------------------------------------------------------------------------------------------

  function renderFaq(faq) {
    $("ss-faq").hidden = !faq;
    if (!faq) return;
    $("ss-opening").textContent = faq.opening || "";
    $("ss-questions").replaceChildren(
      ...faq.questions.map((q) =>
        el("button", { type: "button", class: "ss-question", dataset: { id: q.id } }, q.question)
      )
    );
  }

  $("ss-questions").addEventListener("click", async (event) => {
    const button = event.target.closest(".ss-question");
    if (!button) return;
    button.disabled = true;
    const result = await post(panel.dataset.faqUrl, { question: Number(button.dataset.id), client_msg_id: C.uuid() });
    button.disabled = false;
    if (!result.ok) failed(result);
  });

  // --- cards -------------------------------------------------------------------------------------------------

  function action(card, name, label, data) {
    const button = el("button", { type: "button", class: "ss-act", dataset: { action: name } }, label);
    button.addEventListener("click", () => act(card, name, data ? data() : {}));
    return button;
  }

  function addressForm(card) {
    const a = card.address || {};
    const field = (name, label, value) =>
      el("label", {}, label, el("input", { name, value: name === "receiver_phone" ? "" : value || "", maxlength: 300, required: true }));
    const form = el(
      "form",
      { class: "ss-address-form" },
      field("receiver_name", S.receiver, a.receiver_name),
      field("receiver_phone", S.phone, ""),
      field("address", S.address, a.address),
      el("button", { type: "submit" }, S.save)
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      act(card, "change", data);
    });
    return form;
  }

  function renderCard(card) {
    const o = card.order;
    const box = el(
      "article",
      { class: "ss-card" + (card.done ? " done" : ""), dataset: { kind: card.kind, order: o.id } },
      el("h3", {}, card.title),
      el("p", { class: "ss-order" }, fmt(S.order, { number: o.number }), " · ", o.title, " · ", o.status)
    );
    if (card.kind === "confirm_address") {
      const a = card.address;
      box.append(el("p", {}, `${a.receiver_name} ${a.receiver_phone} ${a.address}`));
      if (card.done) box.append(el("p", { class: "ss-done" }, S.done));
      else box.append(action(card, "confirm", S.confirm));
      const change = el("button", { type: "button", class: "ss-act", dataset: { action: "change-open" } }, S.change);
      change.addEventListener("click", () => {
        change.replaceWith(addressForm(card));
      });
      box.append(change);
    } else if (card.kind === "urge_shipping") {
      if (card.ship_by) box.append(el("p", {}, fmt(S.shipBy, { time: new Date(card.ship_by).toLocaleString() })));
      box.append(card.done ? el("p", { class: "ss-done" }, S.done) : action(card, "urge", S.urge));
    } else if (card.kind === "track_parcel") {
      const p = card.parcel;
      box.append(el("p", {}, p.tracking_number ? fmt(S.carrier, { carrier: p.carrier, number: p.tracking_number }) : S.noParcel));
    } else if (card.kind === "confirm_receipt") {
      box.append(action(card, "confirm", S.receipt));
    } else if (card.kind === "apply_after_sale") {
      for (const option of card.options) box.append(action(card, option.value, option.label));
    } else if (card.kind === "after_sale_progress") {
      box.append(el("p", {}, o.after_sale_status));
    }
    return box;
  }

  function renderCards(cards) {
    $("ss-cards").replaceChildren(...cards.map(renderCard));
  }

  async function act(card, name, data) {
    const result = await post(panel.dataset.cardUrl, { order: card.order.id, kind: card.kind, action: name, data });
    if (!result.ok) {
      failed(result);
      return;
    }
    sheet(el("p", {}, S.saved));
    await load();
  }

  // --- the service window ------------------------------------------------------------------------------------

  function sendText(text) {
    const input = $("input");
    input.value = text;
    $("composer").requestSubmit();
  }

  function productBox(product) {
    return el(
      "div",
      { class: "ss-product" },
      el("strong", {}, product.title),
      " ¥" + product.price,
      product.url ? el("a", { href: product.url, target: "_blank", rel: "noopener noreferrer" }, " " + S.open) : null
    );
  }

  const handlers = {
    rate: () => $("menu-rate").click(),
    send_product: (entry) => {
      if (!entry.product) sheet(el("p", {}, S.noProduct));
      else sendText(fmt(S.sendProduct, { title: entry.product.title, price: entry.product.price }));
    },
    place_order: (entry) => sheet(entry.product ? productBox(entry.product) : el("p", {}, S.noProduct)),
    logistics: (entry) => {
      const p = entry.parcel;
      sheet(el("p", {}, p ? fmt(S.order, { number: p.order }) + " · " + fmt(S.carrier, { carrier: p.carrier, number: p.tracking_number }) : S.noParcel));
    },
    after_sale_request: () => {
      const card = document.querySelector('.ss-card[data-kind="apply_after_sale"]');
      if (card) {
        card.scrollIntoView({ block: "nearest" });
        card.classList.add("ss-highlight");
        sheet();
      } else sheet(el("p", {}, S.noAfterSaleOrder));
    },
    after_sale_progress: (entry) =>
      sheet(
        ...(entry.requests.length
          ? entry.requests.map((r) => el("p", {}, fmt(S.afterSale, { number: r.order, status: r.status })))
          : [el("p", {}, S.noAfterSale)])
      ),
    membership_gift: (entry) =>
      sheet(el("p", {}, entry.text, entry.url ? el("a", { href: entry.url, target: "_blank", rel: "noopener noreferrer" }, " " + S.open) : null)),
    product_link: (entry) => sheet(entry.product ? productBox(entry.product) : el("p", {}, S.noProduct)),
  };

  function renderWindow(win) {
    const nav = $("ss-window");
    nav.hidden = !win;
    if (!win) return;
    nav.dataset.bar = win.bar;
    nav.replaceChildren(
      ...win.entries.map((entry) => {
        const link = (entry.kind === "shop_home" || (entry.kind === "place_order" && entry.url)) && entry.url;
        if (link) {
          return el("a", { class: "ss-entry-btn", href: entry.url, target: "_blank", rel: "noopener noreferrer", dataset: { kind: entry.kind } }, entry.label);
        }
        const button = el("button", { type: "button", class: "ss-entry-btn", dataset: { kind: entry.kind } }, entry.label);
        button.addEventListener("click", () => (handlers[entry.kind] || (() => {}))(entry));
        return button;
      })
    );
  }

  async function load() {
    const extra = init.product ? { product: init.product } : {};
    let response;
    try {
      response = await fetch(panel.dataset.url + query(extra), { credentials: "omit", cache: "no-store" });
    } catch (error) {
      return; // the server is away: the transcript's next change (the chat resumes) loads it again
    }
    if (!response.ok) return;
    state = await response.json();
    renderFaq(state.faq);
    renderCards(state.cards);
    renderWindow(state.window);
    panel.hidden = !state.faq && state.cards.length === 0;
  }

  // What the chat shows changes what applies (an agent took the chat, a card's action was recorded, an
  // order changed meanwhile): reload when new messages or notes reach the transcript, once they settle.
  let reload = null;
  new MutationObserver(() => {
    clearTimeout(reload);
    // Not while the buyer types a new address: re-rendering the cards would drop what they typed.
    reload = setTimeout(() => document.querySelector(".ss-address-form") || load(), 400);
  }).observe($("transcript"), { childList: true });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") load();
  });

  load();
})();
