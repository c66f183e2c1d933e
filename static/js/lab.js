// The Layer lab (`/`): one layer kind, its settings generated from the catalogue, an input, kernels for
// convolutions, and the output, recomputed on the server while a slider moves. Hovering an output cell
// (or stepping the player) shows the input window it read and the engine's arithmetic for it.
//
// The whole view is one state object mirrored in the URL (state.js). Runs go over one WebSocket
// (wire.js). Changes are sent on the next animation frame, and at most one run is in flight: changes
// made meanwhile are folded into one request sent as soon as the answer is in. (Sending every frame and
// letting the server's latest-request-wins cancel the older runs would draw nothing while a slider
// moves whenever a run takes longer than a frame: a layer already computing is finished and dropped.)
// A run still unanswered after SUPERSEDE_MS is superseded by the newer state.

import { announcer } from "./announce.js";
import { cachedJSON } from "./api.js";
import {
  checkLinkUpload, createInputPicker, decodeSource, encodeSource, listSamples, prepareInput, sourceImage,
  thinInputReason,
} from "./inputs.js";
import { createKernelEditor } from "./kernels.js";
import { createParamControls, pairOf } from "./lab-controls.js";
import { explanationSummary, renderExplanation, windowCells } from "./lab-explain.js";
import { createPlayer } from "./lab-player.js";
import { choiceIgnored, inputIgnored, linkText, paramsIgnored, showLinkNotice } from "./link-notice.js";
import { sineWave } from "./sequence-inputs.js";
import { InputView, OutputView } from "./lab-view.js";
import { createState } from "./state.js";
import { encodeArray, RunSocket } from "./wire.js";

const SIZES = [28, 32, 64, 128, 256, 512];
const DEFAULTS = {
  kind: "Conv2d", params: {}, input: "sample:camera", size: 128, colour: "gray", range: "auto", seq: "sine",
  kernels: "", filter: 0, speed: 8,
};
const DERIVED = ["in_channels", "num_features", "in_features", "input_size"]; // they follow from the input
// what the lab can show at once (channels, height and width: Unflatten's maps)
const LIMITS = { out_channels: 16, hidden_size: 64, out_features: 64, channels: 16, height: 64, width: 64 };
// settings whose slider a link widens to its value (a vector of any length is drawn as a strip): the Network
// page's "Study this layer" link to a decoder's Linear of 784 features
const WIDENED_BY_LINKS = ["out_features"];
const CONVOLUTIONS = ["Conv2d", "ConvTranspose2d"];
const WINDOWED = ["Conv2d", "MaxPool2d", "AvgPool2d"]; // the window of an output cell is worked out here
const ELEMENTWISE = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "BatchNorm2d", "Softmax"];
const SIGNED_BY_DEFAULT = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax"];
const SMALL_SIDE = 32; // vectors (Linear) and picture rows (RNN) use at most this many pixels a side
const SINE = { steps: 48, period: 16 };
const URL_DELAY_MS = 300;
const SUPERSEDE_MS = 2000;

const $ = (id) => document.getElementById(id);

/** "image" (N, C, H, W), "sequence" (N, T, F) or "vector" (N, F): what a kind takes, from the catalogue. */
function familyOf(kind) {
  if (kind.input_ndim.includes(4)) return "image";
  return kind.input_ndim.includes(2) ? "vector" : "sequence";
}

/** The message without the "layer 0 (Conv2d): " the server puts in front. */
function plainMessage(message) {
  return message.replace(/^layer \d+ \([^)]*\): /, "");
}

/** [min, max] of each channel of a uint8 frame (offset and offset + 255 scale), or null. */
function channelExtents(message) {
  if (message.encoding !== "uint8" || message.channel_axis !== 1 || message.non_finite) return null;
  return message.offsets.map((offset, c) => [offset, offset + 255 * message.scales[c]]);
}

class Lab {
  /** Speaks through the lab's status region: the explained cell, and the connection's changes. */
  announce = announcer($("lab-said"));

