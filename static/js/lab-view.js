// The Layer lab's pictures: the input (with its padding), the output maps, and the highlights that
// tie an output cell to the input window it read. Images are canvases, one pixel per value, scaled up by
// CSS; highlights live on an overlay canvas at screen resolution. Sequences and vectors are Plotly plots.

import { counted, element } from "./dom.js";
import {
  barChart, colourLegend, drawMap, drawStrip, formatNumber, heatmap, marginLayout, plotFont, scaleFor, touchLayout,
} from "./plots.js";

const VIEW_SIZE = 272; // CSS pixels of the longer side of the input and of a single output map
const GRID_GAP = 6;
const MIN_COLUMN = 64; // CSS pixels: a map's name and its legend's two numbers fit
const MAP_CAPTION = 44; // CSS pixels about a map's name and legend take, besides the map (more in presenter mode)
const MAPS_SCREEN_SHARE = 0.6; // the output maps grow with the panel's width up to this share of the window's height
const UNREVEALED = "#e4e7eb"; // output cells the step player has not reached yet
const WINDOW_FILL = "rgba(255, 196, 0, 0.35)";
const WINDOW_LINE = "#ffb000";
const CELL_LINE = "#111";

/** CSS [width, height] of an h x w picture fitted into a box of `box` pixels. */
function fit(h, w, box) {
  const scale = box / Math.max(h, w);
  return [Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale))];
}

/** A canvas for the data and an overlay canvas for highlights, stacked in a box of CSS size width x height. */
class Layered {
  constructor(className) {
    this.data = element("canvas", { class: "lab-data" });
    this.overlay = element("canvas", { class: "lab-overlay", "aria-hidden": "true" });
    this.box = element("div", { class: `lab-layered ${className}` }, this.data, this.overlay);
  }

  size(width, height, pixelated) {
    this.data.style.imageRendering = pixelated ? "pixelated" : "auto";
    if (width === this.width && height === this.height) return;
    this.width = width;
    this.height = height;
    this.box.style.width = `${width}px`;
    this.box.style.height = `${height}px`;
    const ratio = window.devicePixelRatio || 1;
    this.overlay.width = Math.round(width * ratio);
    this.overlay.height = Math.round(height * ratio);
  }

  clearOverlay() {
    const context = this.overlay.getContext("2d");
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, this.overlay.width, this.overlay.height);
    const ratio = this.overlay.width / this.width;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return context;
  }
}

/** strokeRect kept inside `layers` (CSS pixels), so that a cell on a map's edge keeps its whole outline. */
function strokeInside(context, layers, x, y, width, height) {
  const half = context.lineWidth / 2;
  const [left, top] = [Math.max(x, half), Math.max(y, half)];
  const right = Math.min(x + width, layers.width - half);
  const bottom = Math.min(y + height, layers.height - half);
  context.strokeRect(left, top, right - left, bottom - top);
}

// ---- the input --------------------------------------------------------------------------------------

/** The input picture: gray or RGB, framed by its padding; highlight(cells) marks a window. */
export class InputView {
  constructor(container, legend) {
    this.container = container;
    this.legend = legend;
    this.layers = new Layered("lab-input-image");
    this.plot = element("div", { class: "lab-plot" });
  }

  /**
   * tensor {data, shape: [1, C, H, W]}; range [low, high] of the picture's values; padding [ph, pw] and
   * paddingMode (Conv2d's: zeros, reflect, replicate or circular) decide what the frame shows.
   */
  showImage(tensor, { range = [0, 1], padding = [0, 0], paddingMode = "zeros" } = {}) {
    const [, channels, h, w] = tensor.shape;
    const [ph, pw] = padding;
    this.geometry = { h, w, ph, pw };
    const fullH = h + 2 * ph;
    const fullW = w + 2 * pw;
    const [width, height] = fit(fullH, fullW, VIEW_SIZE);
    this.layers.size(width, height, width >= fullW);
    drawPicture(this.layers.data, tensor.data, channels, h, w, range, padding, paddingMode);
    this.layers.box.setAttribute("role", "img");
    this.layers.box.setAttribute("aria-label", `input picture: ${h} by ${w}, ${channels === 3 ? "colour" : "gray"}`
      + (ph || pw ? `, framed by ${ph === pw ? ph : `${ph} and ${pw}`} cells of ${paddingMode} padding` : ""));
    this.container.replaceChildren(this.layers.box);
    this.legend.hidden = false;
    grayLegend(this.legend, range, channels === 3);
    this.highlight(null);
  }

