// The kernel editor of the Layer lab: one grid of numbers per kernel, presets, a bias per filter.
//
// A convolution with O output channels and C input channels per group has O filters; each filter
// holds C kernels of kh x kw weights and one bias. The editor keeps them filter by filter and sends
// them in the run request's layer "weights" in PyTorch's layout (Conv2d: O, C, kh, kw;
// ConvTranspose2d: C_in, O / groups, kh, kw).
//
//   const editor = createKernelEditor(container, {onChange: () => rerun()});
//   await editor.configure({kind: "Conv2d", outChannels: 4, inPerGroup: 1, groups: 1, kernelSize: [3, 3], bias: true});
//   request.layer.weights = editor.getWeights();

import { cachedJSON } from "./api.js";
import { element } from "./dom.js";
import { seededRandom } from "./inputs.js";
import { colourLegend, DIVERGING, drawMap } from "./plots.js";
import { encodeArray } from "./wire.js";

// each preset's name in the list (short: it fits a narrow column in presenter mode's type), and what it does,
// said under the list
export const PRESETS = {
  identity: "Identity",
  sobel_x: "Sobel x",
  sobel_y: "Sobel y",
  gaussian: "Gaussian blur",
  sharpen: "Sharpen",
  laplacian: "Laplacian",
  emboss: "Emboss",
  random: "Random",
};
const PRESET_EFFECTS = {
  identity: "copies the input unchanged",
  sobel_x: "finds vertical edges (changes from left to right)",
  sobel_y: "finds horizontal edges (changes from top to bottom)",
  gaussian: "blurs: a weighted average of the neighbourhood",
  sharpen: "sharpens: each pixel against its neighbours",
  laplacian: "finds edges in every direction",
  emboss: "a relief, as if lit from one side",
  random: "random weights, as an untrained network has",
};

/** "Sobel x, finds vertical edges (…)": a preset's name and what it does; for null, that it was edited by hand. */
const presetText = (name) => (name ? `${PRESETS[name]}, ${PRESET_EFFECTS[name]}` : "edited by hand");
// presets made in the browser for any kernel size; the others come from /api/kernels (odd square sizes)
const ANY_SIZE_PRESETS = ["identity", "gaussian", "random"];
const SERVER_SIZES = { min: 3, max: 15 };
const EDITABLE_CELLS = 81; // kernels up to 9x9 get a grid of number fields; larger ones are shown as a picture
const STATE_MAX_CHARS = 3000; // edited kernels whose values take more characters are not written into URLs

/** Whether every preset exists for a kh x kw kernel (the server makes them for odd squares 3..15). */
export function allPresetsAvailable(kh, kw) {
  return kh === kw && kh % 2 === 1 && kh >= SERVER_SIZES.min && kh <= SERVER_SIZES.max;
}

/** The preset `name` as kh * kw values (row-major); `seed` picks the random kernel. */
export async function presetKernel(name, kh, kw, seed = 0) {
  if (name === "random") {
    const random = seededRandom(1000 + seed);
    return Float32Array.from({ length: kh * kw }, () => 2 * random() - 1);
  }
  if (allPresetsAvailable(kh, kw)) {
    const presets = await cachedJSON(`/api/kernels?size=${kh}`);
    return Float32Array.from(presets[name].flat());
  }
  if (name === "identity") {
    const values = new Float32Array(kh * kw);
    values[Math.floor((kh - 1) / 2) * kw + Math.floor((kw - 1) / 2)] = 1;
    return values;
  }
  if (name === "gaussian") return gaussian(kh, kw);
  throw new Error(`the ${PRESETS[name]} preset needs an odd square kernel from 3 to 15`);
}

/** exp(-(x² / 2σx² + y² / 2σy²)) normalised to sum 1, σ = max(size / 6, 0.85) per axis (as engine/kernels.py). */
function gaussian(kh, kw) {
  const axis = (size) => {
    const sigma = Math.max(size / 6, 0.85);
    return Array.from({ length: size }, (_, i) => Math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma * sigma)));
  };
  const rows = axis(kh);
  const columns = axis(kw);
  const values = Float32Array.from(rows.flatMap((r) => columns.map((c) => r * c)));
  const total = values.reduce((sum, v) => sum + v, 0);
  return values.map((v) => v / total);
}

