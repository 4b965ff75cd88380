// The "Start a training job" form and the API token kept in local storage.

import { ApiError, api, token } from "./api.js";
import { shortId } from "./format.js";

const optionalInteger = (input) => (input.value.trim() === "" ? undefined : Number(input.value));

function bodyOf(form) {
  const f = form.elements;
  const body = {
    batch_size: Number(f.batch_size.value),
    dataset: f.dataset.value,
    conditional: f.conditional.checked,
    network_size: f.network_size.value,
    k: Number(f.k.value),
    lr: Number(f.lr.value),
    beta1: Number(f.beta1.value),
    ema_decay: Number(f.ema_decay.value),
    precision: f.precision.value,
    compile: f.compile.checked,
  };
  if (f.run_length.value === "iterations") body.iterations = Number(f.iterations.value);
  else body.mode = f.run_length.value;
  const seed = optionalInteger(f.seed);
  if (seed !== undefined) body.seed = seed;
  const every = optionalInteger(f.checkpoint_every);
  if (every !== undefined) body.checkpoint_every = every;
  return body;
}

// The numeric part of a property: {minimum, maximum, ...}, or its non-null anyOf branch.
function numeric(property) {
  return (property.anyOf ?? [property]).find((branch) => branch.type !== "null") ?? property;
}

// Bounds, starting values and descriptions come from the job spec the API publishes, so the
// form never spells out a default or a limit of its own; the starting values are the quick
// start's (the schema's example), the rest the spec's defaults.
export function applySpec(form, spec) {
  const example = spec.examples?.[0] ?? {};
  for (const [name, property] of Object.entries(spec.properties)) {
    const input = form.elements[name];
    const value = example[name] ?? property.default;
    if (input instanceof HTMLSelectElement) {
      if (property.description) input.title = property.description;
      if (value !== null && value !== undefined) input.value = String(value);
      continue;
    }
    if (!(input instanceof HTMLInputElement)) continue;
    if (property.description) input.title = property.description;
    if (input.type === "checkbox") {
      input.checked = Boolean(value);
      continue;
    }
    const branch = numeric(property);
    if (branch.minimum !== undefined) input.min = String(branch.minimum);
    if (branch.maximum !== undefined) input.max = String(branch.maximum);
    if (value !== null && value !== undefined) input.value = String(value);
  }
  form.dataset.spec = "applied";
}

function hint(error) {
  if (error.status === 401 || error.status === 403) return " Check the API token field.";
  return "";
}

export function setupForm({ form, tokenInput, message, submit, onStarted, spec }) {
  const length = form.elements.run_length;
  const iterations = form.elements.iterations;
  const syncLength = () => {
    const custom = length.value === "iterations";
    iterations.disabled = !custom;
    iterations.required = custom;
  };
  length.addEventListener("change", syncLength);
  syncLength();
  submit.disabled = true;
  spec
    .then((schema) => applySpec(form, schema))
    .catch((error) => {
      message.textContent = `Cannot read the job spec: ${error.message}`;
      message.dataset.kind = "error";
    })
    .finally(() => {
      submit.disabled = false;
    });

  tokenInput.value = token.get();
  tokenInput.addEventListener("input", () => token.set(tokenInput.value.trim()));

  const say = (text, kind) => {
    message.textContent = text;
    message.dataset.kind = kind;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    token.set(tokenInput.value.trim());
    submit.disabled = true;
    say("Starting…", "info");
    try {
      const job = await api.submit(bodyOf(form));
      say(`Started job ${shortId(job.id)}.`, "ok");
      message.dataset.jobId = job.id;
      onStarted(job);
    } catch (error) {
      const text = error instanceof ApiError ? error.describe() + hint(error) : String(error);
      say(text, "error");
      delete message.dataset.jobId;
    } finally {
      submit.disabled = false;
    }
  });
}
