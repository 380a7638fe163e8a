/* The after-sale actions in the agent's buyer panel (backoffice/operations/aftersale.py), registered as
 * ChatCore.panels.aftersale and attached by workbench.js (routing/panels.py). The panel's forms also work
 * without this script (they post to /ops/after-sales/<id>/act/); with it, a click posts to the JSON API and
 * the request's state and open actions are updated in place. */
(function () {
  "use strict";
  const C = window.ChatCore;

  function update(card, data) {
    card.dataset.state = data.state;
    card.querySelector(".as-state").textContent = data.state_label;
    const detail = card.querySelector(".as-detail");
    if (detail) {
      detail.textContent = data.refuse_reason || data.return_tracking_number || "";
    }
    for (const form of card.querySelectorAll("form.as-action")) {
      form.hidden = !data.actions.includes(form.dataset.action);
    }
  }

  function attach(hooks) {
    const root = document.getElementById("buyer-panel");
    if (!root) return {};
    root.addEventListener("submit", async (event) => {
      const form = event.target.closest("form.as-action");
      if (!form) return;
      event.preventDefault();
      const card = form.closest(".after-sale");
      const input = form.querySelector("input[name=detail]");
      const body = { action: form.dataset.action, detail: input ? input.value : "" };
      const result = await hooks.request("POST", `/api/v1/ops/after-sales/${Number(card.dataset.id)}/actions`, body);
      if (!result.ok) {
        hooks.toast(result.error);
        return;
      }
      update(card, result.data);
      if (input) input.value = "";
      hooks.toast(hooks.strings.after_sale_done);
    });
    // Opening a request from the chat: posted to the API, then the buyer panel is fetched again so that the
    // new request shows with its guide and buttons (the panel is a server-rendered partial).
    root.addEventListener("click", async (event) => {
      const button = event.target.closest("button.as-open");
      if (!button) return;
      const box = button.closest(".as-new");
      const body = {
        kind: box.querySelector("select[name=kind]").value,
        reason: box.querySelector("select[name=reason]").value,
      };
      const result = await hooks.request("POST", `/api/v1/ops/orders/${Number(box.dataset.order)}/after-sales`, body);
      if (!result.ok) {
        hooks.toast(result.error);
        return;
      }
      hooks.toast(hooks.strings.after_sale_opened);
      await reload(hooks);
    });
    return {};
  }

  async function reload(hooks) {
    const root = document.getElementById("buyer-panel");
    const id = hooks.conversation();
    if (!root || id === null || !hooks.data.buyer_panel) return;
    const response = await fetch(hooks.data.buyer_panel.replace("{id}", String(id)), {
      credentials: "same-origin",
      headers: hooks.data.shop_header ? { [hooks.data.shop_header]: String(hooks.data.shop) } : {},
    });
    if (!response.ok || hooks.conversation() !== id) return;
    const template = document.createElement("template");
    template.innerHTML = await response.text(); // a server-rendered partial: Django escaped every value
    root.replaceChildren(template.content);
  }

  C.panels.aftersale = { attach };
})();
