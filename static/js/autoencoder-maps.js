// The encoder's and the decoder's feature maps in the Autoencoder view: one row per layer with its maps,
// its colour scale and a readout of the value under the pointer, or of the pixel the arrow keys picked in the
// focused map, outlined by a marker. The keys and the marker are shared with the pictures (autoencoder-pictures.js).
//
// A row keeps its colour scale while the code is edited (the widest range it has shown since the input
// changed), so that a map that grows brighter looks brighter instead of being rescaled back.

import { element } from "./dom.js";
import { colourLegend, drawMap, formatNumber, rangeOf, rangeText, scaleFor } from "./plots.js";

const MAP_GAP = 6; // CSS pixels between maps, borders included
const MAP_SIZE = { min: 24, max: 64, single: 96 }; // CSS pixels of a map's longer side
const PER_ROW = 8; // maps per row at most: 16 maps wrap into two rows of eight
const ENCODER_KINDS = ["Conv2d", "ReLU", "MaxPool2d"];
const MARKER_MARGIN = 4; // CSS pixels a marker's overlay reaches past its host, for the rings of edge pixels
const MARKER_RINGS = ["#000", "#fff", "#000"]; // outside in, one CSS pixel each: they show on dark and light pixels

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

/** The per-sample shape of a layer's output as {channels, height, width} (a vector is one 1×n map). */
export function mapsOf(shape) {
  const sample = shape.slice(1);
  if (sample.length === 3) return { channels: sample[0], height: sample[1], width: sample[2] };
  if (sample.length === 2) return { channels: 1, height: sample[0], width: sample[1] };
  return { channels: 1, height: 1, width: sample.reduce((a, b) => a * b, 1) };
}

// ---- the pixel that the pointer or the keys read, and its marker ----------------------------------------------

/**
 * The pixel that `key` moves to from {y, x} in a picture of height x width pixels (a canvas drawn one pixel per
 * value will do): the arrow keys by one, Home and End to the row's ends, held at the edges; null for other keys.
 */
export function stepPixel({ y, x }, key, { height, width }) {
  const moves = { ArrowLeft: [y, x - 1], ArrowRight: [y, x + 1], ArrowUp: [y - 1, x], ArrowDown: [y + 1, x],
    Home: [y, 0], End: [y, width - 1] };
  if (!Object.hasOwn(moves, key)) return null;
  const [row, col] = moves[key];
  return { y: clamp(row, 0, height - 1), x: clamp(col, 0, width - 1) };
}

/** The pixel {y, x} under the pointer of a mouse `event` on a canvas drawn one pixel per value (border aside). */
export function pixelUnder(canvas, event) {
  const box = canvas.getBoundingClientRect();
  const across = (event.clientX - box.left - canvas.clientLeft) / canvas.clientWidth;
  const down = (event.clientY - box.top - canvas.clientTop) / canvas.clientHeight;
  return { y: clamp(Math.floor(down * canvas.height), 0, canvas.height - 1),
    x: clamp(Math.floor(across * canvas.width), 0, canvas.width - 1) };
}

/**
 * Outlines one pixel of canvases inside `host` (a positioned element) on an overlay canvas laid over it, at
 * screen resolution, in a dark, a light and a dark ring, so that it shows on any colour; the pixel itself and the
 * canvases' own image data are left as they are.
 */
export class PixelMarker {
  constructor(host) {
    this.host = host;
    this.overlay = element("canvas", { class: "ae-marker", "aria-hidden": "true", hidden: true });
    host.append(this.overlay);
    this.shown = null; // show()'s arguments while shown: drawn again where a new layout puts the canvases
    new ResizeObserver(() => this.shown && this.show(...this.shown)).observe(host);
  }

  /** Outline pixel {y, x} of each of `canvases` (drawn one pixel per value, scaled by CSS). */
  show(canvases, { y, x }) {
    this.shown = [canvases, { y, x }];
    const ratio = this.fit();
    const context = this.overlay.getContext("2d");
    const hostBox = this.host.getBoundingClientRect();
    const origin = { left: hostBox.left + this.host.clientLeft - MARKER_MARGIN,
      top: hostBox.top + this.host.clientTop - MARKER_MARGIN };
    for (const canvas of canvases) {
      const box = canvas.getBoundingClientRect();
      const cell = { width: canvas.clientWidth / canvas.width, height: canvas.clientHeight / canvas.height };
      outlineCell(context, ratio, {
        left: box.left + canvas.clientLeft - origin.left + x * cell.width,
        top: box.top + canvas.clientTop - origin.top + y * cell.height, ...cell });
    }
  }

  hide() {
    this.shown = null;
    this.overlay.hidden = true;
  }

  /** Size the overlay to the host (which clears it) and show it; returns device pixels per CSS pixel. */
  fit() {
    const ratio = window.devicePixelRatio || 1;
    const width = this.host.clientWidth + 2 * MARKER_MARGIN;
    const height = this.host.clientHeight + 2 * MARKER_MARGIN;
    Object.assign(this.overlay.style, { left: `${-MARKER_MARGIN}px`, top: `${-MARKER_MARGIN}px`,
      width: `${width}px`, height: `${height}px` });
    this.overlay.width = Math.round(width * ratio);
    this.overlay.height = Math.round(height * ratio);
    this.overlay.hidden = false;
    return ratio;
  }
}

