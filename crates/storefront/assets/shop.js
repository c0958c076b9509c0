// msa-shop storefront: the only script, and the pages work without it. It disables a
// form's submit button once the form is sent, so an impatient second click sends nothing;
// the order's idempotency key is what makes a second submission harmless all the same.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
  for (const button of form.querySelectorAll("button[type=submit]")) {
    // After this tick, so that the button's own name/value is still sent with the form.
    setTimeout(() => { button.disabled = true; }, 0);
  }
});