  async start() {
    // fetched beside the catalogue; null: the picker says why, and a link's sample is not checked
    const samplesLoading = listSamples().catch(() => null);
    const uploadChecked = checkLinkUpload();
    let catalogue;
    try {
      catalogue = await cachedJSON("/api/layers");
    } catch (error) {
      $("lab-kind-error").textContent = `The layer catalogue could not be loaded: ${error.message}`;
      return;
    }
    this.kinds = Object.fromEntries(catalogue.map((kind) => [kind.kind, kind]));
    this.samples = await samplesLoading;
    await uploadChecked;
    this.state = createState(DEFAULTS);
    this.view = this.checked(this.state.get());
    this.draws = 0;
    this.kernelVersion = 0;
    this.target = null;
    this.outputShape = null;
    this.buildKindSelect(catalogue);
    this.inputView = new InputView($("lab-input-view"), $("lab-input-legend"));
    this.outputView = new OutputView($("lab-output-view"), { onHover: (index) => this.hover(index) });
    this.picker = createInputPicker($("lab-input-picker"), {
      initial: decodeSource(this.view.input) ?? decodeSource(DEFAULTS.input),
      onChange: (source) => this.update({ input: encodeSource(source) }),
    });
    this.editor = createKernelEditor($("lab-kernels"), {
      onChange: () => {
        this.kernelVersion++;
        this.update({ kernels: this.editor.getState() });
      },
      // the filter shown is part of the view (a live session's followers see the one the presenter points at)
      onSelect: (filter) => this.update({ filter }, { compute: false }),
    });
    this.editor.setState(this.view.kernels);
    this.editor.showFilter(this.view.filter);
    this.player = this.buildPlayer();
    this.bindInputOptions();
    this.showOptions();
    this.socket = new RunSocket({ encoding: "uint8", onStatus: (status, detail) => this.socketStatus(status, detail) });
    this.state.subscribe((values) => this.restore(values)); // Back and Forward
    this.applyKind();
    await this.picker.ready;
    this.schedule();
  }

  /**
   * The state with unknown kinds and sizes replaced by the defaults, and settings held to what the lab shows.
   * What was replaced or held is shown in the link notice, with the URL's values that did not parse.
   */
  checked(values) {
    const view = { ...values };
    const badInput = inputIgnored(view.input, { samples: this.samples });
    const ignored = [...this.state.unread().map((entry) => this.paramAtTop(entry, values.kind)), ...badInput];
    const ignore = (key, value, reason) => ignored.push({ key, text: linkText(value), reason });
    if (badInput.length) view.input = DEFAULTS.input;
    for (const name of ["colour", "range", "seq"]) {
      const wrong = choiceIgnored(name, view[name], $(`lab-${name}`));
      ignored.push(...wrong);
      if (wrong.length) view[name] = DEFAULTS[name];
    }
    const speed = $("lab-speed");
    if (!(Number.isInteger(view.speed) && view.speed >= Number(speed.min) && view.speed <= Number(speed.max))) {
      ignore("speed", view.speed, `not a whole number of steps a second from ${speed.min} to ${speed.max}`);
      view.speed = DEFAULTS.speed;
    }
    if (!Object.hasOwn(this.kinds, view.kind)) {
      ignore("kind", view.kind, `not a layer kind of the lab; it has ${Object.keys(this.kinds).join(", ")}`);
      view.kind = DEFAULTS.kind;
    }
    if (!(Number.isInteger(view.filter) && view.filter >= 0 && view.filter < LIMITS.out_channels)) {
      ignore("filter", view.filter, `not a filter of the lab; they are 0 to ${LIMITS.out_channels - 1}`);
      view.filter = DEFAULTS.filter;
    }
    if (!SIZES.includes(view.size)) {
      ignore("size", view.size, `not one of ${SIZES.join(", ")}`);
      view.size = DEFAULTS.size;
    }
    if (!view.params || typeof view.params !== "object" || Array.isArray(view.params)) {
      ignore("params", view.params, "not an object of settings");
      view.params = {};
    }
    this.limits = { ...LIMITS };
    for (const name of WIDENED_BY_LINKS) {
      if (Number.isInteger(view.params[name])) this.limits[name] = Math.max(LIMITS[name], view.params[name]);
    }
    const params = paramsIgnored(this.kinds[view.kind], view.params, { limits: this.limits, where: "the lab" });
    ignored.push(...params.ignored);
    view.params = params.valid;
    this.linkIgnored = ignored; // the kernels' part joins it once the editor knows the layer's shape
    showLinkNotice(ignored);
    return view;
  }

