// The code panel of the Autoencoder view: one slider per code number, reset, a random code, and a blend
// toward the code of a held-out MNIST digit. It shows values and reports what the person asked for; the
// view (autoencoder.js) keeps the state and runs the decoder.
//
// Edits travel in the URL as "dim:value" pairs, e.g. "3:1.25,7:-0.5"; the other numbers are the encoder's.
// Slider ranges come from the codes of the ten held-out MNIST digits (mnist-0 .. mnist-9), fetched from the
// server as .npy files: each slider spans the values those digits take on its number, widened by half that
// span on each side (and always reaching this input's own value).

import { postForBlob } from "./api.js";
import { element } from "./dom.js";
import { formatNumber } from "./plots.js";

const DIGITS = 10;
const SLIDER_STEPS = 200; // positions of a slider: an arrow key moves it by one
const MARGIN = 0.5; // a slider reaches this share of the digits' span beyond it on each side
const FETCH_AT_ONCE = 2; // digit codes requested at the same time
// The held-out digits' code numbers stay within about +-40: an edit (from a link) is held to +-MAX_EDIT.
const MAX_EDIT = 100;

// ---- edits and codes ---------------------------------------------------------------------------------

/** A value as it is kept in the URL: four significant digits. */
export function roundValue(value) {
  return Number(value.toPrecision(4));
}

/**
 * The edits of an edits text ("3:1.25,7:-0.5") as a Map dim -> value, and what of the text was not used as it
 * stands, as link-notice entries: malformed pairs and dims outside 0..size-1 are dropped, values beyond
 * +-MAX_EDIT are held to it.
 */
export function readEdits(text, size) {
  const edits = new Map();
  const ignored = [];
  const ignore = (pair, reason) => ignored.push({ key: "edits", text: pair, reason });
  for (const pair of (text || "").split(",").filter(Boolean)) {
    const match = /^(\d+):(\S+)$/.exec(pair);
    const [dim, value] = match ? [Number(match[1]), Number(match[2])] : [];
    if (!match || !Number.isFinite(value)) ignore(pair, "not a code number and its value, such as 3:1.25");
    else if (dim >= size) ignore(pair, `the code's numbers are 0 to ${size - 1}`);
    else {
      const held = Math.max(-MAX_EDIT, Math.min(MAX_EDIT, value));
      if (held !== value) ignore(pair, `held to ${held} (edits go from ${-MAX_EDIT} to ${MAX_EDIT})`);
      edits.set(dim, held);
    }
  }
  return { edits, ignored };
}

/** Map dim -> value of an edits text (readEdits without what it could not use). */
export function parseEdits(text, size) {
  return readEdits(text, size).edits;
}

/** The edits text of a Map dim -> value, sorted by dim. */
export function formatEdits(edits) {
  return [...edits.entries()].sort(([a], [b]) => a - b).map(([dim, value]) => `${dim}:${value}`).join(",");
}

/** The encoded code with the edited numbers replaced. */
export function applyEdits(encoded, edits) {
  const code = Float32Array.from(encoded);
  for (const [dim, value] of edits) code[dim] = value;
  return code;
}

/** Edits that turn `encoded` into `code` (rounded), for the numbers that differ. */
export function editsToward(encoded, code) {
  const edits = new Map();
  code.forEach((value, dim) => {
    const rounded = roundValue(value);
    if (rounded !== roundValue(encoded[dim])) edits.set(dim, rounded);
  });
  return edits;
}

/** Per number {low, high} of the digits' codes (null without them). */
function digitSpans(digitCodes, size) {
  if (!digitCodes) return null;
  return Array.from({ length: size }, (_, dim) => {
    const values = digitCodes.map((code) => code[dim]);
    return { low: Math.min(...values), high: Math.max(...values) };
  });
}

