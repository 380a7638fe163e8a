/* The header menus (current shop, language): a <select data-autosubmit> submits its form when it changes.
 * Here rather than in onchange="", which the Content-Security-Policy refuses (no inline script). */
document.addEventListener("change", (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.hasAttribute("data-autosubmit") && select.form) {
    select.form.submit();
  }
});