  /** A link's entry for a key that is a setting of layer `kind` (?stride=2): say where such settings go. */
  paramAtTop(entry, kind) {
    const isParam = this.kinds[kind]?.params.some((param) => param.name === entry.key);
    if (Object.hasOwn(DEFAULTS, entry.key) || !isParam) return entry;
    let value;
    try {
      value = JSON.stringify(JSON.parse(entry.text)); // 2, true, "zeros"
    } catch {
      value = JSON.stringify(entry.text); // zeros
    }
    const example = `params={"${entry.key}":${value}}`;
    return { ...entry, reason: `a setting of the layer, which the link gives inside params, as ${example}` };
  }

  restore(values) {
    this.view = this.checked(values);
    this.picker.setSource(decodeSource(this.view.input) ?? decodeSource(DEFAULTS.input));
    this.editor.setState(this.view.kernels);
    this.editor.showFilter(this.view.filter);
    this.editorKey = null;
    this.kernelVersion++;
    this.showOptions();
    this.applyKind();
    this.schedule();
  }

  // ---- controls -------------------------------------------------------------------------------------

  buildKindSelect(catalogue) {
    const select = $("lab-kind");
    select.replaceChildren(...catalogue.map((kind) => new Option(kind.kind, kind.kind)));
    select.value = this.view.kind;
    select.addEventListener("change", () => {
      if (select.value === this.view.kind) return;
      this.target = null;
      this.view.params = {};
      this.view.kernels = "";
      this.editor.setState("");
      this.editorKey = null;
      this.player.reset();
      this.update({ kind: select.value }, { push: true }); // another layer: Back returns to the one before
      this.applyKind();
    });
  }

  /** Show the kind's text, generate its controls, and show the panels it uses. */
  applyKind() {
    const kind = this.kinds[this.view.kind];
    const family = familyOf(kind);
    $("lab-kind").value = kind.kind;
    $("lab-title").textContent = kind.kind;
    $("lab-summary").textContent = kind.summary;
    $("lab-formula").textContent = kind.formula;
    $("lab-shape-rule").textContent = kind.shape_rule;
    this.renderControls();
    const rows = this.view.seq === "rows";
    $("lab-kernels-panel").hidden = !CONVOLUTIONS.includes(kind.kind);
    $("lab-colour-row").hidden = family !== "image";
    $("lab-range-row").hidden = family !== "image";
    $("lab-seq-row").hidden = family !== "sequence";
    $("lab-input-picker").hidden = family === "sequence" && !rows;
    $("lab-size-row").hidden = family !== "image";
    const lab = document.querySelector(".lab");
    lab.dataset.family = family;
    lab.toggleAttribute("data-kernels", CONVOLUTIONS.includes(kind.kind));
    $("lab-output-help").hidden = !kind.explains;
    this.showExplainHelp();
    this.clearErrors();
  }

  /** The explanation panel's opening line: how to ask for a breakdown, or that this kind gives none. */
  showExplainHelp() {
    const kind = this.kinds[this.view.kind];
    const text = kind.explains ? "Hover over or tap an output cell."
      : `${kind.kind} does not break single output values down.`;
    $("lab-explain-body").replaceChildren(Object.assign(document.createElement("p"),
      { className: "muted", textContent: text }));
  }

