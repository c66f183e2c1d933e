// Drawing tensors: colour scales, feature maps on <canvas>, and Plotly heatmaps, histograms and bar charts.
//
// Colour: signed data gets a diverging scale centred on zero (negative blue, zero white, positive red:
// ColorBrewer RdBu reversed); non-negative data a sequential one (Viridis). Canvas drawings and Plotly
// plots use the same stops, and every drawing comes with its scale (a colour legend or a colour bar).
//
//   const scale = scaleFor(stats.min, stats.max);          // {min, max, diverging}
//   drawMap(canvas, data, h, w, { ...scale, offset });      // one map, one pixel per value
//   const grid = featureGrid(element, { data, channels, height, width, scale, onSelect });
//   heatmap(div, data, h, w, { ...scale, offset, title });  // Plotly, with hover values
//   histogram(div, { counts, edges });  barChart(div, values, labels);  colourLegend(element, scale);

const DIVERGING_STOPS = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
  "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"];
const SEQUENTIAL_STOPS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
  "#35b779", "#6ece58", "#b5de2b", "#fde725"];
// A map whose values spread less than this (relative to 1 + their size) is flat: float32 rounding, not a pattern
// (the images and weights shown here are of order 1).
const FLAT_SPREAD = 1e-6;
const NON_FINITE_RGB = [255, 0, 255]; // magenta: NaN and +-inf stand out on both scales
const PLOTLY_CONFIG = { displayModeBar: false, responsive: true };
// plot text at the usual default font size, where the page's root type is 15 px; it grows with a reader's larger one
const FONT = { family: "system-ui, sans-serif", size: 12, color: "#1d2329" };
const PRESENTER_FONT_SIZE = 16; // presenter mode's plot text, for a projector
const USUAL_ROOT_PIXELS = 15;

/** Plotly colorscale arrays ([[fraction, colour], ...]) of the two scales. */
export const DIVERGING = DIVERGING_STOPS.map((colour, i) => [i / (DIVERGING_STOPS.length - 1), colour]);
export const SEQUENTIAL = SEQUENTIAL_STOPS.map((colour, i) => [i / (SEQUENTIAL_STOPS.length - 1), colour]);

function rgbOf(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** 256 colours packed as RGBA bytes in a Uint32Array (the byte order ImageData uses on little-endian machines). */
function lookupTable(stops) {
  const rgb = stops.map(rgbOf);
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const position = (i / 255) * (rgb.length - 1);
    const low = Math.min(Math.floor(position), rgb.length - 2);
    const t = position - low;
    const [r, g, b] = [0, 1, 2].map((k) => Math.round(rgb[low][k] + t * (rgb[low + 1][k] - rgb[low][k])));
    table[i] = (255 << 24) | (b << 16) | (g << 8) | r;
  }
  return table;
}

const TABLES = { diverging: lookupTable(DIVERGING_STOPS), sequential: lookupTable(SEQUENTIAL_STOPS) };
const NON_FINITE_PIXEL = (255 << 24) | (NON_FINITE_RGB[2] << 16) | (NON_FINITE_RGB[1] << 8) | NON_FINITE_RGB[0];

/** The colour [r, g, b] (0..255) of `value` on the scale from `min` to `max` (magenta for NaN and inf). */
export function colourFor(value, min, max, { diverging = false } = {}) {
  if (!Number.isFinite(value)) return [...NON_FINITE_RGB];
  const span = max - min;
  const step = span > 0 ? Math.min(255, Math.max(0, Math.floor(((value - min) / span) * 255))) : 0;
  const packed = (diverging ? TABLES.diverging : TABLES.sequential)[step];
  return [packed & 255, (packed >> 8) & 255, (packed >> 16) & 255];
}

/** A number as text of about four significant digits ("-" for null, "NaN", "inf"). */
export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

/**
 * The colour scale for data from `min` to `max`: diverging and symmetric about zero when the data has
 * negative values, sequential from min to max otherwise. Non-finite or missing limits give 0..1. A flat
 * map ({flat: true, value}) is drawn in the scale's first colour and its legend reads "all <value>".
 */
