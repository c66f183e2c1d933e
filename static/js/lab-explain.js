// The arithmetic behind one output value, from the engine's "explain" message (docs/protocol.md):
// the input window, the weights, their products, the sum, the bias and the output; for max pooling the
// element that won; for activations the value in and out. Small windows are tables of numbers, large
// ones coloured pictures with their scale.

import { element } from "./dom.js";
import { colourLegend, drawMap, formatNumber, scaleFor } from "./plots.js";

const TABLE_LIMIT = 49; // up to 7x7 values per table are written out as numbers

/** The Float32Array and shape of an array the protocol sends in JSON ({shape, dtype, data: base64}). */
export function decodeArray(value) {
  if (!value) return null;
  const bytes = Uint8Array.from(atob(value.data), (ch) => ch.charCodeAt(0));
  return { data: new Float32Array(bytes.buffer), shape: value.shape };
}

/** The input cells [row, col] an explanation read, for images (coordinates end with row, col). */
export function windowCells(message) {
  return (message.coordinates || []).filter((point) => point.length >= 3).map((point) => point.slice(-2));
}

/**
 * Fill `container` with the explanation in `message` (an "explain" message of the protocol); inputShape
 * (N, C, H, W) tells which cells of a pooling window lie in the padding.
 */
export function renderExplanation(container, message, { inputShape = null } = {}) {
  const window = decodeArray(message.window);
  const weights = decodeArray(message.weights);
  const products = decodeArray(message.products);
  const parts = [element("p", { class: "ex-title" }, `${message.kind} output `,
    element("code", {}, `[${message.output_index.join(", ")}]`),
    element("span", { class: "ex-place muted" }, ` (${place(message.output_index)})`), " = ",
    number(message.output, "ex-output"))];
  if (products) {
    parts.push(...weighted(window, weights, products, message));
    if (message.extra?.gates) parts.push(...gated(message.kind, message.extra, message.output));
  } else if (message.winner !== null && message.winner !== undefined) {
    parts.push(...pooled(window, message, paddingCells(message, inputShape)));
  } else if (message.extra && "divisor" in message.extra) {
    parts.push(...averaged(window, message, paddingCells(message, inputShape)));
  }
  else if (message.extra && "exponentials" in message.extra) parts.push(...softmax(window, message));
  else if (message.extra && "mean" in message.extra) parts.push(...normalised(window, message));
  else parts.push(...elementwise(window, message));
  if (message.note && message.coordinates?.length) parts.push(element("p", { class: "ex-note muted" }, message.note));
  container.replaceChildren(...parts);
  watchSideways(container);
}

// Tables wider than the panel (a recurrent cell's window of ten numbers a row on a phone) scroll sideways inside it
// (lab.css .ex-tables); such a box takes the focus, so that the arrow keys can scroll it too
const SCROLLER = { tabindex: "0", role: "group", "aria-label": "tables wider than the panel: scroll sideways" };
const sideways = new ResizeObserver((entries) => entries.forEach(({ target }) => {
  const scrolls = target.scrollWidth > target.clientWidth;
  for (const [name, value] of Object.entries(SCROLLER)) {
    if (scrolls) target.setAttribute(name, value);
    else target.removeAttribute(name);
  }
}));

function watchSideways(container) {
  sideways.disconnect();
  container.querySelectorAll(".ex-tables").forEach((tables) => sideways.observe(tables));
}

/** One sentence for a screen reader: "Conv2d output at channel 0, row 3, column 5 = 0.7765". */
export function explanationSummary(message) {
  return `${message.kind} output at ${place(message.output_index)} = ${formatNumber(message.output)}`;
}

/**
 * Where an output index points, in words ("channel 0, row 3, column 5"; "step 0, unit 4"; "output 4"). Every
 * index counts from 0, as in the formulas, the axes, the links and PyTorch.
 */
function place(index) {
  const [names, start] = index.length === 4 ? [["channel", "row", "column"], 1]
    : index.length === 3 ? [["step", "unit"], 1] : [["output"], index.length - 1];
  return names.map((name, k) => `${name} ${index[start + k]}`).join(", ");
}

