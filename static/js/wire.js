// The client of the streaming WebSocket /ws/run (docs/protocol.md).
//
//   const socket = new RunSocket({ onStatus: (status, detail) => ... });
//   const handle = socket.run({ network: "digits-cnn", input: { sample: "digit-3" }, kernels: true }, {
//     onStart(message) {},              // the plan: message.layers [{index, name, kind, shape, flops}]
//     onInput(message) {},              // message.tensor = {data: Float32Array, shape: [...]}
//     onLayer(message) {},              // one per layer, with message.tensor and message.stats
//     onKernel(message) {},             // a parameter of the layer just sent (message.param, message.tensor)
//     onExplain(message) {},
//     onDone(message) {}, onError(message) {}, onCancelled(message) {},
//   });
//   handle.cancel();  await handle.done;  // resolves to {status: "done" | "error" | "cancelled", message}
//
// The latest request wins: calling run() again cancels the run in progress (its onCancelled is called at
// once and nothing more reaches its handlers). The socket reconnects by itself and sends the run that was
// in flight again; it tries again at once when the page is shown again or the browser is back online. A
// page going into the back-forward cache closes its socket (a close() the page calls then is undone if it
// comes back), and a page coming back from it connects again and sends the run that was in flight. A
// tensor header is followed by exactly one binary frame; RunSocket joins the two and decodes the frame
// into a Float32Array.

const TENSOR_TYPES = new Set(["input", "layer", "kernel", "trace", "saliency"]);
const LAST_TYPES = new Set(["done", "error", "cancelled"]);
const HANDLER_NAMES = {
  start: "onStart", input: "onInput", layer: "onLayer", kernel: "onKernel", trace: "onTrace",
  saliency: "onSaliency", explain: "onExplain", done: "onDone", error: "onError", cancelled: "onCancelled",
};
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 4000;

/** ws://host/ws/run (or wss:// on https pages) for the page's own server. */
export function defaultSocketUrl(path = "/ws/run") {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

// ---- decoding ---------------------------------------------------------------------------------------

let halfTable = null;

/** Float32Array of all 65536 half-precision values, indexed by their bit pattern (built once, 256 kB). */
function float16Table() {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    let value;
    if (exponent === 0) value = sign * fraction * 2 ** -24; // subnormal: fraction / 1024 * 2^-14
    else if (exponent === 31) value = fraction ? NaN : sign * Infinity;
    else value = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    halfTable[bits] = value;
  }
  return halfTable;
}

function product(numbers) {
  return numbers.reduce((a, b) => a * b, 1);
}

/**
 * The Float32Array that a tensor header (encoding, shape, and for uint8 channel_axis, offsets, scales)
 * and its binary frame hold. float32 (small tensors): the values; float16: little-endian halves;
 * uint8: value = offset[c] + q * scale[c].
 */
export function decodeTensor(header, buffer) {
  const count = product(header.shape);
  if (header.encoding === "float32") { // small tensors travel exact
    if (buffer.byteLength !== count * 4) throw new Error(`float32 frame of ${buffer.byteLength} bytes for ${count} values`);
    return new Float32Array(buffer);
  }
  if (header.encoding === "float16") {
    if (buffer.byteLength !== count * 2) throw new Error(`float16 frame of ${buffer.byteLength} bytes for ${count} values`);
    const halves = new Uint16Array(buffer);
    const table = float16Table();
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = table[halves[i]];
    return out;
  }
  if (header.encoding === "uint8") {
    if (buffer.byteLength !== count) throw new Error(`uint8 frame of ${buffer.byteLength} bytes for ${count} values`);
    const codes = new Uint8Array(buffer);
    const out = new Float32Array(count);
    const axis = header.channel_axis;
    const channels = axis === null || axis === undefined ? 1 : header.shape[axis];
    const inner = axis === null || axis === undefined ? count : product(header.shape.slice(axis + 1));
    const { offsets, scales } = header;
    for (let start = 0, c = 0; start < count; start += inner, c = (c + 1) % channels) {
      const offset = offsets[c] ?? 0;
      const scale = scales[c] ?? 0;
      for (let i = start; i < start + inner; i++) out[i] = offset + codes[i] * scale;
    }
    return out;
  }
  throw new Error(`unknown tensor encoding ${JSON.stringify(header.encoding)}`);
}

// ---- encoding arrays for requests -------------------------------------------------------------------

/** Base64 of a typed array's bytes (little-endian on every browser Lamina targets). */
function base64Of(typed) {
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  let text = "";
  const chunk = 0x8000; // String.fromCharCode takes a bounded number of arguments
  for (let i = 0; i < bytes.length; i += chunk) text += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  return btoa(text);
}

/** {shape, dtype: "float32", data: base64}: how a request carries an input array or a layer's weights. */
export function encodeArray(values, shape) {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  if (data.length !== product(shape)) throw new Error(`${data.length} values do not fill shape [${shape}]`);
  return { shape: [...shape], dtype: "float32", data: base64Of(data) };
}

// ---- the socket ---------------------------------------------------------------------------------------

/** One run request in flight: its id, cancel(), and `done`, a promise of {status, message}. */
class RunHandle {
  constructor(socket, request, handlers) {
    this.socket = socket;
    this.request = request;
    this.id = request.id;
    this.handlers = handlers || {};
    this.finished = false;
    this.done = new Promise((resolve) => { this._resolve = resolve; });
  }

  cancel() {
    this.socket._cancel(this);
  }