  /** Values over time: a line for one feature, otherwise a heatmap (time down, features across). */
  showSequence(tensor) {
    const [, steps, features] = tensor.shape;
    this.geometry = null;
    this.container.replaceChildren(this.plot);
    this.legend.hidden = true;
    if (features === 1) {
      Plotly.react(this.plot, [{ type: "scatter", mode: "lines+markers", y: Array.from(tensor.data),
        marker: { size: 4 }, line: { color: "#2563eb" }, hovertemplate: "step %{x}: %{y:.3f}<extra></extra>" }],
      { ...marginLayout({ l: 40, r: 8, t: 8, b: 36 }), ...touchLayout(), font: plotFont(), xaxis: { title: { text: "time step" } },
        yaxis: { title: { text: "x" } }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)" },
      { displayModeBar: false, responsive: true });
      return;
    }
    const scale = scaleFor(...extent(tensor.data));
    heatmap(this.plot, tensor.data, steps, features, { ...scale, valueName: "x",
      axes: { rows: "time step", columns: "feature" } });
  }

  /** Mark input cells: a list of [row, col] (image coordinates, padding rows negative), or null. */
  highlight(cells) {
    const context = this.layers.clearOverlay();
    this.container.dataset.window = "";
    if (!this.geometry) return;
    const { h, w, ph, pw } = this.geometry;
    const cellW = this.layers.width / (w + 2 * pw);
    const cellH = this.layers.height / (h + 2 * ph);
    if (ph || pw) {
      context.setLineDash([4, 3]);
      context.strokeStyle = "#5f6b76";
      context.strokeRect(pw * cellW, ph * cellH, w * cellW, h * cellH);
      context.setLineDash([]);
    }
    if (!cells || !cells.length) return;
    context.fillStyle = WINDOW_FILL;
    for (const [r, c] of cells) context.fillRect((c + pw) * cellW, (r + ph) * cellH, cellW, cellH);
    const rows = cells.map(([r]) => r);
    const cols = cells.map(([, c]) => c);
    const [top, left] = [Math.min(...rows), Math.min(...cols)];
    const [bottom, right] = [Math.max(...rows) + 1, Math.max(...cols) + 1];
    context.strokeStyle = WINDOW_LINE;
    context.lineWidth = 2;
    context.strokeRect((left + pw) * cellW, (top + ph) * cellH, (right - left) * cellW, (bottom - top) * cellH);
    this.container.dataset.window = `${top},${left}`;
  }
}

/**
 * The input index a padded cell copies: i counts from the input's first cell (negative in the padding
 * before it); -1 for zeros. The rules of the engine's `pad` (torch.nn.functional.pad).
 */
function paddingSource(i, size, mode) {
  if (i >= 0 && i < size) return i;
  let source = -1;
  if (mode === "reflect") source = i < 0 ? -i : 2 * (size - 1) - i;
  else if (mode === "replicate") source = i < 0 ? 0 : size - 1;
  else if (mode === "circular") source = ((i % size) + size) % size;
  // a padding wider than the mode allows (the server refuses it) shows as zeros until the error arrives
  return source >= 0 && source < size ? source : -1;
}

/** Gray (or RGB for 3 channels) pixels for values in `range`, the padding filled as `mode` fills it. */
function drawPicture(canvas, data, channels, h, w, [low, high], [ph, pw], mode) {
  const fullW = w + 2 * pw;
  const fullH = h + 2 * ph;
  canvas.width = fullW;
  canvas.height = fullH;
  const context = canvas.getContext("2d");
  const image = context.createImageData(fullW, fullH);
  const pixels = new Uint32Array(image.data.buffer); // RGBA bytes of one pixel, little-endian
  const factor = 255 / (high - low);
  const level = (v) => (v !== v ? 0 : v <= low ? 0 : v >= high ? 255 : ((v - low) * factor + 0.5) | 0);
  const zero = level(0);
  const area = h * w;
  const [red, green, blue] = channels === 3 ? [0, area, 2 * area] : [0, 0, 0];
  for (let r = 0; r < fullH; r++) {
    const row = paddingSource(r - ph, h, mode);
    for (let c = 0; c < fullW; c++) {
      const col = paddingSource(c - pw, w, mode);
      const at = row * w + col;
      pixels[r * fullW + c] = row < 0 || col < 0 ? (255 << 24) | (zero << 16) | (zero << 8) | zero
        : (255 << 24) | (level(data[blue + at]) << 16) | (level(data[green + at]) << 8) | level(data[red + at]);
    }
  }
  context.putImageData(image, 0, 0);
}

