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
    return {};
  }

  C.panels.aftersale = { attach };
})();