/** The preset given to filter `index` when nothing else is asked: a different look per filter. */
export function defaultPreset(index) {
  const order = ["identity", "sobel_x", "sobel_y", "gaussian", "laplacian", "sharpen", "emboss", "random"];
  return order[index % order.length];
}

// ---- state <-> URL text ---------------------------------------------------------------------------------

/**
 * Filters as text: "~" between filters; each is a preset name or "v" and its comma-separated values,
 * then "@bias" when the bias is not 0. E.g. "identity~sobel_x@0.5~v1,0,-1,2,0,-2,1,0,-1".
 * Filters that all have their default preset and no bias give "" (nothing to write into a URL).
 */
export function encodeFilters(filters) {
  if (filters.every((f, o) => f.preset === defaultPreset(o) && !f.bias)) return "";
  const values = filters.map((f) => (f.preset ? "" : `v${[...f.values].map(exactNumber).join(",")}`));
  // a link holds them up to a length that a live session passes on: random weights take 10-13 characters each
  const fits = values.reduce((count, text) => count + text.length, 0) <= STATE_MAX_CHARS;
  return filters.map((f, o) => {
    const body = f.preset || (fits ? values[o] : "custom");
    return f.bias ? `${body}@${exactNumber(f.bias)}` : body;
  }).join("~");
}

/**
 * [{preset | null, values | null, bias, part, unread}] from encodeFilters' text. A part that names no preset
 * and holds no numbers gets null preset and values (the editor gives it its default), a bias that is not a
 * number becomes 0, and `unread` says so ([] when all was read); `part` is the filter's text in the link.
 */
export function decodeFilters(text) {
  if (typeof text !== "string" || !text) return null;
  return text.split("~").map((part) => {
    const [body, bias = "0"] = part.split("@");
    const filter = { preset: null, values: null, bias: Number(bias), part, unread: [] };
    const entries = body.slice(1).split(",");
    if (Object.hasOwn(PRESETS, body)) {
      filter.preset = body;
    } else if (body.startsWith("v") && entries.every((entry) => entry.trim() && Number.isFinite(Number(entry)))) {
      filter.values = Float32Array.from(entries, Number);
    } else if (body === "custom") {
      filter.unread.push("edited by hand with more values than a link keeps; it has its default");
    } else {
      filter.unread.push(`not a preset (${Object.keys(PRESETS).join(", ")}) nor v and comma-separated numbers; `
        + "it has its default");
    }
    if (!Number.isFinite(filter.bias)) {
      filter.unread.push(`its bias ${bias} is not a number; it is 0`);
      filter.bias = 0;
    }
    return filter;
  });
}

/**
 * What of a link's decoded `filters` a layer of `outChannels` filters of `valuesPerFilter` weights cannot use,
 * as link-notice entries (key "kernels"): unreadable parts, values of another count, filters beyond the layer's.
 */
export function filtersUnused(filters, outChannels, valuesPerFilter) {
  const unused = filters.slice(0, outChannels).flatMap((filter, o) => {
    const reasons = [...filter.unread];
    if (filter.values && filter.values.length !== valuesPerFilter) {
      const count = `${filter.values.length} value${filter.values.length === 1 ? "" : "s"}`;
      reasons.push(`${count}, where a filter of this layer has ${valuesPerFilter}; `
        + "it has its default");
    }
    return reasons.map((reason) => ({ key: "kernels", text: filter.part, reason: `filter ${o}: ${reason}` }));
  });
  if (filters.length > outChannels) {
    unused.push({ key: "kernels", text: filters.slice(outChannels).map((filter) => filter.part).join("~"),
      reason: `${filters.length} filters, where the layer has ${outChannels}; `
        + `those after filter ${outChannels - 1} were not used` });
  }
  return unused;
}

/** A weight as an entry field shows it: at most 3 decimals. */
function shortNumber(value) {
  return String(Number(value.toFixed(3)));
}

/** The shortest decimal that reads back as the same float32: a link gives every weight exactly (1/3 too). */
function exactNumber(value) {
  for (let digits = 1; digits < 9; digits++) {
    const text = String(Number(value.toPrecision(digits)));
    if (Math.fround(Number(text)) === Math.fround(value)) return text;
  }
  return String(Number(value.toPrecision(9))); // 9 significant digits always read back as the same float32
}

