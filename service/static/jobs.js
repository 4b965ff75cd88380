// The job list: one row per job, updated in place on every poll so focus and buttons stay put.

import { ACTIVE_STATES, NONE, duration, integer, number, shortId } from "./format.js";

const COLUMNS = [
  ["job", "Job"],
  ["state", "State"],
  ["progress", "Progress"],
  ["d-loss", "D loss"],
  ["g-loss", "G loss"],
  ["rate", "it/s"],
  ["eta", "ETA"],
  ["device", "Device"],
  ["actions", "Actions"],
];

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export class JobTable {
  constructor({ tbody, empty, pageLabel, newer, older, onSelect, onCancel, onDelete, onPage }) {
    this.tbody = tbody;
    this.empty = empty;
    this.pageLabel = pageLabel;
    this.newer = newer;
    this.older = older;
    this.onSelect = onSelect;
    this.onCancel = onCancel;
    this.onDelete = onDelete;
    this.rows = new Map(); // job id -> { row, cells, select, progress, step, cancel, remove }
    newer.addEventListener("click", () => onPage(-1));
    older.addEventListener("click", () => onPage(+1));
  }

  render(page, selectedId) {
    const seen = new Set();
    page.jobs.forEach((job, index) => {
      seen.add(job.id);
      const entry = this.rows.get(job.id) ?? this.createRow(job.id);
      this.updateRow(entry, job, job.id === selectedId);
      if (this.tbody.children[index] !== entry.row) {
        this.tbody.insertBefore(entry.row, this.tbody.children[index] ?? null);
      }
    });
    for (const [id, entry] of this.rows) {
      if (!seen.has(id)) {
        entry.row.remove();
        this.rows.delete(id);
      }
    }
    this.empty.hidden = page.total > 0;
    const first = page.jobs.length ? page.offset + 1 : 0;
    const last = page.offset + page.jobs.length;
    setText(this.pageLabel, page.total ? `${first}–${last} of ${page.total}` : "");
    this.newer.disabled = page.offset === 0;
    this.older.disabled = last >= page.total;
  }

  has(id) {
    return this.rows.has(id);
  }

  markSelected(selectedId) {
    for (const [id, entry] of this.rows) {
      entry.row.classList.toggle("selected", id === selectedId);
      entry.select.setAttribute("aria-pressed", String(id === selectedId));
    }
  }

  createRow(id) {
    const row = element("tr", { "data-testid": "job-row", "data-job-id": id });
    const cells = {};
    for (const [key, label] of COLUMNS) {
      cells[key] = element("td", { "data-label": label, "data-testid": `job-${key}` });
      row.append(cells[key]);
    }
    const select = element("button", {
      type: "button",
      class: "link",
      "data-testid": "job-select",
      "aria-label": `Show job ${shortId(id)}`,
      title: id,
    }, shortId(id));
    select.addEventListener("click", () => this.onSelect(id));
    cells.job.append(select);

    const progress = element("progress", { "aria-label": `Progress of job ${shortId(id)}` });
    const step = element("span", { class: "step", "data-testid": "job-step" });
    cells.progress.append(progress, step);

    const cancel = element("button", {
      type: "button",
      class: "danger",
      "data-testid": "job-cancel",
      "aria-label": `Cancel job ${shortId(id)}`,
    }, "Cancel");
    cancel.addEventListener("click", () => this.onCancel(id, cancel));
    const remove = element("button", {
      type: "button",
      class: "danger",
      "data-testid": "job-delete",
      "aria-label": `Delete job ${shortId(id)}`,
      hidden: "",
    }, "Delete");
    remove.addEventListener("click", () => this.onDelete(id, remove));
    cells.actions.append(cancel, remove);

    const entry = { row, cells, select, progress, step, cancel, remove };
    this.rows.set(id, entry);
    return entry;
  }

  updateRow(entry, job, selected) {
    const p = job.progress ?? {};
    const stepValue = Number.isFinite(p.step) ? p.step : 0;
    const total = Number.isFinite(p.total) ? p.total : job.params?.iterations;
    entry.row.dataset.state = job.state;
    entry.row.dataset.step = String(stepValue);
    entry.row.classList.toggle("selected", selected);
    entry.select.setAttribute("aria-pressed", String(selected));

    const label = job.cancel_requested && job.state === "running" ? "cancelling" : job.state;
    setText(entry.cells.state, label);
    entry.cells.state.className = `state state-${job.state}`;
    if (job.error) entry.cells.state.title = job.error;

    if (Number.isFinite(total) && total > 0) {
      entry.progress.max = total;
      entry.progress.value = Math.min(stepValue, total);
    } else {
      entry.progress.removeAttribute("value");
    }
    setText(entry.step, `${integer(stepValue)} / ${integer(total)}`);
    setText(entry.cells["d-loss"], number(p.d_loss));
    setText(entry.cells["g-loss"], number(p.g_loss));
    const running = job.state === "running";
    setText(entry.cells.rate, running ? number(p.iterations_per_s, 2) : NONE);
    setText(entry.cells.eta, running ? duration(p.eta_s) : NONE);
    setText(entry.cells.device, p.device ?? NONE);

    const cancellable = ACTIVE_STATES.has(job.state) && !job.cancel_requested;
    entry.cancel.hidden = !cancellable;
    if (!cancellable) entry.cancel.disabled = false;
    entry.remove.hidden = ACTIVE_STATES.has(job.state);
  }
}
