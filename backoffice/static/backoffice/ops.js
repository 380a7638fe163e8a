/* The operations page's notification list (backoffice/operations/alerts.py): asks the API for the alerts
 * newer than the newest shown every few seconds, adds them on top and shows the unread count; "Mark all
 * read" posts to the API. Without this script the list is the one the page was rendered with. */
(function () {
  "use strict";

  function start() {
    const section = document.getElementById("ops-alerts");
    const config = document.getElementById("ops-alerts-config");
    if (!section || !config) return;
    const { api, poll_seconds: pollSeconds } = JSON.parse(config.textContent);
    const list = document.getElementById("ops-alert-list");
    const badge = document.getElementById("ops-unread");
    const empty = document.getElementById("ops-alerts-empty");
    const form = document.getElementById("ops-alerts-read");
    const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    const shop = document.body.dataset.shop;
    const headers = { Accept: "application/json", "X-CSRFToken": csrf };
    if (shop) headers["X-Shop"] = shop;

    function newest() {
      const first = list.querySelector("li[data-id]");
      return first ? Number(first.dataset.id) : 0;
    }

    function showCount(unread) {
      badge.textContent = String(unread);
      badge.hidden = unread === 0;
    }

    function add(items, readUpTo) {
      for (const item of items.slice().reverse()) {
        if (list.querySelector(`li[data-id="${Number(item.id)}"]`)) continue;
        const li = document.createElement("li");
        li.dataset.id = String(item.id);
        if (item.id > readUpTo) li.className = "ops-unread";
        const when = document.createElement("span");
        when.className = "muted";
        when.textContent = new Date(item.created_at).toLocaleString("zh-CN", { hour12: false });
        li.append(when, ` ${item.label} · ${item.ref}`);
        list.prepend(li);
      }
      empty.hidden = list.children.length > 0;
    }

    async function poll() {
      try {
        const after = newest();
        const response = await fetch(after ? `${api}?after=${after}` : api, { headers, credentials: "same-origin" });
        if (response.ok) {
          const data = await response.json();
          add(data.items, data.read_up_to);
          showCount(data.unread);
        }
      } catch (e) {
        /* offline for a moment: the next poll catches up */
      }
      setTimeout(poll, pollSeconds * 1000);
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await fetch(`${api}/read`, { method: "POST", headers, credentials: "same-origin" });
      if (response.ok) {
        showCount(0);
        for (const li of list.querySelectorAll("li.ops-unread")) li.classList.remove("ops-unread");
      }
    });
    setTimeout(poll, pollSeconds * 1000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