/** Slider {min, max} per number: the digits' span plus a margin, reaching `encoded` and any edited value. */
export function sliderRanges(encoded, digitCodes, edits = new Map()) {
  const spans = digitSpans(digitCodes, encoded.length);
  return Array.from(encoded, (value, dim) => {
    const span = spans ? spans[dim] : { low: value, high: value };
    const low = Math.min(span.low, value, edits.get(dim) ?? value);
    const high = Math.max(span.high, value, edits.get(dim) ?? value);
    const pad = Math.max(MARGIN * (high - low), spans ? 1e-3 : Math.max(1, Math.abs(value)));
    return { min: low - pad, max: high + pad };
  });
}

/** A code drawn uniformly inside the span of the digits' codes (or of the slider ranges without them). */
export function randomCode(ranges, digitCodes, random = Math.random) {
  const spans = digitSpans(digitCodes, ranges.length) ?? ranges.map(({ min, max }) => ({ low: min, high: max }));
  return Float32Array.from(spans, ({ low, high }) => low + random() * (high - low));
}

/** (1 - t) * from + t * to. */
export function blendCodes(from, to, t) {
  return Float32Array.from(from, (value, dim) => (1 - t) * value + t * to[dim]);
}

// ---- the digits' codes ---------------------------------------------------------------------------------

/** The float32 values of a .npy file (little-endian float32 only). */
export function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.subarray(1, 6));
  if (bytes[0] !== 0x93 || magic !== "NUMPY") throw new Error("not a .npy file");
  const view = new DataView(buffer);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = (major === 1 ? 10 : 12) + headerLength;
  const header = new TextDecoder().decode(bytes.subarray(major === 1 ? 10 : 12, start));
  if (!header.includes("'<f4'")) throw new Error(`unexpected .npy data type in ${header.trim()}`);
  return new Float32Array(buffer.slice(start));
}

/** The codes of mnist-0 .. mnist-9 (index `codeIndex` of `network`), as ten Float32Arrays. */
export async function loadDigitCodes(network, codeIndex) {
  const codes = new Array(DIGITS);
  let next = 0;
  async function worker() {
    while (next < DIGITS) {
      const digit = next++;
      const { blob } = await postForBlob(`/api/runs/layers/${codeIndex}.npy`,
        { network, input: { sample: `mnist-${digit}` } });
      codes[digit] = parseNpy(await blob.arrayBuffer());
    }
  }
  await Promise.all(Array.from({ length: FETCH_AT_ONCE }, worker));
  return codes;
}

// ---- the panel ------------------------------------------------------------------------------------------

/**
 * The sliders and buttons inside `root` (#ae-code). Callbacks: onSlide(dim, value) while a slider moves,
 * onReset(), onRandom(), onBlend(digit, t). Call setEncoded(encoded, edits) for a new input, show(code,
 * edits) for the values on screen, setDigitCodes(codes | null, why) once they are known.
 */
export class CodePanel {
  constructor(root, { onSlide, onReset, onRandom, onBlend }) {
    this.root = root;
    this.find = (selector) => root.querySelector(selector);
    this.sliders = [];
    this.encoded = null;
    this.digitCodes = null;
    this.ranges = [];
    const reset = this.find("#ae-reset");
    reset.addEventListener("click", () => {
      const first = Math.min(...(this.edits ?? new Map()).keys());
      onReset();
      // the button disables itself once nothing is edited: keep the keyboard on the first number it put back
      if (reset.disabled) this.sliders[first]?.input.focus();
    });
    this.find("#ae-random").addEventListener("click", onRandom);
    const digit = this.find("#ae-blend-digit");
    const blend = this.find("#ae-blend");
    digit.replaceChildren(...Array.from({ length: DIGITS }, (_, d) => element("option", { value: d }, String(d))));
    const blended = () => onBlend(Number(digit.value), Number(blend.value));
    blend.addEventListener("input", blended);
    digit.addEventListener("change", blended);
    this.onSlide = onSlide;
    root.dataset.digitCodes = "loading";
  }