/** The input's scale: black to white, or for RGB one bar per channel (black to red, green, blue). */
function grayLegend(legend, [low, high], rgb) {
  legend.className = "lab-legend colour-legend";
  legend.setAttribute("role", "img");
  legend.setAttribute("aria-label", `${rgb ? "each colour channel" : "gray"} from ${low} (dark) to ${high} (bright)`);
  const bars = (rgb ? ["#f00", "#0f0", "#00f"] : ["#fff"]).map((colour) => element("span",
    { class: `colour-legend-bar${rgb ? " lab-rgb-bar" : ""}`, style: `background: linear-gradient(to right, #000, ${colour})` }));
  legend.replaceChildren(...bars, element("span", { class: "colour-legend-labels" },
    element("span", {}, formatNumber(low)), element("span", {}, formatNumber(high))));
}

function extent(data) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

// ---- the output -------------------------------------------------------------------------------------

/**
 * The output: one map per channel (each with its own colour legend) for images, a heatmap over time
 * for sequences, bars or a strip for vectors. onHover(index) gets the output index without the batch
 * axis ([c, i, j], [t, f] or [j]); the last cell stays highlighted when the pointer leaves.
 */
export class OutputView {
  constructor(container, { onHover }) {
    this.container = container;
    this.onHover = onHover;
    this.maps = [];
    this.plot = element("div", { class: "lab-plot" });
    this.cursor = null;
    // maps grow and shrink with the panel (a wider window, presenter mode, the layout below 1280 pixels)
    new ResizeObserver(() => {
      if (this.mode !== "maps" || this.container.clientWidth === this.laidOutWidth) return;
      this.showMaps(this.tensor, this.extents);
    }).observe(container);
    // sequences and vectors: the whole output takes the focus and the arrow keys (maps take them one by one)
    container.addEventListener("keydown", (event) => {
      if (event.target === container && this.mode !== "maps") this.keyedPlot(event);
    });
  }

  /** The output box as one keyboard stop (sequences, vectors), or not (maps have their own). */
  focusable(label) {
    if (!label) {
      for (const name of ["tabindex", "role", "aria-roledescription", "aria-label"]) {
        this.container.removeAttribute(name);
      }
      return;
    }
    this.container.setAttribute("tabindex", "0");
    this.container.setAttribute("role", "application");
    this.container.setAttribute("aria-roledescription", "output");
    this.container.setAttribute("aria-label", `${label}; arrow keys pick a value to explain`);
  }

  /** Arrow keys over a sequence ([t, f]: left and right in time, up and down in units) or a vector ([j]). */
  keyedPlot(event) {
    const [, first, second] = this.tensor.shape;
    const sizes = this.mode === "sequence" ? [first, second] : [first];
    const rowLength = this.mode === "vector" ? (this.columns ?? 1) : 1;
    const moves = this.mode === "sequence"
      ? { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }
      : { ArrowLeft: [-1], ArrowRight: [1], ArrowUp: [-rowLength], ArrowDown: [rowLength] };
    if (event.key === "Home" || event.key === "End") {
      moves[event.key] = sizes.map((n) => (event.key === "Home" ? -n : n));
    }
    if (!(event.key in moves)) return;
    event.preventDefault();
    const fresh = this.cursor?.length !== sizes.length; // then an arrow picks the first value
    const start = fresh ? sizes.map(() => 0) : this.cursor;
    const move = fresh && event.key.startsWith("Arrow") ? sizes.map(() => 0) : moves[event.key];
    this.onHover(start.map((v, a) => Math.max(0, Math.min(sizes[a] - 1, v + move[a]))));
  }