// ---- the editor -----------------------------------------------------------------------------------------

/**
 * Build the editor inside `container`. options.onChange() is called after every edit or preset,
 * options.onSelect(index) when the person picks filter `index`.
 * Returns {element, configure(shape), getWeights(), getState(), setState(text), showFilter(index), showError(text)}:
 * configure({kind, outChannels, inPerGroup, groups, kernelSize: [kh, kw], bias}) resolves once the
 * kernels for that shape are ready; getWeights() is the request's layer "weights"; getState() and
 * setState(text) are the URL text of encodeFilters (setState applies at the next configure).
 */
export function createKernelEditor(container, { onChange = () => {}, onSelect = () => {} } = {}) {
  const editor = new KernelEditor(container, onChange, onSelect);
  return {
    element: editor.root,
    configure: (shape) => editor.configure(shape),
    getWeights: () => editor.weights(),
    getState: () => encodeFilters(editor.filters),
    setState: (text) => { editor.pending = decodeFilters(text) ?? []; }, // [] : every filter its default
    linkUnused: () => editor.linkUnused,
    showFilter: (index) => editor.showFilter(index),
    showError: (text) => { editor.root.querySelector(".ke-error").textContent = text; },
  };
}

class KernelEditor {
  constructor(container, onChange, onSelect) {
    this.onChange = onChange;
    this.onSelect = onSelect;
    this.shape = null;
    this.filters = [];
    this.selected = 0;
    this.pending = null; // filters decoded from a URL, applied at the next configure
    this.root = this.build();
    container.append(this.root);
  }

  build() {
    const preset = element("select", { class: "ke-preset", id: "ke-preset", "aria-describedby": "ke-preset-effect" },
      element("option", { value: "", disabled: "" }, "edited by hand"),
      ...Object.entries(PRESETS).map(([value, title]) => element("option", { value }, title)));
    preset.addEventListener("change", () => this.applyPreset(preset.value, [this.selected]));
    const all = element("button", { type: "button", class: "ke-all", title: "Give every filter this preset" },
      "Use for all filters");
    all.addEventListener("click", () => {
      const name = this.filters[this.selected].preset;
      if (name) this.applyPreset(name, this.filters.map((_, i) => i));
    });
    const bias = element("input", { type: "number", step: "0.1", class: "ke-bias", id: "ke-bias" });
    bias.addEventListener("input", () => {
      const value = entryValue(bias);
      if (value === null) return;
      this.filters[this.selected].bias = value;
      this.changed();
    });
    this.guard(bias, () => this.filters[this.selected].bias);
    return element("div", { class: "kernel-editor" },
      element("div", { class: "ke-filters", role: "tablist", "aria-label": "Filters (output channels)" }),
      element("div", { class: "ke-tools" },
        element("label", { for: preset.id }, "Preset"), preset,
        element("p", { class: "ke-preset-effect muted", id: "ke-preset-effect" }), all),
      element("div", { class: "ke-grids", id: "ke-grids", role: "tabpanel" }),
      element("div", { class: "ke-legend" }),
      element("div", { class: "ke-bias-row" }, element("label", { for: bias.id }, "Bias"), bias),
      element("p", { class: "ke-note muted" }),
      element("p", { class: "error ke-error", role: "alert" }));
  }

  /** Reshape for a layer: keeps each filter's preset (or its values, re-centred) where it can. */
  async configure({ kind, outChannels, inPerGroup, groups = 1, kernelSize, bias }) {
    const [kh, kw] = kernelSize;
    // filters from a URL have no known shape: their values are kept only when the sizes match
    const [previous, oldShape] = this.pending ? [this.pending, null] : [this.filters, this.shape];
    this.linkUnused = this.pending ? filtersUnused(this.pending, outChannels, inPerGroup * kh * kw) : [];
    this.pending = null;
    const filters = await Promise.all(Array.from({ length: outChannels }, (_, o) =>
      reshaped(previous[o], oldShape, o, inPerGroup, kh, kw)));
    this.shape = { kind, outChannels, inPerGroup, groups, kh, kw, bias };
    this.filters = filters;
    this.selected = Math.min(this.selected, outChannels - 1);
    this.render();
  }

