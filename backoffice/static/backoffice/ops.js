/* The operations page's notification list (backoffice/operations/alerts.py, PROTOCOL.md "Operations
 * alerts"): the socket /ws/ops/ sends the shop's newest alerts with the unread count when it opens and the
 * new ones whenever the beat tasks record some; they are added on top and the count shown, without a reload.
 * A lost connection is opened again (backing off); the first frame of the new one repairs what was missed.
 * "Mark all read" posts to the API. Without this script the list is the one the page was rendered with. */
(function () {
  "use strict";

  const FINAL = new Set([4401, 4403, 4409]); // signed out, no right, another shop: reconnecting will not help

  function start() {
    const section = document.getElementById("ops-alerts");
    const config = document.getElementById("ops-alerts-config");
    if (!section || !config) return;
    const { api, socket } = JSON.parse(config.textContent);
    const list = document.getElementById("ops-alert-list");
    const badge = document.getElementById("ops-unread");
    const empty = document.getElementById("ops-alerts-empty");
    const form = document.getElementById("ops-alerts-read");
    const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    const shop = document.body.dataset.shop;
    const headers = { Accept: "application/json", "X-CSRFToken": csrf };
    if (shop) headers["X-Shop"] = shop;
    let delay = 1000;

    function showCount(unread) {
      badge.textContent = String(unread);
      badge.hidden = unread === 0;
    }

    function add(items, readUpTo) {
      for (const item of items.slice().reverse()) {
        if (list.querySelector(`li[data-id="${Number(item.id)}"]`)) continue;
        const li = document.createElement("li");
        li.dataset.id = String(item.id);
        li.dataset.kind = String(item.kind);
        if (item.id > readUpTo) li.className = "ops-unread";
        const when = document.createElement("span");
        when.className = "muted";
        when.textContent = new Date(item.created_at).toLocaleString("zh-CN", { hour12: false });
        li.append(when, ` ${item.label} · ${item.ref}`);
        list.prepend(li);
      }
      empty.hidden = list.children.length > 0;
    }

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const ws = new WebSocket(`${scheme}${location.host}${socket}${shop ? `?shop=${encodeURIComponent(shop)}` : ""}`);
      ws.onopen = () => {
        delay = 1000;
        section.dataset.live = "open";
      };
      ws.onmessage = (event) => {
        const frame = JSON.parse(event.data);
        if (frame.type !== "alerts") return;
        add(frame.items, frame.read_up_to);
        showCount(frame.unread);
      };
      ws.onclose = (event) => {
        section.dataset.live = "closed";
        if (FINAL.has(event.code)) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await fetch(`${api}/read`, { method: "POST", headers, credentials: "same-origin" });
      if (response.ok) {
        showCount(0);
        for (const li of list.querySelectorAll("li.ops-unread")) li.classList.remove("ops-unread");
      }
    });
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
