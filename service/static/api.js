// Talking to the service's JSON API: one error shape ({detail}), the optional bearer token;
// and following every job's events (GET /events, server-sent).

const TOKEN_KEY = "dcgan.apiToken";

export class ApiError extends Error {
  constructor(status, statusText, detail) {
    super(detail);
    this.status = status;
    this.statusText = statusText;
    this.detail = detail;
  }

  // "401 Unauthorized: <the API's detail>"
  describe() {
    const head = [this.status, this.statusText].filter(Boolean).join(" ");
    return head ? `${head}: ${this.detail}` : this.detail;
  }
}

export const token = {
  get() {
    try {
      return localStorage.getItem(TOKEN_KEY) ?? "";
    } catch {
      return "";
    }
  },
  set(value) {
    try {
      if (value) localStorage.setItem(TOKEN_KEY, value);
      else localStorage.removeItem(TOKEN_KEY);
    } catch {
      // storage disabled: the token lives in the field only
    }
  },
};

async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    return JSON.stringify(body.detail ?? body);
  } catch {
    return response.statusText || "request failed";
  }
}

async function request(method, path, { body, auth = false } = {}) {
  const headers = { Accept: "application/json" };
  const options = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const secret = auth ? token.get() : "";
  if (secret) headers.Authorization = `Bearer ${secret}`;
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new ApiError(0, "", `cannot reach the service (${error.message})`);
  }
  if (!response.ok) {
    throw new ApiError(response.status, response.statusText, await detailOf(response));
  }
  return response.status === 204 ? null : response.json();
}

const id = (jobId) => encodeURIComponent(jobId);

export const api = {
  jobs: (offset, limit) => request("GET", `/jobs?offset=${offset}&limit=${limit}`),
  job: (jobId) => request("GET", `/jobs/${id(jobId)}`),
  losses: (jobId) => request("GET", `/jobs/${id(jobId)}/losses`),
  sweeps: () => request("GET", "/sweeps?limit=20"),
  models: () => request("GET", "/models"),
  submit: (body) => request("POST", "/jobs", { body, auth: true }),
  // the job spec as the API validates it: defaults, bounds, descriptions, the quick start
  jobSpec: () => request("GET", "/openapi.json").then((doc) => doc.components.schemas.JobSpec),
  cancel: (jobId) => request("POST", `/jobs/${id(jobId)}/cancel`, { auth: true }),
  // a finished job, with its checkpoints and models
  remove: (jobId) => request("DELETE", `/jobs/${id(jobId)}`, { auth: true }),
};

// The kinds of event GET /events sends (docs/observability.md); "reset": some were missed.
const EVENT_KINDS = ["state", "progress", "checkpoint", "scored", "log", "reset"];
// A stream the browser gave up on is opened again after REOPEN_MS, doubling with each failure
// up to REOPEN_MAX_MS.
const REOPEN_MS = 2000;
const REOPEN_MAX_MS = 30000;

// Every job's events through one EventSource (a browser opens few connections to an origin):
// onEvent(kind, data) for each, onLive(open) when the stream opens or is lost. EventSource
// reconnects by itself and resumes after the last event it received; a stream it gives up on
// (an answer that is not a stream, such as a 503 while the service stops) is opened again
// here, from now on. False where the browser has no EventSource.
export function followEvents({ onEvent, onLive }) {
  if (typeof EventSource !== "function") return false;
  let failures = 0;
  const open = () => {
    const source = new EventSource("/events");
    source.addEventListener("open", () => {
      failures = 0;
      onLive(true);
    });
    source.addEventListener("error", () => {
      onLive(false);
      if (source.readyState !== EventSource.CLOSED) return; // reconnecting by itself
      failures += 1;
      setTimeout(open, Math.min(REOPEN_MAX_MS, REOPEN_MS * 2 ** (failures - 1)));
    });
    for (const kind of EVENT_KINDS) {
      source.addEventListener(kind, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return; // not an event this dashboard understands
        }
        onEvent(kind, data ?? {});
      });
    }
  };
  open();
  return true;
}

export const SAMPLE_SEED = 1234;

export function sampleUrl(model) {
  return `/generate?model=${encodeURIComponent(model)}&seed=${SAMPLE_SEED}&n=64`;
}