  renderControls() {
    const channels = this.view.colour === "rgb" ? 3 : 1;
    this.controls = createParamControls($("lab-params"), this.kinds[this.view.kind], this.view.params, {
      hidden: DERIVED,
      limits: { ...this.limits, groups: channels },
      onInput: (name, values) => {
        this.lastChanged = name;
        this.update({ params: values });
      },
    });
  }

  bindInputOptions() {
    const size = $("lab-size");
    size.addEventListener("input", () => {
      this.update({ size: SIZES[Number(size.value)] });
      this.showOptions();
    });
    const colour = $("lab-colour");
    colour.addEventListener("change", () => {
      this.update({ colour: colour.value });
      this.editorKey = null;
      this.renderControls();
    });
    for (const name of ["range", "seq"]) {
      const select = $(`lab-${name}`);
      select.addEventListener("change", () => {
        this.update({ [name]: select.value });
        this.applyKind();
      });
    }
  }

  /** The input options' controls set to the view's values. */
  showOptions() {
    $("lab-size").value = String(SIZES.indexOf(this.view.size));
    $("lab-size-value").textContent = `${this.view.size} px`;
    for (const name of ["colour", "range", "seq"]) $(`lab-${name}`).value = this.view[name];
  }

  buildPlayer() {
    return createPlayer({
      play: $("lab-play"), step: $("lab-step"), reset: $("lab-reset"), speed: $("lab-speed"),
      speedValue: $("lab-speed-value"), position: $("lab-player-position"),
    }, {
      speed: this.view.speed,
      count: () => (this.outputShape?.length === 4 ? this.outputShape[2] * this.outputShape[3] : 0),
      onStep: (cell) => {
        const w = this.outputShape[3];
        const channel = this.target?.length === 3 ? this.target[0] : 0;
        this.setTarget([channel, Math.floor(cell / w), cell % w]);
        this.outputView.reveal(cell + 1);
      },
      onReset: () => this.outputView.reveal(null),
      onSpeed: (speed) => this.update({ speed }),
      describe: (cell) => {
        const w = this.outputShape[3];
        return `output row ${Math.floor(cell / w)}, column ${cell % w}`;
      },
    });
  }

  // ---- state -----------------------------------------------------------------------------------------

  /**
   * Change the view and compute it (not with compute: false); the URL follows soon (at once, as a history entry
   * Back returns to, with push).
   */
  update(patch, { push = false, compute = true } = {}) {
    Object.assign(this.view, patch);
    clearTimeout(this.urlTimer);
    if (push) this.state.set({ ...this.view }, { silent: true, push: true });
    else this.urlTimer = setTimeout(() => this.state.set({ ...this.view }, { silent: true }), URL_DELAY_MS);
    if (compute) this.schedule();
  }

  hover(index) {
    // dimmed maps of settings that could not be computed are not explained: the new settings would be
    if (this.player.playing || this.outputStale || index.length !== this.outputShape?.length - 1) return;
    this.setTarget(index);
  }

  /** The output cell to explain (output index without the batch axis), highlighted at once. */
  setTarget(index) {
    this.target = index;
    this.outputView.highlight(index);
    const cells = this.windowOf(index);
    if (cells) this.inputView.highlight(cells);
    this.schedule();
  }

  /** Forget the explained cell: no outline, no input window, the panel back to its opening line. */
  dropTarget() {
    this.target = null;
    this.outputView.highlight(null);
    this.inputView.highlight(null);
    this.showExplainHelp();
  }