  /** The ten digits' codes arrived (or `codes` is null and `why` says what failed). */
  setDigitCodes(codes, why = "") {
    this.digitCodes = codes;
    this.root.dataset.digitCodes = codes ? "loaded" : "failed";
    this.find("#ae-code-note").textContent = codes ? ""
      : `The ten held-out digits could not be encoded (${why}), so each slider spans its own value ± at least 1 `
        + "and blending is off.";
    if (this.encoded) this.setEncoded(this.encoded, this.edits ?? new Map());
  }

  /** A new encoded code: new slider ranges, ticks at the encoded values, the controls enabled. */
  setEncoded(encoded, edits) {
    this.encoded = Float32Array.from(encoded);
    this.ranges = sliderRanges(this.encoded, this.digitCodes, edits);
    if (this.sliders.length !== encoded.length) this.build(encoded.length);
    this.sliders.forEach(({ input, tick }, dim) => {
      const step = (this.ranges[dim].max - this.ranges[dim].min) / SLIDER_STEPS, at = this.encoded[dim];
      // the slider's positions pass through the encoded value, so the arrow keys come back to it exactly
      const min = at - Math.ceil((at - this.ranges[dim].min) / step) * step;
      const max = at + Math.ceil((this.ranges[dim].max - at) / step) * step;
      input.min = String(min);
      input.max = String(max);
      input.step = String(step);
      this.sliders[dim].decimals = Math.max(0, Math.min(6, Math.ceil(-Math.log10(step))));
      input.disabled = false;
      tick.style.setProperty("--at", String((at - min) / (max - min)));
      tick.title = `encoded value ${formatNumber(this.encoded[dim])}`;
    });
    for (const id of ["#ae-reset", "#ae-random"]) this.find(id).disabled = false;
    const blendOff = !this.digitCodes;
    this.find("#ae-blend").disabled = blendOff;
    this.find("#ae-blend-digit").disabled = blendOff;
    this.show(applyEdits(this.encoded, edits), edits);
  }

  build(size) {
    this.sliders = Array.from({ length: size }, (_, dim) => {
      const id = `ae-c${dim}`;
      const input = element("input", {
        type: "range", id, "data-dim": dim, disabled: true, "aria-label": `c${dim}, code number ${dim}`,
      });
      const tick = element("span", { class: "ae-tick", "aria-hidden": "true" });
      const output = element("output", { for: id, class: "ae-value" });
      input.addEventListener("input", () => this.onSlide(dim, Number(input.value)));
      const row = element("div", { class: "ae-slider", "data-dim": dim },
        element("label", { for: id }, `c${dim}`), element("span", { class: "ae-track" }, input, tick), output);
      return { row, input, tick, output };
    });
    this.find("#ae-sliders").replaceChildren(...this.sliders.map(({ row }) => row));
  }

  /** Show `code` on the sliders; the numbers in `edits` are marked as changed. */
  show(code, edits) {
    this.edits = edits;
    this.sliders.forEach(({ row, input, output, decimals }, dim) => {
      const value = code[dim];
      if (Number(input.value) !== value) input.value = String(value);
      const encoded = this.encoded[dim];
      const changed = edits.has(dim);
      output.textContent = value.toFixed(decimals); // as precise as one step of the slider
      row.classList.toggle("edited", changed);
      input.setAttribute("aria-valuetext", changed ? `${formatNumber(value)}, changed from ${formatNumber(encoded)}`
        : `${formatNumber(value)}, as encoded`);
    });
    this.find("#ae-reset").disabled = edits.size === 0;
  }

  /** Show the blend control at digit `digit` and position `t`. */
  showBlend(digit, t) {
    this.find("#ae-blend-digit").value = String(digit);
    this.find("#ae-blend").value = String(t);
    t = Number(this.find("#ae-blend").value); // a position from a link, held to 0 .. 1
    this.find("#ae-blend-value").textContent = `${Math.round(100 * t)}%`;
    this.find("#ae-blend").setAttribute("aria-valuetext", `${Math.round(100 * t)}%`);
  }

  /** The code whose decoding is on screen, for readers and tests (data-code). */
  markShown(code) {
    this.root.dataset.code = JSON.stringify(Array.from(code));
  }
}
