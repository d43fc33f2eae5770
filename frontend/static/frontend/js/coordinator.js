// Coordinator pages; everything works without this module (it only saves clicks).
// 1. While a cycle is being solved, poll its progress and reload the page when the worker is
//    done. Without JavaScript the page has an "update now" link.
// 2. On the proposals table, a "check all on this page" box for the bulk decision.

const box = document.querySelector("[data-progress-url]");
if (box) follow(box);

function follow(box) {
  const url = box.dataset.progressUrl;
  const bar = box.querySelector("progress");
  const text = box.querySelector("[data-progress-text]");
  const status = document.getElementById("cycle-status");
  let delay = 1000;
  let lastAnnounced = "";

  async function tick() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      const state = await response.json();
      if (!state.solving) {
        // Done (or failed): the page shows the result and the actions of the new state.
        window.location.reload();
        return;
      }
      bar.value = state.progress;
      bar.textContent = Math.round(state.progress * 100) + " %";
      // Announce the stage, and the progress by tenths: a screen reader must not hear every poll.
      const said = state.stage_label + " (" + Math.floor(state.progress * 10) * 10 + " %)";
      if (said !== lastAnnounced) {
        text.textContent = said;
        lastAnnounced = said;
      }
      if (status) status.textContent = state.status_label;
      delay = 1000;
    } catch (error) {
      delay = Math.min(delay * 2, 15000); // network or server trouble: back off, keep trying
    }
    window.setTimeout(tick, delay);
  }
  window.setTimeout(tick, delay);
}

for (const all of document.querySelectorAll("[data-check-all]")) {
  const name = all.dataset.checkAll;
  const boxes = () => document.querySelectorAll(`input[type="checkbox"][name="${name}"]`);
  if (!boxes().length) continue;
  all.hidden = false;
  all.addEventListener("change", () => {
    for (const b of boxes()) b.checked = all.checked;
  });
}