  async applyPreset(name, indices) {
    const { inPerGroup, kh, kw } = this.shape;
    this.showError("");
    try {
      for (const index of indices) {
        this.filters[index] = { ...this.filters[index], preset: name,
          values: await presetValues(name, index, inPerGroup, kh, kw) };
      }
    } catch (error) {
      this.showError(error.message);
    }
    this.render();
    this.changed();
  }

  select(index) {
    this.selected = index;
    this.render();
    this.root.querySelectorAll(".ke-filter")[index]?.focus();
    this.onSelect(index);
  }

  /** Show filter `index` (a link's, or a live session's presenter's), held to the filters there are; no focus. */
  showFilter(index) {
    this.selected = Math.max(0, Math.min(index, (this.filters?.length || index + 1) - 1));
    this.render();
  }

  changed() {
    this.drawThumbnails();
    this.onChange();
  }

  /**
   * Typing applies each entry that is a number as it forms ("1e3" on the way to "1e39"): leaving `field` (or
   * pressing Enter) with one that is no number puts the selected filter back as it was when the field was
   * entered or its last number committed, and shows `shown()`, its value there.
   */
  guard(field, shown) {
    let kept = null; // {index, filter, copy}: the filter to put back, and a copy of it as it was then
    const keep = () => {
      const filter = this.filters[this.selected];
      kept = filter ? { index: this.selected, filter, copy: { ...filter, values: Float32Array.from(filter.values) } }
        : null; // the editor has no filters before its first shape
    };
    field.addEventListener("focus", keep);
    field.addEventListener("change", () => {
      if (field.getAttribute("aria-invalid") === "true") {
        field.setAttribute("aria-invalid", "false");
        // edits change a filter in place: one the editor has replaced since (another shape, preset or link)
        // is not put back
        if (kept && kept.index === this.selected && this.filters[kept.index] === kept.filter) {
          const { filter, copy } = kept;
          filter.values.set(copy.values);
          filter.preset = copy.preset;
          filter.bias = copy.bias;
          this.showPreset(filter.preset);
          this.changed();
        }
        field.value = shortNumber(shown());
      }
      keep(); // a number committed (Enter, the arrow keys) is the one to go back to next
    });
  }

  showError(text) {
    this.root.querySelector(".ke-error").textContent = text;
  }

  // -- the weights in PyTorch's layout --
  weights() {
    const { kind, outChannels, inPerGroup, groups, kh, kw, bias } = this.shape;
    const taps = kh * kw;
    const weight = new Float32Array(outChannels * inPerGroup * taps);
    const outPerGroup = outChannels / groups;
    this.filters.forEach((filter, o) => {
      for (let c = 0; c < inPerGroup; c++) {
        const kernel = filter.values.subarray(c * taps, (c + 1) * taps);
        // Conv2d: weight[o, c]; ConvTranspose2d: weight[group * inPerGroup + c, o % outPerGroup]
        const slot = kind === "ConvTranspose2d"
          ? (Math.floor(o / outPerGroup) * inPerGroup + c) * outPerGroup + (o % outPerGroup)
          : o * inPerGroup + c;
        weight.set(kernel, slot * taps);
      }
    });
    const shape = kind === "ConvTranspose2d"
      ? [inPerGroup * groups, outPerGroup, kh, kw] : [outChannels, inPerGroup, kh, kw];
    const weights = { weight: encodeArray(weight, shape) };
    if (bias) weights.bias = encodeArray(this.filters.map((f) => f.bias), [outChannels]);
    return weights;
  }

  // -- drawing --
  render() {
    if (!this.shape) return;
    this.renderTabs();
    const filter = this.filters[this.selected];
    const { inPerGroup, kh, kw, bias } = this.shape;
    this.showPreset(filter.preset);
    for (const option of this.root.querySelector(".ke-preset").options) {
      if (option.value) option.disabled = !allPresetsAvailable(kh, kw) && !ANY_SIZE_PRESETS.includes(option.value);
    }
    const grids = this.root.querySelector(".ke-grids");
    grids.setAttribute("aria-labelledby", `ke-filter-${this.selected}`);
    grids.replaceChildren(...Array.from({ length: inPerGroup }, (_, c) => this.grid(c)));
    const biasField = this.root.querySelector(".ke-bias");
    biasField.value = shortNumber(filter.bias);
    this.root.querySelector(".ke-bias-row").hidden = !bias;
    this.root.querySelector(".ke-note").textContent = this.note();
    this.drawThumbnails();
  }

