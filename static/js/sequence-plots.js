// Plotly plots of the Sequence view, all with time (the step t) on one axis, and the highlight of the
// scrubbed step. Tensors arrive as (1, T, K) Float32Arrays in C order: value (t, k) is data[t * K + k].
//
//   timeHeatmap(div, data, steps, size, {scale, title, rowName, valueName})  steps across, K rows down
//   digitHeatmap(div, data, steps, size)   a digit read row by row: rows (the steps) down, pixels across
//   textHeatmap(div, data, characters, symbols)  a one-hot text: steps across (its characters under them),
//                                          one row per symbol
//   lines(div, traces, {title, yTitle})    line plots over the steps
//   markStep(div, step)                    outline step `step` in a plot drawn by one of these
//   onStepClick(div, onStep)               a click on a plot picks the step under the pointer
//   onStepKeys(div, onStep)                the keys read the plot's values (a line under it); Enter picks the step
//
// Each plot function also sets div.describeCell(row, column, value): the hover label's words for a cell (a line
// plot's rows are its lines), as the keys' readout says them. A name's subscript t (h<sub>t</sub>) is said with
// the step's number (h<sub>12</sub>), as the "At step" card names the values.

import { readHeatmapWithKeys } from "./heatmap-reader.js";
import { DIVERGING, formatNumber, marginLayout, plotFont, SEQUENTIAL, titleFont, touchLayout } from "./plots.js";

const CONFIG = { displayModeBar: false, responsive: true };
const GAP = 0.5; // a step's cell spans t - 0.5 .. t + 0.5
export const COLOURS = { input: "#5f6b76", prediction: "#2563eb", actual: "#d97706" };

/** A name with its subscript t at step `t` (a number, or Plotly's "%{x}"): "h<sub>t</sub>" as "h<sub>12</sub>". */
const atStep = (name, t) => name.replaceAll("<sub>t</sub>", `<sub>${t}</sub>`);

/** Text with subscripts written "h<sub>12</sub>" (as Plotly writes them) as nodes: text, and <sub> elements. */
export function subscripted(text) {
  const fragment = document.createDocumentFragment();
  text.split(/<sub>(.*?)<\/sub>/).forEach((part, i) => {
    if (i % 2 === 0) fragment.append(part);
    else fragment.append(Object.assign(document.createElement("sub"), { textContent: part }));
  });
  return fragment;
}

/** A plot's layout; the axes' margins grow to fit their tick labels and titles (automargin), so that presenter
 * mode's larger type keeps them apart. */
function layout({ title = "", xTitle = "step t", yTitle = "", extra = {} } = {}) {
  const xaxis = extra.xaxis ?? { title: { text: xTitle, standoff: 4 }, showgrid: false, zeroline: false };
  const yaxis = extra.yaxis ?? { title: { text: yTitle, standoff: 4 }, showgrid: false, zeroline: false };
  return {
    font: plotFont(), paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", ...touchLayout(),
    title: title ? { text: title, font: titleFont(), x: 0, xanchor: "left" } : undefined,
    ...extra,
    xaxis: { automargin: true, ...xaxis },
    yaxis: { automargin: true, ...yaxis },
    ...marginLayout(extra.margin ?? { l: 48, r: 8, t: title ? 26 : 8, b: 36 }),
  };
}

/** The colour settings of a Plotly heatmap for a scale {min, max, diverging}. */
function colours({ min, max, diverging }, colourbar) {
  return { zmin: min, zmax: max, colorscale: diverging ? DIVERGING : SEQUENTIAL,
    colorbar: { thickness: 10, outlinewidth: 0, len: 1, ...colourbar } };
}

/** z[k][t] = data[t * size + k]: steps across, one row per unit (NaN and inf as gaps). */
function byUnit(data, steps, size) {
  return Array.from({ length: size }, (_, k) => Array.from({ length: steps }, (_, t) => {
    const v = data[t * size + k];
    return Number.isFinite(v) ? v : null;
  }));
}

/** z[t][k] = data[t * size + k]: one row per step. */
function byStep(data, steps, size) {
  return Array.from({ length: steps }, (_, t) => Array.from(data.subarray(t * size, (t + 1) * size),
    (v) => (Number.isFinite(v) ? v : null)));
}

/**
 * A heatmap of a (1, T, K) tensor with the steps across and K rows (units, gates, classes) down, row 0 at
 * the top; hover "step t, <rowName> k: <valueName> v".
 */
