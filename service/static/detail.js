// The selected job: summary, loss curves, the latest sample grid, per-checkpoint figures and
// its recent log lines.

import { api, sampleUrl } from "./api.js";
import { NONE, clock, integer, number, percent, shortId } from "./format.js";
import { drawLossPlot, plotWidth } from "./plot.js";

const LOG_LINES = 50; // the newest log lines kept

function cell(row, text, label) {
  const td = document.createElement("td");
  td.textContent = text;
  td.dataset.label = label;
  row.append(td);
  return td;
}

function describeParams(params = {}) {
  const length = params.iterations
    ? `${integer(params.iterations)} iterations`
    : `${params.mode ?? "fast"} mode`;
  const parts = [length, `batch ${params.batch_size}`, params.dataset, `seed ${params.seed}`];
  if (params.conditional) parts.push("conditional");
  if (params.ema_decay) parts.push(`weight average ${params.ema_decay}`);
  return parts.join(", ");
}

export class JobDetail {
  constructor(elements) {
    this.el = elements;
    this.jobId = null;
    this.model = null; // the checkpoint whose samples are shown
    this.history = []; // points from the newest checkpoint: {step, d, g}
    this.live = []; // progress reports after it
    this.lossesFor = null; // the checkpoint the history came from
    this.loading = null;
    this.logJob = null; // the job whose log lines are shown
    this.logSeq = 0; // the number of its newest event shown
    this.el.image.addEventListener("load", () => {
      this.el.image.hidden = false;
      this.el.sampleEmpty.hidden = true;
    });
    this.drawnWidth = 0;
    new ResizeObserver(() => {
      if (plotWidth(this.el.plot) !== this.drawnWidth) this.redraw();
    }).observe(this.el.plot);
    this.el.image.addEventListener("error", () => {
      this.el.sampleEmpty.hidden = false;
      this.el.sampleEmpty.textContent = `Could not draw samples from ${this.model}.`;
    });
  }

  clear() {
    this.show(null);
    this.el.id.textContent = NONE;
    this.el.summary.textContent = "Select a job in the list.";
  }

  show(jobId) {
    if (jobId === this.jobId) return;
    this.jobId = jobId;
    this.model = null;
    this.history = [];
    this.live = [];
    this.lossesFor = undefined;
    this.el.image.hidden = true;
    this.el.image.removeAttribute("src");
    this.el.image.alt = "";
    delete this.el.image.dataset.model;
    this.el.sampleEmpty.hidden = false;
    this.el.sampleEmpty.textContent = "No checkpoint yet.";
    this.el.sampleCaption.textContent = "Samples";
    this.el.lossNote.textContent = "";
    this.el.evalRows.replaceChildren();
    delete this.el.evalRows.dataset.signature;
    this.el.evalEmpty.hidden = false;
    if (jobId !== this.logJob) this.clearLog(jobId);
    this.redraw();
  }

  update(job, models) {
    this.show(job.id);
    this.el.id.textContent = shortId(job.id);
    this.el.id.title = job.id;
    const p = job.progress ?? {};
    let summary = `${job.state} — step ${integer(p.step ?? 0)} of ${integer(p.total)}; ` +
      describeParams(job.params);
    if (job.error) summary += `. Error: ${job.error}`;
    this.el.summary.textContent = summary;

    if (job.model && job.model !== this.model) this.showSamples(job.model);
    if (job.model !== this.lossesFor) this.loadLosses(job.id, job.model);
    this.addLive(p);
    this.renderEvaluation(job.id, models);
  }

  showSamples(model) {
    this.model = model;
    const url = sampleUrl(model);
    const step = model.split(":").pop();
    // Load off-screen first so the previous grid stays until the new one is ready.
    const next = new Image();
    next.onload = () => {
      if (this.model !== model) return;
      this.el.image.src = url;
      this.el.image.dataset.model = model;
      this.el.image.alt = `64 digits drawn by the generator at step ${step}`;
      this.el.sampleCaption.textContent = `Samples at step ${integer(Number(step))} (seed fixed)`;
    };
    next.onerror = () => {
      if (this.model !== model) return;
      this.el.sampleEmpty.hidden = false;
      this.el.sampleEmpty.textContent = `Could not draw samples from ${model}.`;
    };
    next.src = url;
  }

