// The sweep panel: a sweep's members ranked, their generator losses overlaid and their digits
// side by side from the same noise (GET /compare), refreshed every few seconds.

import { api } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 5000;
const WIDTH = 640;
const HEIGHT = 220;
const MAX_COMPARED = 8;
const ENDED = ["succeeded", "failed", "cancelled"];

const $ = (id) => document.getElementById(id);

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function shown(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "number" && !Number.isInteger(value) ? value.toPrecision(4) : String(value);
}

function headings(names) {
  return names.map((name) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    return th;
  });
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

export class SweepPanel {
  constructor() {
    this.sweeps = [];
    this.endedLosses = new Map(); // job id -> its loss history, fetched once it has ended
    $("sweep-select").addEventListener("change", () => this.render());
  }

  start() {
    this.refresh();
    window.setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    try {
      this.sweeps = await api.sweeps();
    } catch {
      return; // the jobs panel says when the API is unreachable
    }
    const select = $("sweep-select");
    const chosen = select.value;
    select.replaceChildren(...this.sweeps.map((sweep) => {
      const option = document.createElement("option");
      option.value = sweep.id;
      option.textContent = `${sweep.id} (${sweep.state})`;
      return option;
    }));
    if (this.sweeps.some((sweep) => sweep.id === chosen)) select.value = chosen;
    await this.render();
  }

  async render() {
    const sweep = this.sweeps.find((s) => s.id === $("sweep-select").value) || this.sweeps[0];
    if (!sweep) return; // the panel keeps saying how to start one
    $("sweep-id").textContent = sweep.id;
    const names = sweep.varied;
    const done = sweep.members.filter((m) => ENDED.includes(m.state));
    $("sweep-summary").textContent = `${sweep.state}: ${done.length} of ${sweep.members.length} `
      + `members ran, ranked by ${sweep.spec.rank_by}`
      + (sweep.pinned ? `; ${sweep.pinned} pinned` : "");
    $("sweep-head").replaceChildren(...headings(["Rank", "Member", ...names, sweep.spec.rank_by,
      "Wall s", "State", "Model"]));
    $("sweep-rows").replaceChildren(...sweep.members.map((member) => {
      const row = document.createElement("tr");
      row.dataset.member = member.member;
      row.dataset.state = member.state;
      row.append(cell(shown(member.rank)), cell(String(member.member)),
        ...names.map((name) => cell(shown(member.params[name]))), cell(shown(member.score)),
        cell(shown(member.wall_s)), cell(member.state), cell(member.model ?? "—"));
      return row;
    }));
    this.renderSettings(sweep, names.filter((name) => name !== "seed"));
    const models = sweep.members.map((m) => m.model).filter(Boolean).slice(0, MAX_COMPARED);
    const image = $("sweep-compare");
    const source = `/compare?models=${encodeURIComponent(models.join(","))}&seed=0&n=10&nrow=10`;
    if (models.length && image.dataset.source !== source) {
      image.dataset.source = source;
      image.src = source;
      image.alt = `digits of ${models.join(", ")} from seed 0`;
    }
    image.hidden = !models.length;
    await this.plotLosses(sweep);
  }

  // each setting over the seeds it ran with, when some setting ran on more than one
  renderSettings(sweep, varied) {
    const settings = sweep.settings || [];
    const shownHere = settings.some((group) => group.members.length > 1);
    $("sweep-settings-box").hidden = !shownHere;
    if (!shownHere) return;
    $("sweep-settings-head").replaceChildren(...headings(["Rank", ...varied, "Seeds",
      `Mean ${sweep.spec.rank_by}`, "Worst"]));
    $("sweep-settings-rows").replaceChildren(...settings.map((group) => {
      const row = document.createElement("tr");
      row.append(cell(shown(group.rank)), ...varied.map((name) => cell(shown(group.params[name]))),
        cell(group.seeds.map(shown).join(", ")), cell(shown(group.mean)), cell(shown(group.worst)));
      return row;
    }));
  }

  // a member's loss history: fetched on every refresh while it runs, once after it has ended
  async losses(member) {
    if (this.endedLosses.has(member.job)) return this.endedLosses.get(member.job);
    const history = await api.losses(member.job).catch(() => null);
    if (history && ENDED.includes(member.state)) this.endedLosses.set(member.job, history);
    return history;
  }

  async plotLosses(sweep) {
    const jobs = sweep.members.filter((m) => m.job && m.state !== "waiting");
    const histories = await Promise.all(jobs.map((m) => this.losses(m)));
    const lines = histories.map((history, i) => ({ member: jobs[i].member, history }))
      .filter(({ history }) => history && history.step.length);
    const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
      "aria-label": "generator loss per iteration, one line per member" });
    const values = lines.flatMap(({ history }) => history.g_loss.filter((v) => v !== null));
    const steps = lines.flatMap(({ history }) => history.step);
    if (values.length) {
      const [low, high] = [Math.min(...values), Math.max(...values)];
      const last = Math.max(...steps, 1);
      const x = (step) => 10 + (step / last) * (WIDTH - 20);
      const y = (v) => HEIGHT - 10 - ((v - low) / (high - low || 1)) * (HEIGHT - 20);
      for (const { member, history } of lines) {
        const points = history.step.map((step, i) => [step, history.g_loss[i]])
          .filter(([, v]) => v !== null).map(([step, v]) => `${x(step)},${y(v)}`);
        const line = svg("polyline", { points: points.join(" "), class: `member member-${member % 8}`,
          "data-member": member });
        const title = svg("title");
        title.textContent = `member ${member}`;
        line.append(title);
        chart.append(line);
      }
    }
    $("sweep-losses").replaceChildren(chart);
  }
}