export function timeHeatmap(div, data, steps, size, { scale, title = "", rowName = "unit", valueName = "value",
  rowLabels = null, step = null, compact = false }) {
  const trace = {
    type: "heatmap", z: byUnit(data, steps, size), ...colours(scale, compact ? { thickness: 8 } : {}),
    hovertemplate: `step %{x}, ${rowName} %{y}<br>${atStep(valueName, "%{x}")} %{z:.4g}<extra></extra>`,
    ...(rowLabels ? { y: rowLabels } : {}),
  };
  const extra = {
    yaxis: { title: { text: rowName, standoff: 4 }, autorange: "reversed", showgrid: false, zeroline: false,
      ...(rowLabels ? { type: "category", dtick: 1 } : { tickformat: "d", dtick: size < 10 ? 1 : undefined }) },
    shapes: stepShapes(step, "x"),
  };
  if (compact) {
    extra.margin = { l: 34, r: 4, t: title ? 24 : 4, b: 38 };
    extra.xaxis = { title: { text: "step t", standoff: 4 }, showgrid: false, zeroline: false };
  }
  div.describeCell = (k, t, value) =>
    `step ${t}, ${rowName} ${rowLabels?.[k] ?? k}: ${atStep(valueName, t)} ${formatNumber(value)}`;
  div.dataset.axis = "x";
  div.setAttribute("aria-roledescription", "heatmap");
  return Plotly.react(div, [trace], layout({ title, extra }), CONFIG);
}

/** A digit read row by row: rows (the steps) down, pixels across, as the picture itself. */
export function digitHeatmap(div, data, steps, size, { scale, step = null }) {
  const trace = {
    type: "heatmap", z: byStep(data, steps, size), ...colours(scale),
    hovertemplate: "step (row) %{y}, pixel %{x}<br>value %{z:.4g}<extra></extra>",
  };
  const extra = {
    xaxis: { title: { text: "pixel in the row", standoff: 4 }, showgrid: false, zeroline: false, constrain: "domain" },
    yaxis: { title: { text: "step t (row)", standoff: 4 }, autorange: "reversed", scaleanchor: "x", constrain: "domain",
      showgrid: false, zeroline: false },
    shapes: stepShapes(step, "y", size),
  };
  div.describeCell = (t, pixel, value) => `step ${t}, pixel ${pixel} of the row: value ${formatNumber(value)}`;
  div.dataset.axis = "y";
  div.dataset.width = String(size);
  div.setAttribute("aria-roledescription", "heatmap");
  return Plotly.react(div, [trace], layout({ extra }), CONFIG);
}

/** A symbol as a label: a space as "␣", so that it can be seen. */
const visible = (symbol) => (symbol === " " ? "␣" : symbol);
/** A character as a sentence names it: “h”, or "a space". */
export const named = (character) => (character === " " ? "a space" : `“${character}”`);
const MONO = "ui-monospace, 'DejaVu Sans Mono', monospace";
const MAX_CHARACTER_TICKS = 64; // longer texts get numbered steps on the axis (their characters in the hover)

/**
 * A text read one character per step, each step one-hot over `symbols` (data: T × symbols.length values):
 * steps across with the character read under each one, one row per symbol (labelled) down.
 */
export function textHeatmap(div, data, characters, symbols, { scale, step = null }) {
  const steps = characters.length;
  const labelled = steps <= MAX_CHARACTER_TICKS;
  const trace = {
    type: "heatmap", z: byUnit(data, steps, symbols.length), y: [...symbols].map(visible), ...colours(scale),
    customdata: [...symbols].map(() => characters.map((character, t) => [t, named(character)])),
    xgap: labelled ? 1 : 0, ygap: 1,
    hovertemplate: "step %{customdata[0]} reads %{customdata[1]}<br>row %{y}: %{z}<extra></extra>",
  };
  const ticks = labelled ? { tickmode: "array", tickvals: characters.map((_, t) => t),
    ticktext: characters.map(visible), tickangle: 0, tickfont: { family: MONO, size: 12 } } : {};
  const extra = {
    margin: { l: 36, r: 8, t: 8, b: labelled ? 40 : 36 },
    xaxis: { title: { text: labelled ? "step t: the character read" : "step t", standoff: 4 }, showgrid: false,
      zeroline: false, ...ticks },
    yaxis: { type: "category", dtick: 1, autorange: "reversed", showgrid: false, zeroline: false,
      tickfont: { family: MONO, size: 9 } },
    shapes: stepShapes(step, "x"),
  };
  div.describeCell = (row, t, value) =>
    `step ${t} reads ${named(characters[t])}, row for ${named(symbols[row])}: ${formatNumber(value)}`;
  div.dataset.axis = "x";
  div.setAttribute("aria-roledescription", "heatmap");
  return Plotly.react(div, [trace], layout({ extra }), CONFIG);
}

