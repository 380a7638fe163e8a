/* The robot's assist panel in the agent workbench (README "Robot: reception"; the API GET /api/v1/robot/assist):
 * a workbench panel (routing/panels.py), registered as ChatCore.panels.assist and attached by workbench.js.
 *
 * For the chat on screen it lists the best answers to the buyer's last message: knowledge-base answers first,
 * then the recommended human replies of its intent with why (times used, average rating). A click, or
 * Alt+A / Alt+S / Alt+D for the first three, puts one in the reply box to edit and send. It reloads when
 * another chat is shown and when the buyer writes again. Text goes on the page with textContent only.
 */
(function () {
  "use strict";

  const C = window.ChatCore;
  const $ = (id) => document.getElementById(id);
  const KEYS = ["KeyA", "KeyS", "KeyD"];

  function attach(hooks) {
    const S = hooks.strings;
    let shown = []; // texts of the suggestions on screen, in order
    let serial = 0;

    function put(text) {
      const input = $("input");
      if (input.disabled) return;
      input.value = text;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.focus();
      hooks.toast(S.assist_inserted);
    }

    function item(text, extra) {
      const n = shown.length;
      shown.push(text);
      const button = C.el(
        "button",
        { type: "button", class: "assist-item", "data-n": String(n) },
        n < KEYS.length ? C.el("span", { class: "assist-key" }, "Alt+" + KEYS[n].slice(3)) : "",
        C.el("span", { class: "assist-text" }, text),
        C.el("span", { class: "assist-why" }, extra),
      );
      button.addEventListener("click", () => put(text));
      return C.el("li", {}, button);
    }

    async function load() {
      const list = $("assist-list");
      const id = hooks.conversation();
      const mine = ++serial;
      if (id === null) {
        list.replaceChildren();
        $("assist-for").textContent = "";
        shown = [];
        return;
      }
      const res = await hooks.request("GET", `${hooks.data.api}?conversation=${encodeURIComponent(id)}`);
      if (mine !== serial || !res.ok) return;
      const data = res.data;
      shown = [];
      const rows = [];
      if (data.knowledge.length) rows.push(C.el("li", { class: "assist-head" }, S.assist_knowledge));
      for (const k of data.knowledge) {
        rows.push(item(k.answer, `${k.question} · ${C.fmt(S.assist_score, { score: Math.round(k.score * 100) + "%" })}`));
      }
      if (data.recommended.length) rows.push(C.el("li", { class: "assist-head" }, S.assist_recommended));
      for (const r of data.recommended) {
        rows.push(item(r.text, C.fmt(S.assist_why, { times: r.times_used, rating: r.average_rating.toFixed(1) })));
      }
      $("assist-for").textContent = data.text ? `“${data.text}”` : "";
      if (!rows.length) rows.push(C.el("li", { class: "muted" }, S.assist_none));
      list.replaceChildren(...rows);
    }

    const keys = {};
    KEYS.forEach((code, n) => {
      keys[code] = () => {
        if (shown[n] !== undefined) put(shown[n]);
      };
    });

    return {
      changed: load,
      message: load,
      keys,
    };
  }

  C.panels.assist = { attach };
})();