  /**
   * tensor {data, shape: [1, C, H, W]}: one map per channel, each on its own colour scale. extents:
   * [min, max] per channel when known (a uint8 frame's offsets and scales say them), else found here.
   */
  showMaps(tensor, extents = null) {
    const [, channels, h, w] = tensor.shape;
    this.tensor = tensor;
    this.extents = extents;
    this.mode = "maps";
    this.focusable(null);
    const columns = Math.ceil(Math.sqrt(channels));
    const box = this.mapBox(channels, columns);
    const [width, height] = fit(h, w, box);
    this.laidOutWidth = this.container.clientWidth;
    if (this.maps.length !== channels || this.container.firstChild !== this.grid) this.buildMaps(channels);
    // a column is MIN_COLUMN wide at least, or the whole box where that is narrower: room for its name and legend
    // (Unflatten can make maps one pixel wide)
    this.grid.style.gridTemplateColumns = `repeat(${columns}, ${Math.max(width, Math.min(box, MIN_COLUMN))}px)`;
    const area = h * w;
    this.scales = [];
    this.maps.forEach((map, c) => {
      map.layers.size(width, height, width >= w);
      const scale = scaleFor(...(extents?.[c] ?? extent(tensor.data.subarray(c * area, (c + 1) * area))));
      this.scales.push(scale);
      colourLegend(map.legend, scale);
      map.box.setAttribute("aria-label", `output channel ${c}: ${h} by ${w} values from ${formatNumber(scale.min)} `
        + `to ${formatNumber(scale.max)}; arrow keys move the highlighted cell`);
    });
    this.reveal(this.revealed ?? null); // draws the maps
    this.highlight(this.cursor);
  }

  /**
   * CSS pixels of the box each of `channels` maps in `columns` columns is fitted into: as wide as the panel lets
   * them be, within MAPS_SCREEN_SHARE of the window's height, and never smaller than a 312-pixel square shared
   * unless the panel itself is narrower (a phone, or 400% zoom), where they fit its width.
   */
  mapBox(channels, columns) {
    const rows = Math.ceil(channels / columns);
    const least = channels === 1 ? VIEW_SIZE : Math.floor((VIEW_SIZE + 40 - GRID_GAP * (columns - 1)) / columns);
    const across = Math.floor((this.container.clientWidth - GRID_GAP * (columns - 1)) / columns);
    const down = Math.floor((innerHeight * MAPS_SCREEN_SHARE - rows * MAP_CAPTION) / rows);
    return Math.max(Math.min(least, across), Math.min(across, down));
  }

  buildMaps(channels) {
    this.grid = element("div", { class: "lab-maps" });
    this.maps = Array.from({ length: channels }, (_, c) => {
      const layers = new Layered("lab-output-map");
      const legend = element("div", { class: "lab-map-legend" });
      // an application: screen readers hand it the arrow keys, which move the explained cell
      const box = element("div", { class: "lab-map", tabindex: "0", role: "application",
        "aria-roledescription": "output map", "data-channel": c },
        element("span", { class: "lab-map-name muted" }, channels > 1 ? `channel ${c}` : ""), layers.box, legend);
      // pointerdown too: a tap on a touch screen moves no pointer
      for (const type of ["pointermove", "pointerdown"]) {
        layers.box.addEventListener(type, (event) => this.pointed(c, layers, event));
      }
      box.addEventListener("keydown", (event) => this.keyed(c, event));
      return { layers, legend, box };
    });
    this.grid.append(...this.maps.map((m) => m.box));
    this.container.replaceChildren(this.grid);
  }

  pointed(c, layers, event) {
    const [, , h, w] = this.tensor.shape;
    const bounds = layers.box.getBoundingClientRect();
    const i = Math.floor(((event.clientY - bounds.top) / bounds.height) * h);
    const j = Math.floor(((event.clientX - bounds.left) / bounds.width) * w);
    if (i < 0 || j < 0 || i >= h || j >= w) return;
    this.onHover([c, i, j]);
  }

  keyed(c, event) {
    const [, , h, w] = this.tensor.shape;
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const [di, dj] = moves[event.key];
    const [cc, i, j] = this.cursor && this.cursor[0] === c ? this.cursor : [c, -di, -dj];
    this.onHover([cc, Math.max(0, Math.min(h - 1, i + di)), Math.max(0, Math.min(w - 1, j + dj))]);
  }

  /** Outline output cell [c, i, j] (null: none). */
  highlight(index) {
    this.cursor = index;
    if (this.mode !== "maps") return;
    const [, , h, w] = this.tensor.shape;
    this.maps.forEach((map, c) => {
      const context = map.layers.clearOverlay();
      if (!index || index[0] !== c) return;
      const cellW = map.layers.width / w;
      const cellH = map.layers.height / h;
      const [, i, j] = index;
      const [x, y, width, height] = [j * cellW, i * cellH, Math.max(cellW, 2), Math.max(cellH, 2)];
      context.lineWidth = 2;
      context.strokeStyle = CELL_LINE;
      strokeInside(context, map.layers, x - 1, y - 1, width + 2, height + 2);
      context.strokeStyle = "#fff";
      context.lineWidth = 1;
      strokeInside(context, map.layers, x - 2.5, y - 2.5, width + 5, height + 5);
    });
  }