/** The flat indices of a window's cells that lie outside the input (N, C, H, W), in its padding. */
function paddingCells(message, inputShape) {
  const cells = new Set();
  if (inputShape?.length !== 4) return cells;
  const [, , height, width] = inputShape;
  (message.coordinates ?? []).forEach(([, row, column], i) => {
    if (row < 0 || row >= height || column < 0 || column >= width) cells.add(i);
  });
  return cells;
}

function number(value, className, label) {
  const span = element("span", { class: `ex-number ${className}`, "data-value": String(value) }, formatNumber(value));
  if (label) span.setAttribute("aria-label", `${label} ${formatNumber(value)}`);
  return span;
}

// -- convolution, transposed convolution, linear, recurrent: products of a window and weights --
function weighted(window, weights, products, message) {
  if (!products.data.length) return uncovered(message);
  const channels = windowChannels(window, message);
  const tables = element("div", { class: "ex-tables" },
    block("input window x", window, { channels }), element("span", { class: "ex-op" }, "×"),
    block("weights w", weights, { channels }), element("span", { class: "ex-op" }, "="),
    block("products x · w", products, { channels }));
  const parts = [tables];
  if (message.sum !== null && message.sum !== undefined) {
    parts.push(element("p", { class: "ex-sum-line" },
      `sum of the ${products.data.length} products `, number(message.sum, "ex-sum", "sum"),
      message.kind === "RNN" ? " + biases b_ih + b_hh " : " + bias ", number(message.bias ?? 0, "ex-bias", "bias"),
      " = ", number(message.total, "ex-total", "total")));
    if (message.output !== message.total) {  // a recurrent cell's tanh or relu comes after the sum
      const activation = message.extra?.activation; // "tanh" or "relu"
      parts.push(element("p", { class: "ex-activation-line" },
        activation ? `then ${activation}: output = ${activation}(total) = ` : "then the activation: output ",
        number(message.output, "ex-activated", "output")));
    }
  }
  return parts;
}

/** The input channel each plane of a 3-D window read, from its coordinates (a grouped convolution: its group's). */
function windowChannels(window, message) {
  if (window.shape.length !== 3) return null;
  const area = window.shape[1] * window.shape[2];
  return Array.from({ length: window.shape[0] }, (_, p) => message.coordinates[p * area]?.at(-3));
}

/** A transposed convolution's cell that no tap reaches (a stride or dilation wider than the kernel leaves gaps). */
function uncovered(message) {
  return [element("p", { class: "ex-uncovered" }, "No input value reaches this cell: the kernel's copies, placed a "
    + "stride apart, leave gaps between their taps, and this cell is in one."),
  element("p", { class: "ex-sum-line" }, "no products, so the output is the bias alone: ",
    number(message.bias ?? 0, "ex-bias", "bias"), " = ", number(message.total, "ex-total", "total"))];
}

// -- LSTM and GRU: each gate from its two sums and biases, then the cell's update --
// Each gate's name and letter, as the Sequence page names them; the line's first word is the gate's engine name.
// The parameters have PyTorch's names: input gate i reads W_ii x_t + b_ii + W_hi h_(t−1) + b_hi, and so on.
const GATE_LABELS = {
  input: ["input gate", "i"], forget: ["forget gate", "f"], cell: ["cell candidate", "g"],
  output: ["output gate", "o"], reset: ["reset gate", "r"], update: ["update gate", "z"], new: ["new state", "n"],
};

