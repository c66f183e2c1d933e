// Drawing one run of the Sequence view: drawRun(shown) draws every plot once per run; drawStep(shown, t)
// only moves the highlight to step t and fills the "At step t" card (scrubbing never re-runs anything).
//
// `shown` (built by sequence.js from the run's messages): {choice, steps, features, units,
//   input (T·F values), next (T actual next values or null), characters (the T characters of a text, each
//   one-hot over ALPHABET, or null), hidden (T·H), gates [{part, data}],
//   output: {kind: "classes", data (T·C), names} | {kind: "next", data (T)} | null}

import { counted } from "./dom.js";
import { drawStrip, formatNumber, scaleFor, summarize } from "./plots.js";
import { barChart } from "./sequence-bars.js";
import { ALPHABET } from "./sequence-inputs.js";
import {
  COLOURS, digitHeatmap, lines, markStep, named, onStepClick, onStepKeys, textHeatmap, timeHeatmap,
} from "./sequence-plots.js";

const UNIT = { min: 0, max: 1, diverging: false }; // sigmoid gates, probabilities, pixels
const SIGNED_UNIT = { min: -1, max: 1, diverging: true }; // tanh values

/** What each traced quantity means, and its colour scale ("cell_state" is unbounded: its own reach). */
export const GATES = {
  input: { label: "input gate i", scale: UNIT, about: "how much of the candidate g to write into the memory" },
  forget: { label: "forget gate f", scale: UNIT, about: "how much of the old memory c_{t−1} to keep" },
  cell: { label: "cell candidate g", scale: SIGNED_UNIT, about: "what could be written into the memory (tanh)" },
  output: { label: "output gate o", scale: UNIT, about: "how much of the memory shows as h_{t}" },
  cell_state: { label: "cell state c", scale: null, about: "the memory: c_{t} = f·c_{t−1} + i·g" },
  reset: { label: "reset gate r", scale: UNIT, about: "how much of h_{t−1} the proposal uses" },
  update: { label: "update gate z", scale: UNIT, about: "1 keeps the old state, 0 takes the new one" },
  new: { label: "new state n", scale: SIGNED_UNIT, about: "the proposed new state (tanh)" },
};

const $ = (selector) => document.querySelector(selector);

/** Set an element's text, with "x_{t+1}" written as x<sub>t+1</sub> (the rest stays plain text). */
export function setMath(element, text) {
  const parts = text.split(/_\{([^}]*)\}/);
  element.replaceChildren(...parts.map((part, i) => {
    if (i % 2 === 0) return part;
    const sub = document.createElement("sub");
    sub.textContent = part;
    return sub;
  }));
}

/** The same notation for Plotly, which reads <sub> in titles and hover text. */
const plotMath = (text) => text.replace(/_\{([^}]*)\}/g, "<sub>$1</sub>");

/** A diverging scale symmetric about 0: ±1 when every value fits in it (tanh outputs), else the data's reach. */
function signedScale(data) {
  const { min, max } = summarize(data, 0, data.length, 1);
  const reach = Math.max(Math.abs(min ?? 0), Math.abs(max ?? 0));
  return reach <= 1 ? SIGNED_UNIT : scaleFor(-reach, reach, { diverging: true });
}

function gateScale(part, data) {
  return GATES[part]?.scale ?? signedScale(data);
}

/** The step a state value `step` (null: the last one) points at, within the run's steps. */
export function clampStep(step, steps) {
  if (step === null || step === undefined || !Number.isFinite(step)) return steps - 1;
  return Math.max(0, Math.min(steps - 1, Math.round(step)));
}

/** Every plot of a run, each with step `step` highlighted; onStep(t) is called when a plot is clicked, or a value
 * picked in it with the keys. */
export async function drawRun(shown, step, onStep) {
  const plots = [drawInput(shown, step), drawOutput(shown, step),
    timeHeatmap($("#sq-hidden-plot"), shown.hidden, shown.steps, shown.units,
      { scale: signedScale(shown.hidden), valueName: plotMath("h_{t}"), step }),
    ...drawGates(shown, step)];
  await Promise.all(plots);
  for (const div of stepPlots()) {
    onStepClick(div, onStep);
    onStepKeys(div, onStep);
  }
}

