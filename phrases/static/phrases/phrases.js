/* Quick phrases in the agent workbench (README "Quick phrases"; the API at /api/v1/phrases/): a workbench panel
 * (routing/panels.py), registered as ChatCore.panels.phrases and attached by workbench.js.
 *
 * - In the reply box, "/" + code lists the phrases with that code; Enter sends the first (or the chosen) one.
 * - Other typing suggests phrases whose content or keywords match, in a small list that never gets in the
 *   way: Enter still sends what was typed unless the agent moved into the list with ↑/↓ or Tab, and Esc
 *   only closes the list (Esc on the reply box otherwise ends the chat).
 * - The side panel lists recently used phrases and all team and personal ones, searchable; a click (or
 *   Enter on a focused phrase) inserts the filled text into the reply box, to edit before sending.
 * - Every use goes through POST /{id}/use with the conversation's id: the server fills the variables from
 *   the conversation and records the use. A fact it cannot fill (order number, ship date, ...) stays a 【】
 *   marker: such a text is put in the reply box instead of being sent, with the marker selected.
 * - Phrases linked to the product the chat came from rank first (product_id from the buyer panel).
 * - A phrase with an image (图文发送): /use returns the chat's copy of it; sent right after the text, or,
 *   when the text goes into the reply box to edit, waiting there as a chip until the agent sends.
 * - The side panel follows the shop's phrases as they change elsewhere (an import in the admin, a
 *   colleague's edit): the list and the suggestions name the shop's phrase version (X-Phrases-Version), and
 *   an answer naming another version than the list on screen reloads it; so does coming back to the tab.
 * - The agent manages their own personal phrases in the panel: "new personal phrase" opens a small form
 *   (POST / with scope personal); personal phrases in the list have edit (the same form, PUT /{id}) and
 *   delete (DELETE /{id}, after a confirm). Team phrases are managed in the admin, so they have neither.
 *
 * Phrase data goes on the page with textContent only (ChatCore.el).
 */