  note() {
    const { inPerGroup, kh, kw } = this.shape;
    const notes = [];
    if (kh * kw > EDITABLE_CELLS) notes.push(`A ${kh}×${kw} kernel is too large to edit cell by cell: pick a preset.`);
    if (!allPresetsAvailable(kh, kw)) {
      notes.push("Sobel, sharpen, Laplacian and emboss need an odd square kernel from 3 to 15: "
        + "filters with those presets use the identity until then.");
    }
    if (inPerGroup > 1) notes.push(`Each preset is split evenly over the ${inPerGroup} input channels.`);
    return notes.join(" ");
  }

  renderTabs() {
    const tabs = this.root.querySelector(".ke-filters");
    tabs.replaceChildren(...this.filters.map((filter, o) => {
      const tab = element("button", { type: "button", role: "tab", class: "ke-filter", id: `ke-filter-${o}`,
        "aria-controls": "ke-grids", "aria-selected": String(o === this.selected),
        tabindex: o === this.selected ? "0" : "-1", "aria-label": `Filter ${o}`,
        title: `Filter ${o}: ${presetText(filter.preset)}` },
      element("canvas", { class: "ke-thumb", width: this.shape.kw, height: this.shape.kh }),
      element("span", {}, String(o)));
      tab.addEventListener("click", () => this.select(o));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        this.select((o + step + this.filters.length) % this.filters.length);
      });
      return tab;
    }));
  }

  drawThumbnails() {
    const { kh, kw } = this.shape;
    const thumbs = this.root.querySelectorAll(".ke-thumb");
    this.filters.forEach((filter, o) => {
      if (thumbs[o]) drawMap(thumbs[o], filter.values, kh, kw, scaleOf(filter.values));
    });
    this.root.querySelectorAll(".ke-cell").forEach((cell) => this.paintCell(cell));
    this.root.querySelectorAll(".ke-big").forEach((canvas) => {
      const values = this.filters[this.selected].values;
      drawMap(canvas, values, kh, kw, { ...scaleOf(values), offset: Number(canvas.dataset.channel) * kh * kw });
    });
    colourLegend(this.root.querySelector(".ke-legend"), scaleOf(this.filters[this.selected].values));
  }

  grid(channel) {
    const { inPerGroup, kh, kw } = this.shape;
    const filter = this.filters[this.selected];
    const taps = kh * kw;
    const caption = inPerGroup > 1 ? `from input channel ${channel}` : "";
    if (taps > EDITABLE_CELLS) {
      const canvas = element("canvas", { class: "ke-big", width: kw, height: kh, role: "img", "data-channel": channel,
        "aria-label": `Kernel ${kh}×${kw}${caption ? ", " + caption : ""}` });
      return element("figure", { class: "ke-grid" }, element("figcaption", { class: "muted" }, caption), canvas);
    }
    const table = element("div", { class: "ke-table", role: "group", style: `--columns: ${kw}`,
      "aria-label": `Filter ${this.selected} weights${caption ? ", " + caption : ""}` });
    for (let p = 0; p < kh; p++) {
      for (let q = 0; q < kw; q++) {
        const index = channel * taps + p * kw + q;
        const cell = element("input", { type: "number", step: "0.1", class: "ke-cell", "data-index": index,
          "aria-label": `weight row ${p} column ${q}${caption ? " " + caption : ""}`,
          value: shortNumber(filter.values[index]) });
        cell.addEventListener("input", () => this.edit(cell));
        this.guard(cell, () => this.filters[this.selected].values[index]);
        table.append(cell);
      }
    }
    return element("figure", { class: "ke-grid" }, element("figcaption", { class: "muted" }, caption), table);
  }

  edit(cell) {
    const value = entryValue(cell);
    if (value === null) return;
    const filter = this.filters[this.selected];
    filter.values[Number(cell.dataset.index)] = value;
    filter.preset = null;
    this.showPreset(null);
    this.changed();
  }

  /** The list shows preset `name` (null: edited by hand), and the line under it what that preset does. */
  showPreset(name) {
    this.root.querySelector(".ke-preset").value = name ?? "";
    this.root.querySelector(".ke-preset-effect").textContent = name ? PRESET_EFFECTS[name] : "";
  }

  paintCell(cell) {
    const values = this.filters[this.selected]?.values;
    if (!values) return;
    const [r, g, b] = rgb(values[Number(cell.dataset.index)], maxAbs(values));
    cell.style.backgroundColor = `rgb(${r} ${g} ${b})`;
    cell.style.color = (r * 0.299 + g * 0.587 + b * 0.114) < 140 ? "#fff" : "#111";
  }
}