  _deliver(message) {
    const name = HANDLER_NAMES[message.type];
    if (!name || this.finished) return;
    if (LAST_TYPES.has(message.type)) this._finish(message.type, message);
    const handler = this.handlers[name];
    if (handler) handler(message);
  }

  _finish(status, message) {
    this.finished = true;
    this._resolve({ status, message });
  }
}

/** A WebSocket to /ws/run that reconnects, joins headers with their frames, and lets the latest run win. */
export class RunSocket {
  /**
   * onStatus(status, detail): "open" (detail: the hello message), "reconnecting" (detail: why) or "closed".
   * encoding: the runs' default tensor encoding ("float16" or "uint8").
   */
  constructor({ url = defaultSocketUrl(), onStatus = () => {}, encoding = "float16" } = {}) {
    this.url = url;
    this.onStatus = onStatus;
    this.encoding = encoding;
    this.hello = null;
    this.status = "connecting";
    this.current = null; // the latest RunHandle, until it finishes
    this._sent = false; // whether `current` has been sent on the open socket
    this._pending = null; // a tensor header waiting for its binary frame
    this._nextId = 1;
    this._delay = RECONNECT_FIRST_MS;
    this._retry = null; // the timer of the next try to connect, while reconnecting
    this._closed = false;
    this._cached = false; // the page is in the back-forward cache: the socket is closed until it comes back
    this._watchPage();
    this._connect();
  }

  /** Start a run; the request gets type "run", an id and this socket's encoding unless it has them. */
  run(request, handlers) {
    if (this.current && !this.current.finished) this._supersede(this.current);
    const full = { type: "run", id: `r${this._nextId++}`, encoding: this.encoding, ...request };
    const handle = new RunHandle(this, full, handlers);
    this.current = handle;
    this._sent = false;
    this._flush();
    return handle;
  }

  /**
   * Stop the socket for good (e.g. when leaving the page). While the page goes into the back-forward cache
   * the run in flight is kept, and the socket opens again if the page comes back.
   */
  close() {
    this._closed = true;
    clearTimeout(this._retry);
    if (this.current && !this.current.finished && !this._cached) this._supersede(this.current);
    this._drop("page closed");
    this._setStatus("closed");
  }

  _setStatus(status, detail) {
    this.status = status;
    this.onStatus(status, detail);
  }

  _connect() {
    this._retry = null;
    if (this._closed || this._cached) return;
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this._pending = null;
    ws.onmessage = (event) => this._receive(event.data);
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this._sent = false;
      if (this._closed) return;
      const why = event.reason || "the connection to the server was lost";
      this._setStatus("reconnecting", why);
      this._retry = setTimeout(() => this._connect(), this._delay);
      this._delay = Math.min(this._delay * 2, RECONNECT_MAX_MS);
    };
  }

  /** Close the WebSocket without the reconnection its closing would start. */
  _drop(reason) {
    const ws = this.ws;
    this.ws = null;
    this._sent = false;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, reason);
  }

  /** While reconnecting, try now rather than at the end of the back-off (the person is back, or the network is). */
  _retryNow() {
    if (this._retry === null) return;
    clearTimeout(this._retry);
    this._delay = RECONNECT_FIRST_MS;
    this._connect();
  }

  /**
   * Follow the page's life: into the back-forward cache, the socket closes (an open one would keep the page out
   * of it, or be cut by the browser) and the run in flight waits; back from it, the socket opens again.
   * These listeners come before the page's own (it makes its socket first), so a page's close() on pagehide
   * finds the socket already put aside, and is undone if the page comes back.
   */
  _watchPage() {
    if (typeof window === "undefined") return;
    window.addEventListener("pagehide", (event) => {
      if (!event.persisted || this._closed) return;
      this._cached = true;
      clearTimeout(this._retry);
      this._retry = null;
      this._drop("page hidden");
    });
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted || !this._cached) return;
      this._cached = false;
      this._closed = false;
      this._delay = RECONNECT_FIRST_MS;
      this._connect();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this._retryNow();
    });
    window.addEventListener("online", () => this._retryNow());
  }

  _flush() {
    const handle = this.current;
    if (!handle || handle.finished || this._sent || !this.ws || this.ws.readyState !== WebSocket.OPEN || !this.hello) return;
    this.ws.send(JSON.stringify(handle.request));
    this._sent = true;
  }

  _receive(data) {
    if (typeof data !== "string") {
      const header = this._pending;
      this._pending = null;
      if (header) this._route({ ...header, tensor: { data: decodeTensor(header, data), shape: header.shape } });
      return;
    }
    const message = JSON.parse(data);
    if (message.type === "hello") {
      this.hello = message;
      this._delay = RECONNECT_FIRST_MS;
      this._setStatus("open", message);
      this._flush();
    } else if (TENSOR_TYPES.has(message.type)) {
      this._pending = message;
    } else {
      this._route(message);
    }
  }

  /** Hand a message to the run it belongs to; an error without an id goes to the current run. */
  _route(message) {
    const handle = this.current;
    if (!handle) return;
    const mine = message.id === handle.id || (message.type === "error" && (message.id === null || message.id === undefined));
    if (!mine) return; // a message of a run that was superseded
    handle._deliver(message);
    if (handle.finished && this.current === handle) this.current = null;
  }

  _cancel(handle) {
    if (handle.finished) return;
    if (this._sent && this.current === handle && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "cancel", id: handle.id }));
    }
    this._supersede(handle);
  }

  /** Finish `handle` as cancelled on this side at once; whatever the server still sends for it is dropped. */
  _supersede(handle) {
    if (this.current === handle) this.current = null;
    handle._deliver({ type: "cancelled", id: handle.id });
  }
}