/** The marker's rings around a cell {left, top, width, height} (CSS pixels), on whole device pixels. */
function outlineCell(context, ratio, { left, top, width, height }) {
  const [x0, y0, x1, y1] = [left, top, left + width, top + height].map((v) => Math.round(v * ratio));
  const line = Math.max(1, Math.round(ratio));
  MARKER_RINGS.forEach((colour, i) => {
    const out = (MARKER_RINGS.length - i) * line;
    context.fillStyle = colour;
    context.fillRect(x0 - out, y0 - out, x1 - x0 + 2 * out, y1 - y0 + 2 * out);
  });
  context.clearRect(x0, y0, x1 - x0, y1 - y0);
}

/**
 * The readout of one layer's maps: the value under the pointer, or, in the focused map, at the pixel the keys
 * moved to (one pixel for all the row's maps, so that the next map reads the same place), with the marker on the
 * map read. The row is one tab stop: Page Up and Page Down move the focus to its previous and next map.
 */
class MapReader {
  constructor(row, name) {
    this.name = name;
    this.maps = row.querySelector(".ae-maps");
    this.readout = row.querySelector(".ae-layer-readout");
    this.marker = new PixelMarker(row);
    this.tensor = null;
    this.cursor = { y: 0, x: 0 };
    this.hovered = null; // the map under the pointer
    this.maps.addEventListener("mousemove", (event) => {
      this.hovered = event.target.closest("canvas");
      if (this.hovered) this.cursor = pixelUnder(this.hovered, event); // the keys go on from here
      this.show();
    });
    this.maps.addEventListener("mouseleave", () => {
      this.hovered = null;
      this.show();
    });
    this.maps.addEventListener("focusin", (event) => {
      for (const map of this.canvases()) map.tabIndex = map === event.target ? 0 : -1; // Tab comes back to it
      this.show();
    });
    this.maps.addEventListener("focusout", () => this.show());
    this.maps.addEventListener("keydown", (event) => {
      const turn = { PageUp: -1, PageDown: 1 }[event.key];
      if (turn) {
        event.preventDefault();
        const canvases = this.canvases();
        canvases[clamp(Number(event.target.dataset.channel) + turn, 0, canvases.length - 1)].focus();
        return;
      }
      const next = stepPixel(this.cursor, event.key, event.target);
      if (!next || !this.tensor) return;
      event.preventDefault();
      this.cursor = next;
      this.hovered = null; // the keys read the focused map, wherever the pointer rests
      this.show();
    });
  }

  canvases() {
    return [...this.maps.querySelectorAll(":scope > canvas")];
  }

  /** New values for the maps: the readout and the marker follow if a map is being read. */
  update(tensor) {
    this.tensor = tensor;
    this.show();
  }

  /** The map being read: the one under the pointer, else the focused one; null when neither. */
  current() {
    const focused = document.activeElement;
    return this.hovered ?? (focused?.parentElement === this.maps ? focused : null);
  }

  /** Say the value at the cursor in the map being read and mark it; with no map being read, hide the marker. */
  show() {
    const canvas = this.current();
    if (!canvas || !this.tensor) {
      this.marker.hide();
      return;
    }
    const c = Number(canvas.dataset.channel);
    const { height, width } = canvas;
    const { y, x } = this.cursor;
    const value = this.tensor.data[(c * height + y) * width + x];
    this.readout.textContent = `${this.name}, map ${c}, row ${y}, col ${x}: ${formatNumber(value)}`;
    this.marker.show([canvas], this.cursor);
  }
}

// ---- the rows --------------------------------------------------------------------------------------------------

/** A line under a layer's name: what it does to the maps (`params` from the network's spec). */
function aboutLayer(kind, params = {}) {
  const k = params.kernel_size;
  switch (kind) {
    case "Conv2d": return `${k}×${k} convolution: signed responses (blue below zero, red above)`;
    case "ReLU": return "ReLU: negative values become 0";
    case "MaxPool2d": return `${k}×${k} max pooling: the largest value of each block, half the size`;
    case "Unflatten": return "the code through a dense layer and ReLU, folded into maps";
    case "ConvTranspose2d": return `${k}×${k} transposed convolution, stride ${params.stride ?? 1}: twice the size`;
    default: return "";
  }
}

/**
 * The rows of the encoder (layers before the code) and of the decoder (after it, up to the last layer, which
 * the pictures show). Encoder convolutions (before their ReLU) only show with showRaw(true).
 */
export class LayerRows {
  constructor(encoderList, decoderList, { codeIndex, spec }) {
    this.lists = [encoderList, decoderList];
    this.codeIndex = codeIndex;
    this.spec = spec;
    this.rows = new Map(); // layer name -> list item
    this.readers = new Map(); // layer name -> its MapReader
    this.scales = new Map(); // layer name -> {min, max} since the input changed
    this.widths = new Map(); // list -> CSS width its maps may take (read once per resize)
    this.raw = false;
    for (const list of this.lists) new ResizeObserver(() => this.resize(list)).observe(list);
  }

