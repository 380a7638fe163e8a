/* The service window's settings page: reorder a bar's configurable entries by native HTML5 drag and drop,
   or with the keyboard (the ↑/↓ buttons, or Alt+↑/↓ on a focused entry), remove with ✕; "Save order" posts
   the hidden inputs in their new order. The fixed entries are not in the list and cannot move. */
(function () {
  "use strict";

  let dragged = null;

  function move(item, before) {
    const list = item.parentElement;
    if (before === null) list.appendChild(item);
    else list.insertBefore(item, before);
    item.closest("form").classList.add("changed");
  }

  function up(item) {
    const prev = item.previousElementSibling;
    if (prev) move(item, prev);
    item.focus();
  }

  function down(item) {
    const next = item.nextElementSibling;
    if (next) move(item, next.nextElementSibling);
    item.focus();
  }

  for (const list of document.querySelectorAll(".ss-entries")) {
    list.addEventListener("dragstart", (event) => {
      dragged = event.target.closest(".ss-entry");
      if (!dragged) return;
      dragged.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.id);
    });
    list.addEventListener("dragend", () => {
      if (dragged) dragged.classList.remove("dragging");
      dragged = null;
    });
    list.addEventListener("dragover", (event) => {
      if (!dragged || dragged.parentElement !== list) return; // no moving between bars
      event.preventDefault();
      const over = event.target.closest(".ss-entry");
      if (!over || over === dragged) return;
      const box = over.getBoundingClientRect();
      const after = event.clientY > box.top + box.height / 2;
      move(dragged, after ? over.nextElementSibling : over);
    });
    list.addEventListener("drop", (event) => event.preventDefault());
    list.addEventListener("click", (event) => {
      const item = event.target.closest(".ss-entry");
      if (!item) return;
      if (event.target.classList.contains("up")) up(item);
      else if (event.target.classList.contains("down")) down(item);
      else if (event.target.classList.contains("remove")) {
        const form = item.closest("form");
        item.remove();
        form.classList.add("changed");
      }
    });
    list.addEventListener("keydown", (event) => {
      const item = event.target.closest(".ss-entry");
      if (!item || event.target !== item || !event.altKey) return;
      if (event.key === "ArrowUp") {
        event.preventDefault();
        up(item);
      } else if (event.key === "ArrowDown") {
        event.preventDefault();
        down(item);
      }
    });
  }
})();