  /** Show only the first `count` cells of every map, the way the step player computes them (null: all). */
  reveal(count) {
    this.revealed = count;
    if (this.mode !== "maps") return;
    const [, , h, w] = this.tensor.shape;
    const area = h * w;
    this.maps.forEach((map, c) => {
      drawMap(map.layers.data, this.tensor.data, h, w, { ...this.scales[c], offset: c * area });
      if (count === null) return;
      const context = map.layers.data.getContext("2d");
      context.fillStyle = UNREVEALED;
      const row = Math.floor(count / w);
      context.fillRect(count % w, row, w - (count % w), 1);
      context.fillRect(0, row + 1, w, h - row - 1);
    });
  }

  /** tensor {data, shape: [1, T, F]}: a heatmap with time across and features down. */
  showSequence(tensor, { featureName = "feature" } = {}) {
    const [, steps, features] = tensor.shape;
    this.mode = "sequence";
    this.tensor = tensor;
    const [low, high] = extent(tensor.data);
    this.focusable(`output over time: ${counted(steps, "step")} of ${counted(features, "value")} from `
      + `${formatNumber(low)} to ${formatNumber(high)}`);
    const across = new Float32Array(steps * features);
    for (let t = 0; t < steps; t++) {
      for (let f = 0; f < features; f++) across[f * steps + t] = tensor.data[t * features + f];
    }
    this.container.replaceChildren(this.plot);
    this.plotIndex = ({ x, y }) => [x, y];
    heatmap(this.plot, across, features, steps, { ...scaleFor(...extent(tensor.data)), valueName: "output",
      axes: { rows: featureName, columns: "time step" }, square: false }).then(() => this.hookPlot());
  }

  /** tensor {data, shape: [1, N]}: bars for a few values, a strip of colours wrapped at `columns` for many. */
  showVector(tensor, { columns } = {}) {
    const count = tensor.shape[1];
    this.mode = "vector";
    this.tensor = tensor;
    const [low, high] = extent(tensor.data);
    this.focusable(`output: ${count} values from ${formatNumber(low)} to ${formatNumber(high)}`);
    this.columns = 1;
    if (count <= 64) {
      this.container.replaceChildren(this.plot);
      this.plotIndex = ({ x }) => [Number(x)];
      barChart(this.plot, Array.from(tensor.data), Array.from({ length: count }, (_, j) => j),
        { xTitle: "output index", yTitle: "value" }).then(() => this.hookPlot());
      return;
    }
    const canvas = element("canvas", { class: "lab-strip" });
    const scale = scaleFor(low, high);
    const wrap = columns || Math.ceil(Math.sqrt(count));
    this.columns = wrap;
    drawStrip(canvas, tensor.data, { ...scale, columns: wrap });
    const pointed = (event) => {
      const bounds = canvas.getBoundingClientRect();
      const row = Math.floor(((event.clientY - bounds.top) / bounds.height) * Math.ceil(count / wrap));
      const j = row * wrap + Math.floor(((event.clientX - bounds.left) / bounds.width) * wrap);
      if (j >= 0 && j < count) this.onHover([j]);
    };
    canvas.addEventListener("pointermove", pointed);
    canvas.addEventListener("pointerdown", pointed); // a tap on a touch screen
    const legend = element("div", { class: "lab-map-legend" });
    colourLegend(legend, scale);
    this.container.replaceChildren(canvas, legend,
      element("p", { class: "muted lab-strip-note" }, `${count} values in a row, drawn ${wrap} per line`));
  }

  /**
   * Listen to Plotly's hover and click events, again after each draw (a heatmap of a new size is drawn
   * afresh, without them); this.plotIndex turns a hovered point into an output index.
   */
  hookPlot() {
    for (const type of ["plotly_hover", "plotly_click"]) { // click: a tap on a touch screen
      this.plot.removeAllListeners(type);
      this.plot.on(type, (event) => {
        const point = event.points?.[0];
        if (point) this.onHover(this.plotIndex(point));
      });
    }
  }

  /** The element whose data-draws attribute counts the outputs drawn. */
  get element() {
    return this.container;
  }
}
