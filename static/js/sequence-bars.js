// A light bar chart of one vector (the hidden state at a step, the class probabilities at a step), made of
// plain elements: it is redrawn on every move of the time scrubber, where a Plotly redraw costs 20 to 50 ms
// here and this well under one. The bar under the pointer, or the one the arrow keys moved to while the container
// has the focus (it is the chart's tab stop), is ringed and said in a readout line (a live region).
//
//   barChart(container, values, { labels, range: [low, high], highlight, itemName: "unit",
//     valueName: "h<sub>5</sub>" })   (valueName may hold subscripts, written as Plotly writes them)

import { stepPixel } from "./pixel-reader.js";
import { formatNumber } from "./plots.js";
import { subscripted } from "./sequence-plots.js";

const MAX_LABELS = 10; // at most about this many labels under the bars (every k-th, k a round number, when more)

function element(tag, className, text = "") {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

/** The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `step`: labels at 0, 20, 40, ... read easily. */
function roundStep(step) {
  if (step <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(step));
  return [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= step);
}

/** Build the chart's elements for `count` bars named `labels` (kept while the count and names stay). */
function build(container, count, labels) {
  const every = roundStep(count / MAX_LABELS);
  const area = element("div", "sq-bar-area");
  area.append(element("span", "sq-bar-zero"));
  for (let i = 0; i < count; i++) {
    const bar = element("span", "sq-bar");
    bar.style.left = `${(100 * (i + 0.1)) / count}%`;
    bar.style.width = `${80 / count}%`;
    area.append(bar);
  }
  const marker = element("span", "sq-bar-marker");
  marker.style.width = `${100 / count}%`;
  marker.hidden = true;
  area.append(marker);
  const names = element("div", "sq-bar-labels");
  for (let i = 0; i < count; i += every) {
    const label = element("span", "", labels[i]);
    label.style.left = `${(100 * (i + 0.5)) / count}%`;
    names.append(label);
  }
  const axis = element("div", "sq-bar-axis");
  axis.append(element("span", ""), element("span", ""), element("span", ""));
  const chart = element("div", "sq-barchart");
  chart.dataset.labels = labels.join(",");
  const readout = element("p", "sq-bar-readout muted");
  readout.setAttribute("aria-live", "polite");
  chart.append(axis, area, names, readout);
  // the bar the keys are on, the bar under the pointer, and what the readout says (its markup)
  chart.reading = { cursor: null, hovered: null, said: null };
  container.replaceChildren(chart);
  return chart;
}

/**
 * Draw `values` as bars from zero on the value axis `range` [low, high] (low <= 0 <= high): one bar
 * highlighted in the accent colour (`highlight`), or every bar coloured by its sign.
 */
export function barChart(container, values, { labels = null, range, highlight = null, itemName, valueName }) {
  const names = labels ?? Array.from(values, (_, i) => String(i));
  let chart = container.querySelector(".sq-barchart");
  if (!chart || chart.dataset.labels !== names.join(",")) chart = build(container, values.length, names);
  const [low, high] = range;
  const position = (v) => (Math.min(high, Math.max(low, v)) - low) / (high - low); // 0 bottom, 1 top
  const zero = position(0);
  chart.querySelector(".sq-bar-zero").style.bottom = `${100 * zero}%`;
  const [top, middle, bottom] = chart.querySelectorAll(".sq-bar-axis span");
  top.textContent = formatNumber(high);
  bottom.textContent = formatNumber(low);
  middle.textContent = low < 0 && high > 0 ? "0" : "";
  middle.style.bottom = `calc(${100 * zero}% - .6em)`;
  chart.querySelectorAll(".sq-bar").forEach((bar, i) => {
    const v = values[i];
    const at = Number.isFinite(v) ? position(v) : zero;
    bar.style.bottom = `${100 * Math.min(at, zero)}%`;
    bar.style.height = `${100 * Math.abs(at - zero)}%`;
    bar.dataset.value = String(v);
    bar.className = `sq-bar ${highlight === null ? (v < 0 ? "negative" : "positive") : i === highlight ? "best" : ""}`;
  });
  const describe = (i) => `${itemName} ${names[i]}: ${valueName} ${formatNumber(values[i])}`;
  readBars(container, chart, { count: values.length, describe, first: highlight ?? 0,
    hint: `Hover a bar or use the arrow keys to read a ${itemName}'s value.` });
}

/**
 * Read the bars: the one under the pointer, else, while `container` has the focus, the one the arrow keys (Home,
 * End) moved to, starting at `first`; it is ringed and describe(i) is said in the readout, which holds `hint` when
 * no bar is read.
 */
function readBars(container, chart, { count, describe, first, hint }) {
  const reading = chart.reading;
  reading.cursor = Math.min(reading.cursor ?? first, count - 1);
  const area = chart.querySelector(".sq-bar-area");
  const marker = chart.querySelector(".sq-bar-marker");
  const readout = chart.querySelector(".sq-bar-readout");
  const show = () => {
    const i = reading.hovered ?? (container.matches(":focus") ? reading.cursor : null);
    marker.hidden = i === null;
    if (i !== null) marker.style.left = `${(100 * i) / count}%`;
    const text = i === null ? hint : describe(i);
    if (reading.said === text) return; // a live region: it speaks only of a change
    reading.said = text;
    readout.replaceChildren(subscripted(text));
  };
  container.tabIndex = 0;
  container.onfocus = container.onblur = show;
  container.onkeydown = (event) => {
    const next = stepPixel({ y: 0, x: reading.cursor }, event.key, { height: 1, width: count });
    if (!next) return;
    event.preventDefault();
    reading.cursor = next.x;
    reading.hovered = null; // the keys read the bar they moved to, wherever the pointer rests
    show();
  };
  area.onmousemove = (event) => {
    const box = area.getBoundingClientRect();
    const i = Math.floor(((event.clientX - box.left) / box.width) * count);
    if (i < 0 || i >= count) return;
    reading.hovered = reading.cursor = i; // the keys go on from here
    show();
  };
  area.onmouseleave = () => {
    reading.hovered = null;
    show();
  };
  show();
}