function gated(kind, { gates, c_prev: cPrev, c, tanh_c: tanhC, h_prev: hPrev }, output) {
  const line = (...children) => element("p", { class: "ex-gate-line" }, ...children);
  const letter = (name) => GATE_LABELS[name][1];
  const value = (name) => number(gates[name].value, "ex-gate", letter(name));
  const rows = Object.entries(gates).map(([name, part]) => {
    const [label, g] = GATE_LABELS[name];
    const squash = name === "cell" || name === "new" ? "tanh" : "σ";
    const terms = name === "new" // GRU's candidate n: the reset gate scales the hidden state's part, bias included
      ? [" + b_in ", number(part.bias_ih, "ex-bias"), " + r · (W_hn h_(t−1) ", number(part.hidden_sum, "ex-sum"),
        " + b_hn ", number(part.bias_hh, "ex-bias"), ")"]
      : [` + W_h${g} h_(t−1) `, number(part.hidden_sum, "ex-sum"), ` + b_i${g} + b_h${g} `,
        number(part.bias_ih + part.bias_hh, "ex-bias")];
    return line(`${label} ${g} = ${squash}(W_i${g} x_t `, number(part.input_sum, "ex-sum"), ...terms,
      `) = ${squash}(`, number(part.total, "ex-total"), ") = ", value(name));
  });
  if (kind === "LSTM") {
    rows.push(line("memory (cell state) c_t = f · c_(t−1) + i · g = ", value("forget"), " · ",
      number(cPrev, "ex-input"), " + ", value("input"), " · ", value("cell"), " = ", number(c, "ex-total")));
    rows.push(line("hidden h_t = o · tanh(c_t) = ", value("output"), " · ", number(tanhC, "ex-total"), " = ",
      number(output, "ex-activated", "output")));
  } else {
    rows.push(line("hidden h_t = (1 − z) · n + z · h_(t−1) = (1 − ", value("update"), ") · ", value("new"), " + ",
      value("update"), " · ", number(hPrev, "ex-input"), " = ", number(output, "ex-activated", "output")));
  }
  return [element("div", { class: "ex-gates" }, ...rows)];
}

// -- max pooling: the window and its winner --
function pooled(window, message, padding) {
  const winner = message.winner;
  const at = [message.output_index[0], ...message.coordinates[winner]]; // with the batch index, as the output's
  const rows = window.shape.length >= 2 ? window.shape[window.shape.length - 1] : window.data.length;
  const place = `row ${Math.floor(winner / rows)}, column ${winner % rows} of the window`;
  return [
    element("div", { class: "ex-tables" }, block("input window", window, { winner, padding })),
    element("p", { class: "ex-winner-line" }, "The largest value wins: ",
      element("strong", { class: "ex-winner-name" }, `x[${at.join(", ")}] = ${formatNumber(window.data[winner])}`),
      ` (${place}), so the output is `, number(message.output, "ex-total")),
  ];
}

// -- average pooling: sum and divisor (the formula's count, padding cells included or not) --
function averaged(window, message, padding) {
  return [
    element("div", { class: "ex-tables" }, block("input window", window, { padding })),
    element("p", { class: "ex-sum-line" }, "sum ", number(message.sum, "ex-sum", "sum"),
      ` ÷ count ${message.extra.divisor} = `, number(message.total, "ex-total", "average")),
  ];
}

// -- softmax: the scores it shares and their exponentials --
function softmax(window, message) {
  const exps = decodeArray(message.extra.exponentials);
  // the output's own place among the scores it shares (the coordinates are full indices, as output_index)
  const own = message.coordinates.findIndex((at) => at.join() === message.output_index.join());
  return [
    element("div", { class: "ex-tables" }, block("scores", window), block("exp(score − max)", exps)),
    element("p", { class: "ex-sum-line" }, "its score ", number(window.data[own], "ex-input", "score"),
      " gives exp(score − max) = ", number(exps.data[own], "ex-exp", "its exponential"),
      `; ÷ the sum of the ${window.data.length} exponentials `, number(message.sum, "ex-sum", "sum"), " = ",
      number(message.output, "ex-total")),
  ];
}

// -- batch normalisation: x̂ = (x − mean) / √(var + eps), then y = x̂ · γ + β (two lines: two equations) --
function normalised(window, message) {
  const { mean, var: variance, eps, scale, normalised: z } = message.extra;
  return [
    element("p", { class: "ex-sum-line" }, "normalised x̂ = (x ", number(window.data[0], "ex-input"), " − mean ",
      number(mean, "ex-mean"), ") ÷ √(var ", number(variance, "ex-var"), ` + eps ${formatNumber(eps)}) = `,
      number(z, "ex-normalised")),
    element("p", { class: "ex-sum-line" }, "output y = x̂ · scale γ ", number(scale, "ex-scale"), " + shift β ",
      number(message.bias ?? 0, "ex-bias"), " = ", number(message.output, "ex-total")),
  ];
}

