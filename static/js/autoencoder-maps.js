// Drawing for the Autoencoder view: grey pictures (input, output), their difference, and one row of
// feature maps per layer with its colour scale and a readout of the value under the pointer.

import { colourLegend, drawMap, formatNumber, gradientCss } from "./plots.js";

const MAP_GAP = 6; // CSS pixels between maps, borders included
const MAP_SIZE = { min: 24, max: 64, single: 96 }; // CSS pixels of a map's longer side
const PER_ROW = 8; // maps per row at most: 16 maps wrap into two rows of eight
const GREY_MAGENTA = [255, 0, 255]; // NaN and inf, as plots.js draws them

/** document.createElement with attributes and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

export const shapeText = (shape) => shape.join("×");

/** The per-sample shape of a layer's output as {channels, height, width} (a vector is one 1×n map). */
export function mapsOf(shape) {
  const sample = shape.slice(1);
  if (sample.length === 3) return { channels: sample[0], height: sample[1], width: sample[2] };
  if (sample.length === 2) return { channels: 1, height: sample[0], width: sample[1] };
  return { channels: 1, height: 1, width: sample.reduce((a, b) => a * b, 1) };
}

// ---- grey pictures -----------------------------------------------------------------------------------

/** Draw h x w values as grey levels, 0 black and 1 white (clipped), NaN and inf in magenta. */
export function drawGrey(canvas, data, h, w) {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const context = canvas.getContext("2d");
  const image = context.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = data[i];
    const rgb = Number.isFinite(v) ? Array(3).fill(Math.round(255 * Math.min(1, Math.max(0, v)))) : GREY_MAGENTA;
    image.data.set([...rgb, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

/** A legend for the grey pictures: black is 0, white is 1. */
export function greyLegend(element) {
  element.classList.add("colour-legend");
  element.setAttribute("role", "img");
  element.setAttribute("aria-label", "grey scale from 0 (black) to 1 (white)");
  const bar = el("span", { class: "colour-legend-bar" });
  bar.style.background = "linear-gradient(to right, #000, #fff)";
  element.replaceChildren(bar, el("span", { class: "colour-legend-labels" }, el("span", {}, "0"), el("span", {}, "1")));
}

/** The diverging legend of the difference picture, fixed from -1 to 1. */
export function differenceLegend(element) {
  colourLegend(element, { min: -1, max: 1, diverging: true });
  element.querySelector(".colour-legend-bar").style.background = gradientCss(true);
}

/** Mean squared error between two equally long arrays (over the finite pairs), and the count of pairs. */
export function meanSquaredError(a, b) {
  let sum = 0, count = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = a[i] - b[i];
    if (Number.isFinite(d)) {
      sum += d * d;
      count++;
    }
  }
  return count ? sum / count : NaN;
}

/** output - input, value by value. */
export function difference(output, input) {
  return output.map((v, i) => v - input[i]);
}

// ---- a layer's row --------------------------------------------------------------------------------------

/** The list item for one layer: a head (name, kind, shape, value range), its maps and a readout line. */
export function layerRow(info, about) {
  return el("li", { class: "ae-layer", "data-name": info.name, "data-state": "pending" },
    el("header", { class: "ae-layer-head" },
      el("h3", {}, info.name),
      el("span", { class: "ae-kind" }, info.kind),
      el("span", { class: "ae-shape", title: "output shape, batch first" }, shapeText(info.shape)),
      el("span", { class: "ae-range muted" })),
    about ? el("p", { class: "ae-layer-about muted help" }, about) : "",
    el("div", { class: "ae-layer-body" },
      el("div", { class: "ae-maps" }, el("p", { class: "muted ae-waiting" }, "waiting for this layer…")),
      el("div", { class: "ae-legend" })),
    el("p", { class: "ae-layer-readout muted", "aria-live": "off" }, "\u00a0"));
}

/** CSS pixels per map so that up to PER_ROW maps fit the row's width. */
function mapSize(width, channels) {
  if (channels === 1) return MAP_SIZE.single;
  const perRow = Math.min(channels, PER_ROW);
  const fit = Math.floor((width - MAP_GAP * perRow) / perRow);
  return Math.max(MAP_SIZE.min, Math.min(MAP_SIZE.max, fit));
}

/**
 * Draw a layer's maps into its row on `scale` ({min, max, diverging}), with the colour legend and the
 * range of values it holds now. `width` is the CSS width the maps may take.
 */
export function drawLayer(row, tensor, scale, width) {
  const { channels, height, width: columns } = mapsOf(tensor.shape);
  const container = row.querySelector(".ae-maps");
  let canvases = [...container.querySelectorAll(":scope > canvas")];
  if (canvases.length !== channels) {
    canvases = Array.from({ length: channels }, (_, c) => el("canvas", {
      role: "img", "data-channel": c, "aria-label": `map ${c} of ${channels} (${height}×${columns})`,
    }));
    container.replaceChildren(...canvases);
  }
  const area = height * columns;
  canvases.forEach((canvas, c) => drawMap(canvas, tensor.data, height, columns, { ...scale, offset: c * area }));
  sizeMaps(container, mapSize(width, channels), height, columns);
  colourLegend(row.querySelector(".ae-legend"), scale);
  let low = Infinity, high = -Infinity;
  for (const v of tensor.data) {
    if (v < low) low = v;
    if (v > high) high = v;
  }
  row.querySelector(".ae-range").textContent = `values ${formatNumber(low)} to ${formatNumber(high)}`;
  row.dataset.state = "done";
  const readout = row.querySelector(".ae-layer-readout");
  container.onmousemove = (event) => {
    const canvas = event.target.closest("canvas");
    if (!canvas) return;
    const c = Number(canvas.dataset.channel);
    const box = canvas.getBoundingClientRect();
    const x = Math.min(columns - 1, Math.floor(((event.clientX - box.left) / box.width) * columns));
    const y = Math.min(height - 1, Math.floor(((event.clientY - box.top) / box.height) * height));
    readout.textContent = `map ${c}, row ${y}, col ${x}: ${formatNumber(tensor.data[c * area + y * columns + x])}`;
  };
}

/** Size every map of a row: `size` CSS pixels on the longer side, crisp pixels when enlarged. */
export function sizeMaps(container, size, height, width) {
  const aspect = width / height;
  container.style.setProperty("--map-width", `${aspect >= 1 ? size : Math.round(size * aspect)}px`);
  container.style.setProperty("--map-height", `${aspect >= 1 ? Math.round(size / aspect) : size}px`);
}

/** Re-size a row's maps to a new width (the window was resized). */
export function resizeLayer(row, width) {
  const container = row.querySelector(".ae-maps");
  const canvases = container.querySelectorAll(":scope > canvas");
  if (!canvases.length) return;
  const { width: columns, height } = canvases[0];
  sizeMaps(container, mapSize(width, canvases.length), height, columns);
}

/** Mark a row as waiting (its maps, if any, dimmed until new ones come). */
export function markStale(row) {
  if (row.dataset.state === "done") row.dataset.state = "stale";
}
