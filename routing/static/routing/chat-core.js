/* Shared by the buyer chat page and the agent workbench (see routing/PROTOCOL.md).
 *
 * - ChatCore.Socket: one WebSocket with reconnection (exponential backoff with jitter), a heartbeat that
 *   detects a dead connection, and no retry after an authentication close (4401/4403).
 * - ChatCore.Store: every conversation's messages keyed by seq and id (a message is never kept twice),
 *   the highest contiguous seq per conversation (what `resume` sends), and the outbox of unacked sends,
 *   which are resent with the same client_msg_id after a reconnect.
 * - ChatCore.TranscriptView: a transcript list kept in (conversation, seq) order.
 * - Images and emoji (both pages): ChatCore.imageCard (a thumbnail that opens the full image),
 *   ChatCore.uploadImage (the HTTP upload before an image frame), ChatCore.emojiPicker (a built-in grid).
 *
 * Data is always put on the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  const ChatCore = {};

  /* Workbench panels of other apps register here by name (routing/panels.py): {attach(hooks) -> handle}. */
  ChatCore.panels = {};

  /* The clock. Tests inject one: `window.__now = () => Date.now() + 4 * 60 * 1000`. */
  ChatCore.now = function () {
    return typeof window.__now === "function" ? Number(window.__now()) : Date.now();
  };

  ChatCore.uuid = function () {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      try {
        return window.crypto.randomUUID();
      } catch (e) {
        /* not a secure context: fall through */
      }
    }
    const b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };

  /* "%(name)s" placeholders, as in the gettext strings the page receives. */
  ChatCore.fmt = function (template, params) {
    return String(template).replace(/%\((\w+)\)s/g, (m, key) =>
      params && Object.prototype.hasOwnProperty.call(params, key) ? String(params[key]) : m
    );
  };

  /* An element with attributes and text children (strings become text nodes, never markup). */
  ChatCore.el = function (tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };

  ChatCore.timeFormat = function (timeZone, withDate) {
    const options = { hour: "2-digit", minute: "2-digit", hour12: false, timeZone };
    if (withDate) Object.assign(options, { month: "long", day: "numeric" }); // zh: 12月4日, not 12/4
    let formatter;
    try {
      formatter = new Intl.DateTimeFormat(document.documentElement.lang || undefined, options);
    } catch (e) {
      delete options.timeZone;
      formatter = new Intl.DateTimeFormat(undefined, options);
    }
    return (iso) => (iso ? formatter.format(new Date(iso)) : "");
  };

  /* mm:ss (or h:mm:ss) of a number of seconds. */
  ChatCore.duration = function (seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  };

  /* Only http(s) URLs are used as image sources or links. */
  ChatCore.safeUrl = function (url) {
    if (!url) return "";
    try {
      const parsed = new URL(String(url), window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : "";
    } catch (e) {
      return "";
    }
  };

  ChatCore.isRatingInvite = function (m) {
    const kind = m.card && m.card.kind ? String(m.card.kind) : "";
    return kind.indexOf("rating") === 0;
  };

  /* Enter sends; Shift+Enter (and Alt+Enter) is a new line; nothing while an input method composes. */
  ChatCore.isSendKey = function (event) {
    return event.key === "Enter" && !event.shiftKey && !event.altKey && !event.isComposing && event.keyCode !== 229;
  };

  /* The delivery state of my own message: sending, acked, or failed with the reason. */
  ChatCore.deliveryState = function (state, reason, strings) {
    const label = state === "failed" ? ChatCore.fmt(strings.failed, { reason }) : strings[state] || "";
    return ChatCore.el("span", { class: "state state-" + state, dataset: { state } }, label);
  };

  ChatCore.isProductCard = function (m) {
    return Boolean(m.card && m.card.kind === "product");
  };

  /* A product card element: image (http/https only), title (a link to the product when it has one) and
   * price. */
  ChatCore.productCard = function (card, strings) {
    const el = ChatCore.el;
    const image = ChatCore.safeUrl(card.image_url || "");
    const link = ChatCore.safeUrl(card.url || "");
    const title = link
      ? el("a", { class: "card-title", href: link, target: "_blank", rel: "noopener noreferrer" }, card.title || "")
      : el("span", { class: "card-title" }, card.title || "");
    return el(
      "div",
      { class: "card card-product", dataset: { productId: String(card.id) } },
      image ? el("img", { src: image, alt: "", loading: "lazy", referrerpolicy: "no-referrer" }) : null,
      el(
        "div",
        { class: "card-body" },
        el("span", { class: "card-kind" }, strings.product),
        title,
        el("span", { class: "card-price" }, ChatCore.fmt(strings.price, { price: card.price }))
      )
    );
  };

  // --- images and emoji ------------------------------------------------------------------------------------

  ChatCore.isImage = function (m) {
    return Boolean(m.card && m.card.kind === "image");
  };

  /* An image message's thumbnail, a link that opens the full image in a new tab. `sign(url)` adds what the
   * page needs to be let in (the buyer page: its token); the server answers only the chat's buyer and staff. */
  ChatCore.imageCard = function (card, strings, sign) {
    const el = ChatCore.el;
    const signed = (url) => ChatCore.safeUrl(sign ? sign(url) : url);
    const img = el("img", {
      src: signed(card.thumb_url || ""),
      alt: strings.image,
      width: card.thumb_width || null,
      height: card.thumb_height || null,
      loading: "lazy",
    });
    return el(
      "a",
      {
        class: "card-image",
        href: signed(card.url || ""),
        target: "_blank",
        rel: "noopener noreferrer",
        title: strings.image_open,
        dataset: { attachment: String(card.attachment) },
      },
      img
    );
  };

  /* POST a chosen file as multipart `file`; {ok, status, data, error} like the workbench's requests. */
  ChatCore.uploadImage = async function (url, file, headers, strings) {
    const body = new FormData();
    body.append("file", file);
    let response;
    try {
      response = await fetch(url, { method: "POST", body, credentials: "same-origin", headers: headers || {} });
    } catch (e) {
      return { ok: false, status: 0, data: null, error: ChatCore.fmt(strings.upload_failed, { status: 0 }) };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    const detail =
      data && typeof data.detail === "string" ? data.detail : ChatCore.fmt(strings.upload_failed, { status: response.status });
    return { ok: response.ok, status: response.status, data, error: response.ok ? "" : detail };
  };

  /* Common emoji, built in (no external service). Each is one grapheme; inserted as typed text. */
  ChatCore.EMOJI = [
    "😀", "😁", "😂", "🤣", "😊", "😍", "😘", "😉", "😎", "🤗", "🤔", "😅",
    "😄", "🙂", "😌", "😴", "😳", "😢", "😭", "😔", "😡", "😱", "🙄", "😷",
    "👍", "👎", "👌", "👏", "🙏", "💪", "🤝", "✌️", "👋", "🙋", "💯", "✅",
    "❤️", "💔", "🌹", "🎉", "🎁", "⭐", "🔥", "💰", "📦", "🚚", "⏰", "☕",
  ];

  /* Put `text` where the caret is in `input` (replacing a selection) and tell listeners it changed. */
  ChatCore.insertAtCaret = function (input, text) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    input.focus();
    input.setRangeText(text, start, end, "end");
    input.dispatchEvent(new Event("input", { bubbles: true }));
  };

  /* The emoji picker: `button` toggles `panel` (a grid of the emoji above), a click inserts at the caret of
   * `input`; Esc or a click elsewhere closes it. */
  ChatCore.emojiPicker = function (button, panel, input, strings) {
    const el = ChatCore.el;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", strings.emoji);
    panel.replaceChildren(
      ...ChatCore.EMOJI.map((emoji) => {
        const choice = el("button", { type: "button", class: "emoji", dataset: { emoji }, "aria-label": emoji }, emoji);
        // mousedown, not click: the reply box keeps its caret.
        choice.addEventListener("mousedown", (event) => event.preventDefault());
        choice.addEventListener("click", () => ChatCore.insertAtCaret(input, emoji));
        return choice;
      })
    );
    const show = (open) => {
      panel.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
    };
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => show(panel.hidden));
    panel.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      event.stopPropagation(); // Esc closes the picker; it never ends the chat
      show(false);
      input.focus();
    });
    document.addEventListener("click", (event) => {
      if (!panel.hidden && !panel.contains(event.target) && !button.contains(event.target)) show(false);
    });
    return { close: () => show(false) };
  };

  // --- the socket ------------------------------------------------------------------------------------------

  const AUTH_CLOSE_CODES = [4401, 4403, 4409]; // 4409: the page's shop is no longer the session's
  const HEARTBEAT_MS = 15000;
  const DEAD_AFTER_MS = 40000;
  const MAX_BACKOFF_MS = 30000;

  class Socket {
    /* handlers: onOpen(), onEvent(frame), onState(state, detail), probe() -> Promise<bool> (may we still
     * connect? asked when connections keep failing before they open, since a refused handshake has no
     * close code). */
    constructor(url, handlers) {
      this.url = url;
      this.h = handlers;
      this.ws = null;
      this.attempt = 0;
      this.failedBeforeOpen = 0;
      this.timer = null;
      this.stopped = false;
      this.lastSeen = 0;
      this.opened = false;
    }

    start() {
      this.connect();
      window.addEventListener("online", () => this.reconnectNow());
      setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    }

    get open() {
      return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
    }

    send(frame) {
      if (!this.open) return false;
      this.ws.send(JSON.stringify(frame));
      return true;
    }

    connect() {
      if (this.stopped) return;
      clearTimeout(this.timer);
      this.timer = null;
      this.opened = false;
      this.h.onState("connecting");
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        this.schedule();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        if (this.ws !== ws) return;
        this.attempt = 0;
        this.failedBeforeOpen = 0;
        this.opened = true;
        this.lastSeen = Date.now();
        this.h.onState("open");
        if (this.h.onOpen) this.h.onOpen();
      };
      ws.onmessage = (event) => {
        if (this.ws !== ws) return;
        this.lastSeen = Date.now();
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        if (!frame || typeof frame !== "object" || frame.type === "pong") return;
        this.h.onEvent(frame);
      };
      ws.onclose = (event) => {
        if (this.ws !== ws) return;
        this.ws = null;
        if (AUTH_CLOSE_CODES.includes(event.code)) {
          this.stop("closed", event.code);
          return;
        }
        if (!this.opened) this.failedBeforeOpen += 1;
        if (this.failedBeforeOpen >= 2 && this.h.probe) {
          this.h.probe().then(
            (allowed) => (allowed ? this.schedule() : this.stop("closed", 4401)),
            () => this.schedule()
          );
          return;
        }
        this.schedule();
      };
      ws.onerror = () => {
        /* onclose follows */
      };
    }

    stop(state, code) {
      this.stopped = true;
      clearTimeout(this.timer);
      this.h.onState(state, code);
    }

    schedule() {
      if (this.stopped) return;
      const base = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, this.attempt));
      const delay = Math.round(base / 2 + (Math.random() * base) / 2);
      this.attempt += 1;
      this.h.onState("waiting", delay);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), delay);
    }

    /* The browser says the network is back: do not wait for the backoff. */
    reconnectNow() {
      if (this.stopped || this.ws) return;
      this.attempt = 0;
      this.connect();
    }

    /* A connection that stopped delivering anything (not even pongs) is dead even if the browser has not
     * noticed: drop it and reconnect. */
    dropDead() {
      const ws = this.ws;
      this.ws = null;
      if (ws) {
        ws.onclose = null;
        try {
          ws.close(4000);
        } catch (e) {
          /* already closing */
        }
      }
      this.schedule();
    }

    heartbeat() {
      if (!this.open) return;
      if (Date.now() - this.lastSeen > DEAD_AFTER_MS) {
        this.dropDead();
        return;
      }
      this.send({ type: "ping" });
    }
  }
  ChatCore.Socket = Socket;

  // --- the store -------------------------------------------------------------------------------------------

  class Store {
    constructor() {
      this.convs = new Map();
      this.outbox = new Map(); // client_msg_id -> {frame, conversation, text, card, state, reason}
    }

    conv(id) {
      id = Number(id);
      let c = this.convs.get(id);
      if (!c) {
        c = { id, lastSeq: 0, maxSeq: 0, base: 0, bySeq: new Map(), ids: new Set(), notes: [], gapAsked: 0 };
        this.convs.set(id, c);
      }
      return c;
    }

    /* Everything up to `seq` exists on the server and will be loaded over HTTP when needed: resume after it. */
    setBase(id, seq) {
      const c = this.conv(id);
      c.base = Math.max(c.base, Number(seq) || 0);
      c.lastSeq = Math.max(c.lastSeq, c.base);
      this.advance(c);
    }

    advance(c) {
      while (c.bySeq.has(c.lastSeq + 1)) c.lastSeq += 1;
    }

    /* Adds a message; false when it is already known (same id or same seq). */
    add(m) {
      const c = this.conv(m.conversation);
      if (c.ids.has(m.id) || c.bySeq.has(m.seq)) return false;
      c.ids.add(m.id);
      c.bySeq.set(m.seq, m);
      c.maxSeq = Math.max(c.maxSeq, m.seq);
      this.advance(c);
      return true;
    }

    /* The message an ack stands for (the pending send with its stored id, seq and time), or null if none waits.
       The sending socket gets no `message` echo of its own send: the ack is its copy (other tabs get it). */
    acked(frame, sender, agentName) {
      const entry = this.outbox.get(frame.client_msg_id);
      if (!entry) return null;
      this.outbox.delete(frame.client_msg_id);
      return {
        conversation: frame.conversation,
        id: frame.id,
        seq: frame.seq,
        sender,
        agent_name: agentName,
        text: entry.text,
        card: entry.card || null,
        client_msg_id: frame.client_msg_id,
        created_at: frame.created_at || entry.preview.created_at, // the stored time (the ack says it)
      };
    }

    /* The pending send an error frame is about, marked failed, or null if it is about no send. A throttled send
       is not failed: it goes again through `resend` a second later. */
    failed(frame, resend) {
      const entry = frame.client_msg_id ? this.outbox.get(frame.client_msg_id) : null;
      if (!entry) return null;
      if (frame.code === "throttled") {
        setTimeout(() => resend(entry.frame), 1000);
      } else {
        entry.state = "failed";
        entry.reason = frame.message || frame.code;
      }
      return entry;
    }

    /* A gap (a message after one that never arrived): the broadcast is lossy, so ask for a resume. */
    hasGap(id) {
      const c = this.conv(id);
      return c.maxSeq > c.lastSeq;
    }

    /* The resume frame that fills a gap in this conversation, or null (no gap, or asked less than 3 s ago). */
    gapResume(id) {
      const c = this.conv(id);
      if (!this.hasGap(id) || Date.now() - c.gapAsked < 3000) return null;
      c.gapAsked = Date.now();
      return { type: "resume", after: this.resumeMap([id]) };
    }

    messages(id) {
      return [...this.conv(id).bySeq.values()].sort((a, b) => a.seq - b.seq);
    }

    resumeMap(ids) {
      const after = {};
      for (const id of ids || this.convs.keys()) after[String(id)] = this.conv(id).lastSeq;
      return after;
    }

    queue(entry) {
      this.outbox.set(entry.frame.client_msg_id, Object.assign({ state: "sending", reason: "" }, entry));
      return this.outbox.get(entry.frame.client_msg_id);
    }

    /* Unacked sends in the order they were made (a Map keeps insertion order). */
    unacked() {
      return [...this.outbox.values()].filter((e) => e.state === "sending");
    }
  }
  ChatCore.Store = Store;

  // --- the transcript view ---------------------------------------------------------------------------------

  /* A list of message and note elements in (conversation, position) order; unacked sends stay last. */
  class TranscriptView {
    constructor(list, render) {
      this.list = list;
      this.render = render; // (message, element) -> fills the element
      this.byId = new Map();
      this.byCmid = new Map();
    }

    clear() {
      this.list.replaceChildren();
      this.byId.clear();
      this.byCmid.clear();
    }

    place(node, conversation, pos) {
      node.dataset.conv = String(conversation);
      node.dataset.pos = String(pos);
      let before = null;
      for (let child = this.list.lastElementChild; child; child = child.previousElementSibling) {
        if (child.dataset.pending === "1") {
          before = child;
          continue;
        }
        const cc = Number(child.dataset.conv);
        const cp = Number(child.dataset.pos);
        if (cc < conversation || (cc === conversation && cp <= pos)) break;
        before = child;
      }
      this.list.insertBefore(node, before);
    }

    scrollToEnd() {
      this.list.scrollTop = this.list.scrollHeight;
    }

    /* Shows a stored message (once: a second call for the same id updates nothing). */
    upsert(m) {
      if (this.byId.has(m.id)) return this.byId.get(m.id);
      let node = m.client_msg_id ? this.byCmid.get(m.client_msg_id) : null;
      if (node) {
        this.byCmid.delete(m.client_msg_id);
        node.remove();
        delete node.dataset.pending;
        node.replaceChildren();
      } else {
        node = document.createElement("li");
      }
      node.dataset.id = String(m.id);
      node.dataset.seq = String(m.seq);
      this.render(m, node, "acked");
      this.byId.set(m.id, node);
      const nearEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
      this.place(node, Number(m.conversation), Number(m.seq));
      if (nearEnd || m.mine) this.scrollToEnd();
      return node;
    }

    /* An unacked send: shown at the end with the state "sending". */
    pending(entry) {
      let node = this.byCmid.get(entry.frame.client_msg_id);
      if (!node) {
        node = document.createElement("li");
        node.dataset.pending = "1";
        node.dataset.cmid = entry.frame.client_msg_id;
        this.byCmid.set(entry.frame.client_msg_id, node);
        this.list.append(node);
      }
      node.replaceChildren();
      this.render(entry.preview, node, entry.state, entry.reason);
      this.scrollToEnd();
      return node;
    }

    /* A line that is not a stored message (assigned, transferred, ended...), after message `afterSeq`. */
    note(conversation, afterSeq, text, cls) {
      const node = ChatCore.el("li", { class: "note " + (cls || "") }, text);
      this.place(node, Number(conversation), Number(afterSeq) + 0.5);
      this.scrollToEnd();
      return node;
    }
  }
  ChatCore.TranscriptView = TranscriptView;

  /* The connection line of a page: the socket's state (Socket's onState), with the page's own text for
   * "closed" (refused: expired link or session). */
  ChatCore.showConnection = function (node, state, detail, strings, closedText) {
    node.dataset.state = state;
    if (state === "open") node.textContent = strings.connected;
    else if (state === "connecting") node.textContent = strings.connecting;
    else if (state === "waiting")
      node.textContent = ChatCore.fmt(strings.reconnecting, { seconds: Math.ceil(detail / 1000) });
    else if (state === "closed") node.textContent = closedText;
  };

  /* fn, called once `ms` after the last of a burst of calls (with that last call's arguments). */
  ChatCore.debounce = function (fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  };

  ChatCore.wsUrl = function (path, query) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const parts = Object.entries(query || {}).map(
      ([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`,
    );
    return `${scheme}//${window.location.host}${path}${parts.length ? "?" + parts.join("&") : ""}`;
  };

  window.ChatCore = ChatCore;
})();
