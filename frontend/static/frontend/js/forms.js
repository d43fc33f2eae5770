// Small progressive enhancements for forms; every page works without them.
// 1. After a failed submission, move focus to the error summary so that screen readers announce it.
// 2. Buttons with data-confirm ask before a destructive action (withdraw, reject).
const summary = document.querySelector("[data-autofocus]");
if (summary) summary.focus();

document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