  /** Make the rows from a full run's plan [{index, name, kind, shape}] (once). */
  build(plan) {
    if (this.rows.size) return;
    for (const info of plan.slice(0, -1)) {
      const encoder = info.index < this.codeIndex;
      if (info.shape.length !== 4 || (encoder && !ENCODER_KINDS.includes(info.kind))) continue;
      const row = this.row(info);
      this.readers.set(info.name, new MapReader(row, info.name));
      row.dataset.raw = String(encoder && info.kind === "Conv2d");
      this.rows.set(info.name, row);
      this.lists[encoder ? 0 : 1].append(row);
    }
    this.showRaw(this.raw);
  }

  row(info) {
    const about = aboutLayer(info.kind, this.spec.layers[info.index]?.params);
    return element("li", { class: "ae-layer", "data-name": info.name, "data-state": "pending" },
      element("header", { class: "ae-layer-head" },
        element("h3", {}, info.name),
        element("span", { class: "ae-kind" }, info.kind),
        element("span", { class: "ae-shape", title: "output shape, batch first" }, info.shape.join("×"))),
      about ? element("p", { class: "ae-layer-about muted help" }, about) : "",
      element("div", { class: "ae-maps" }, element("p", { class: "muted ae-waiting" }, "waiting for this layer…")),
      element("div", { class: "ae-layer-foot" },
        element("div", { class: "ae-legend" }),
        element("span", { class: "ae-range muted" }),
        element("span", { class: "ae-layer-readout muted", "aria-live": "polite" })));
  }

  showRaw(on) {
    this.raw = on;
    for (const row of this.rows.values()) if (row.dataset.raw === "true") row.hidden = !on;
  }

  /** A new input: every row's colour scale starts afresh. */
  newInput() {
    this.scales.clear();
  }

  /** Forget the colour scales of these layers (the decoder's, when the code goes back to the encoded one). */
  forget(names) {
    for (const name of names) this.scales.delete(name);
  }

  /** Draw a layer's maps, if it has a row, on the widest range the row has shown since the input changed. */
  draw(name, tensor) {
    const row = this.rows.get(name);
    if (!row) return;
    const now = rangeOf(tensor.data);
    const seen = this.scales.get(name) ?? now;
    const range = { min: Math.min(seen.min, now.min), max: Math.max(seen.max, now.max) };
    this.scales.set(name, range);
    const { channels, height, width } = mapsOf(tensor.shape);
    const container = row.querySelector(".ae-maps");
    let canvases = [...container.querySelectorAll(":scope > canvas")];
    if (canvases.length !== channels) {
      canvases = Array.from({ length: channels }, (_, c) => element("canvas", {
        role: "application", tabindex: c ? -1 : 0, "aria-describedby": "ae-map-keys", "data-channel": c }));
      container.replaceChildren(...canvases);
    }
    const scale = scaleFor(range.min, range.max);
    const area = height * width;
    canvases.forEach((canvas, c) => {
      drawMap(canvas, tensor.data, height, width, { ...scale, offset: c * area });
      // the values the readout shows pixel by pixel (pointer or keys), in words: maps count from 0, as every
      // index here, and each says its layer, for a keyboard that tabs from one row to the next
      canvas.setAttribute("aria-label", `${name}, map ${c} of ${channels} (${height}×${width}), `
        + rangeText(rangeOf(tensor.data, c * area, area)));
    });
    this.size(row);
    colourLegend(row.querySelector(".ae-legend"), scale);
    row.querySelector(".ae-range").textContent = `values ${formatNumber(now.min)} to ${formatNumber(now.max)}`;
    row.dataset.state = "done";
    this.readers.get(name).update(tensor);
  }

  /** Size a row's maps: as large as lets up to PER_ROW of them share the list's width. */
  size(row) {
    const container = row.querySelector(".ae-maps");
    const canvases = container.querySelectorAll(":scope > canvas");
    if (!canvases.length) return;
    const list = row.parentElement;
    if (!this.widths.has(list)) this.widths.set(list, Math.max(120, list.clientWidth));
    const perRow = Math.min(canvases.length, PER_ROW);
    const fit = Math.floor((this.widths.get(list) - MAP_GAP * perRow) / perRow);
    const size = canvases.length === 1 ? MAP_SIZE.single : Math.max(MAP_SIZE.min, Math.min(MAP_SIZE.max, fit));
    const { width, height } = canvases[0];
    const aspect = width / height;
    container.style.setProperty("--map-width", `${aspect >= 1 ? size : Math.round(size * aspect)}px`);
    container.style.setProperty("--map-height", `${aspect >= 1 ? Math.round(size / aspect) : size}px`);
  }

  resize(list) {
    this.widths.delete(list);
    for (const row of list.children) this.size(row);
  }
}
