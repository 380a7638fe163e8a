/* The buyer's chat page: /ws/buyer/?token=T (routing/PROTOCOL.md). */
(function () {
  "use strict";

  const C = window.ChatCore;
  const init = JSON.parse(document.getElementById("chat-initial").textContent);
  const S = init.strings;
  const $ = (id) => document.getElementById(id);
  const time = C.timeFormat(init.time_zone);
  const store = new C.Store();
  const view = new C.TranscriptView($("transcript"), renderMessage);

  let current = null; // the open conversation (hello, ack, assigned)
  let agentName = "";
  // The chat the rating sheet rates (hello, assigned): in progress, or ended less than a day ago.
  let rating = null; // {conversation, name, stars}

  // --- rendering ---------------------------------------------------------------------------------------------

  function renderMessage(m, node, state, reason) {
    const el = C.el;
    const mine = m.sender === "buyer";
    node.className = "msg " + (mine ? "mine" : m.sender === "system" ? "system" : "theirs");
    if (C.isRatingInvite(m)) {
      node.className = "msg system";
      node.append(
        el(
          "div",
          { class: "card card-rating" },
          el("span", {}, C.fmt(S.rate_invite, { name: m.agent_name || agentName })),
          el("button", { type: "button", class: "open-rate" }, S.rate)
        )
      );
      node.querySelector(".open-rate").addEventListener("click", () => {
        if (!rating || rating.conversation !== m.conversation) {
          rating = { conversation: m.conversation, name: m.agent_name || agentName, stars: 0 };
        }
        openRating();
      });
      return;
    }
    if (!mine && m.sender === "agent") {
      node.append(el("span", { class: "who" }, m.agent_name || S.agent));
    }
    if (m.sender === "robot") node.append(el("span", { class: "who" }, S.robot));
    if (C.isProductCard(m)) node.append(C.productCard(m.card, S));
    else if (C.isImage(m)) node.append(C.imageCard(m.card, S, signed));
    else node.append(el("span", { class: "text" }, m.text));
    const meta = el("span", { class: "meta" }, time(m.created_at));
    if (mine) meta.append(" ", C.deliveryState(state, reason, S));
    node.append(meta);
  }

  /* The image URLs answer this buyer with their token. */
  function signed(url) {
    return url ? `${url}?token=${encodeURIComponent(init.token)}` : "";
  }

  function setServing(name) {
    agentName = name || agentName;
    $("serving").textContent = agentName ? C.fmt(S.assigned, { name: agentName }) : "";
  }

  function banner(text) {
    $("banner").textContent = text || "";
    $("banner").hidden = !text;
  }

  function lastSeq(conversation) {
    return conversation ? store.conv(conversation).lastSeq : 0;
  }

  // --- messages ----------------------------------------------------------------------------------------------

  function onMessage(m) {
    if (m.client_msg_id && store.outbox.has(m.client_msg_id)) store.outbox.delete(m.client_msg_id);
    if (!store.add(m)) return;
    if (m.sender === "agent" && m.agent_name) setServing(m.agent_name);
    if (m.sender === "buyer") m.mine = true;
    view.upsert(m);
    if (current === null || m.conversation > current) current = m.conversation;
    const resume = store.gapResume(m.conversation);
    if (resume) socket.send(resume);
  }

  function onAck(frame) {
    const m = store.acked(frame, "buyer", null);
    if (!m) return;
    current = frame.conversation;
    onMessage(m);
  }

  function send(text) {
    const frame = { type: "send", client_msg_id: C.uuid(), text };
    if (init.product) frame.product = init.product; // the product page the buyer came from
    const entry = store.queue({
      frame,
      text,
      preview: { sender: "buyer", text, card: null, created_at: new Date().toISOString() },
    });
    view.pending(entry);
    socket.send(frame);
  }

  // --- images and emoji --------------------------------------------------------------------------------------

  /* Upload the chosen photo, then send it as an image message (the server checks what it really is). */
  async function sendImage(file) {
    if (!file) return;
    if (file.size > init.max_image_bytes) {
      banner(S.image_too_large);
      return;
    }
    banner(S.uploading);
    const result = await C.uploadImage(init.upload_url, file, {}, S);
    if (!result.ok) {
      banner(result.error);
      return;
    }
    banner("");
    const card = result.data;
    const frame = { type: "image", client_msg_id: C.uuid(), attachment: card.attachment };
    if (init.product) frame.product = init.product;
    const entry = store.queue({
      frame,
      text: S.image_text,
      card,
      preview: { sender: "buyer", text: S.image_text, card, created_at: new Date().toISOString() },
    });
    view.pending(entry);
    socket.send(frame);
  }

  function setupImagesAndEmoji() {
    C.emojiPicker($("emoji-btn"), $("emoji-panel"), $("input"), S);
    $("image-btn").addEventListener("click", () => $("image-input").click());
    $("image-input").addEventListener("change", () => {
      const file = $("image-input").files[0];
      $("image-input").value = "";
      sendImage(file);
    });
  }

  function onError(frame) {
    const entry = store.failed(frame, (again) => socket.send(again));
    if (entry) {
      view.pending(entry);
      return;
    }
    if (!$("rate-sheet").hidden) $("rate-error").textContent = frame.message || frame.code;
    else banner(frame.message || frame.code);
  }

  // --- rating ------------------------------------------------------------------------------------------------

  function openRating() {
    const name = rating ? rating.name : "";
    $("rate-title").textContent = name ? C.fmt(S.rate_title, { name }) : S.rate_title_plain;
    $("rate-error").textContent = "";
    $("rate-sheet").hidden = false;
    $("menu").hidden = true;
    $("menu-btn").setAttribute("aria-expanded", "false");
    showStars(rating ? rating.stars : 0);
  }

  function showStars(n) {
    for (const star of document.querySelectorAll(".star")) {
      const value = Number(star.dataset.stars);
      star.classList.toggle("on", value <= n);
      star.setAttribute("aria-pressed", String(value === n));
    }
  }

  function rate(stars) {
    $("rate-error").textContent = "";
    if (rating === null) {
      $("rate-error").textContent = S.rate_unavailable;
      return;
    }
    showStars(stars);
    socket.send({ type: "rate", conversation: rating.conversation, stars });
  }

  // --- events ------------------------------------------------------------------------------------------------

  /* hello's open conversation: its id, state, agent and queue position. */
  function onOpenConversation(info) {
    current = Number(info.id);
    store.conv(current);
    if (info.agent_name && info.state === "active") setServing(info.agent_name);
    if (info.state === "queued" && info.position) {
      onEvent({ type: "queued", conversation: current, position: info.position, wait_seconds: info.wait_seconds || 0 });
    }
  }

  function onEvent(frame) {
    switch (frame.type) {
      case "hello":
        if (frame.conversation) onOpenConversation(frame.conversation);
        if (frame.rating) {
          const r = frame.rating;
          rating = { conversation: r.conversation, name: r.agent_name, stars: r.stars || 0 };
        }
        // Everything after what we saw, then the unacked sends again (same client_msg_id: stored once).
        socket.send({ type: "resume", after: store.resumeMap() });
        for (const entry of store.unacked()) socket.send(entry.frame);
        break;
      case "message":
        onMessage(frame);
        break;
      case "ack":
        onAck(frame);
        break;
      case "queued":
        current = frame.conversation;
        banner(
          C.fmt(frame.position === 1 ? S.queued_next : S.queued, {
            position: frame.position,
            minutes: Math.max(1, Math.ceil(frame.wait_seconds / 60)),
          })
        );
        break;
      case "assigned":
        current = frame.conversation;
        banner("");
        setServing(frame.agent_name);
        rating = { conversation: frame.conversation, name: frame.agent_name, stars: 0 };
        view.note(frame.conversation, lastSeq(frame.conversation), C.fmt(S.assigned, { name: frame.agent_name }));
        break;
      case "transferred":
        setServing(frame.agent_name);
        if (rating && rating.conversation === frame.conversation) rating.name = frame.agent_name;
        view.note(
          frame.conversation,
          lastSeq(frame.conversation),
          C.fmt(S.transferred, { name: frame.agent_name })
        );
        break;
      case "ended":
        view.note(frame.conversation, lastSeq(frame.conversation), S.ended, "ended");
        if (frame.conversation === current) {
          current = null;
          agentName = "";
          $("serving").textContent = "";
          banner("");
        }
        // The moment most buyers rate: the sheet opens unless this chat was rated already.
        if (rating && rating.conversation === frame.conversation && !rating.stars) openRating();
        break;
      case "rating_invite":
        rating = { conversation: frame.conversation, name: frame.agent_name, stars: rating ? rating.stars : 0 };
        openRating();
        break;
      case "rated":
        if (rating && rating.conversation === frame.conversation) rating.stars = frame.stars;
        showStars(frame.stars);
        $("rate-thanks").textContent = frame.thanks;
        $("rate-sheet").hidden = false;
        break;
      case "error":
        onError(frame);
        break;
      default:
        break; // resumed, status, ...: nothing to show
    }
  }

  function onState(state, detail) {
    C.showConnection($("conn-state"), state, detail, S, S.expired);
    if (state === "closed") {
      banner(S.expired);
      for (const id of ["input", "send-btn", "image-btn", "emoji-btn"]) $(id).disabled = true;
    }
  }

  /* Is the token still good? The page itself answers 403 once it has expired. */
  function probe() {
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" }).then(
      (r) => r.status !== 403
    );
  }

  const socket = new C.Socket(C.wsUrl(init.ws_path, { token: init.token }), { onEvent, onState, probe });

  // --- input -------------------------------------------------------------------------------------------------

  function submit() {
    const input = $("input");
    const text = input.value;
    if (!text.trim()) return;
    if (text.length > init.max_text) {
      banner(S.too_long);
      return;
    }
    input.value = "";
    send(text);
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  $("input").addEventListener("keydown", (event) => {
    if (C.isSendKey(event)) {
      event.preventDefault();
      submit();
    }
  });
  $("menu-btn").addEventListener("click", () => {
    const menu = $("menu");
    menu.hidden = !menu.hidden;
    $("menu-btn").setAttribute("aria-expanded", String(!menu.hidden));
  });
  $("menu-rate").addEventListener("click", () => openRating());
  $("menu-human").addEventListener("click", () => {
    // A message like any other (PROTOCOL.md): the robot hands the chat to a human when it reads it.
    $("menu").hidden = true;
    $("menu-btn").setAttribute("aria-expanded", "false");
    send(S.ask_human_text);
  });
  $("rate-close").addEventListener("click", () => {
    $("rate-sheet").hidden = true;
  });
  for (const star of document.querySelectorAll(".star")) {
    star.addEventListener("click", () => rate(Number(star.dataset.stars)));
  }

  setupImagesAndEmoji();
  socket.start();
})();
