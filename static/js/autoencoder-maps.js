// The encoder's and the decoder's feature maps in the Autoencoder view: one row per layer with its maps,
// its colour scale and a readout of the value under the pointer, or of the pixel the arrow keys picked in the
// focused map, outlined by a marker (pixel-reader.js).
//
// A row keeps its colour scale while the code is edited (the widest range it has shown since the input
// changed), so that a map that grows brighter looks brighter instead of being rescaled back.

import { element } from "./dom.js";
import { PixelReader } from "./pixel-reader.js";
import { colourLegend, drawMap, formatNumber, rangeOf, rangeText, scaleFor } from "./plots.js";

const MAP_GAP = 6; // CSS pixels between maps, borders included
const MAP_SIZE = { min: 24, max: 64, single: 96 }; // CSS pixels of a map's longer side
const PER_ROW = 8; // maps per row at most: 16 maps wrap into two rows of eight
const ENCODER_KINDS = ["Conv2d", "ReLU", "MaxPool2d"];

/** The per-sample shape of a layer's output as {channels, height, width} (a vector is one 1×n map). */
export function mapsOf(shape) {
  const sample = shape.slice(1);
  if (sample.length === 3) return { channels: sample[0], height: sample[1], width: sample[2] };
  if (sample.length === 2) return { channels: 1, height: sample[0], width: sample[1] };
  return { channels: 1, height: 1, width: sample.reduce((a, b) => a * b, 1) };
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
    this.readers = new Map(); // layer name -> its PixelReader
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
      this.readers.set(info.name, new PixelReader(row, { maps: row.querySelector(".ae-maps"),
        readout: row.querySelector(".ae-layer-readout"),
        describe: (c, y, x, value) => `${info.name}, map ${c}, row ${y}, col ${x}: ${formatNumber(value)}` }));
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