  /** Input cells [row, col] an output cell reads, where this page can tell without asking the engine. */
  windowOf(index) {
    if (!index || index.length !== 3 || this.outputShape?.length !== 4) return null;
    const [, i, j] = index;
    if (ELEMENTWISE.includes(this.view.kind)) return [[i, j]];
    if (!WINDOWED.includes(this.view.kind)) return null;
    const p = this.paramValues();
    const [kh, kw] = pairOf(p.kernel_size);
    const [sh, sw] = pairOf(p.stride ?? p.kernel_size);
    const [ph, pw] = pairOf(p.padding ?? 0);
    const [dh, dw] = pairOf(p.dilation ?? 1);
    const cells = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) cells.push([i * sh - ph + a * dh, j * sw - pw + b * dw]);
    }
    return cells;
  }

  /** Every parameter of the kind: the catalogue's defaults overridden by the view's values. */
  paramValues() {
    const kind = this.kinds[this.view.kind];
    return { ...Object.fromEntries(kind.params.map((p) => [p.name, p.default])), ...this.view.params };
  }

  // ---- runs ------------------------------------------------------------------------------------------

  schedule() {
    this.dirty = true;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.tick();
    });
  }

  tick() {
    if (!this.dirty) return;
    if (this.inFlight && performance.now() - this.inFlight.sent < SUPERSEDE_MS) return; // its end reschedules
    this.dirty = false;
    this.send();
  }

  async send() {
    const job = { sent: performance.now() };
    this.inFlight = job;
    let built;
    try {
      built = await this.build();
    } catch (error) {
      if (this.inFlight === job) this.inFlight = null;
      this.picker.showError(error.message);
      this.buildFailed = true; // tried again when the connection comes back (socketStatus)
      if (this.dirty) this.schedule();
      return;
    }
    this.buildFailed = false;
    if (this.inFlight !== job) return;
    if (built.key !== this.drawnKey) performance.mark("lamina:request-sent"); // a new output will be drawn
    job.sent = performance.now();
    $("lab-status").textContent = "computing…";
    const handle = this.socket.run(built.request, this.handlers(job, built));
    handle.done.then(() => {
      if (this.inFlight === job) this.inFlight = null;
      if (this.dirty) this.schedule();
    });
  }

  /** The run request for the current view, and what its answer will be drawn with. */
  async build() {
    const view = this.view;
    const kind = this.kinds[view.kind];
    const family = familyOf(kind);
    const layer = { kind: view.kind, params: { ...view.params } };
    const input = await this.buildInput(family);
    if (CONVOLUTIONS.includes(view.kind) && await this.syncEditor(input.channels)) {
      layer.weights = this.editor.getWeights();
    }
    const request = { layer, input: input.request };
    if (this.target && this.kinds[view.kind].explains) request.explain = [0, [0, ...this.target]];
    const key = JSON.stringify([view.kind, view.params, CONVOLUTIONS.includes(view.kind) ? this.kernelVersion : 0,
      input.key]);
    return { request, key, family, input, explaining: Boolean(request.explain) };
  }

  async buildInput(family) {
    const view = this.view;
    const source = this.picker.getSource() ?? decodeSource(DEFAULTS.input);
    if (family === "image") {
      const channels = view.colour === "rgb" ? 3 : 1;
      const signed = view.range === "signed" || (view.range === "auto" && SIGNED_BY_DEFAULT.includes(view.kind));
      const request = await prepareInput(source, { size: view.size, channels, signed, byName: true });
      return { request, channels,
        range: signed ? [-1, 1] : [0, 1], key: `${view.input}|${view.size}|${channels}|${signed}` };
    }
    if (family === "sequence" && view.seq === "sine") {
      const values = sineWave({ amplitude: 1, frequency: 1 / SINE.period, length: SINE.steps - 1 });
      return { request: { array: encodeArray(values, [SINE.steps, 1]) }, key: "sine", title: "a sine wave, sin(2π t / 16)" };
    }
    const side = Math.min(view.size, SMALL_SIDE);
    // Unflatten folds its input into C maps of H×W: it reads a picture of C·H rows and W columns, so each map
    // is a band of it
    const folded = view.kind === "Unflatten" ? this.paramValues() : null;
    const { values, shape: [, h, w] } = await sourceImage(source, { size: side, channels: 1,
      shape: folded && [folded.channels * folded.height, folded.width] });
    const shape = family === "vector" ? [h * w] : [h, w];
    const request = { array: encodeArray(values, shape), ...(source.invert ? { invert: true } : {}) };
    return { request, key: `${view.input}|${side}|${family}|${h}x${w}`, picture: [h, w],
      title: family === "sequence" ? "the picture's rows, one per time step" : `the ${h}×${w} picture as one vector` };
  }

  /** Reshape the kernel editor for the layer's settings; false when they cannot hold kernels (bad groups). */
  async syncEditor(channels) {
    const p = this.paramValues();
    if (channels % p.groups || p.out_channels % p.groups) return false;
    const shape = { kind: this.view.kind, outChannels: p.out_channels, inPerGroup: channels / p.groups,
      groups: p.groups, kernelSize: pairOf(p.kernel_size), bias: p.bias };
    const key = JSON.stringify(shape);
    if (key !== this.editorKey) {
      await this.editor.configure(shape);
      const unused = this.editor.linkUnused();
      if (unused.length) showLinkNotice([...this.linkIgnored, ...unused]);
      this.editorKey = key;
      this.kernelVersion++;
      this.view.kernels = this.editor.getState();
    }
    return true;
  }

  handlers(job, built) {
    return {
      onInput: (message) => this.drawInput(message.tensor, built),
      onLayer: (message) => {
        // the settings drawn last, back after ones that could not be computed: their maps are current again
        if (built.key !== this.drawnKey || this.outputStale) this.drawOutput(message, job, built);
        this.clearErrors();
      },
      onExplain: (message) => this.showExplanation(message, built),
      onError: (message) => this.showRunError(message, built),
      onDone: (message) => {
        $("lab-status").textContent = `computed in ${message.compute_ms.toFixed(1)} ms`;
      },
    };
  }

  drawInput(tensor, built) {
    const padding = WINDOWED.includes(this.view.kind) ? pairOf(this.paramValues().padding) : [0, 0];
    const paddingMode = this.paramValues().padding_mode ?? "zeros";
    const key = JSON.stringify([built.input.key, padding, paddingMode]);
    if (key === this.drawnInputKey) return;
    this.drawnInputKey = key;
    this.inputShape = tensor.shape;
    $("lab-input-shape").textContent = tensor.shape.slice(1).join(" × ") + (built.input.title ? `: ${built.input.title}` : "");
    if (built.family === "image") this.inputView.showImage(tensor, { range: built.input.range, padding, paddingMode });
    else if (built.input.picture) {
      const [h, w] = built.input.picture;
      this.inputView.showImage({ data: tensor.data, shape: [1, 1, h, w] });
    } else this.inputView.showSequence(tensor);
  }

  drawOutput(message, job, built) {
    const { tensor } = message;
    const shape = tensor.shape;
    const changedShape = JSON.stringify(shape) !== JSON.stringify(this.outputShape);
    this.outputShape = shape;
    if (changedShape && this.player.cell >= 0) this.player.reset();
    if (this.target && (this.target.length !== shape.length - 1 || this.target.some((v, a) => v >= shape[a + 1]))) {
      this.dropTarget();
    }
    if (shape.length === 4) this.outputView.showMaps(tensor, channelExtents(message));
    else if (shape.length === 3) this.outputView.showSequence(tensor, { featureName: "hidden unit" });
    else this.outputView.showVector(tensor, { columns: built.input.picture?.[1] ?? this.inputShape?.at(-1) });
    $("lab-player").hidden = shape.length !== 4;
    $("lab-output-shape").textContent = shape.slice(1).join(" × ");
    this.drawnKey = built.key;
    this.draws++;
    performance.mark("lamina:output-drawn");
    const element = this.outputView.element;
    element.dataset.draws = String(this.draws);
    element.dataset.drawMs = (performance.now() - job.sent).toFixed(1);
    element.dataset.shape = shape.slice(1).join("x");
    this.showStale(false);
  }

  /**
   * Dim the output (stale: the last maps computed, not those of the settings shown, which could not be) or not.
   * Dimmed maps are not explained, nor stepped through: the cell, its input window and its arithmetic would
   * mix the two settings.
   */
  showStale(stale) {
    if (stale) this.player.pause();
    this.outputStale = stale;
    this.outputView.element.classList.toggle("stale", stale);
    $("lab-play").disabled = stale;
    $("lab-step").disabled = stale;
  }

  showExplanation(message, built) {
    renderExplanation($("lab-explain-body"), message, { inputShape: this.inputShape });
    if (built.family === "image") this.inputView.highlight(windowCells(message));
    // A screen reader hears one sentence when the explained cell moves (not on every re-run, nor while playing).
    const cell = message.output_index.join(",");
    if (!this.player.playing && cell !== this.saidCell) this.announce.say(explanationSummary(message));
    this.saidCell = cell;
  }

  // ---- errors ----------------------------------------------------------------------------------------

  clearErrors() {
    this.controls?.clearErrors();
    for (const id of ["lab-error", "lab-size-error", "lab-kind-error"]) $(id).textContent = "";
    this.editor?.showError("");
    this.picker?.clearError();
  }

  /** Put the server's words next to the control that caused them. */
  showRunError(message, built) {
    const text = plainMessage(message.message);
    $("lab-status").textContent = "";
    if (message.field === "explain") { // the output is still computed, without the breakdown
      // with new settings the cell may not exist any more (a larger stride, fewer channels): let it go quietly;
      // with the settings drawn, say why
      if (built.key !== this.drawnKey) this.dropTarget();
      else {
        this.target = null;
        $("lab-explain-body").textContent = text;
      }
      this.schedule();
      return;
    }
    this.clearErrors();
    this.showStale(true);
    // the dimmed maps are the last ones computed, and so is their shape: the new settings have none
    if (this.outputShape) {
      $("lab-output-shape").textContent = `(last computed: ${this.outputShape.slice(1).join(" × ")})`;
    }
    $("lab-status").textContent = "not computed: the message in red says why";
    // over the server's output-size or work limit: a smaller input size is the first remedy, so it is said there
    const overLimit = /\((max_tensor_elements|max_work_flops)\)/.test(text);
    const name = overLimit ? null : this.parameterIn(text, message.field);
    if (message.field?.startsWith("layer.weights")) this.editor.showError(text);
    else if (name) {
      // "output height would be empty" after a very wide upload: say that the picture's shape made the input thin
      const reason = thinInputReason(text);
      this.controls.showError(name, reason ? `${text.replace(/\.$/, "")}. ${reason}` : text);
    }
    else if (message.field === "input") this.picker.showError(text);
    else if (message.field === "network" || overLimit) $("lab-size-error").textContent = text;
    else $("lab-error").textContent = text;
  }

  /**
   * The parameter an error message is about: the one it quotes, else the one just changed if the message
   * names it, else the first it names; for a layer error naming none, the one just changed.
   */
  parameterIn(text, field) {
    const names = this.controls.names;
    const quoted = /field '(\w+)'/.exec(text)?.[1];
    if (names.includes(quoted)) return quoted;
    const last = names.includes(this.lastChanged) ? this.lastChanged : null;
    if (last && (text.includes(last) || text.includes(last.split("_")[0]))) return last;
    const found = names.map((name) => [text.search(new RegExp(`\\b${name}\\b`)), name]).filter(([at]) => at >= 0);
    found.sort((a, b) => a[0] - b[0]);
    return found[0]?.[1] ?? (field === "layer" ? last : null);
  }

  socketStatus(status, detail) {
    const wasReconnecting = $("lab-status").textContent.startsWith("reconnecting");
    if (this.announce.connection(status)) $("lab-status").textContent = `reconnecting: ${detail}`;
    else if (status === "open" && wasReconnecting) $("lab-status").textContent = "connected";
    // a change whose request could not be built (the server was gone longer than a read is retried) is made now
    if (status === "open" && this.buildFailed) this.schedule();
  }
}

new Lab().start();