/**
 * The number typed in `field` if a float32 holds it, else null: the field is then marked invalid, and its weight
 * keeps the value it had until the entry is a number (see KernelEditor.guard for leaving the field).
 */
function entryValue(field) {
  const value = Number(field.value);
  const usable = field.value.trim() !== "" && Number.isFinite(Math.fround(value));
  field.setAttribute("aria-invalid", String(!usable));
  return usable ? value : null;
}

/** Filter `old` (of shape `oldShape`, or unknown) for a new shape: its preset, or its values re-centred. */
async function reshaped(old, oldShape, index, inPerGroup, kh, kw) {
  const bias = old?.bias ?? 0;
  if (old && !old.preset && old.values) {
    if (old.values.length === inPerGroup * kh * kw) return { preset: null, values: Float32Array.from(old.values), bias };
    if (oldShape) return { preset: null, values: recentre(old.values, oldShape, inPerGroup, kh, kw), bias };
  }
  const preset = old?.preset ?? defaultPreset(index);
  return { preset, values: await presetValues(preset, index, inPerGroup, kh, kw), bias };
}

/** A filter's values for preset `name`: the identity stands in where the preset needs another kernel size. */
async function presetValues(name, index, inPerGroup, kh, kw) {
  if (!allPresetsAvailable(kh, kw) && !ANY_SIZE_PRESETS.includes(name)) name = "identity";
  const taps = kh * kw;
  const values = new Float32Array(inPerGroup * taps);
  for (let c = 0; c < inPerGroup; c++) {
    const kernel = await presetKernel(name, kh, kw, index * 64 + c);
    values.set(kernel.map((v) => (name === "random" ? v : v / inPerGroup)), c * taps);
  }
  return values;
}

/** Values of an old kernel shape placed centred in a new one (cropped or padded with zeros). */
function recentre(values, old, inPerGroup, kh, kw) {
  const out = new Float32Array(inPerGroup * kh * kw);
  const dr = Math.floor((kh - old.kh) / 2);
  const dc = Math.floor((kw - old.kw) / 2);
  for (let c = 0; c < inPerGroup; c++) {
    const from = Math.min(c, old.inPerGroup - 1);
    for (let p = 0; p < old.kh; p++) {
      for (let q = 0; q < old.kw; q++) {
        const r = p + dr;
        const k = q + dc;
        if (r >= 0 && r < kh && k >= 0 && k < kw) {
          out[(c * kh + r) * kw + k] = values[(from * old.kh + p) * old.kw + q];
        }
      }
    }
  }
  return out;
}

function maxAbs(values) {
  let limit = 0;
  for (const v of values) limit = Math.max(limit, Math.abs(v));
  return limit || 1;
}

/** The diverging scale symmetric about zero that a filter's weights are drawn with. */
function scaleOf(values) {
  const limit = maxAbs(values);
  return { min: -limit, max: limit, diverging: true };
}

const STOPS = DIVERGING.map(([, hex]) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)));

/** A weight's colour [r, g, b] on the diverging scale (plots.js) from -limit (blue) to +limit (red). */
function rgb(value, limit) {
  const position = clamp((value / limit + 1) / 2, 0, 1) * (STOPS.length - 1);
  const low = Math.min(Math.floor(position), STOPS.length - 2);
  const t = position - low;
  return STOPS[low].map((channel, k) => Math.round(channel + t * (STOPS[low + 1][k] - channel)));
}

const clamp = (x, low, high) => Math.min(high, Math.max(low, x));
