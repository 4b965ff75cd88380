// The D and G loss curves as an inline SVG line chart (no library).

import { integer, number } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const DEFAULT_WIDTH = 640;
const MIN_WIDTH = 280;
const HEIGHT = 260;
const MARGIN = { left: 52, right: 14, top: 26, bottom: 30 };
const SERIES = [
  { key: "d", label: "D loss" },
  { key: "g", label: "G loss" },
];

function svg(tag, attributes = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text) node.textContent = text;
  return node;
}

// About `count` round tick values covering [low, high], at least `minStep` apart.
function ticks(low, high, count, minStep = 0) {
  const span = high - low;
  if (!(span > 0)) return [low];
  const raw = Math.max(span / count, minStep);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const values = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
    values.push(Number(v.toPrecision(12)));
  }
  return values;
}

function extent(points) {
  let low = Infinity;
  let high = -Infinity;
  for (const p of points) {
    for (const { key } of SERIES) {
      const v = p[key];
      if (Number.isFinite(v)) {
        low = Math.min(low, v);
        high = Math.max(high, v);
      }
    }
  }
  if (!Number.isFinite(low)) return null;
  if (low === high) return [low - 1, high + 1];
  const pad = (high - low) * 0.05;
  return [low - pad, high + pad];
}

// The chart is drawn at the container's width, so its text keeps its size on a phone.
export function plotWidth(container) {
  return Math.max(MIN_WIDTH, Math.round(container.clientWidth || DEFAULT_WIDTH));
}

// points: [{step, d, g}] sorted by step; d/g may be null (not finite).
export function drawLossPlot(container, points, { title = "Loss curves" } = {}) {
  const width = plotWidth(container);
  container.replaceChildren();
  const range = extent(points);
  if (!points.length || !range) {
    const empty = document.createElement("p");
    empty.className = "plot-empty";
    empty.dataset.testid = "loss-empty";
    empty.textContent = "No losses recorded yet.";
    container.append(empty);
    return;
  }
  const [yLow, yHigh] = range;
  const xHigh = Math.max(points[points.length - 1].step, 1);
  const xLow = 0;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (step) => MARGIN.left + ((step - xLow) / (xHigh - xLow)) * plotW;
  const y = (v) => MARGIN.top + (1 - (v - yLow) / (yHigh - yLow)) * plotH;

  const last = points[points.length - 1];
  const titleId = `${container.id}-title`;
  const descId = `${container.id}-desc`;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${HEIGHT}`,
    role: "img",
    "aria-labelledby": `${titleId} ${descId}`,
    "data-testid": "loss-svg",
    "data-points": points.length,
    "data-last-step": last.step,
    class: "loss-chart",
  });
  chart.append(
    svg("title", { id: titleId }, title),
    svg("desc", { id: descId },
      `${points.length} points up to iteration ${last.step}: ` +
      `D loss ${number(last.d)}, G loss ${number(last.g)} at the end.`),
  );

  const grid = svg("g", { class: "grid" });
  for (const v of ticks(yLow, yHigh, 4)) {
    const py = y(v);
    grid.append(
      svg("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: py, y2: py }),
      svg("text", { x: MARGIN.left - 6, y: py + 4, "text-anchor": "end" }, String(v)),
    );
  }
  for (const v of ticks(xLow, xHigh, 5, 1)) {
    const px = x(v);
    grid.append(
      svg("line", { x1: px, x2: px, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }),
      svg("text", { x: px, y: HEIGHT - MARGIN.bottom + 18, "text-anchor": "middle" },
        integer(v)),
    );
  }
  chart.append(grid);
  chart.append(svg("rect", {
    class: "frame", x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH,
  }));

  SERIES.forEach(({ key, label }, index) => {
    let d = "";
    let pen = "M";
    for (const p of points) {
      if (!Number.isFinite(p[key])) {
        pen = "M"; // a gap where the loss was not finite
        continue;
      }
      d += `${pen}${x(p.step).toFixed(1)},${y(p[key]).toFixed(1)}`;
      pen = "L";
    }
    // a single point still shows as a dot
    chart.append(svg("path", {
      d, class: `series series-${key}`, "data-testid": `loss-path-${key}`,
    }));
    const lx = MARGIN.left + 8 + index * 80;
    chart.append(
      svg("line", { x1: lx, x2: lx + 18, y1: 13, y2: 13, class: `series series-${key}` }),
      svg("text", { x: lx + 24, y: 17, class: "legend" }, label),
    );
  });
  container.append(chart);
}
