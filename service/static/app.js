// The dashboard: keep the job list and the selected job current. Every job's events come
// through one stream (GET /events) and each refreshes what it changed; polling is the safety
// net, every LIVE_POLL_MS while the stream is open and every POLL_MS while it is not.

import { ApiError, api, followEvents } from "./api.js";
import { JobDetail } from "./detail.js";
import { clock, shortId } from "./format.js";
import { setupForm } from "./form.js";
import { JobTable } from "./jobs.js";
import { SweepPanel } from "./sweeps.js";

const POLL_MS = 1500;
const HIDDEN_POLL_MS = 10000; // a background tab polls slowly
const LIVE_POLL_MS = 30000; // with the event stream open
const EVENT_REFRESH_MS = 250; // events refresh the page at most this often
const PAGE_SIZE = 20;

const $ = (id) => document.getElementById(id);

const state = {
  offset: 0,
  selected: selectedFromHash(),
  timer: null,
  polling: false,
  again: false,
  live: false, // the event stream is open
  health: null, // the last poll's answer: null before the first, then {ok, text}
  cooling: null, // the timer of EVENT_REFRESH_MS after an event's refresh
  pending: false, // an event came while cooling
};

function selectedFromHash() {
  const match = /^#job=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  return match ? match[1] : null;
}

const detail = new JobDetail({
  id: $("detail-id"),
  summary: $("detail-summary"),
  plot: $("loss-plot"),
  lossNote: $("loss-note"),
  image: $("sample-image"),
  sampleEmpty: $("sample-empty"),
  sampleCaption: $("sample-caption"),
  evalRows: $("eval-rows"),
  evalEmpty: $("eval-empty"),
  log: $("job-log"),
  logEmpty: $("log-empty"),
});

const table = new JobTable({
  tbody: $("job-rows"),
  empty: $("jobs-empty"),
  pageLabel: $("jobs-page"),
  newer: $("jobs-newer"),
  older: $("jobs-older"),
  onSelect: (id) => select(id),
  onCancel: (id, button) => cancel(id, button),
  onDelete: (id, button) => remove(id, button),
  onPage: (direction) => {
    state.offset = Math.max(0, state.offset + direction * PAGE_SIZE);
    pollNow();
  },
});

function select(id, refresh = true) {
  state.selected = id;
  const hash = id ? `#job=${id}` : "";
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname);
  table.markSelected(id);
  if (refresh) pollNow();
}

async function cancel(id, button) {
  const message = $("action-message");
  button.disabled = true;
  message.textContent = "";
  try {
    await api.cancel(id);
    message.dataset.kind = "ok";
    message.textContent = `Cancelling job ${shortId(id)}.`;
  } catch (error) {
    message.dataset.kind = "error";
    const text = error instanceof ApiError ? error.describe() : String(error);
    const hint = error.status === 401 || error.status === 403 ? " Check the API token field." : "";
    message.textContent = `Could not cancel job ${shortId(id)}: ${text}${hint}`;
    button.disabled = false;
  }
  pollNow();
}

async function remove(id, button) {
  const message = $("action-message");
  if (!window.confirm(`Delete job ${shortId(id)} with its checkpoints and models?`)) return;
  button.disabled = true;
  message.textContent = "";
  try {
    await api.remove(id);
    message.dataset.kind = "ok";
    message.textContent = `Deleted job ${shortId(id)}.`;
    if (state.selected === id) select(null, false);
  } catch (error) {
    message.dataset.kind = "error";
    const text = error instanceof ApiError ? error.describe() : String(error);
    const hint = error.status === 401 || error.status === 403 ? " Check the API token field." : "";
    message.textContent = `Could not delete job ${shortId(id)}: ${text}${hint}`;
    button.disabled = false;
  }
  pollNow();
}

function setHealth(ok, text = "") {
  state.health = { ok, text, at: clock() };
  showConnection();
}

// "Live" (the event stream is open), "Polling" (it is not) or the last poll's error.
function showConnection() {
  const connection = $("connection");
  connection.dataset.live = String(state.live);
  if (!state.health) return; // "Connecting…" until the first poll's answer
  const { ok, at } = state.health;
  const text = ok ? (state.live ? "Live" : "Polling") : state.health.text;
  connection.dataset.state = ok ? (state.live ? "live" : "polling") : "error";
  if (connection.textContent !== text) connection.textContent = text; // announce changes only
  connection.title = !ok ? text : state.live
    ? `Following job events; updated ${at}`
    : `No event stream: polling every ${POLL_MS / 1000} s; updated ${at}`;
}

async function poll() {
  const page = await api.jobs(state.offset, PAGE_SIZE);
  if (page.offset > 0 && page.jobs.length === 0 && page.total > 0) {
    state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
    return poll();
  }
  if (!state.selected && page.jobs.length) select(page.jobs[0].id, false);
  table.render(page, state.selected);

  const models = await api.models();
  $("served-model").textContent = models.served ?? "—";
  if (!state.selected) {
    detail.clear();
    return;
  }
  let job = page.jobs.find((j) => j.id === state.selected);
  if (!job) {
    try {
      job = await api.job(state.selected);
    } catch (error) {
      if (error.status === 404) {
        select(null, false);
        detail.clear();
        return;
      }
      throw error;
    }
  }
  detail.update(job, models);
}

async function tick() {
  clearTimeout(state.timer);
  if (state.polling) {
    state.again = true;
    return;
  }
  state.polling = true;
  try {
    await poll();
    setHealth(true);
  } catch (error) {
    const text = error instanceof ApiError ? error.describe() : String(error);
    setHealth(false, `Cannot update: ${text}. Retrying…`);
  } finally {
    state.polling = false;
    const again = state.again;
    state.again = false;
    if (again) tick();
    else state.timer = setTimeout(tick, pollInterval());
  }
}

function pollInterval() {
  if (state.live) return LIVE_POLL_MS;
  return document.hidden ? HIDDEN_POLL_MS : POLL_MS;
}

function pollNow() {
  tick();
}

// At once for the first event, then at most once per EVENT_REFRESH_MS for those that follow.
function refreshSoon() {
  if (state.cooling) {
    state.pending = true;
    return;
  }
  pollNow();
  state.cooling = setTimeout(() => {
    state.cooling = null;
    if (state.pending) {
      state.pending = false;
      refreshSoon();
    }
  }, EVENT_REFRESH_MS);
}

function onEvent(kind, data) {
  if (kind === "reset") { // events were missed: read everything again
    pollNow();
  } else if (kind === "log") {
    if (data.job && data.job === state.selected) detail.addLog(data);
  } else if (kind !== "progress" || table.has(data.job) || data.job === state.selected) {
    refreshSoon(); // a job's progress changes only its row; the rest may change the page
  }
}

function setLive(live) {
  if (live === state.live) return;
  state.live = live;
  showConnection();
  pollNow(); // opened: what came before it; lost: polling every POLL_MS from now
}

setupForm({
  form: $("job-form"),
  tokenInput: $("api-token"),
  message: $("form-message"),
  submit: $("job-submit"),
  spec: api.jobSpec(),
  onStarted: (job) => {
    state.offset = 0;
    select(job.id);
  },
});

window.addEventListener("hashchange", () => {
  const id = selectedFromHash();
  if (id && id !== state.selected) select(id);
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) pollNow();
});

showConnection();
tick();
followEvents({ onEvent, onLive: setLive });
new SweepPanel().start();