function drawInput(shown, step) {
  const div = $("#sq-input-plot");
  const about = $("#sq-input-about");
  const isText = Boolean(shown.characters);
  if (div.classList.contains("sq-plot-text") !== isText) {
    // a text's plot is taller (27 rows), and Plotly measures its div only when it first draws into it
    div.classList.toggle("sq-plot-text", isText);
    Plotly.purge(div);
    delete div.dataset.clicks;
  }
  if (shown.characters) {
    about.textContent = `${shown.steps} characters, one per step. Each becomes a column of ${ALPHABET.length} `
      + "numbers (a–z and space) with a single 1 in its letter's row: one-hot. The cell's weights are random, so "
      + "its hidden state shows how information about earlier characters is carried along, not a learned meaning.";
    return textHeatmap(div, shown.input, shown.characters, ALPHABET, { scale: UNIT, step });
  }
  if (shown.features === 1) {
    setMath(about, `One number per step: x_{t} for t = 0 to ${shown.steps - 1}.`);
    return lines(div, [{ name: plotMath("input x_{t}"), values: shown.input, colour: COLOURS.input }],
      { yTitle: plotMath("x_{t}"), step });
  }
  about.textContent = `The picture read from the top, one row of ${counted(shown.features, "pixel")} per step: `
    + `${counted(shown.steps, "step")}.`;
  const { min, max } = summarize(shown.input, 0, shown.input.length, 1);
  const scale = min >= 0 && max <= 1 ? UNIT : scaleFor(min, max);
  return digitHeatmap(div, shown.input, shown.steps, shown.features, { scale, step });
}

function drawOutput(shown, step) {
  const { output, choice } = shown;
  const plot = $("#sq-output-plot");
  const about = $("#sq-output-about");
  $("#sq-output-bars").hidden = $("#sq-output-bars-title").hidden = output?.kind !== "classes";
  plot.hidden = !output;
  about.classList.toggle("help", Boolean(output)); // without a plot, the words are the panel: presenter mode keeps them
  if (!output) {
    Plotly.purge(plot);
    delete plot.dataset.axis;
    delete plot.dataset.clicks;
    $("#sq-answer").textContent = "";
    setMath(about, "An untrained cell on its own has no output layer: what it passes on is its hidden state "
      + "h_{t} (below). The built-in networks add a dense layer that turns h_{t} into a prediction at every step.");
    return null;
  }
  if (output.kind === "next") {
    setMath(about, "At every step t the network guesses the next value x_{t+1} from what it has read so far.");
    $("#sq-answer").textContent = predictionErrors(output.data, shown.next, choice.model.card);
    delete $("#sq-answer").dataset.answer;
    return lines(plot, [
      { name: "predicted next value", values: output.data, colour: COLOURS.prediction },
      { name: "actual next value", values: shown.next, colour: COLOURS.actual, dash: "dot" },
    ], { yTitle: plotMath("x_{t+1}"), step });
  }
  setMath(about, `After every row the network says how likely each digit is (a dense layer and softmax on h_{t}). `
    + `The last step's answer counts: it has read the whole picture. ${choice.model.trained ? ""
      : "These weights are untrained, so the answers mean nothing yet."}`);
  const last = classesAt(output, shown.steps - 1);
  const blank = shown.input.every((value) => value === shown.input[0]);
  $("#sq-answer").textContent = `After all ${shown.steps} rows it reads ${output.names[last.best]} `
    + `(probability ${formatNumber(last.values[last.best])}).`
    + (blank ? " The picture is blank: that is what it makes of no digit at all. Draw one." : "");
  $("#sq-answer").dataset.answer = output.names[last.best];
  return timeHeatmap(plot, output.data, shown.steps, output.names.length, { scale: UNIT, rowName: "class",
    valueName: "probability", rowLabels: output.names, step });
}

// sine-rnn's training card scores it from this step on, once it has read enough to know the waves' periods
// (engine/train/sine_rnn.py, WARM_UP)
const SCORED_FROM_STEP = 8;

/** How far the predictions are from the actual next values, where known, as sentences: the mean absolute error
 * over every step, and the figure its training card gives (mean squared error from SCORED_FROM_STEP on). */
function predictionErrors(predicted, actual, card) {
  let absolute = 0, squared = 0, count = 0, scored = 0;
  predicted.forEach((p, t) => {
    if (!Number.isFinite(actual?.[t]) || !Number.isFinite(p)) return;
    absolute += Math.abs(p - actual[t]);
    count++;
    if (t >= SCORED_FROM_STEP) {
      squared += (p - actual[t]) ** 2;
      scored++;
    }
  });
  if (!count) return "";
  const mean = `Its guesses are off by ${formatNumber(absolute / count)} on average (over ${count} steps).`;
  if (!scored || !Number.isFinite(card?.held_out_score)) return mean;
  return `${mean} From step ${SCORED_FROM_STEP} on, their mean squared error is ${formatNumber(squared / scored)}, `
    + `against ${formatNumber(card.held_out_score)} on the held-out signals of its training card.`;
}