/** Line plots over the steps: traces [{name, values, colour, dash}] (NaN leaves a gap). */
export function lines(div, traces, { title = "", yTitle = "value", step = null } = {}) {
  const data = traces.map(({ name, values, colour, dash = "solid" }) => ({
    type: "scatter", mode: values.length <= 64 ? "lines+markers" : "lines", name,
    x: Array.from(values, (_, t) => t), y: Array.from(values, (v) => (Number.isFinite(v) ? v : null)),
    line: { color: colour, dash, width: 2 }, marker: { size: 4, color: colour },
    hovertemplate: `step %{x}: %{y:.4g}<extra>${atStep(name, "%{x}")}</extra>`,
  }));
  const extra = {
    showlegend: traces.length > 1, legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11 } },
    yaxis: { title: { text: yTitle, standoff: 4 }, zeroline: true, zerolinecolor: "#d9dde1", showgrid: true,
      gridcolor: "#eef0f2" },
    shapes: stepShapes(step, "x"),
  };
  if (traces.length > 1) extra.margin = { l: 48, r: 8, t: title ? 44 : 24, b: 36 };
  div.describeCell = (line, t, value) => `step ${t}, ${atStep(traces[line].name, t)}: `
    + (value === null ? "none (a gap in the line)" : formatNumber(value)); // the typed numbers' last next value
  div.dataset.axis = "x";
  div.setAttribute("aria-roledescription", "line plot");
  return Plotly.react(div, data, layout({ title, extra }), CONFIG);
}

/**
 * The outline of step `step`: a column (axis "x") spanning the plot, or a row (axis "y") `width` cells
 * wide, drawn twice (dark and light) so that it shows on every colour.
 */
function stepShapes(step, axis, width = 1) {
  if (step === null) return [];
  const across = axis === "x"
    ? { xref: "x", yref: "paper", x0: step - GAP, x1: step + GAP, y0: 0, y1: 1 }
    : { xref: "x", yref: "y", x0: -GAP, x1: width - GAP, y0: step - GAP, y1: step + GAP };
  return [
    { type: "rect", ...across, line: { color: "#111", width: 3 }, fillcolor: "rgba(0,0,0,0)" },
    { type: "rect", ...across, line: { color: "#fff", width: 1 }, fillcolor: "rgba(255,255,255,0.12)" },
  ];
}

/** Move the highlight of a plot drawn by this module to step `step` (a view change: no data is redrawn). */
export function markStep(div, step) {
  if (!div.data || !div.dataset.axis) return null;
  return Plotly.relayout(div, { shapes: stepShapes(step, div.dataset.axis, Number(div.dataset.width)) });
}

/** Turn clicks on a plot into steps: onStep(t) with the step under the pointer. */
export function onStepClick(div, onStep) {
  if (div.dataset.clicks) return;
  div.dataset.clicks = "1";
  div.on("plotly_click", (event) => {
    const point = event.points?.[0];
    if (!point) return;
    const value = div.dataset.axis === "y" ? point.y : point.x;
    if (Number.isInteger(value)) onStep(value);
  });
}

/**
 * Make a plot drawn by this module a tab stop read with the keys (heatmap-reader.js): each value reached is said
 * (div.describeCell) in a readout line under the plot, and Enter or Space calls onStep(t) with its step, as a
 * click does. Call it after every drawing of the plot: while the plot has the focus, its readout then says the
 * new value of the cell the keys are on.
 */
export function onStepKeys(div, onStep) {
  if (!div.rereadKeys) { // the listeners are the div's own: they outlive a Plotly.purge
    const readout = document.createElement("p");
    readout.className = "sq-plot-readout muted";
    readout.setAttribute("aria-live", "polite");
    div.after(readout);
    div.rereadKeys = readHeatmapWithKeys(div, readout,
      (row, column, value) => subscripted(div.describeCell(row, column, value)),
      (row, column) => onStep(div.dataset.axis === "y" ? row : column));
  }
  div.rereadKeys();
}
