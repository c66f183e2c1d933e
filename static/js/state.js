// One view-state object, mirrored in the URL's query string (only the values that differ from the defaults).
//
//   const state = createState({ network: "digits-cnn", sample: "digit-3", layer: null, map: null },
//                             { types: { layer: "number", map: "number" } });
//   state.get().network;                       // values parsed from the URL at start, defaults otherwise
//   state.set({ layer: 2, map: 5 });           // updates, tells subscribers, rewrites the URL (replaceState)
//                                              // within 100 ms (a burst of changes writes it once)
//   state.set({ network: "edges" }, { push: true });  // a history entry the Back button returns to
//   const stop = state.subscribe((values, changed) => ...);  // changed: Set of the keys that changed
//
// A key's type comes from its default (number, boolean, string, or an object/array stored as JSON);
// give `types` for keys whose default is null. A value that does not parse falls back to the default, and
// state.unread() lists it ({key, text, reason}) so that the page can say which part of its link it ignored.
// Back and Forward (popstate) re-read the URL and notify subscribers.

// history.replaceState costs about 10 ms in Chromium here: replacements within this many ms are written once
const URL_DELAY_MS = 100;
/** The window event sent after the URL was written (a live session's presenter passes it on: live.js). */
export const URL_WRITTEN = "lamina:url-written";

function typeOf(value) {
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  if (value !== null && typeof value === "object") return "json";
  return "string";
}

/** The text a value has in the query string. */
function serialise(value, type) {
  if (type === "json") return JSON.stringify(value);
  if (type === "boolean") return value ? "1" : "0";
  return String(value);
}

/** The value of query text `text`, or undefined when it does not parse as `type`. */
function parse(text, type) {
  if (type === "number") {
    const number = Number(text);
    return text.trim() !== "" && Number.isFinite(number) ? number : undefined;
  }
  if (type === "boolean") {
    if (["1", "true", "yes", "on"].includes(text)) return true;
    if (["0", "false", "no", "off"].includes(text)) return false;
    return undefined;
  }
  if (type === "json") {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  return text;
}

function same(a, b) {
  return a === b || (a !== null && b !== null && typeof a === "object" && typeof b === "object"
    && JSON.stringify(a) === JSON.stringify(b));
}

/** Why query text does not parse as `type`. */
const NOT_PARSED = {
  number: "not a number",
  boolean: "not one of 1, 0, true, false, yes, no, on, off",
  json: "not valid JSON",
};

// keys every page's link may hold besides its own state: ?follow=CODE joins a live session (live.js)
const SITE_KEYS = ["follow"];

/**
 * Values for every key of `defaults`, read from the query string `search`. The texts that do not parse are
 * pushed onto `unread` as {key, text, reason}, and so are keys that are not the page's (a typo); the keys of
 * texts that do not parse keep the default.
 */
export function parseQuery(search, defaults, types = {}, unread = []) {
  const params = new URLSearchParams(search);
  const values = {};
  for (const [key, fallback] of Object.entries(defaults)) {
    const text = params.get(key);
    const type = types[key] || typeOf(fallback);
    const parsed = text === null ? undefined : parse(text, type);
    if (text !== null && parsed === undefined) unread.push({ key, text, reason: NOT_PARSED[type] });
    values[key] = parsed === undefined ? fallback : parsed;
  }
  for (const [key, text] of params) {
    if (Object.hasOwn(defaults, key) || SITE_KEYS.includes(key)) continue;
    const settings = Object.keys(defaults);
    unread.push({ key, text, reason: settings.length ? `not a setting of this page; its settings are ${settings.join(", ")}`
      : "not a setting of this page, which has none" });
  }
  return values;
}

/** The query string ("?a=1&b=x", or "" when everything is at its default) of the non-default values. */
export function toQuery(values, defaults, types = {}) {
  const params = new URLSearchParams();
  for (const [key, fallback] of Object.entries(defaults)) {
    const value = values[key];
    if (value === null || value === undefined || same(value, fallback)) continue;
    params.set(key, serialise(value, types[key] || typeOf(fallback)));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A state object for `defaults`, read from and written to the page URL unless `url: false`. */
export function createState(defaults, { types = {}, url = true } = {}) {
  let unread = [];
  let values = url ? parseQuery(location.search, defaults, types, unread) : { ...defaults };
  const subscribers = new Set();

  function notify(changed) {
    if (changed.size === 0) return;
    for (const subscriber of subscribers) subscriber({ ...values }, changed);
  }

  let pending = null; // the timer of a URL replacement not yet written

  function writeUrl(push) {
    if (!url) return;
    clearTimeout(pending);
    pending = null;
    const query = toQuery(values, defaults, types);
    if (query === location.search || (query === "" && location.search === "?")) return;
    const next = `${location.pathname}${query}${location.hash}`;
    if (push) history.pushState(null, "", next);
    else history.replaceState(null, "", next);
    window.dispatchEvent(new Event(URL_WRITTEN));
  }

  /** Replace the URL soon: a burst of changes (a slider dragged, a stroke drawn) writes it once. */
  function scheduleUrl() {
    if (url && pending === null) pending = setTimeout(() => writeUrl(false), URL_DELAY_MS);
  }

  if (url) {
    window.addEventListener("pagehide", () => {
      if (pending !== null) writeUrl(false);
    });
    window.addEventListener("popstate", () => {
      clearTimeout(pending);
      pending = null;
      unread = [];
      const next = parseQuery(location.search, defaults, types, unread);
      const changed = new Set(Object.keys(defaults).filter((key) => !same(next[key], values[key])));
      values = next;
      notify(changed);
    });
  }

  return {
    defaults: { ...defaults },
    /** A copy of the current values. */
    get() {
      return { ...values };
    },
    /** What of the URL could not be read when it was last read ({key, text, reason}): values that did not parse
     * (their keys kept the default) and keys that are not the page's. */
    unread() {
      return [...unread];
    },
    /** Merge `patch` (unknown keys are refused), notify subscribers of the keys that changed, and rewrite
     * the URL: at once with `push` (a new history entry), else within URL_DELAY_MS. */
    set(patch, { push = false, silent = false } = {}) {
      const changed = new Set();
      for (const [key, value] of Object.entries(patch)) {
        if (!(key in defaults)) throw new Error(`unknown state key ${JSON.stringify(key)}`);
        if (!same(values[key], value)) changed.add(key);
      }
      values = { ...values, ...patch };
      if (push && changed.size > 0) writeUrl(true);
      else if (changed.size > 0) scheduleUrl();
      if (!silent) notify(changed);
      return changed;
    },
    /** Put every key back to its default. */
    reset(options) {
      return this.set({ ...defaults }, options);
    },
    /** Call fn(values, changedKeys) after each change; returns a function that stops it. */
    subscribe(fn) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
    /** The query string of the current values (for a share link). */
    query() {
      return toQuery(values, defaults, types);
    },
  };
}