/** One small heatmap per traced gate, with its meaning underneath; a sentence for an RNN. */
function drawGates(shown, step) {
  const container = $("#sq-gates");
  const signed = shown.choice.cell === "GRU" ? "the new state n is" : "the cell candidate g and the cell state c are";
  // with gates the sentence explains the maps (presenter mode hides it); without, it is the card's content
  $("#sq-gates-about").classList.toggle("help", shown.gates.length > 0);
  setMath($("#sq-gates-about"), shown.gates.length
    ? `Each small map has the steps across and the ${shown.units} unit${shown.units === 1 ? "" : "s"} down. `
      + `Gates run from 0 (closed, dark) to 1 (open, yellow); ${signed} signed (blue below zero, red above).`
    : `A plain ${shown.choice.cell} has no gates: at every step `
      + "h_{t} = tanh(W_{ih} x_{t} + b_{ih} + W_{hh} h_{t−1} + b_{hh}), so the old state is squashed through the same "
      + "weights again and again. Pick an LSTM or a GRU to see gates.");
  const parts = shown.gates.map((gate) => gate.part);
  if (container.dataset.parts !== parts.join(",")) {
    container.dataset.parts = parts.join(",");
    for (const plot of container.querySelectorAll(".js-plotly-plot")) Plotly.purge(plot);
    container.replaceChildren(...parts.map((part) => {
      const figure = document.createElement("figure");
      figure.className = "sq-gate";
      figure.dataset.part = part;
      const plot = document.createElement("div");
      plot.className = "sq-gate-plot";
      plot.setAttribute("role", "application"); // its keys read the values (onStepKeys)
      plot.setAttribute("aria-label", `${GATES[part]?.label ?? part} over steps and units`);
      plot.setAttribute("aria-describedby", "sq-plot-keys");
      const caption = document.createElement("figcaption");
      setMath(caption, GATES[part]?.about ?? "");
      figure.append(plot, caption);
      return figure;
    }));
  }
  return shown.gates.map(({ part, data }, i) => {
    const label = GATES[part]?.label ?? part;
    return timeHeatmap(container.children[i].firstChild, data, shown.steps, shown.units,
      { scale: gateScale(part, data), title: label, valueName: label, step, compact: true });
  });
}

/** The plots with the steps on an axis (not the bar charts of one step). */
function stepPlots() {
  return [...document.querySelectorAll("#sequence-view .js-plotly-plot")].filter((div) => div.dataset.axis);
}

function classesAt(output, t) {
  const count = output.names.length;
  const values = output.data.subarray(t * count, (t + 1) * count);
  let best = 0;
  values.forEach((v, i) => { if (v > values[best]) best = i; });
  return { values, best };
}

// ---- the scrubbed step ----------------------------------------------------------------------------------

/** Highlight step `t` in every plot and show the values at that step; resolves when the plots are updated. */
export async function drawStep(shown, t) {
  $("#sq-at-step").textContent = String(t);
  const updates = stepPlots().map((div) => markStep(div, t));
  showInputAt(shown, t);
  const hidden = shown.hidden.subarray(t * shown.units, (t + 1) * shown.units);
  setMath($("#sq-at-hidden-title"), `Hidden state h_{${t}}: one bar per unit (${shown.units})`);
  barChart($("#sq-at-hidden"), hidden, { range: barRange(hidden), itemName: "unit", valueName: plotMath(`h_{${t}}`) });
  $("#sq-at-hidden").setAttribute("aria-label", `hidden state at step ${t}, ${shown.units} values: `
    + spokenValues(hidden, "unit"));
  showGatesAt(shown, t);
  showOutputAt(shown, t);
  await Promise.all(updates);
}

/** The bars' values for a screen reader: each one when they are few, else their range and the three largest. */
function spokenValues(values, itemName) {
  const named = Array.from(values, (value, i) => ({ i, value }));
  if (named.length <= 16) return named.map(({ i, value }) => `${itemName} ${i} ${formatNumber(value)}`).join(", ");
  const { min, max } = summarize(values, 0, values.length, 1);
  const strongest = named.filter(({ value }) => Number.isFinite(value))
    .sort((a, b) => Math.abs(b.value) - Math.abs(a.value)).slice(0, 3);
  return `from ${formatNumber(min)} to ${formatNumber(max)}; largest: `
    + strongest.map(({ i, value }) => `${itemName} ${i} ${formatNumber(value)}`).join(", ");
}