  async loadLosses(jobId, model) {
    if (this.loading === `${jobId}/${model}`) return;
    this.loading = `${jobId}/${model}`;
    try {
      const losses = await api.losses(jobId);
      if (this.jobId !== jobId) return;
      this.history = losses.step.map((step, i) => ({
        step, d: losses.d_loss[i], g: losses.g_loss[i],
      }));
      const end = this.history.length ? this.history[this.history.length - 1].step : 0;
      this.live = this.live.filter((point) => point.step > end);
      this.lossesFor = losses.checkpoint;
      this.el.lossNote.textContent = losses.checkpoint
        ? `(from checkpoint at step ${integer(losses.iterations)}` +
          (losses.bucket > 1 ? `, means of ${losses.bucket} iterations` : "") + ")"
        : "(live reports only until the first checkpoint)";
      this.redraw();
    } catch (error) {
      this.el.lossNote.textContent = `(could not read the loss history: ${error.message})`;
    } finally {
      if (this.loading === `${jobId}/${model}`) this.loading = null;
    }
  }

  addLive(progress) {
    const step = progress.step;
    if (!Number.isFinite(step) || !Number.isFinite(progress.d_loss)) return;
    const known = this.live.length
      ? this.live[this.live.length - 1].step
      : (this.history.length ? this.history[this.history.length - 1].step : 0);
    if (step <= known) return;
    this.live.push({ step, d: progress.d_loss, g: progress.g_loss });
    this.redraw();
  }

  // A log event of the job shown ({job, seq, level, message, at}); text only, never markup.
  addLog(event) {
    if (event.job !== this.logJob) this.clearLog(event.job);
    if (Number.isFinite(event.seq)) {
      if (event.seq <= this.logSeq) return; // shown already
      this.logSeq = event.seq;
    }
    const log = this.el.log;
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    const line = document.createElement("li");
    line.dataset.level = String(event.level ?? "INFO");
    const time = document.createElement("span");
    time.className = "log-time";
    time.textContent = clock(Number.isFinite(event.at) ? new Date(event.at * 1000) : new Date());
    line.append(time);
    if (line.dataset.level !== "INFO") {
      const level = document.createElement("span");
      level.className = "log-level";
      level.textContent = line.dataset.level;
      line.append(level);
    }
    const message = document.createElement("span");
    message.className = "log-message";
    message.textContent = String(event.message ?? "");
    line.append(message);
    log.append(line);
    while (log.children.length > LOG_LINES) log.firstElementChild.remove();
    this.el.logEmpty.hidden = true;
    if (atEnd) log.scrollTop = log.scrollHeight;
  }

  clearLog(jobId) {
    this.logJob = jobId;
    this.logSeq = 0;
    this.el.log.replaceChildren();
    this.el.logEmpty.hidden = false;
  }

  redraw() {
    const title = this.jobId ? `Loss curves of job ${shortId(this.jobId)}` : "Loss curves";
    this.drawnWidth = plotWidth(this.el.plot);
    drawLossPlot(this.el.plot, [...this.history, ...this.live], { title });
  }

  renderEvaluation(jobId, models) {
    const mine = (models?.models ?? [])
      .filter((m) => m.job === jobId)
      .sort((a, b) => a.step - b.step);
    const rows = mine.map((m) => {
      const metrics = m.metrics ?? {};
      const row = document.createElement("tr");
      row.dataset.testid = "eval-row";
      row.dataset.step = String(m.step);
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = integer(m.step);
      row.append(th);
      cell(row, m.final ? "yes" : "no", "Final");
      cell(row, m.status, "Status").title = m.error ?? "";
      cell(row, number(metrics.frechet_distance, 2), "FD").dataset.testid = "eval-fd";
      cell(row, number(metrics.inception_score, 2), "IS").dataset.testid = "eval-is";
      cell(row, integer(metrics.classes_covered), "Classes covered").dataset.testid =
        "eval-classes";
      cell(row, percent(metrics.label_accuracy), "Label accuracy");
      return row;
    });
    const signature = JSON.stringify(mine.map((m) => [m.step, m.final, m.status, m.metrics]));
    if (signature !== this.el.evalRows.dataset.signature) {
      this.el.evalRows.dataset.signature = signature;
      this.el.evalRows.replaceChildren(...rows);
    }
    this.el.evalEmpty.hidden = mine.length > 0;
  }
}