(function () {
  "use strict";

  const C = window.ChatCore;
  const CODE = /^\/[A-Za-z0-9_-]{0,20}$/;
  const MIN_TEXT = 2; // one character suggests too much to be useful
  const MAX_TEXT = 50; // a long reply is being written, not looked up
  const $ = (id) => document.getElementById(id);
  const VERSION_HEADER = "X-Phrases-Version";

  /* hooks: request(method, url, body) -> {ok, status, data, headers, error}; conversation() -> id or null when the
   * chat cannot be replied to; productId() -> the chat's source product id or null; send(text) -> bool;
   * sendImage(card), attachImage(card): a phrase's image sent now, or waiting in the reply box;
   * toast(text); data (the panel's: api); strings. */
  function attach(hooks) {
    const S = hooks.strings;
    const base = hooks.data.api;
    const input = $("input");
    const list = $("suggest-list");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", "suggest-list");
    let items = []; // suggestions shown, for `shownFor`
    let shownFor = null; // the input text the shown suggestions belong to
    let active = -1; // the suggestion the agent moved to with ↑/↓/Tab (-1: none, Enter sends the text)
    let dismissed = null; // the text Esc closed the list for: stays closed until the text changes
    let timer = null;
    let serial = 0; // the latest suggest request: older answers are dropped

    // --- suggestions in the reply box -----------------------------------------------------------------------

    function wanted(text) {
      const typed = text.trim();
      if (CODE.test(typed)) return { mode: "code", query: typed };
      if (typed.length < MIN_TEXT || typed.length > MAX_TEXT || typed.includes("\n") || typed.startsWith("/")) {
        return null;
      }
      return { mode: "text", query: typed };
    }

    function suggestUrl(query) {
      const params = new URLSearchParams({ text: query, limit: "6" });
      const product = hooks.productId();
      if (product) params.set("product_id", String(product));
      return base + "suggest?" + params.toString();
    }

    async function fetchSuggestions(text) {
      const want = wanted(text);
      const mine = ++serial;
      if (!want || hooks.conversation() === null) return [];
      const result = await hooks.request("GET", suggestUrl(want.query));
      followVersion(result);
      if (mine !== serial) return null; // a newer request is on its way
      return result.ok ? result.data : [];
    }

    function close() {
      items = [];
      shownFor = null;
      active = -1;
      list.hidden = true;
      list.replaceChildren();
      input.removeAttribute("aria-activedescendant");
      input.setAttribute("aria-expanded", "false");
    }

    function show(text, found) {
      if (input.value !== text) return;
      if (!found.length || dismissed === text) {
        close();
        shownFor = text;
        return;
      }
      items = found;
      shownFor = text;
      // "/" + code: the first (the exact code, if any) is what Enter sends; a bare "/" or plain text: nothing
      // is chosen until the agent moves into the list.
      active = wanted(text).mode === "code" && text.trim().length > 1 ? 0 : -1;
      list.replaceChildren(
        ...found.map((phrase, i) => {
          const option = C.el(
            "li",
            {
              id: "suggest-" + i,
              role: "option",
              class: "suggestion" + (phrase.linked ? " linked" : ""),
              dataset: { id: String(phrase.id), code: phrase.code || "" },
            },
            phrase.code ? C.el("span", { class: "p-code" }, "/" + phrase.code) : null,
            C.el("span", { class: "p-content" }, phrase.content),
            phrase.linked ? C.el("span", { class: "tag" }, S.phrase_linked) : null
          );
          // mousedown, not click: keep the focus in the reply box.
          option.addEventListener("mousedown", (event) => {
            event.preventDefault();
            use(phrase, "send");
          });
          return option;
        })
      );
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      paintActive();
    }

    function paintActive() {
      [...list.children].forEach((node, i) => node.setAttribute("aria-selected", String(i === active)));
      if (active >= 0) {
        input.setAttribute("aria-activedescendant", "suggest-" + active);
        list.children[active].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function refresh() {
      clearTimeout(timer);
      const text = input.value;
      if (text !== dismissed) dismissed = null;
      if (!wanted(text)) {
        serial++;
        close();
        return;
      }
      timer = setTimeout(async () => {
        const found = await fetchSuggestions(text);
        if (found !== null) show(text, found);
      }, 120);
    }

    function open() {
      return !list.hidden && items.length > 0;
    }

    input.addEventListener("input", refresh);
    input.addEventListener("blur", () => setTimeout(() => document.activeElement !== input && close(), 0));

    input.addEventListener("keydown", async (event) => {
      if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing || event.keyCode === 229) return;
      const key = event.key;
      if (key === "Escape") {
        if (!open()) return;
        event.preventDefault();
        event.stopPropagation(); // the first Esc closes the list; only the next one ends the chat
        dismissed = input.value;
        close();
        return;
      }
      if (key === "ArrowDown" || key === "ArrowUp" || key === "Tab") {
        if (!open()) return;
        event.preventDefault();
        const step = key === "ArrowUp" || (key === "Tab" && event.shiftKey) ? -1 : 1;
        active = active === -1 && step < 0 ? items.length - 1 : (active + step + items.length) % items.length;
        paintActive();
        return;
      }
      if (key !== "Enter" || event.shiftKey) return;
      const text = input.value;
      const want = wanted(text);
      if (open() && shownFor === text && active >= 0) {
        event.preventDefault();
        use(items[active], "send");
        return;
      }
      if (!want || want.mode !== "code" || dismissed === text) return; // the workbench sends the text
      // "/" + code and Enter before the list arrived: look it up now, send the exact code's phrase if any.
      event.preventDefault();
      clearTimeout(timer);
      const found = await fetchSuggestions(text);
      if (input.value !== text) return;
      const code = want.query.slice(1).toLowerCase();
      const exact = (found || []).find((p) => p.code === code);
      if (exact) use(exact, "send");
      else if (hooks.send(text)) {
        input.value = "";
        close();
      }
    });

    // --- using a phrase -------------------------------------------------------------------------------------

    /* how: "send" (the whole reply box becomes the phrase and goes out) or "insert" (at the caret). */
    async function use(phrase, how) {
      const conversation = hooks.conversation();
      if (conversation === null) return;
      close();
      const result = await hooks.request("POST", base + phrase.id + "/use", { conversation_id: conversation });
      if (!result.ok) {
        hooks.toast(result.error);
        return;
      }
      loadPanel();
      if (hooks.conversation() !== conversation) return; // the agent moved to another chat meanwhile
      const { text, unfilled, image } = result.data;
      if (how === "send" && !unfilled.length) {
        if (hooks.send(text)) {
          input.value = "";
          clearTimeout(timer);
          serial++;
          if (image) hooks.sendImage(image);
        }
        input.focus();
        return;
      }
      if (how === "send") input.value = "";
      insert(text);
      if (image) hooks.attachImage(image);
      if (unfilled.length) {
        const names = unfilled.map((key) => (variables[key] ? variables[key] : key)).join(S.list_separator);
        hooks.toast(C.fmt(S.phrase_unfilled, { fields: names }));
        const at = input.value.indexOf("【");
        if (at >= 0) input.setSelectionRange(at, input.value.indexOf("】", at) + 1);
      }
    }

    function insert(text) {
      const start = input.selectionStart ?? input.value.length;
      const end = input.selectionEnd ?? start;
      input.focus();
      input.setRangeText(text, start, end, "end");
      dismissed = input.value; // inserting is not typing: no suggestions for it
      close();
    }

    // The variables' names (for "fill in 【订单号】" toasts), fetched once.
    const variables = {};
    hooks.request("GET", base + "variables").then((result) => {
      if (result.ok) for (const v of result.data) variables[v.key] = "{" + v.names[0] + "}";
    });

    // --- the side panel -------------------------------------------------------------------------------------

    const panel = $("phrase-panel");
    const search = $("phrase-q");
    const results = $("phrase-list");
    let panelSerial = 0;
    let shownVersion = null; // the shop's phrase version of the list on screen (null: none shown yet)

    /* An answer names another phrase version than the list on screen: the phrases changed elsewhere (an
     * import, an edit), so the list (and its "nothing found") is reloaded. */
    function followVersion(result) {
      const version = result && result.ok && result.headers ? result.headers.get(VERSION_HEADER) : null;
      if (version && shownVersion !== null && version !== shownVersion) loadPanel(); // "": unknown
    }

    function entry(phrase) {
      const button = C.el(
        "button",
        {
          type: "button",
          class: "phrase" + (phrase.linked ? " linked" : ""),
          dataset: { id: String(phrase.id), scope: phrase.scope },
        },
        C.el(
          "span",
          { class: "p-meta" },
          C.el("span", { class: "tag scope-" + phrase.scope }, S["phrase_" + phrase.scope] || phrase.scope),
          phrase.code ? C.el("span", { class: "p-code" }, "/" + phrase.code) : null,
          phrase.has_image ? C.el("span", { class: "tag p-image" }, S.phrase_image) : null,
          phrase.group_name ? C.el("span", { class: "muted" }, phrase.group_name) : null
        ),
        C.el("span", { class: "p-content" }, phrase.content)
      );
      button.addEventListener("click", () => use(phrase, "insert"));
      if (phrase.scope !== "personal") return C.el("li", {}, button);
      const edit = C.el("button", { type: "button", class: "p-edit" }, S.phrase_edit);
      const remove = C.el("button", { type: "button", class: "p-delete" }, S.phrase_delete);
      edit.addEventListener("click", () => openForm(phrase));
      remove.addEventListener("click", () => removePhrase(phrase));
      return C.el("li", { class: "own" }, button, C.el("span", { class: "p-actions" }, edit, remove));
    }

    function section(title, phrases, cls) {
      if (!phrases.length) return null;
      return C.el(
        "section",
        { class: cls },
        C.el("h3", {}, title),
        C.el("ul", { class: "phrase-items" }, ...phrases.map(entry))
      );
    }

    async function loadPanel() {
      const mine = ++panelSerial;
      const q = search.value.trim();
      const params = new URLSearchParams({ limit: "50" });
      if (q) params.set("q", q);
      const product = hooks.productId();
      if (product) params.set("product_id", String(product));
      const [all, recent] = await Promise.all([
        hooks.request("GET", base + "?" + params.toString()),
        q ? Promise.resolve(null) : hooks.request("GET", base + "recent?limit=8"),
      ]);
      if (mine !== panelSerial) return;
      if (all.ok && all.headers) shownVersion = all.headers.get(VERSION_HEADER) || "";
      if (!all.ok) {
        results.replaceChildren(C.el("p", { class: "dialog-error" }, all.error));
        return;
      }
      const linked = new Set(product ? all.data.items.filter((p) => p.product_ids.includes(product)).map((p) => p.id) : []);
      for (const p of all.data.items) p.linked = linked.has(p.id);
      const parts = [];
      if (recent && recent.ok) parts.push(section(S.phrases_recent, recent.data, "p-recent"));
      parts.push(section(q ? S.phrases_found : S.phrases_all, all.data.items, "p-all"));
      if (!all.data.items.length) parts.push(C.el("p", { class: "muted" }, S.no_results));
      results.replaceChildren(...parts.filter(Boolean));
    }

    search.addEventListener("input", C.debounce(loadPanel, 200));
    // Back from another tab (where phrases may have been imported): the list is read again.
    document.addEventListener("visibilitychange", () => !document.hidden && loadPanel());

    // --- my personal phrases: create, edit, delete ----------------------------------------------------------

    const form = $("phrase-form");
    const fields = {
      content: $("phrase-content"),
      code: $("phrase-code"),
      keywords: $("phrase-keywords"),
      group: $("phrase-group"),
    };
    const formError = $("phrase-form-error");
    let editing = null; // the personal phrase the form edits, or null for a new one
    let saving = false;

    function keywordList(text) {
      return text
        .split(/[,，、;；]/)
        .map((word) => word.trim())
        .filter(Boolean);
    }

    function errorText(result) {
      const detail = result.data && result.data.detail;
      if (Array.isArray(detail) && detail.length && detail[0] && typeof detail[0].msg === "string") {
        return detail[0].msg; // a request the schema refused (the form's limits normally prevent it)
      }
      return result.error;
    }

    async function loadGroups(selected) {
      const result = await hooks.request("GET", base + "groups?scope=personal");
      const groups = result.ok ? result.data : [];
      fields.group.replaceChildren(
        C.el("option", { value: "" }, S.phrase_no_group),
        ...groups.map((g) => C.el("option", { value: String(g.id) }, g.name))
      );
      fields.group.value = selected ? String(selected) : "";
    }

    async function openForm(phrase) {
      if (phrase) {
        // The recently used list lacks the group and the products: edit the phrase as the server has it.
        const result = await hooks.request("GET", base + phrase.id);
        if (!result.ok) {
          hooks.toast(errorText(result));
          return;
        }
        phrase = result.data;
      }
      editing = phrase || null;
      $("phrase-form-title").textContent = editing ? S.phrase_edit_title : S.phrase_new_title;
      fields.content.value = editing ? editing.content : "";
      fields.code.value = editing ? editing.code || "" : "";
      fields.keywords.value = editing ? (editing.keywords || []).join(S.list_separator) : "";
      formError.textContent = "";
      loadGroups(editing ? editing.group_id : null);
      form.hidden = false;
      fields.content.focus();
    }

    function closeForm() {
      form.hidden = true;
      editing = null;
      formError.textContent = "";
    }

    async function submitForm(event) {
      event.preventDefault();
      if (saving) return;
      const content = fields.content.value;
      if (!content.trim()) {
        formError.textContent = S.phrase_empty;
        fields.content.focus();
        return;
      }
      const body = {
        content,
        code: fields.code.value.trim().replace(/^\//, ""),
        keywords: keywordList(fields.keywords.value),
        group_id: fields.group.value ? Number(fields.group.value) : null,
      };
      if (editing) body.product_ids = editing.product_ids || []; // a PUT replaces: keep its products
      else body.scope = "personal";
      saving = true;
      formError.textContent = "";
      const result = editing
        ? await hooks.request("PUT", base + editing.id, body)
        : await hooks.request("POST", base, body);
      saving = false;
      if (!result.ok) {
        formError.textContent = errorText(result);
        return;
      }
      closeForm();
      hooks.toast(S.phrase_saved);
      loadPanel();
    }

    async function removePhrase(phrase) {
      if (!window.confirm(C.fmt(S.phrase_delete_confirm, { content: phrase.content }))) return;
      const result = await hooks.request("DELETE", base + phrase.id);
      if (!result.ok && result.status !== 404) {
        hooks.toast(errorText(result));
        return;
      }
      if (editing && editing.id === phrase.id) closeForm();
      hooks.toast(S.phrase_deleted);
      loadPanel();
    }

    $("phrase-new").addEventListener("click", () => openForm(null));
    $("phrase-cancel").addEventListener("click", closeForm);
    form.addEventListener("submit", submitForm);
    form.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.isComposing) return;
      event.preventDefault();
      event.stopPropagation(); // Esc in the form closes it; it never ends the chat
      closeForm();
      $("phrase-new").focus();
    });

    // ↑/↓ move through the search box and the phrases; Esc goes back to the reply box (never ends the chat).
    panel.addEventListener("keydown", (event) => {
      if (event.altKey || event.ctrlKey || event.isComposing) return;
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        input.focus();
        return;
      }
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
      const stops = [search, ...results.querySelectorAll("button.phrase")];
      const at = stops.indexOf(document.activeElement);
      if (at === -1) return;
      event.preventDefault();
      const next = stops[Math.max(0, Math.min(stops.length - 1, at + (event.key === "ArrowDown" ? 1 : -1)))];
      next.focus();
    });

    return {
      /* The reply box was emptied by the workbench: no suggestions for the old text. */
      reset() {
        clearTimeout(timer);
        serial++;
        dismissed = null;
        close();
      },
      /* The chat or its product changed: suggestions and the panel's ranking follow it. */
      changed() {
        close();
        loadPanel();
      },
      keys: {
        KeyQ() {
          search.focus();
          search.select();
        },
      },
    };
  }

  C.panels.phrases = { attach };
})();
