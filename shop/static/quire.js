// A form marked data-submit-once disables its buttons once sent, so a double click
// posts it once (the server also reuses the open order if two requests arrive).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-submit-once")) return;
  if (form.dataset.submitted) { event.preventDefault(); return; }
  form.dataset.submitted = "yes";
  setTimeout(function () {
    form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
  }, 0);
});