function barRange(values) {
  const { min, max } = summarize(values, 0, values.length, 1);
  const reach = Math.max(1, Math.abs(min ?? 0), Math.abs(max ?? 0));
  return [-reach, reach];
}

function showInputAt(shown, t) {
  const line = $("#sq-at-input");
  const row = $("#sq-at-row");
  const text = $("#sq-at-text");
  text.hidden = !shown.characters;
  row.hidden = shown.features === 1 || Boolean(shown.characters);
  if (shown.characters) {
    const character = shown.characters[t];
    line.textContent = `Input: reading ${named(character)} (step ${t}), a 1 in its row and 0 in the other `
      + `${ALPHABET.length - 1}.`;
    showTextAt(text, shown.characters, t);
    return;
  }
  if (shown.features === 1) {
    setMath(line, `Input x_{${t}} = ${formatNumber(shown.input[t])}`);
    return;
  }
  const values = shown.input.subarray(t * shown.features, (t + 1) * shown.features);
  line.textContent = `Input: row ${t} of the picture (${shown.features} pixels, mean ${formatNumber(
    summarize(values, 0, values.length, 1).mean)})`;
  drawStrip(row, values, UNIT);
}

/** The text with the characters already read, the one read at step t (marked) and those still to come. */
function showTextAt(element, characters, t) {
  const read = document.createElement("span");
  read.className = "sq-read";
  read.textContent = characters.slice(0, t).join("");
  const now = document.createElement("mark");
  now.textContent = characters[t];
  const later = document.createElement("span");
  later.className = "sq-unread";
  later.textContent = characters.slice(t + 1).join("");
  element.replaceChildren(read, now, later);
}

function showGatesAt(shown, t) {
  const table = $("#sq-at-gates");
  table.hidden = !shown.gates.length;
  const body = table.tBodies[0];
  if (body.rows.length !== shown.gates.length || body.dataset.parts !== shown.gates.map((g) => g.part).join()) {
    body.dataset.parts = shown.gates.map((g) => g.part).join();
    body.replaceChildren(...shown.gates.map(({ part }) => {
      const row = body.insertRow();
      row.dataset.part = part;
      row.insertCell().textContent = GATES[part]?.label ?? part;
      const strip = document.createElement("canvas");
      strip.className = "sq-strip";
      row.insertCell().append(strip);
      row.insertCell().className = "sq-gate-mean";
      return row;
    }));
  }
  shown.gates.forEach(({ part, data }, i) => {
    const values = data.subarray(t * shown.units, (t + 1) * shown.units);
    const row = body.rows[i];
    drawStrip(row.cells[1].firstChild, values, gateScale(part, data));
    row.cells[1].firstChild.setAttribute("aria-label", `${GATES[part]?.label ?? part} of each unit at step ${t}`);
    row.cells[2].textContent = `mean ${formatNumber(summarize(values, 0, values.length, 1).mean)}`;
  });
}

function showOutputAt(shown, t) {
  const line = $("#sq-at-output");
  const { output } = shown;
  if (!output) {
    line.textContent = "";
    return;
  }
  if (output.kind === "next") {
    const actual = shown.next?.[t];
    setMath(line, `Having read x_{0} … x_{${t}}, it predicts x_{${t + 1}} = ${formatNumber(output.data[t])}`
      + (Number.isFinite(actual) ? `; the actual x_{${t + 1}} is ${formatNumber(actual)} (error `
        + `${formatNumber(output.data[t] - actual)}).` : " (the sequence ends here: there is no actual value)."));
    return;
  }
  const { values, best } = classesAt(output, t);
  line.textContent = `After row ${t} its best guess is ${output.names[best]} (probability ${formatNumber(values[best])}).`;
  const chart = $("#sq-output-bars");
  chart.dataset.best = output.names[best];
  chart.setAttribute("aria-label", `probabilities at step ${t}: `
    + output.names.map((name, i) => `${name} ${formatNumber(values[i])}`).join(", "));
  $("#sq-output-bars-title").textContent = `Probabilities after row ${t}:`;
  barChart(chart, values, { labels: output.names, range: [0, 1], highlight: best, itemName: "class",
    valueName: "probability" });
}