// -- activations and dropout: one value in, one out --
function elementwise(window, message) {
  return [element("p", { class: "ex-sum-line" }, "x = ", number(window.data[0], "ex-input", "input"),
    ` → ${message.kind}(x) = `, number(message.output, "ex-total", "output"))];
}

/**
 * A titled table of numbers (or a picture when large); `winner` marks one flat index, `padding` a set ("pad"),
 * `channels` the input channel of each plane.
 */
function block(title, array, { winner = null, padding = new Set(), channels = null } = {}) {
  const figure = element("figure", { class: "ex-block" }, element("figcaption", { class: "muted" }, title));
  const [planes, rows, columns] = layout(array.shape, array.data.length);
  const names = channels ?? Array.from({ length: planes }, (_, p) => p);
  for (let p = 0; p < planes; p++) {
    const offset = p * rows * columns;
    // a window over several channels is one table per input channel, each named (one channel only when it is
    // not the first: a group's of a grouped convolution)
    if (planes > 1 || names[0] !== 0) {
      figure.append(element("span", { class: "ex-plane muted" }, `channel ${names[p]}`));
    }
    if (rows * columns <= TABLE_LIMIT) figure.append(table(array.data, offset, rows, columns, winner, padding));
    else figure.append(picture(array.data, offset, rows, columns, winner === null ? null : winner - offset));
  }
  return figure;
}

/** [planes, rows, columns] for showing an array: 1-D in rows of at most 10 (a square when large), 3-D as planes. */
function layout(shape, count) {
  if (shape.length === 3) return shape;
  if (shape.length === 2) return [1, ...shape];
  const columns = count > TABLE_LIMIT ? Math.ceil(Math.sqrt(count)) : Math.min(count, 10);
  return [1, Math.ceil(count / columns), columns];
}

/** The values as a grid of numbers, with table roles so that a screen reader reads rows and columns. */
function table(data, offset, rows, columns, winner, padding) {
  const grid = element("div", { class: "ex-grid", style: `--columns: ${columns}`, role: "table" });
  const count = Math.min(rows * columns, data.length - offset);
  for (let r = 0; r * columns < count; r++) {
    // the row is a layout-free box, so the cells stay the grid's items
    const row = element("div", { role: "row", style: "display: contents" });
    for (let i = r * columns; i < Math.min(count, (r + 1) * columns); i++) {
      const cell = element("span", { class: "ex-cell", role: "cell" }, formatNumber(data[offset + i]));
      if (padding.has(offset + i)) {
        cell.textContent = "pad";
        cell.classList.add("ex-pad");
        cell.setAttribute("aria-label", "padding");
      }
      if (offset + i === winner) {
        cell.classList.add("ex-winner");
        cell.setAttribute("aria-label", `${formatNumber(data[offset + i])}, the largest`);
      }
      row.append(cell);
    }
    grid.append(row);
  }
  return grid;
}

/** A window too large for a table, as a heatmap; the winning cell `winner` (its index, or null) outlined. */
function picture(data, offset, rows, columns, winner = null) {
  const values = data.subarray(offset, offset + rows * columns);
  let [min, max] = [Infinity, -Infinity];
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const scale = scaleFor(min, max);
  const canvas = element("canvas", { class: "ex-picture" });
  const padded = new Float32Array(rows * columns);
  padded.set(values);
  drawMap(canvas, padded, rows, columns, scale);
  const filled = values.length - (rows - 1) * columns; // a vector drawn as a square: its last row may be short
  if (filled < columns) canvas.getContext("2d").clearRect(filled, rows - 1, columns - filled, 1);
  const legend = element("div", { class: "lab-map-legend" });
  colourLegend(legend, scale);
  const frame = element("div", { class: "ex-picture-frame" }, canvas);
  if (winner !== null && winner >= 0 && winner < values.length) {
    const [row, column] = [Math.floor(winner / columns), winner % columns];
    frame.append(element("div", { class: "ex-picture-winner", "aria-hidden": "true", style:
      `left: ${(100 * column) / columns}%; top: ${(100 * row) / rows}%; width: ${100 / columns}%; `
      + `height: ${100 / rows}%` }));
  }
  return element("div", { class: "ex-picture-box" }, frame, legend);
}
