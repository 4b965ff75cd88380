// Numbers and times as the dashboard shows them; "—" for anything missing.

export const NONE = "—";

const finite = (value) => typeof value === "number" && Number.isFinite(value);

export function number(value, digits = 3) {
  return finite(value) ? value.toFixed(digits) : NONE;
}

export function integer(value) {
  return finite(value) ? Math.round(value).toLocaleString("en") : NONE;
}

export function percent(value) {
  return finite(value) ? `${(value * 100).toFixed(1)}%` : NONE;
}

export function duration(seconds) {
  if (!finite(seconds) || seconds < 0) return NONE;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function shortId(id) {
  return id ? id.slice(0, 8) : NONE;
}

export function clock(date = new Date()) {
  return date.toLocaleTimeString("en-GB", { hour12: false });
}

export const ACTIVE_STATES = new Set(["queued", "running"]);
