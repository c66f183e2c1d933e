// HTTP calls to the Lamina server, with errors a student can read.
//
//   const models = await fetchJSON("/api/models");
//   const image = await uploadImage(file);          // {image_id, width, height, channels, format}
//   const blob = await postForBlob("/api/runs/layers/3.npy", request);
//
// Every failure is an ApiError whose `message` is a sentence for the page (the server's own
// "detail" when it sent one) and whose `status` is the HTTP status (0 when the server was unreachable).
// A read (GET) that cannot reach the server is tried again for a while first: the server may be restarting.

/** A failed request: `message` is readable, `status` the HTTP status or 0, `detail` what the server said. */
export class ApiError extends Error {
  constructor(message, status = 0, detail = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

const STATUS_WORDS = {
  400: "the request was malformed",
  404: "not found",
  413: "the file is too large",
  415: "that file is not an image the server can read",
  422: "the server could not use that input",
  500: "the server failed while working on it",
  503: "the server is busy; try again in a moment",
};

/** The server's "detail" as one sentence: a string as it is, FastAPI's validation list joined. */
function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => {
      const where = Array.isArray(item.loc) ? item.loc.filter((part) => part !== "body").join(".") : "";
      return where ? `${where}: ${item.msg}` : item.msg;
    }).join("; ");
  }
  return null;
}

/** An ApiError for a response that is not ok, reading its JSON {"detail"} when there is one. */
async function responseError(response) {
  let detail = null;
  try {
    detail = (await response.json()).detail;
  } catch {
    // not JSON: the status words below say enough
  }
  const words = detailText(detail) || STATUS_WORDS[response.status] || response.statusText || "request failed";
  return new ApiError(words, response.status, detail);
}

// a read that cannot connect is tried again after these waits (doubling), until READ_RETRY_FOR_MS have passed:
// a teacher's restart of the server takes seconds, and the page's socket reconnects in the meantime
const READ_RETRY_FIRST_MS = 250;
const READ_RETRY_MAX_MS = 2000;
const READ_RETRY_FOR_MS = 60_000;

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** fetch(), turning "could not connect" into an ApiError with status 0; a GET is tried again for a while first. */
async function request(url, options = {}) {
  const read = (options.method ?? "GET").toUpperCase() === "GET";
  const giveUpAt = performance.now() + READ_RETRY_FOR_MS;
  for (let delay = READ_RETRY_FIRST_MS; ; delay = Math.min(2 * delay, READ_RETRY_MAX_MS)) {
    try {
      return await fetch(url, options);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      if (!read || performance.now() + delay > giveUpAt) {
        throw new ApiError("cannot reach the Lamina server: is it still running?", 0);
      }
    }
    await wait(delay);
  }
}

/**
 * GET (or any method) `url` and return its parsed JSON.
 * A plain object or array `options.body` is sent as JSON; FormData and strings are sent as they are.
 */
export async function fetchJSON(url, options = {}) {
  const init = { ...options, headers: { Accept: "application/json", ...(options.headers || {}) } };
  const body = options.body;
  if (body !== undefined && body !== null && !(body instanceof FormData) && typeof body !== "string"
      && !(body instanceof Blob)) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
    init.method = init.method || "POST";
  }
  const response = await request(url, init);
  if (!response.ok) throw await responseError(response);
  return response.status === 204 ? null : response.json();
}

const cache = new Map();

/** fetchJSON for data that does not change while the page is open (models, samples, catalogue); one request each. */
export function cachedJSON(url) {
  if (!cache.has(url)) {
    const promise = fetchJSON(url);
    promise.catch(() => cache.delete(url)); // a failure is not remembered: the next call tries again
    cache.set(url, promise);
  }
  return cache.get(url);
}

/** POST a file as multipart field `file` to /api/images; resolves to {image_id, width, height, channels, format}. */
export function uploadImage(file, url = "/api/images") {
  const form = new FormData();
  form.append("file", file, file.name || "image");
  return fetchJSON(url, { method: "POST", body: form });
}

/** POST `body` as JSON and resolve to the response's Blob (e.g. a layer's .npy), with its file name. */
export async function postForBlob(url, body) {
  const response = await request(url, {
    method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
  });
  if (!response.ok) throw await responseError(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  return { blob: await response.blob(), filename: match ? match[1] : "download" };
}

/** Save a Blob as a file named `filename` through a temporary link. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
