// What the pages do in the browser, kept out of the HTML: the Content-Security-Policy
// (default-src 'self') runs no inline script or event handler.
"use strict";

// A form (or the button that submits it) with data-confirm asks before it is sent.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const question = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Artifacts: the header checkbox selects or clears every file of the page.
document.addEventListener("change", (event) => {
  if (event.target.id !== "select-all") {
    return;
  }
  for (const box of document.querySelectorAll("input[name=ids]")) {
    box.checked = event.target.checked;
  }
});
