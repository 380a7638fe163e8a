/* The agent workbench: /ws/agent/ (routing/PROTOCOL.md) plus the routing API for actions.
 *
 * The page arrives server-rendered with the sessions, their reply timers and unread counts; from then on
 * everything arrives as events and the page never reloads. Transcripts are loaded over HTTP when a chat is
 * opened and kept up to date by the socket; the socket resumes after the last seq seen of every chat.
 */
(function () {
  "use strict";

  const C = window.ChatCore;
  const init = JSON.parse(document.getElementById("wb-initial").textContent);
  const S = init.strings;
  const me = init.me;
  const $ = (id) => document.getElementById(id);
  const time = C.timeFormat(init.time_zone);
  const dateTime = C.timeFormat(init.time_zone, true); // a time that may not be today's: with its date
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  // The server's clock at render minus ours: timers count from the server's waiting_since.
  const skew = new Date(init.server_now).getTime() - Date.now();
  const now = () => C.now() + skew;
  const AMBER_AFTER = 120;
  const RED_AFTER = 180;

  const store = new C.Store();
  const view = new C.TranscriptView($("transcript"), renderMessage);
  const sessions = new Map(); // id -> row (active chats)
  const history = new Map(); // id -> row (ended in the last 72 h)
  const loaded = new Set(); // conversations whose transcript was fetched
  const products = new Map(); // conversation id -> the product it came from (from the buyer panel), or null
  let selected = null; // conversation id shown in the pane
  let tab = "sessions";
  let hellos = 0;
  let notify = false;
  let audio = null;

  // --- HTTP --------------------------------------------------------------------------------------------------

  function api(method, path, body) {
    return request(method, init.api + path, body);
  }

  async function request(method, url, body) {
    const options = {
      method,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json", [init.shop_header]: String(init.shop.id) },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (e) {
      return { ok: false, status: 0, data: null, headers: new Headers(), error: C.fmt(S.error, { status: 0 }) };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    const detail = data && typeof data.detail === "string" ? data.detail : C.fmt(S.error, { status: response.status });
    const result = { ok: response.ok, status: response.status, data, headers: response.headers };
    if (isShopChanged(response.status, data)) {
      result.shopChanged = true;
      shopChanged(data.shop, data.detail);
    }
    return Object.assign(result, { error: response.ok ? "" : detail });
  }

  let toastTimer = null;
  function toast(text) {
    $("toast").textContent = text || "";
    clearTimeout(toastTimer);
    if (text) toastTimer = setTimeout(() => ($("toast").textContent = ""), 6000);
  }

  // --- the session lists -------------------------------------------------------------------------------------

  function rowElement(list, id) {
    return list.querySelector(`li.session[data-id="${Number(id)}"]`);
  }

  function newRowElement(row) {
    const node = $("session-row-tpl").content.firstElementChild.cloneNode(true);
    node.dataset.id = String(row.id);
    return node;
  }

  function preview(row) {
    if (row.last_sender === "system") return "[" + S.system + "]";
    if (row.last_kind === "image") return S.image_text;
    const text = row.last_text || "";
    return text.length > 40 ? text.slice(0, 39) + "…" : text;
  }

  function paintRow(row) {
    const node = row.el;
    node.querySelector('[data-field="name"]').textContent =
      row.state === "pool" ? `${S.pool_tag} ${row.buyer_name}` : row.buyer_name;
    const unread = node.querySelector('[data-field="unread"]');
    unread.textContent = String(row.unread || 0);
    unread.hidden = !row.unread;
    node.querySelector('[data-field="preview"]').textContent = preview(row);
    node.classList.toggle("selected", row.id === selected);
    node.setAttribute("aria-selected", String(row.id === selected));
    paintTimer(row);
  }

  function paintTimer(row) {
    const timer = row.el.querySelector('[data-field="timer"]');
    const counting = row.state === "active" && heldByMe(row) && row.waiting_since;
    const seconds = counting ? (now() - new Date(row.waiting_since)) / 1000 : null;
    setTimer(timer, seconds);
    if (row.id === selected) setTimer($("pane-timer"), seconds);
  }

  function setTimer(node, seconds) {
    if (seconds === null) {
      node.textContent = "";
      node.dataset.level = "none";
      node.classList.remove("amber", "red");
      return;
    }
    node.textContent = C.duration(seconds);
    const level = seconds >= RED_AFTER ? "red" : seconds >= AMBER_AFTER ? "amber" : "ok";
    node.dataset.level = level;
    node.classList.toggle("amber", level === "amber");
    node.classList.toggle("red", level === "red");
  }

  function addSession(row) {
    const existing = sessions.get(row.id);
    if (existing) {
      Object.assign(existing, row, { el: existing.el });
      paintRow(existing);
      return existing;
    }
    removeHistory(row.id);
    row.el = rowElement($("session-list"), row.id) || newRowElement(row);
    if (!row.el.parentNode) $("session-list").append(row.el);
    row.el.onclick = () => select(row.id);
    row.unread_base = row.unread || 0;
    sessions.set(row.id, row);
    store.setBase(row.id, row.last_seq || 0);
    paintRow(row);
    counts();
    return row;
  }

  function removeSession(id) {
    const row = sessions.get(id);
    if (!row) return null;
    sessions.delete(id);
    row.el.remove();
    counts();
    return row;
  }

  function addHistory(row) {
    let existing = history.get(row.id);
    if (existing) {
      Object.assign(existing, row, { el: existing.el });
    } else {
      row.el = rowElement($("history-list"), row.id) || newRowElement(row);
      if (!row.el.parentNode) $("history-list").prepend(row.el);
      row.el.onclick = () => select(row.id);
      if (row.unread_base === undefined) row.unread_base = row.unread || 0;
      history.set(row.id, row);
      existing = row;
    }
    store.setBase(existing.id, existing.last_seq || 0);
    paintRow(existing);
    return existing;
  }

  function removeHistory(id) {
    const row = history.get(id);
    if (row) {
      history.delete(id);
      row.el.remove();
    }
  }

  function counts() {
    $("session-count").textContent = String(sessions.size);
    $("session-empty").hidden = sessions.size > 0 || tab !== "sessions";
  }

  function rowOf(id) {
    return sessions.get(id) || history.get(id) || null;
  }

  /* Reconnected: chats assigned meanwhile were announced while we were away; the database knows them. */
  async function refreshSessions() {
    const result = await api("GET", "conversations?scope=active");
    if (!result.ok) return;
    const seen = new Set();
    for (const row of result.data) {
      seen.add(row.id);
      const known = sessions.get(row.id);
      if (known) {
        known.waiting_since = row.waiting_since;
        if (row.last_seq >= store.conv(row.id).base) {
          store.setBase(row.id, row.last_seq);
          known.unread_base = row.unread;
          recount(known);
        }
        paintRow(known);
      } else {
        addSession(row);
      }
    }
    for (const id of [...sessions.keys()]) if (!seen.has(id)) removeSession(id);
  }

  // --- the conversation pane ---------------------------------------------------------------------------------

  function renderMessage(m, node, state, reason) {
    const el = C.el;
    const mine = m.sender === "agent";
    const robot = m.sender === "robot"; // the robot's part of the chat, marked as the robot's
    node.className = "msg " + (mine ? "mine" : m.sender === "system" ? "system" : robot ? "theirs robot" : "theirs");
    const who =
      m.sender === "buyer" ? S.buyer : m.sender === "agent" ? m.agent_name || me.name : robot ? S.robot || S.system : S.system;
    const head = el("span", { class: "who" }, who, " ", el("time", {}, time(m.created_at)));
    node.append(head);
    if (C.isRatingInvite(m)) node.append(el("span", { class: "text" }, S.rating_invited));
    else if (C.isProductCard(m)) node.append(C.productCard(m.card, S));
    else if (C.isImage(m)) node.append(C.imageCard(m.card, S));
    else node.append(el("span", { class: "text" }, m.text));
    if (mine) node.append(C.deliveryState(state, reason, S));
  }

  /* A chat I served and transferred away stays in my history: the colleague's now, read only. */
  function heldByMe(row) {
    return row.agent_id === undefined || row.agent_id === null || row.agent_id === me.staff_id;
  }

  function repliable(row) {
    if (!row || !heldByMe(row)) return false;
    if (row.state === "active" || row.state === "pool") return true; // the pool's holder answers too
    return row.state === "ended" && row.repliable_until && now() < new Date(row.repliable_until).getTime();
  }

  function paintPane() {
    const row = rowOf(selected);
    $("pane-empty").hidden = row !== null;
    $("pane").hidden = row === null;
    if (!row) return;
    $("pane-buyer").textContent = row.buyer_name;
    const active = row.state === "active" && heldByMe(row);
    const pooled = row.state === "pool" && heldByMe(row);
    $("invite-btn").disabled = !active;
    for (const id of ["end-btn", "transfer-btn"]) $(id).disabled = !active && !pooled;
    $("transfer-btn").textContent = pooled ? S.hand_out : S.transfer;
    $("pool-all-btn").hidden = !pooled;
    const canReply = repliable(row);
    $("product-btn").disabled = !canReply;
    $("input").disabled = !canReply;
    $("send-btn").disabled = !canReply;
    paintImageTools(canReply);
    let note = "";
    if (!heldByMe(row)) {
      note = C.fmt(S.transferred_read_only, { name: row.agent_name || "—" });
    } else if (row.state === "ended") {
      note = canReply ? C.fmt(S.history_repliable, { time: dateTime(row.repliable_until) }) : S.read_only;
    } else if (pooled) {
      note = S.pool_note;
    } else if (row.state !== "active") {
      note = S.ended;
    }
    $("composer-note").textContent = note;
    $("composer-note").hidden = !note;
    $("pane-state").textContent = row.state === "ended" ? S.ended : !heldByMe(row) ? S.transferred : "";
  }

  function showTranscript(id) {
    view.clear();
    for (const m of store.messages(id)) view.upsert(m);
    for (const n of store.conv(id).notes) view.note(id, n.after, n.text, n.cls);
    for (const entry of store.outbox.values()) if (entry.conversation === id) view.pending(entry);
    view.scrollToEnd();
  }

  async function select(id) {
    const row = rowOf(id);
    if (!row) return;
    const previous = selected;
    selected = id;
    for (const r of [...sessions.values(), ...history.values()]) paintRow(r);
    markRead(row);
    paintPane();
    if (previous !== id) {
      switchDraft(previous, id);
      showTranscript(id);
      loadBuyerPanel(id);
    }
    row.el.scrollIntoView({ block: "nearest" });
    if (!loaded.has(id)) {
      const result = await api("GET", `conversations/${id}/messages?after=0`);
      if (result.ok) {
        loaded.add(id);
        for (const m of result.data) addMessage(m, { alert: false });
      }
    }
  }

  async function loadBuyerPanel(id) {
    const panel = $("buyer-panel");
    panel.replaceChildren();
    panel.setAttribute("aria-busy", "true");
    let response;
    try {
      response = await fetch(init.buyer_panel.replace("{id}", String(id)), {
        credentials: "same-origin",
        headers: { [init.shop_header]: String(init.shop.id) },
      });
    } catch (e) {
      return;
    }
    if (response.status === 409) {
      const data = await response.json().catch(() => null);
      if (isShopChanged(response.status, data)) shopChanged(data.shop, data.detail);
      return;
    }
    if (!response.ok || selected !== id) return;
    // A server-rendered partial: Django escaped every value in it.
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    if (selected !== id) return;
    panel.replaceChildren(template.content);
    panel.removeAttribute("aria-busy");
    const product = Number((panel.querySelector(".bp") || { dataset: {} }).dataset.product) || null;
    products.set(id, product);
    panelsDo("changed"); // e.g. the product's linked phrases rank first
  }

  function note(conversation, text, cls) {
    const c = store.conv(conversation);
    const entry = { after: c.lastSeq, text, cls };
    c.notes.push(entry);
    if (conversation === selected) view.note(conversation, entry.after, text, cls);
  }

  function move(step) {
    const list = tab === "history" ? [...history.keys()] : [...sessions.keys()];
    if (!list.length) return;
    const order = tab === "history" ? list : [...$("session-list").children].map((n) => Number(n.dataset.id));
    const index = order.indexOf(selected);
    const next = index === -1 ? (step > 0 ? 0 : order.length - 1) : (index + step + order.length) % order.length;
    select(order[next]);
  }

  // --- messages ----------------------------------------------------------------------------------------------

  /* Unread = buyer messages after the agent's last reply and after what the agent saw on screen (`seen`).
   * The server counted them up to the chat's seq when it sent the row (`base`); later messages are counted
   * here, whatever order or path they arrive by. */
  function recount(row) {
    const c = store.conv(row.id);
    let lastAgent = 0;
    const buyerAfterBase = [];
    for (const [seq, m] of c.bySeq) {
      if (seq <= c.base) continue;
      if (m.sender === "agent" && seq > lastAgent) lastAgent = seq;
      if (m.sender === "buyer") buyerAfterBase.push(seq);
    }
    const readTo = Math.max(lastAgent, row.seen || 0);
    if (readTo) row.unread = buyerAfterBase.filter((seq) => seq > readTo).length;
    else row.unread = (row.unread_base || 0) + buyerAfterBase.length;
  }

  /* The chat on screen, in a visible tab, is read: what arrives there leaves no unread badge. */
  function markRead(row) {
    if (!row || row.id !== selected || document.hidden) return;
    row.seen = Math.max(row.seen || 0, store.conv(row.id).maxSeq || 0, row.last_seq || 0);
    recount(row);
    paintRow(row);
  }

  /* A stored message, from the socket or the transcript endpoint (alert: notify when it is new). */
  function addMessage(m, { alert = true } = {}) {
    if (m.client_msg_id && store.outbox.has(m.client_msg_id)) store.outbox.delete(m.client_msg_id);
    if (!store.add(m)) return false;
    const row = rowOf(m.conversation);
    if (m.sender === "agent") m.mine = true;
    if (row) {
      const c = store.conv(m.conversation);
      if (m.seq >= (row.last_seq || 0)) {
        row.last_seq = m.seq;
        row.last_text = m.card && m.card.title ? m.card.title : m.text;
        row.last_sender = m.sender;
        row.last_kind = m.card && m.card.kind ? String(m.card.kind) : "";
      }
      if (m.seq > c.base) {
        recount(row);
        if (m.sender === "buyer") {
          if (row.state === "active" && !row.waiting_since) row.waiting_since = m.created_at;
          if (alert && (m.conversation !== selected || document.hidden)) {
            alertAgent(C.fmt(S.new_message, { name: row.buyer_name }), m.text, `msg-${m.conversation}`);
          }
        } else if (m.sender === "agent" && m.seq === c.lastSeq) {
          row.waiting_since = null; // the timer event confirms it
        }
      }
      paintRow(row);
      markRead(row);
    }
    if (m.conversation === selected) view.upsert(m);
    if (m.conversation === selected && m.sender === "buyer") panelsDo("message"); // e.g. the assist panel
    const resume = store.gapResume(m.conversation);
    if (resume) socket.send(resume);
    return true;
  }

  /* The consumer accepts up to 200 conversations per resume frame. */
  function resume(ids) {
    const all = [...ids];
    for (let i = 0; i < all.length; i += 100) {
      socket.send({ type: "resume", after: store.resumeMap(all.slice(i, i + 100)) });
    }
  }

  function onAck(frame) {
    const m = store.acked(frame, "agent", me.name);
    if (m) addMessage(m);
  }

  function queueSend(conversation, frame, text, card) {
    const entry = store.queue({
      frame,
      conversation,
      text,
      card,
      preview: { sender: "agent", agent_name: me.name, text, card, created_at: new Date().toISOString() },
    });
    if (conversation === selected) view.pending(entry);
    socket.send(frame);
  }

  function sendText() {
    const input = $("input");
    const sent = sendMessage(input.value);
    if (sent) {
      input.value = "";
      drafts.delete(selected);
      panelsDo("reset"); // a value set by script fires no input event
    }
    if (sent || !input.value.trim()) sendAttachedImage(); // a phrase's image goes after its text
  }

  /* Send a text in the selected chat; false (nothing sent) when it is blank, too long or not repliable. */
  function sendMessage(text) {
    if (selected === null || !text.trim() || $("input").disabled) return false;
    if (text.length > init.max_text) {
      toast(S.too_long);
      return false;
    }
    queueSend(selected, { type: "send", conversation: selected, client_msg_id: C.uuid(), text }, text, null);
    return true;
  }

  function sendProduct(product) {
    if (selected === null) return;
    const card = {
      kind: "product",
      id: product.id,
      title: product.title,
      price: product.price,
      image_url: product.image_url,
    };
    const frame = { type: "card", conversation: selected, client_msg_id: C.uuid(), kind: "product", id: product.id };
    queueSend(selected, frame, product.title, card);
  }

  // --- images and emoji --------------------------------------------------------------------------------------

  let attached = null; // {conversation, card}: an image waiting in the reply box (a quick phrase's)

  /* Send an uploaded image (its card from the upload) as an image message in `conversation`. */
  function sendImageCard(conversation, card) {
    if (conversation === null || !card) return false;
    const frame = { type: "image", conversation, client_msg_id: C.uuid(), attachment: card.attachment };
    queueSend(conversation, frame, S.image_text, card);
    return true;
  }

  /* The image waiting in the reply box goes now (after the text the agent sent, if any). */
  function sendAttachedImage() {
    if (!attached || attached.conversation !== selected || $("input").disabled) return false;
    const { conversation, card } = attached;
    attachImage(null);
    return sendImageCard(conversation, card);
  }

  /* Put an image in the reply box of the selected chat (null: take it out), shown as a thumbnail chip. */
  function attachImage(card) {
    attached = card && selected !== null ? { conversation: selected, card } : null;
    const chip = $("attach-chip");
    chip.replaceChildren();
    chip.hidden = !attached;
    if (!attached) return;
    const remove = C.el("button", { type: "button", class: "attach-remove", "aria-label": S.image_remove }, "×");
    remove.addEventListener("click", () => attachImage(null));
    chip.append(C.imageCard(card, S), remove);
  }

  async function uploadImage(file) {
    const conversation = selected;
    if (!file || conversation === null || $("input").disabled) return;
    if (file.size > init.max_image_bytes) {
      toast(S.image_too_large);
      return;
    }
    toast(S.uploading);
    const url = `${init.api}conversations/${conversation}/images`;
    const headers = { "X-CSRFToken": csrf, Accept: "application/json", [init.shop_header]: String(init.shop.id) };
    const result = await C.uploadImage(url, file, headers, S);
    if (isShopChanged(result.status, result.data)) {
      toast("");
      shopChanged(result.data.shop, result.data.detail);
      return;
    }
    if (!result.ok) {
      toast(result.error);
      return;
    }
    toast("");
    sendImageCard(conversation, result.data);
  }

  /* The image button, the file chooser, the emoji picker and the chip follow whether the chat can be answered. */
  function paintImageTools(canReply) {
    for (const id of ["image-btn", "emoji-btn"]) $(id).disabled = !canReply;
    if (!canReply) $("emoji-panel").hidden = true;
    if (attached && (attached.conversation !== selected || !canReply)) attachImage(null);
  }

  function setupImageTools() {
    C.emojiPicker($("emoji-btn"), $("emoji-panel"), $("input"), S);
    $("image-btn").addEventListener("click", () => $("image-input").click());
    $("image-input").addEventListener("change", () => {
      const file = $("image-input").files[0];
      $("image-input").value = "";
      uploadImage(file);
    });
  }

  function onError(frame) {
    const entry = store.failed(frame, (again) => socket.send(again));
    if (!entry) toast(frame.message || frame.code);
    else if (entry.conversation === selected) view.pending(entry);
    if (entry && REFUSED_FRAME.includes(frame.code)) chatRefused(entry.conversation, frame.message);
  }

  // --- drafts: each chat keeps its own reply box ------------------------------------------------------------

  const drafts = new Map(); // conversation id -> what was typed in its reply box and not sent

  /* Another chat is shown: the reply box's text stays with the chat it was typed for. */
  function switchDraft(from, to) {
    const input = $("input");
    if (from !== null && rowOf(from)) {
      if (input.value) drafts.set(from, input.value);
      else drafts.delete(from);
    }
    input.value = drafts.get(to) || "";
    panelsDo("reset");
  }

  /* The chat ended or went away: what was typed for it is dropped, never sent elsewhere. */
  function dropDraft(id) {
    drafts.delete(id);
    if (id === selected) {
      $("input").value = "";
      panelsDo("reset");
    }
  }

  // --- refused: an action on a chat that is no longer mine ---------------------------------------------------

  // The server refuses an action on a chat transferred away, ended or taken over by a supervisor with a 403
  // or a 409 (an error frame "forbidden" / "conflict" on the socket), also when this page missed the event.
  const REFUSED_FRAME = ["forbidden", "conflict"];

  function refused(result) {
    return !result.shopChanged && (result.status === 403 || result.status === 409);
  }

  /* Say so, and bring the lists up to date from the server: the chat moves to my history, or goes. */
  async function chatRefused(id, detail) {
    toast(C.fmt(S.not_yours, { detail: detail || "" }));
    await refreshSessions();
    await refreshHistory();
    if (sessions.has(id)) return;
    dropDraft(id);
    if (id === selected) {
      if (history.has(id)) paintPane();
      else closePane();
    }
  }

  async function refreshHistory() {
    const result = await api("GET", "conversations?scope=history");
    if (!result.ok) return;
    for (const row of result.data) if (!sessions.has(row.id)) addHistory(row);
  }

  // --- the page's shop: another tab switched the session to another shop -------------------------------------

  // Every request names the page's shop (header init.shop_header); the server answers 409 shop_changed once
  // the session works in another shop, and closes the socket with 4409. The page then shows nothing of the
  // other shop: a banner offers to reload as the session's shop or to switch the session back.
  const SHOP_CHANGED_CLOSE = 4409;

  function isShopChanged(status, data) {
    return status === 409 && data !== null && typeof data === "object" && data.code === "shop_changed";
  }

  function shopChanged(current, detail) {
    const banner = $("shop-changed");
    for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close(); // modal: banner first
    if (!banner.hidden) return;
    $("shop-changed-text").textContent =
      detail ||
      (current ? C.fmt(S.shop_changed, { current: current.name, page: init.shop.name }) : S.shop_gone);
    const reload = $("shop-reload");
    reload.textContent = current ? C.fmt(S.reload_as, { shop: current.name }) : reload.textContent;
    banner.hidden = false;
    $("shop-switch-back").focus();
  }

  /* The socket was refused for the page's shop: which shop is the session's now? (asked without the header) */
  async function socketShopChanged() {
    let current = null;
    try {
      const options = { credentials: "same-origin", headers: { Accept: "application/json" } };
      const response = await fetch(init.me_api, options);
      if (response.ok) current = (await response.json()).shop;
    } catch (e) {
      current = null;
    }
    shopChanged(current, "");
  }

  // --- actions -----------------------------------------------------------------------------------------------

  async function endChat() {
    const row = sessions.get(selected);
    if (!row) return;
    const id = row.id;
    // The neighbour below (else above), chosen now: the `ended` event may remove the row before the reply.
    const order = [...$("session-list").children].map((n) => Number(n.dataset.id));
    const next = order[order.indexOf(id) + 1] || order[order.indexOf(id) - 1] || null;
    const result = await api("POST", `conversations/${id}/end`);
    if (refused(result)) {
      chatRefused(id, result.error);
      return;
    }
    if (!result.ok) {
      toast(result.error);
      return;
    }
    toHistory(id, "agent", result.data.ended_at);
    if (next !== null && sessions.has(next)) select(next);
  }

  function toHistory(id, by, endedAt) {
    const row = removeSession(id);
    if (!row || row.state === "ended") return;
    row.state = "ended";
    row.waiting_since = null;
    row.ended_at = endedAt || new Date(now()).toISOString();
    row.repliable_until = new Date(new Date(row.ended_at).getTime() + 72 * 3600 * 1000).toISOString();
    dropDraft(id);
    addHistory(row);
    note(id, S["ended_by_" + by] || S.ended, "ended");
    if (id === selected) paintPane();
  }

  async function inviteRating() {
    if (!sessions.has(selected)) return;
    const id = selected;
    const result = await api("POST", `conversations/${id}/rating-invite`);
    if (refused(result)) chatRefused(id, result.error);
    else if (!result.ok) toast(result.error);
    else addMessage(result.data, { alert: false });
  }

  function openDialog(id) {
    const dialog = $(id);
    dialog.querySelector(".dialog-error").textContent = "";
    if (!dialog.open) dialog.showModal();
    return dialog;
  }

  async function openTransfer() {
    if (!sessions.has(selected)) return;
    const dialog = openDialog("transfer-dialog");
    const select_ = $("transfer-agent");
    const result = await api("GET", "agents");
    if (result.shopChanged) return; // the banner says why; never another shop's colleagues
    const agents = result.ok ? result.data : init.agents;
    select_.replaceChildren(C.el("option", { value: "" }, S.choose_agent));
    for (const agent of agents) {
      select_.append(
        C.el(
          "option",
          { value: String(agent.id), disabled: agent.status !== "online" },
          `${agent.name} · ${S[agent.status] || agent.status}`
        )
      );
    }
    select_.focus();
    dialog.dataset.conversation = String(selected);
  }

  async function submitTransfer(event) {
    event.preventDefault();
    const dialog = $("transfer-dialog");
    const id = Number(dialog.dataset.conversation);
    const to = Number($("transfer-agent").value);
    if (!to) {
      dialog.querySelector(".dialog-error").textContent = S.choose_agent;
      return;
    }
    // A message-pool chat is handed out (its holder or a supervisor); any other chat is transferred.
    const pooled = (sessions.get(id) || {}).state === "pool";
    const result = pooled
      ? await api("POST", `pool/${id}/reassign`, { to_agent_id: to })
      : await api("POST", `conversations/${id}/transfer`, { to_agent_id: to, note: $("transfer-note").value });
    if (refused(result)) {
      dialog.close();
      chatRefused(id, result.error);
      return;
    }
    if (!result.ok) {
      dialog.querySelector(".dialog-error").textContent = result.error;
      return;
    }
    dialog.close();
    $("transfer-note").value = "";
    transferredAway(id, result.data.agent_id, result.data.agent_name || "");
  }

  /* The pool's holder hands out the whole message pool; the chats leave this list as "transferred" events. */
  async function handOutPool() {
    const result = await api("POST", "pool/reassign", {});
    if (selected !== null) note(selected, result.ok ? C.fmt(S.handed_out, result.data) : result.error);
  }

  /* My chat went to a colleague: its draft goes, it leaves my sessions for my history (read only) and the
   * pane closes if it was on screen. */
  function transferredAway(id, agentId, name) {
    const row = removeSession(id);
    if (!row) return;
    note(id, C.fmt(S.transferred_away, { name }));
    dropDraft(id);
    addHistory(Object.assign(row, { agent_id: agentId, agent_name: name, waiting_since: null }));
    if (id === selected) closePane();
  }

  function closePane() {
    selected = null;
    for (const r of [...sessions.values(), ...history.values()]) paintRow(r);
    paintPane();
    view.clear();
    $("buyer-panel").replaceChildren();
  }

  function searchResults(listId, items, render) {
    const list = $(listId);
    list.replaceChildren();
    if (!items.length) list.append(C.el("li", { class: "muted" }, S.no_results));
    for (const item of items) list.append(render(item));
  }

  const searchProducts = C.debounce(async () => {
    const q = $("product-q").value;
    const result = await api("GET", "products?q=" + encodeURIComponent(q));
    if (!result.ok) {
      $("product-dialog").querySelector(".dialog-error").textContent = result.error;
      return;
    }
    searchResults("product-results", result.data, (product) => {
      const button = C.el(
        "button",
        { type: "button", class: "result" },
        C.el("span", {}, product.title),
        C.el("span", { class: "muted" }, " " + C.fmt(S.price, { price: product.price }))
      );
      button.addEventListener("click", () => {
        $("product-dialog").close();
        sendProduct(product);
        $("input").focus();
      });
      return C.el("li", {}, button);
    });
  }, 200);

  const searchBuyers = C.debounce(async () => {
    const q = $("proactive-q").value.trim();
    if (!q) {
      $("proactive-results").replaceChildren();
      return;
    }
    const result = await api("GET", "proactive/buyers?q=" + encodeURIComponent(q));
    if (!result.ok) {
      $("proactive-dialog").querySelector(".dialog-error").textContent = result.error;
      return;
    }
    searchResults("proactive-results", result.data, (buyer) => {
      const button = C.el("button", { type: "button", class: "result" }, buyer.nickname, " ", S.start);
      button.addEventListener("click", () => startProactive(buyer));
      return C.el("li", {}, button);
    });
  }, 250);

  async function startProactive(buyer) {
    const dialog = $("proactive-dialog");
    const result = await api("POST", "proactive", { buyer_id: buyer.id });
    if (!result.ok) {
      dialog.querySelector(".dialog-error").textContent = result.error;
      return;
    }
    dialog.close();
    opened(result.data);
  }

  /* The row of a chat just given to me (assigned, pull, proactive), before its messages come with the resume. */
  function freshRow(fields) {
    return {
      state: "active",
      proactive: false,
      assigned_at: new Date(now()).toISOString(),
      waiting_since: null,
      ended_at: null,
      repliable_until: null,
      last_seq: 0,
      unread: 0,
      last_text: "",
      last_sender: "",
      agent_id: me.staff_id,
      ...fields,
    };
  }

  /* A chat I just took (pull, proactive): show it at once; its messages come with the resume. */
  function opened(conv) {
    addSession(
      freshRow({
        id: conv.id,
        buyer_id: conv.buyer_id,
        buyer_name: conv.buyer_nickname,
        proactive: conv.proactive,
        assigned_at: conv.assigned_at,
      })
    );
    resume([conv.id]);
    showTab("sessions");
    select(conv.id);
    refreshSessions();
  }

  // --- queue and tabs ----------------------------------------------------------------------------------------

  async function loadQueue() {
    const result = await api("GET", "queue");
    const list = $("queue-list");
    if (!result.ok) {
      toast(result.error);
      return;
    }
    $("queue-count").textContent = String(result.data.length);
    list.replaceChildren();
    if (!result.data.length) list.append(C.el("li", { class: "empty" }, S.queue_empty));
    for (const item of result.data) {
      const waited = item.queued_at ? C.duration((now() - new Date(item.queued_at)) / 1000) : "";
      const button = C.el("button", { type: "button", class: "pull" }, S.pull);
      button.addEventListener("click", () => pull(item.id));
      list.append(
        C.el(
          "li",
          { class: "queued", dataset: { id: String(item.id) } },
          C.el("span", { class: "q-pos" }, String(item.position)),
          C.el("span", { class: "q-name" }, item.buyer_nickname),
          item.priority ? C.el("span", { class: "tag" }, S.priority) : null,
          C.el("span", { class: "muted" }, waited ? C.fmt(S.waiting_for, { time: waited }) : ""),
          button
        )
      );
    }
  }

  async function pull(id) {
    const result = await api("POST", "queue/pull", { conversation_id: id });
    if (!result.ok) {
      toast(result.error);
      loadQueue();
      return;
    }
    opened(result.data);
  }

  function showTab(name) {
    tab = name;
    for (const [key, list] of [
      ["sessions", "session-list"],
      ["queue", "queue-list"],
      ["history", "history-list"],
    ]) {
      $("tab-" + key).setAttribute("aria-selected", String(key === name));
      $(list).hidden = key !== name;
    }
    counts();
    if (name === "queue") loadQueue();
  }

  // --- presence ----------------------------------------------------------------------------------------------

  function showStatus(status, limit) {
    me.status = status;
    $("status-select").value = status;
    if (limit !== undefined && limit !== null) {
      me.limit = limit;
      if (document.activeElement !== $("limit-input")) $("limit-input").value = String(limit);
    }
  }

  async function setStatus() {
    const wanted = $("status-select").value;
    const result = await api("PUT", "me/status", { status: wanted });
    if (!result.ok) {
      toast(result.error);
      showStatus(me.status);
      return;
    }
    showStatus(result.data.status, result.data.max_concurrent);
  }

  async function setLimit() {
    const limit = Number($("limit-input").value);
    const result = await api("PUT", "me/limit", { limit });
    if (!result.ok) {
      toast(result.error);
      $("limit-input").value = String(me.limit);
      return;
    }
    showStatus(result.data.status, result.data.max_concurrent);
    toast(S.saved);
  }

  // --- notifications -----------------------------------------------------------------------------------------

  function setupNotifications() {
    const button = $("notify-btn");
    if (!("Notification" in window)) return;
    if (Notification.permission === "granted") {
      notify = true;
      return;
    }
    button.hidden = false;
    button.addEventListener("click", async () => {
      // Audio can only start after a user gesture: this click.
      try {
        audio = audio || new (window.AudioContext || window.webkitAudioContext)();
        await audio.resume();
      } catch (e) {
        audio = null;
      }
      const permission = await Notification.requestPermission();
      notify = permission === "granted";
      button.hidden = notify;
      toast(notify ? S.notifications_on : S.notifications_blocked);
    });
  }

  function beep() {
    if (!audio) return;
    try {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + 0.25);
    } catch (e) {
      /* no sound: the notification is enough */
    }
  }

  function alertAgent(title, body, tag) {
    if (!notify) return;
    try {
      const n = new Notification(title, { body: String(body || "").slice(0, 120), tag });
      n.onclick = () => window.focus();
    } catch (e) {
      /* some browsers only allow notifications from a service worker */
    }
    beep();
  }

  // --- events ------------------------------------------------------------------------------------------------

  function onEvent(frame) {
    switch (frame.type) {
      case "hello": {
        hellos += 1;
        if (frame.status) showStatus(frame.status, frame.limit);
        // Chats in progress and the ones opened on this page (ended chats only get my own late replies).
        resume(new Set([...sessions.keys(), ...loaded]));
        for (const entry of store.unacked()) socket.send(entry.frame);
        if (hellos > 1) {
          refreshSessions();
          if (tab === "queue") loadQueue();
        }
        break;
      }
      case "message": {
        const known = rowOf(frame.conversation);
        addMessage(frame);
        if (!known) refreshSessions();
        break;
      }
      case "ack":
        onAck(frame);
        break;
      case "assigned": {
        if (frame.agent_id !== me.staff_id) break;
        const known = sessions.get(frame.conversation);
        if (known) {
          // Already listed (its first message came first): keep its counts and preview.
          Object.assign(known, {
            state: frame.state || "active",
            buyer_name: frame.buyer_name,
            waiting_since: frame.waiting_since,
          });
          paintRow(known);
          break;
        }
        addSession(
          freshRow({
            id: frame.conversation,
            buyer_id: frame.buyer_id,
            buyer_name: frame.buyer_name,
            waiting_since: frame.waiting_since,
            state: frame.state || "active",
          })
        );
        resume([frame.conversation]);
        alertAgent(C.fmt(S.new_chat, { name: frame.buyer_name }), "", `chat-${frame.conversation}`);
        if (selected === null) select(frame.conversation);
        break;
      }
      case "timer": {
        const row = sessions.get(frame.conversation);
        if (row) {
          row.waiting_since = frame.waiting_since;
          paintRow(row);
        }
        break;
      }
      case "transferred":
        if (frame.from_agent_id === me.staff_id && frame.to_agent_id !== me.staff_id) {
          transferredAway(frame.conversation, frame.to_agent_id, frame.agent_name);
        } else if (frame.to_agent_id === me.staff_id) {
          const told = () => {
            note(frame.conversation, C.fmt(S.transferred_in, { note: frame.note || "—" }));
            const row = sessions.get(frame.conversation);
            if (row) alertAgent(C.fmt(S.new_chat, { name: row.buyer_name }), frame.note, `chat-${row.id}`);
          };
          if (sessions.has(frame.conversation)) told();
          else {
            refreshSessions().then(() => {
              told();
              resume([frame.conversation]);
              if (selected === null && sessions.has(frame.conversation)) select(frame.conversation);
            });
          }
        }
        break;
      case "ended":
        toHistory(frame.conversation, frame.by, null);
        break;
      case "rated":
        note(frame.conversation, C.fmt(S.rated, { stars: frame.stars }));
        break;
      case "queue_changed":
        $("queue-count").textContent = String(frame.queued);
        if (tab === "queue") loadQueue();
        break;
      case "status":
        showStatus(frame.status, frame.limit);
        break;
      case "error":
        onError(frame);
        break;
      default:
        break; // resumed, rating_invite (buyer only), ...
    }
  }

  function onState(state, detail) {
    const closedText = detail === SHOP_CHANGED_CLOSE ? S.closed_shop : S.closed_auth;
    C.showConnection($("conn-state"), state, detail, S, closedText);
    if (state === "closed" && detail === SHOP_CHANGED_CLOSE) socketShopChanged();
  }

  /* Still signed in with the IM permission? (A refused handshake has no close code.) */
  function probe() {
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store", redirect: "manual" }).then(
      (r) => r.type !== "opaqueredirect" && r.status !== 403
    );
  }

  // The socket names the page's shop: the server refuses it (4409) once the session works in another one.
  const socket = new C.Socket(C.wsUrl(init.ws_path, { shop: init.shop.id }), { onEvent, onState, probe });

  // --- keyboard and controls ---------------------------------------------------------------------------------

  document.addEventListener("keydown", (event) => {
    if (document.querySelector("dialog[open]")) return; // the dialog handles its own keys (Esc closes it)
    const key = event.key;
    if (key === "Escape") {
      if (event.isComposing) return; // Esc cancels the input method's composition, not the chat
      const focus = document.activeElement;
      // Not from the status, limit or other controls: there Esc means "leave this field".
      if (focus && focus !== $("input") && focus.matches("input, select, textarea")) return;
      if (sessions.has(selected)) {
        event.preventDefault();
        endChat();
      }
      return;
    }
    if (!event.altKey && !event.ctrlKey) return;
    if (key === "ArrowDown" || key === "ArrowUp") {
      event.preventDefault();
      move(key === "ArrowDown" ? 1 : -1);
      return;
    }
    if (!event.altKey) return;
    const actions = {
      ...panelKeys,
      KeyI: () => $("input").focus(),
      KeyT: openTransfer,
      KeyR: inviteRating,
      KeyP: () => !$("product-btn").disabled && openProducts(),
      KeyN: openProactive,
      Digit1: () => showTab("sessions"),
      Digit2: () => showTab("queue"),
      Digit3: () => showTab("history"),
    };
    const action = actions[event.code];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  // The panels of other apps (routing/panels.py) attach before the reply box's own keys: with a phrase
  // suggestion chosen, Enter uses it and Esc closes the list (preventDefault).
  const panels = init.panels.map((panel) =>
    C.panels[panel.name].attach({
      data: panel.data,
      strings: S,
      request,
      toast,
      conversation: () => (selected !== null && !$("input").disabled ? selected : null),
      productId: () => products.get(selected) || null,
      send: sendMessage,
      sendImage: (card) => sendImageCard(selected, card), // a quick phrase's image, after its text
      attachImage, // or waiting in the reply box while the agent edits the text

    }),
  );
  const panelKeys = Object.assign({}, ...panels.map((panel) => panel.keys || {}));

  /* Tell every panel: "changed" (another chat, or its product, is shown) or "reset" (the reply box emptied). */
  function panelsDo(method) {
    for (const panel of panels) if (panel[method]) panel[method]();
  }

  $("input").addEventListener("keydown", (event) => {
    if (event.defaultPrevented) return;
    if (C.isSendKey(event)) {
      event.preventDefault();
      sendText();
    }
  });

  function openProducts() {
    openDialog("product-dialog");
    $("product-q").focus();
    searchProducts();
  }

  function openProactive() {
    openDialog("proactive-dialog");
    $("proactive-q").focus();
  }

  $("send-btn").addEventListener("click", sendText);
  $("shop-reload").addEventListener("click", () => window.location.reload());
  $("end-btn").addEventListener("click", endChat);
  $("transfer-btn").addEventListener("click", openTransfer);
  $("pool-all-btn").addEventListener("click", handOutPool);
  $("invite-btn").addEventListener("click", inviteRating);
  $("product-btn").addEventListener("click", openProducts);
  $("proactive-btn").addEventListener("click", openProactive);
  $("transfer-form").addEventListener("submit", submitTransfer);
  $("product-q").addEventListener("input", searchProducts);
  $("proactive-q").addEventListener("input", searchBuyers);
  document.addEventListener("visibilitychange", () => markRead(rowOf(selected)));
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
  $("status-select").addEventListener("change", setStatus);
  $("limit-save").addEventListener("click", setLimit);
  $("tab-sessions").addEventListener("click", () => showTab("sessions"));
  $("tab-queue").addEventListener("click", () => showTab("queue"));
  $("tab-history").addEventListener("click", () => showTab("history"));

  // --- start -------------------------------------------------------------------------------------------------

  setupImageTools();
  for (const row of init.sessions) addSession(row);
  for (const row of init.history) addHistory(row);
  counts();
  setupNotifications();
  setInterval(() => {
    for (const row of sessions.values()) paintTimer(row);
    if (selected !== null && history.has(selected)) paintPane();
  }, 1000);
  socket.start();
  if (sessions.size) select(sessions.keys().next().value);
  else panelsDo("changed");
})();
