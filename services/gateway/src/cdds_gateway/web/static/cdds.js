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

// Live progress (Jobs, History; docs/web.md § Accessibility): while a run the page shows is
// queued or running, poll the REST API (the session cookie signs GETs in) and redraw its
// status cell in place, as templates/_run_status.html draws it. No reload, so a reader keeps
// their place and focus. Status changes, not every percent, are said in the polite region #live.
const LIVE_RUNS = "/api/v1/runs?status=queued&status=running&limit=500";
const LIVE_STATUSES = ["queued", "running"];

function liveCells() {
  return [...document.querySelectorAll(".run-state")].filter((cell) =>
    LIVE_STATUSES.includes(cell.dataset.status),
  );
}

async function getJson(url) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) {
    const error = new Error(`${url}: HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

// The time left as web/formatting.py's eta() writes it.
function etaText(seconds) {
  if (seconds === null || seconds === undefined) {
    return "";
  }
  const whole = Math.trunc(seconds);
  const hours = Math.trunc(whole / 3600);
  const minutes = Math.trunc((whole % 3600) / 60);
  return hours ? `${hours} h ${minutes} min` : `${minutes} min ${whole % 60} s`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

// The children of a .run-state cell for a run of the API (a RunView).
function statusNodes(run) {
  const nodes = [element("span", `status ${run.status}`, run.status.replaceAll("_", " "))];
  if (run.queue_position) {
    const place = element("span", "muted queue-position", `· ${run.queue_position} in queue`);
    place.title = "runs start as earlier ones of your tenant end";
    nodes.push(place);
  }
  if (LIVE_STATUSES.includes(run.status)) {
    const percent = Number(run.progress.percent).toFixed(1);
    const bar = element("progress", "progress", `${percent} %`);
    bar.max = 100;
    bar.value = Number(percent);
    bar.title = `${percent} %`;
    const eta = etaText(run.progress.eta_seconds);
    nodes.push(bar, element("span", "muted eta", `${percent} %${eta ? ` · ${eta} left` : ""}`));
  }
  if (run.error) {
    nodes.push(element("div", "muted run-error", run.error));
  }
  // Spaces between the inline elements, as the template's line breaks give.
  return nodes.flatMap((node, i) => (i ? [document.createTextNode(" "), node] : [node]));
}

// Redraw one cell; what to say about it (its status changed), or "".
function redraw(cell, run) {
  const before = cell.dataset.status;
  cell.replaceChildren(...statusNodes(run));
  cell.dataset.status = run.status;
  const files = cell.closest("tr")?.querySelector("td.files");
  if (files) {
    files.textContent = String(run.files);
  }
  if (run.status === before) {
    return "";
  }
  const why = run.error ? ` (${run.error})` : "";
  return `${cell.dataset.label}: ${run.status.replaceAll("_", " ")}${why}.`;
}

// One poll: the caller's live runs in one request; a run no longer among them has ended (or
// was deleted: 404), so it is read once more on its own. True while something is still live.
async function pollOnce(region) {
  const cells = liveCells();
  if (!cells.length) {
    return false;
  }
  const going = new Map((await getJson(LIVE_RUNS)).items.map((run) => [run.id, run]));
  const said = [];
  for (const cell of cells) {
    const id = cell.dataset.runId;
    let run = going.get(id);
    try {
      run = run || (await getJson(`/api/v1/runs/${encodeURIComponent(id)}`));
    } catch (error) {
      if (error.status !== 404) {
        throw error;
      }
      run = { status: "deleted", files: 0, progress: {} };
    }
    said.push(redraw(cell, run));
  }
  // One announcement per poll, so a change is not overwritten by the next cell's.
  const text = said.filter(Boolean).join(" ");
  if (text) {
    region.textContent = text;
  }
  return liveCells().length > 0;
}

function watchRuns(region) {
  const every = 1000 * (Number(region.dataset.pollSeconds) || 3);
  let failures = 0;
  const tick = async () => {
    try {
      // A hidden tab waits; a failed poll backs off; signed out (401/403) stops.
      if (!document.hidden && !(await pollOnce(region))) {
        return;
      }
      failures = 0;
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        return;
      }
      failures += 1;
    }
    window.setTimeout(tick, every * Math.min(2 ** failures, 10));
  };
  window.setTimeout(tick, every);
}

const liveRegion = document.getElementById("live");
if (liveRegion) {
  watchRuns(liveRegion);
}
