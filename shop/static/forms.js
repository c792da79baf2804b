// A form is sent once: on submit, its buttons are disabled and a second submit (a
// double click, or Enter pressed twice) is ignored. The server guards as well (one open
// order per checkout); this only spares the shopper a second round trip.
// Loaded as a file (no inline script), so a strict Content-Security-Policy allows it.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) {
      return;
    }
    if (form.dataset.submitted === "true") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "true";
    var buttons = form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
    // Disabled after the browser has read the form, so a named submitter is still sent.
    window.setTimeout(function () {
      buttons.forEach(function (button) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      });
    }, 0);
  });
  // Coming back with the Back button restores the page from cache: make it usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button, input[type=submit]").forEach(function (button) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      });
    });
  });
})();
