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
    k: Number(f.k.value),
    lr: Number(f.lr.value),
    beta1: Number(f.beta1.value),
    ema_decay: Number(f.ema_decay.value),
  };
  if (f.run_length.value === "iterations") body.iterations = Number(f.iterations.value);
  else body.mode = f.run_length.value;
  const seed = optionalInteger(f.seed);
  if (seed !== undefined) body.seed = seed;
  const every = optionalInteger(f.checkpoint_every);
  if (every !== undefined) body.checkpoint_every = every;
  return body;
}

function hint(error) {
  if (error.status === 401 || error.status === 403) return " Check the API token field.";
  return "";
}

export function setupForm({ form, tokenInput, message, submit, onStarted }) {
  const length = form.elements.run_length;
  const iterations = form.elements.iterations;
  const syncLength = () => {
    const custom = length.value === "iterations";
    iterations.disabled = !custom;
    iterations.required = custom;
  };
  length.addEventListener("change", syncLength);
  syncLength();

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