export function scaleFor(min, max, { diverging } = {}) {
  let low = Number.isFinite(min) ? min : 0;
  let high = Number.isFinite(max) ? max : low + 1;
  // One value, give or take float32 rounding: drawn in one colour, not stretched into stripes. Data whose
  // scale the caller chose (saliency, gates) may be tiny and real: only an exact or relative tie is flat there.
  const size = Math.max(Math.abs(low), Math.abs(high));
  if (high - low <= FLAT_SPREAD * (diverging === undefined ? 1 + size : size)) {
    const middle = (low + high) / 2;
    const value = diverging === undefined && Math.abs(middle) <= FLAT_SPREAD ? 0 : middle;
    return { min: value, max: value + (Math.abs(value) || 1), diverging: false, flat: true, value };
  }
  const signed = diverging ?? low < 0;
  if (signed) {
    const reach = Math.max(Math.abs(low), Math.abs(high)) || 1;
    return { min: -reach, max: reach, diverging: true };
  }
  if (high <= low) high = low + (Math.abs(low) || 1);
  return { min: low, max: high, diverging: false };
}

/** Smallest and largest finite value of `count` values of `data` from `offset` (min > max when none is finite). */
export function rangeOf(data, offset = 0, count = data.length - offset) {
  let min = Infinity, max = -Infinity;
  for (let i = offset; i < offset + count; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** "values from -0.5 to 2.3" for a range from rangeOf, as pictures' names and readouts say it. */
export function rangeText({ min, max }) {
  if (!(min <= max)) return "no finite values";
  return min === max ? `every value ${formatNumber(min)}` : `values from ${formatNumber(min)} to ${formatNumber(max)}`;
}

/** min, max, mean, share of zeros, non-finite count and a histogram of `count` values from `offset`. */
export function summarize(data, offset = 0, count = data.length - offset, bins = 32) {
  let min = Infinity, max = -Infinity, sum = 0, zeros = 0, finite = 0;
  for (let i = offset; i < offset + count; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    finite++;
    sum += v;
    if (v === 0) zeros++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (finite === 0) {
    return { count, min: null, max: null, mean: null, zero_fraction: 0, non_finite: count,
      histogram: { counts: [], edges: [] } };
  }
  const width = (max - min) / bins;
  const counts = new Array(bins).fill(0);
  for (let i = offset; i < offset + count; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    counts[width > 0 ? Math.min(bins - 1, Math.floor((v - min) / width)) : 0]++;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => min + i * width);
  return { count, min, max, mean: sum / finite, zero_fraction: zeros / count, non_finite: count - finite,
    histogram: width > 0 ? { counts, edges } : { counts: [finite], edges: [min, max] } };
}

// ---- canvas drawings --------------------------------------------------------------------------------

/**
 * Draw the h x w values of `data` from `offset` into `canvas`, one pixel each, coloured on the scale
 * {min, max, diverging}; NaN and +-inf in magenta. The canvas takes the size h x w (CSS scales it).
 */
export function drawMap(canvas, data, h, w, { min, max, diverging = false, offset = 0 } = {}) {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const context = canvas.getContext("2d");
  const image = context.createImageData(w, h);
  const pixels = new Uint32Array(image.data.buffer);
  const table = diverging ? TABLES.diverging : TABLES.sequential;
  const low = min, span = max - min;
  const factor = span > 0 ? 255 / span : 0;
  for (let i = 0, n = h * w; i < n; i++) {
    const v = data[offset + i];
    if (v !== v || v === Infinity || v === -Infinity) { // NaN or inf, without a function call per pixel
      pixels[i] = NON_FINITE_PIXEL;
      continue;
    }
    let step = (v - low) * factor;
    step = step < 0 ? 0 : step > 255 ? 255 : step;
    pixels[i] = table[step | 0];
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

/**
 * A 1-D vector as a strip of coloured cells, `columns` per row (wrapping long vectors such as a flattened
 * 784-vector into rows); cells past the end stay transparent.
 */
export function drawStrip(canvas, data, { min, max, diverging = false, columns = data.length } = {}) {
  const width = Math.max(1, Math.min(columns, data.length));
  const rows = Math.max(1, Math.ceil(data.length / width));
  const padded = new Float32Array(rows * width).fill(NaN);
  padded.set(data);
  drawMap(canvas, padded, rows, width, { min, max, diverging });
  // drawMap paints NaN magenta; here the padding is not data: clear it
  const context = canvas.getContext("2d");
  const rest = rows * width - data.length;
  if (rest > 0) context.clearRect(width - rest, rows - 1, rest, 1);
  return canvas;
}

/** A small bar chart of histogram counts on a canvas (no axes: the caller labels min and max). */
export function histogramSparkline(canvas, counts, { colour = "#5f6b76" } = {}) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  if (!counts || counts.length === 0) return canvas;
  const peak = Math.max(...counts) || 1;
  const barWidth = width / counts.length;
  context.fillStyle = colour;
  counts.forEach((count, i) => {
    // a square-root scale keeps small bins visible next to a spike of zeros after ReLU
    const barHeight = count > 0 ? Math.max(1, Math.sqrt(count / peak) * height) : 0;
    context.fillRect(i * barWidth, height - barHeight, Math.max(1, barWidth - 1), barHeight);
  });
  return canvas;
}

/** A CSS linear-gradient of a scale, left (min) to right (max). */
export function gradientCss(diverging) {
  const stops = diverging ? DIVERGING_STOPS : SEQUENTIAL_STOPS;
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

/** Fill `element` with a colour legend: a gradient bar with the scale's min (and 0 when diverging) and max. */
export function colourLegend(element, { min, max, diverging = false, flat = false, value }) {
  element.classList.add("colour-legend");
  element.setAttribute("role", "img");
  element.setAttribute("aria-label", flat ? `every value is ${formatNumber(value)}`
    : `colour scale from ${formatNumber(min)} to ${formatNumber(max)}`);
  element.replaceChildren();
  const bar = document.createElement("span");
  bar.className = "colour-legend-bar";
  bar.style.background = gradientCss(diverging);
  const labels = document.createElement("span");
  labels.className = "colour-legend-labels";
  const texts = flat ? [`all ${formatNumber(value)}`] : (diverging ? [min, 0, max] : [min, max]).map(formatNumber);
  texts.forEach((text, i) => {
    const label = document.createElement("span");
    label.textContent = text;
    if (texts.length === 3 && i === 1) label.className = "colour-legend-zero"; // a narrow legend may leave it out
    labels.append(label);
  });
  element.append(bar, labels);
  return element;
}

// ---- feature-map grid ---------------------------------------------------------------------------------

/** Display size in CSS pixels of the longer side of each map: smaller when there are many maps. */
function mapDisplaySize(channels) {
  return channels <= 16 ? 96 : channels <= 64 ? 64 : 40;
}

/**
 * Show every map of a feature grid at `size` CSS pixels on its longer side (only styles change: call it
 * when the space for the grid changes). Maps larger than that are smoothed, smaller ones stay crisp.
 */
export function sizeGrid(container, size) {
  const height = Number(container.dataset.mapHeight), width = Number(container.dataset.mapWidth);
  const aspect = width / height;
  container.style.setProperty("--map-width", `${aspect >= 1 ? size : Math.max(8, Math.round(size * aspect))}px`);
  container.style.setProperty("--map-height", `${aspect >= 1 ? Math.max(8, Math.round(size / aspect)) : size}px`);
  container.style.setProperty("--map-rendering", Math.max(height, width) > size ? "auto" : "pixelated");
}

/**
 * Draw `channels` maps of height x width from `data` (C*H*W values from `offset`) as a grid of buttons,
 * each holding a canvas (sized by the CSS variables --map-width, --map-height and --map-rendering that
 * sizeGrid sets; style `.feature-grid canvas` with them). The grid is one tab stop: arrow keys, Home and
 * End move between maps; Enter, Space or a click calls onSelect(channel). `scale` is one
 * {min, max, diverging} for all, or a function channel -> scale (a scale per map). Returns {element, maps, select(channel), focus(channel)}.
 */
export function featureGrid(container, { data, channels, height, width, offset = 0, scale, onSelect = () => {},
  selected = null, label = (c) => `map ${c}`, size } = {}) {
  container.classList.add("feature-grid");
  container.dataset.mapHeight = String(height);
  container.dataset.mapWidth = String(width);
  sizeGrid(container, size || mapDisplaySize(channels));
  container.setAttribute("role", "group");
  let buttons = [...container.querySelectorAll(":scope > button.map")];
  const roving = buttons.findIndex((button) => button.tabIndex === 0); // keep the tab stop where it was
  if (buttons.length !== channels) {
    buttons = Array.from({ length: channels }, (_, c) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "map";
      button.dataset.channel = String(c);
      button.append(document.createElement("canvas"));
      return button;
    });
    container.replaceChildren(...buttons);
  }
  const area = height * width;
  buttons.forEach((button, c) => {
    const canvas = button.firstChild;
    drawMap(canvas, data, height, width, { ...(typeof scale === "function" ? scale(c) : scale), offset: offset + c * area });
    button.setAttribute("aria-label", label(c));
    button.title = label(c);
    button.tabIndex = -1;
    button.setAttribute("aria-pressed", String(c === selected));
  });
  const current = [selected, roving].find((c) => c !== null && c >= 0 && c < channels) ?? 0;
  if (buttons[current]) buttons[current].tabIndex = 0;

  function focus(channel) {
    const target = buttons[Math.max(0, Math.min(channels - 1, channel))];
    if (!target) return;
    buttons.forEach((button) => { button.tabIndex = button === target ? 0 : -1; });
    target.focus();
  }

  function select(channel) {
    buttons.forEach((button, c) => button.setAttribute("aria-pressed", String(c === channel)));
  }

  container.onclick = (event) => {
    const button = event.target.closest("button.map");
    if (!button || !container.contains(button)) return;
    const channel = Number(button.dataset.channel);
    focus(channel);
    select(channel);
    onSelect(channel);
  };
  container.onkeydown = (event) => {
    const button = event.target.closest("button.map");
    if (!button) return;
    const channel = Number(button.dataset.channel);
    const perRow = buttons.filter((b) => b.offsetTop === buttons[0].offsetTop).length;
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow,
      Home: -channel, End: channels - 1 - channel };
    if (event.key in moves) {
      event.preventDefault();
      focus(channel + moves[event.key]);
    }
  };
  return { element: container, maps: buttons, select, focus };
}

// ---- Plotly plots -------------------------------------------------------------------------------------

/** Rows of `h` arrays of `w` numbers (Plotly's z), NaN and inf as null so hover shows a gap. */
function rowsOf(data, h, w, offset) {
  const rows = new Array(h);
  for (let r = 0; r < h; r++) {
    const row = new Array(w);
    for (let c = 0; c < w; c++) {
      const v = data[offset + r * w + c];
      row[c] = Number.isFinite(v) ? v : null;
    }
    rows[r] = row;
  }
  return rows;
}

/** How much larger the page's type is than at the usual default font size (1 there; 1.5 where a reader set 24 px). */
function typeScale() {
  return parseFloat(getComputedStyle(document.documentElement).fontSize) / USUAL_ROOT_PIXELS || 1;
}

/** Plot text: larger in presenter mode (presenter.js relays out the plots on screen when it changes), and in proportion
 * to the reader's default font size, read when a plot is drawn. */
export function plotFont(presenter = document.body.classList.contains("presenter")) {
  return { ...FONT, size: (presenter ? PRESENTER_FONT_SIZE : FONT.size) * typeScale() };
}

/** A plot title's text: a size above the plot's other text, in presenter mode too. */
export function titleFont(presenter = document.body.classList.contains("presenter")) {
  return { size: plotFont(presenter).size + 1 };
}

/** Plot margins {l, r, t, b} (CSS pixels at the normal font) grown with the font, so that presenter mode's larger
 * tick labels and axis titles keep clear of each other. */
export function plotMargin(margin) {
  const scale = plotFont().size / FONT.size;
  return Object.fromEntries(Object.entries(margin).map(([side, pixels]) => [side, Math.round(pixels * scale)]));
}

/** A layout's margin for the mode now, and the normal one kept in `meta` for presenter.js to rescale it. */
export function marginLayout(margin) {
  return { margin: plotMargin(margin), meta: { baseMargin: margin } };
}

/**
 * On a touch screen a finger's swipe over a plot scrolls the page, and a tap shows the value under it: Plotly's
 * default drag zooms into a box, so a swipe that starts on a plot (most of a phone's width) zoomed it instead.
 */
export function touchLayout() {
  return window.matchMedia("(pointer: coarse)").matches ? { dragmode: false } : {};
}

/** Plotly layout defaults: small margins, the page's font, transparent background. */
function baseLayout(extra = {}) {
  return { font: plotFont(), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", ...touchLayout(), ...extra,
    ...marginLayout(extra.margin ?? { l: 44, r: 12, t: extra.title ? 28 : 8, b: 36 }),
    title: extra.title ? { text: extra.title, font: titleFont(), x: 0, xanchor: "left" } : undefined };
}

/**
 * A Plotly heatmap of one h x w map (row 0 at the top) with a colour bar and hover values "row r, col c:
 * value"; `axes` names the rows and columns (axis titles and hover) otherwise. Cells are square unless
 * `square` is false (values over time and units, which are no picture, fill the plot).
 */
export function heatmap(div, data, h, w, { min, max, diverging = false, offset = 0, title = "", valueName = "value",
  axes = { rows: "row", columns: "column" }, square = true } = {}) {
  const trace = {
    type: "heatmap", z: rowsOf(data, h, w, offset), zmin: min, zmax: max,
    colorscale: diverging ? DIVERGING : SEQUENTIAL, colorbar: { thickness: 12, outlinewidth: 0 },
    hovertemplate: `${axes.rows} %{y}, ${axes.columns === "column" ? "col" : axes.columns} %{x}<br>`
      + `${valueName} %{z:.4g}<extra></extra>`, xgap: 0, ygap: 0,
  };
  const layout = baseLayout({
    title,
    xaxis: { title: { text: axes.columns }, showgrid: false, zeroline: false, ...wholeTicks(w),
      ...(square ? { constrain: "domain" } : {}) },
    yaxis: { title: { text: axes.rows }, autorange: "reversed", showgrid: false, zeroline: false, ...wholeTicks(h),
      ...(square ? { scaleanchor: "x", constrain: "domain" } : {}) },
  });
  // Plotly.react keeps the square cells' constraint of what the div held before (a 14×14 map drawn after a 28×28
  // one got an x axis to 15, 7 hidden units after 16 a y axis to 10): a new size or kind is drawn afresh. That
  // drops the div's Plotly event handlers; a caller that listens attaches them again after each draw.
  const size = `${h}x${w}`;
  if (div.data?.[0]?.type !== "heatmap" || div.dataset.heatmapSize !== size) Plotly.purge(div);
  div.dataset.heatmapSize = size;
  return Plotly.react(div, [trace], layout, PLOTLY_CONFIG);
}

/** Tick settings for an axis of `count` cells: each index on a short axis (Plotly's own steps go below 1 there). */
function wholeTicks(count) {
  return count <= 10 ? { tickmode: "linear", tick0: 0, dtick: 1 } : {};
}

/** A Plotly bar chart of histogram {counts, edges} (bars span their bins). */
export function histogram(div, { counts, edges }, { title = "", xTitle = "value", colour = "#5f6b76" } = {}) {
  const centres = counts.map((_, i) => (edges[i] + edges[i + 1]) / 2);
  const widths = counts.map((_, i) => edges[i + 1] - edges[i] || 1);
  const trace = {
    type: "bar", x: centres, y: counts, width: widths, marker: { color: colour },
    customdata: counts.map((_, i) => [edges[i], edges[i + 1]]),
    hovertemplate: "%{customdata[0]:.4g} to %{customdata[1]:.4g}: %{y} values<extra></extra>",
  };
  const layout = baseLayout({ title, bargap: 0.05, xaxis: { title: { text: xTitle }, zeroline: false },
    yaxis: { title: { text: "count" }, rangemode: "tozero" } });
  return Plotly.react(div, [trace], layout, PLOTLY_CONFIG);
}

/**
 * A Plotly bar chart of `values` named by `labels`; the `highlight` index (default: the largest) in the
 * accent colour; `range` [low, high] fixes the value axis (e.g. [0, 1] for probabilities).
 */
export function barChart(div, values, labels, { title = "", yTitle = "value", xTitle = "", highlight, range } = {}) {
  const finite = values.map((v) => (Number.isFinite(v) ? v : null));
  let top = highlight;
  if (top === undefined) top = finite.reduce((best, v, i) => (v !== null && (best < 0 || v > finite[best]) ? i : best), -1);
  const trace = {
    type: "bar", x: labels.map(String), y: finite,
    marker: { color: finite.map((_, i) => (i === top ? "#2563eb" : "#9aa5b1")) },
    hovertemplate: "%{x}: %{y:.4g}<extra></extra>",
  };
  const layout = baseLayout({ title, xaxis: { title: { text: xTitle }, type: "category" },
    yaxis: { title: { text: yTitle }, zeroline: true, ...(range ? { range, autorange: false } : {}) } });
  return Plotly.react(div, [trace], layout, PLOTLY_CONFIG);
}
