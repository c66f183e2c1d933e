// The Network view (/network): pick a built-in network, or put layers together (network-stack.js), and an
// input; watch every layer's feature maps arrive as the server streams them, and open one map in a detail
// panel (heatmap, kernels, histogram).
//
// View state (mirrored in the URL): network (a built-in name, or "custom" for the user's stack), stack (that
// stack, network-stack.js), input (inputs.js encodeSource text; empty: the network's default sample), layer
// and map (the selection; layer -1 is the input), scale ("layer": one colour scale per layer, "map": one per
// map), saliency (the class whose saliency map is shown; empty: the top class).
//
// Performance marks for benchmarks/browser.py (the latest of each name is kept):
//   lamina:input-start   the user changed the input (a file chosen, a sample picked, each stroke segment drawn)
//   lamina:run-start     a run request was sent
//   lamina:first-maps    the first layer's maps of a run are drawn
//   lamina:network-drawn every layer of a run is drawn
// and measures lamina:run-to-first-maps, lamina:run-to-network-drawn, lamina:input-to-first-maps,
// lamina:input-to-network-drawn (the last two only for runs that an input change started).
// #network-view carries data-run-state (idle, running, done, error) and data-runs-done (a count).

import { ApiError, cachedJSON, postForBlob, saveBlob } from "./api.js";
import { element } from "./dom.js";
import { readHeatmapWithKeys } from "./heatmap-reader.js";
import {
  checkLinkUpload, createInputPicker, decodeSource, encodeSource, listSamples, prepareInput, sourceToInput,
} from "./inputs.js";
import { createSaliencyPanel } from "./network-saliency.js";
import { PixelMarker, PixelReader, pixelUnder, stepPixel } from "./pixel-reader.js";
import {
  CUSTOM_NETWORK, DEFAULT_STACK, STACK_TITLE, checkedStack, createStackEditor, stackFromSpec, stackModel, stackProblem,
  stackSpec, validStack,
} from "./network-stack.js";
import {
  colourLegend, drawMap, drawStrip, featureGrid, formatNumber, heatmap, histogram, histogramSparkline,
  rangeOf, rangeText, scaleFor, sizeGrid, summarize,
} from "./plots.js";
import { announcer, connectionProgress } from "./announce.js";
import { choiceIgnored, inputIgnored, networkIgnored, showLinkNotice, watchLinkNotice } from "./link-notice.js";
import { createState } from "./state.js";
import { RunSocket } from "./wire.js";

const INPUT_INDEX = -1;
// a 1-D output as a strip of cells: long ones (a flattened 784-vector) wrap into rows of `columns` cells,
// each cell from minCell to maxCell CSS pixels, the strip at most about width x height
const STRIP = { columns: 64, minCell: 2, maxCell: 28, width: 480, height: 120 };
const KERNEL_DISPLAY = 44; // CSS pixels of a kernel slice in the detail panel
const KERNEL_SPOKEN = 5; // kernels up to this size name their weights one by one, larger ones their range
const MAP_SIZE = { min: 40, max: 96 }; // CSS pixels of a map in a layer's grid
const MAP_GAP = 8; // CSS pixels between maps, borders included
const COLOUR_INPUT_SIZE = 80; // CSS pixels of a three-channel input's colour picture, on its longer side
const STALE_AFTER_MS = 250; // a layer still showing the previous run's maps this long after a run starts is dimmed

const state = createState(
  { network: "digits-cnn", stack: DEFAULT_STACK, input: null, layer: null, map: null, scale: "layer", saliency: null },
  { types: { input: "string", layer: "number", map: "number", saliency: "number" } },
);

/** The link notice's entry for a colour scale that is not one of the select's (read before `view` exists). */
function scaleIgnored() {
  return choiceIgnored("scale", state.get().scale, document.querySelector("#nv-scale"));
}

/** The link notice's entry for a saliency class that `model` does not have (its map is the top class's). */
function saliencyIgnored(model) {
  const chosen = state.get().saliency;
  const names = model?.trained ? model.class_names : null;
  if (chosen === null || (names && Number.isInteger(chosen) && chosen >= 0 && chosen < names.length)) return [];
  return [{ key: "saliency", text: String(chosen), reason: names
    ? `not a class of ${model.name}, whose classes are 0 to ${names.length - 1}; the map is the top class's`
    : `${model?.name ?? "this network"} gives no trained class scores, so it has no saliency map` }];
}

const $ = (selector) => document.querySelector(selector);
const view = {
  root: $("#network-view"),
  networkSelect: $("#nv-network"),
  networkAbout: $("#nv-network-about"),
  networkWeights: $("#nv-network-weights"), // shown in presenter mode too: whether the answers mean anything
  networkError: $("#nv-network-error"),
  stack: $("#nv-stack"),
  copyStack: $("#nv-copy-stack"),
  scaleSelect: $("#nv-scale"),
  progressBar: $("#nv-progress progress"),
  progressText: $("#nv-progress-text"),
  said: $("#nv-run-said"),
  runError: $("#nv-run-error"),
  layers: $("#nv-layers"),
  scores: $("#nv-scores"),
  scoresPlot: $("#nv-scores-plot"),
  detail: $("#nv-detail"),
};
/** Speaks through the page's status region: how a run ended, and the connection's changes. */
const announce = announcer(view.said);

let models = []; // GET /api/models
let layerKinds = []; // GET /api/layers: what a stack can hold
let samples = null; // GET /api/samples: the names a link's input may give
let stackEditor = null;
watchLinkNotice(state, () => [...scaleIgnored(), ...(models.length ? saliencyIgnored(currentModel()) : [])]);
const saliency = createSaliencyPanel(
  { root: $("#nv-saliency"), select: $("#nv-saliency-class"), canvas: $("#nv-saliency-map"),
    caption: $("#nv-saliency-caption") },
  (classIndex) => state.set({ saliency: classIndex }),
);
let picker = null;
// the detail panel's kernels: a weight under the pointer, or picked with the arrow keys, is read out and marked
let kernelNames = []; // each kernel's name ("input 3"), as drawKernelSlices drew them
const kernelReader = new PixelReader($("#nv-detail-kernels"), {
  maps: $("#nv-kernel-grid"), readout: $("#nv-kernel-readout"),
  describe: (k, row, column, value) => `${kernelNames[k]}, row ${row}, col ${column}: weight ${formatNumber(value)}`,
});
// the detail panel's heatmap: its values read with the arrow keys too (the pointer has Plotly's hover); drawn afresh
// while it has the focus (Back, a live session's next view), its readout says the new value
const rereadDetailHeatmap = readHeatmapWithKeys($("#nv-detail-heatmap"), $("#nv-detail-readout"),
  (row, column, value) => `row ${row}, col ${column}: value ${formatNumber(value)}`);
let socket = null;
const layerList = { width: null, mapsWidth: null }; // widths of the layer list and of a row's map area
let inputChanged = false; // the next run was started by the user changing the input
let fileChosen = false; // a file was chosen and its upload has not reported back yet
let runTicket = 0; // counts run() calls: only the newest one sends its request
let inputErrorShown = false; // an error of ours is on the input picker
const shown = { // the run on screen
  id: null, network: null, layers: [], inputShape: null, outputs: new Map(), kernels: new Map(), request: null,
  firstDrawn: false, staleTimer: null,
};

// ---- small helpers --------------------------------------------------------------------------------------

function mark(name) {
  performance.clearMarks(name);
  performance.mark(name);
}

function measure(name, start, end) {
  if (!performance.getEntriesByName(start, "mark").length) return;
  performance.clearMeasures(name);
  performance.measure(name, start, end);
}

const product = (numbers) => numbers.reduce((a, b) => a * b, 1);
const shapeText = (shape) => shape.join("×");
const percent = (fraction) => (fraction === null || fraction === undefined ? "–" : `${(100 * fraction).toFixed(1)}%`);

const building = () => state.get().network === CUSTOM_NETWORK; // the user's own stack is the network

/** "All 9 layers", or "The one layer" for a stack of one. */
function allLayers(count) {
  return count === 1 ? "The one layer" : `All ${count} layers`;
}

function currentModel() {
  if (building()) return stackModel(state.get().stack);
  return models.find((model) => model.name === state.get().network) ?? null;
}

/** Whether `model` is a small grayscale network: a digit reader, trained on MNIST's white ink on black. */
function readsDigits(model) {
  const [height] = model?.input_size ?? [28];
  return Boolean(model) && model.input_channels === 1 && height <= 32;
}

/**
 * The sample a network starts with: for small grayscale networks a held-out MNIST digit (what the
 * digit networks were trained and scored on), a photo otherwise.
 */
function defaultSource(model) {
  if (readsDigits(model)) return { type: "sample", name: "mnist-3" };
  return { type: "sample", name: model?.input_channels === 3 ? "astronaut" : "camera" };
}

function currentSource() {
  const source = decodeSource(state.get().input) ?? defaultSource(currentModel());
  // only a digit reader's input is centred; a link may ask it of another network
  return readsDigits(currentModel()) ? source : { ...source, centred: false };
}

/** The shape of one layer's output as (maps, height, width) or (values) for drawing. */
function layout(shape) {
  const sample = shape.slice(1); // every run has batch 1
  if (sample.length === 3) return { kind: "maps", channels: sample[0], height: sample[1], width: sample[2] };
  if (sample.length === 2) return { kind: "maps", channels: 1, height: sample[0], width: sample[1] };
  return { kind: "vector", length: product(sample) };
}

// ---- start-up ---------------------------------------------------------------------------------------------

async function start() {
  // replaced by their defaults, and named again below if the network is unknown too
  const badScale = scaleIgnored();
  if (badScale.length) state.set({ scale: state.defaults.scale });
  view.scaleSelect.value = state.get().scale;
  view.scaleSelect.addEventListener("change", () => state.set({ scale: view.scaleSelect.value }));
  view.networkSelect.addEventListener("change", () => {
    // another network has other classes (or none): its saliency map starts at the top class
    state.set({ network: view.networkSelect.value, layer: null, map: null, saliency: null }, { push: true });
  });
  view.copyStack.addEventListener("click", () => {
    const stack = stackFromSpec(currentModel()?.spec, layerKinds);
    state.set({ network: CUSTOM_NETWORK, stack, layer: null, map: null, saliency: null }, { push: true });
    $("#nv-stack-title").focus(); // the button is gone: the keyboard goes on in the stack it revealed
  });
  $("#nv-detail-close").addEventListener("click", closeDetail);
  view.layers.addEventListener("click", revealDetail);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || view.detail.hidden) return;
    if (escapeIsTheDetails(document.activeElement)) closeDetail();
  });
  try {
    // Sequence networks have their own view (/sequence); this one takes images.
    [models, layerKinds, samples] = await Promise.all([cachedJSON("/api/models"), cachedJSON("/api/layers"),
      listSamples().catch(() => null), // without samples the picker says why, and no names are checked
      checkLinkUpload()]);
    models = models.filter((model) => model.input_kind === "image");
  } catch (error) {
    view.networkError.textContent = `The list of networks could not be loaded: ${error.message}`;
    return;
  }
  const badInput = inputIgnored(state.get().input, { samples });
  if (badInput.length) state.set({ input: null });
  view.networkSelect.replaceChildren(
    element("optgroup", { label: "Built-in networks" }, ...models.map((model) => element("option", { value: model.name }, model.title))),
    element("optgroup", { label: "Build your own" }, element("option", { value: CUSTOM_NETWORK }, STACK_TITLE)),
  );
  stackEditor = createStackEditor({
    channels: $("#nv-stack-channels"), size: $("#nv-stack-size"), sizeShown: $("#nv-stack-size-shown"),
    layers: $("#nv-stack-layers"), addKind: $("#nv-stack-kind"), add: $("#nv-stack-add"), full: $("#nv-stack-full"),
    reset: $("#nv-stack-reset"),
    error: $("#nv-stack-error"),
  }, layerKinds, { onChange: (stack) => state.set({ stack }) });
  // a stack the state could not parse is already the default; one that parsed but is not a stack is replaced
  const stackProblemText = linkStackProblem();
  if (stackProblemText) state.set({ stack: DEFAULT_STACK });
  const stackChecked = checkedStack(state.get().stack, layerKinds);
  const badStack = building() ? stackChecked.ignored : [];
  if (stackChecked.ignored.length) state.set({ stack: stackChecked.stack });
  const unknown = currentModel() ? [] : networkIgnored(state.get().network, models.map((model) => model.name));
  if (unknown.length) state.set({ network: models[0].name });
  const badSaliency = saliencyIgnored(currentModel());
  if (badSaliency.length) state.set({ saliency: null });
  if (unknown.length || badSaliency.length || badInput.length || badStack.length) {
    showLinkNotice([...state.unread(), ...badInput, ...badScale, ...unknown, ...badSaliency, ...badStack]);
  }
  view.networkSelect.value = state.get().network;
  showModel();
  if (stackProblemText && building()) {
    $("#nv-stack-error").textContent = `The stack in this link could not be read: ${stackProblemText}. This is the `
      + "stack to start from.";
  }

  picker = createInputPicker($("#nv-input"), {
    initial: currentSource(),
    onChange: inputPicked,
    digits: readsDigits(currentModel()),
  });
  watchFileChoices(picker.element);
  await picker.ready;

  socket = new RunSocket({ onStatus: showConnection, encoding: "float16" });
  state.subscribe(changed);
  window.addEventListener("pagehide", () => socket.close());
  new ResizeObserver(resizeMaps).observe(view.layers);
  run();
}

/** Why the link's stack cannot be used (hand-edited, or cut short when copied), or "" (also when it has none). */
function linkStackProblem() {
  const text = new URLSearchParams(location.search).get("stack");
  if (text === null) return "";
  try {
    return stackProblem(JSON.parse(text), layerKinds);
  } catch {
    return "it is not JSON";
  }
}

/** Mark the moment a file is chosen or dropped: the wait for an upload starts there, before the POST. */
function watchFileChoices(element) {
  const chosen = () => {
    fileChosen = true;
    mark("lamina:input-start");
  };
  element.addEventListener("change", (event) => {
    if (event.target.type === "file") chosen();
  }, true);
  element.addEventListener("drop", chosen, true);
}

/** The picker's onChange: a new input (a sample, an upload, each stroke of a drawing) starts a run. */
function inputPicked(source) {
  const text = encodeSource(source);
  if (text === state.get().input) return;
  if (source.type !== "upload" || !fileChosen) mark("lamina:input-start");
  fileChosen = false;
  inputChanged = true;
  state.set({ input: text });
}

function changed(values, keys) {
  if (keys.has("stack") && !validStack(values.stack, layerKinds)) {
    state.set({ stack: DEFAULT_STACK }); // Back or Forward to a hand-edited URL: start again from a good stack
    return;
  }
  const stackChanged = keys.has("stack") && building();
  if (keys.has("network") || stackChanged) {
    view.networkSelect.value = values.network;
    showModel();
    picker.setDigits(readsDigits(currentModel()));
    const source = defaultSource(currentModel()); // e.g. a photo instead of a digit once the stack takes 64×64
    const onPicker = picker.getSource();
    if (!values.input && (!onPicker || encodeSource(onPicker) !== encodeSource(source))) picker.setSource(source);
  }
  const pickerShows = picker.getSource() && encodeSource(picker.getSource()) === values.input;
  if (keys.has("input") && !keys.has("network") && !pickerShows) picker.setSource(currentSource()); // Back, Forward
  if (keys.has("scale")) {
    view.scaleSelect.value = values.scale;
    for (const index of shown.outputs.keys()) drawLayer(index);
  }
  if (keys.has("saliency")) saliency.setChoice(values.saliency);
  if (keys.has("network") || keys.has("input") || keys.has("saliency") || stackChanged) run();
  else if (keys.has("layer") || keys.has("map") || keys.has("scale")) renderDetail();
}

function showModel() {
  const model = currentModel();
  if (!model) return;
  view.stack.hidden = !building();
  view.copyStack.hidden = building() || !stackFromSpec(model.spec, layerKinds);
  view.networkError.textContent = "";
  if (building()) {
    view.networkAbout.textContent = ""; // the stack's own section says what it is
    view.networkWeights.textContent = "";
    stackEditor.show(state.get().stack);
    saliency.setModel(model);
    return;
  }
  const designed = model.card?.epochs === 0; // e.g. edges: filters made by hand, stored like trained weights
  const weights = designed ? "Hand-designed filters, not trained."
    : model.trained
      ? `Trained weights${model.card?.metric ? `; ${model.card.metric}: ${model.card.held_out_score}` : ""}.`
      : "Untrained: seeded random weights, so its answers mean nothing yet.";
  view.networkAbout.textContent = `${model.description} Takes ${model.input_channels}×${model.input_size.join("×")} `
    + "(a picture of another shape is stretched to it).";
  view.networkWeights.textContent = weights;
  saliency.setModel(model);
  saliency.setChoice(state.get().saliency);
}

function showConnection(status, detail) {
  if (status === "open") stackEditor?.setMaxLayers(detail.limits.max_spec_layers);
  const text = connectionProgress(announce.connection(status), status, detail, view.progressText.textContent,
    socket?.current);
  if (text) setProgress(status === "open" ? 0 : null, text);
}

// ---- running ------------------------------------------------------------------------------------------------

/** The run request's "input": samples and uploads by name (the server resizes them), drawings and
 * patterns made at the network's input size in the browser. */
function requestInput(model) {
  const source = currentSource();
  // by name: the server resizes and converts it to the network's input (the picker says when that enlarges an
  // upload, or reads a colour one in grey)
  if (source.type === "sample" || source.type === "upload") {
    return sourceToInput(source, { resizedTo: model.input_size, channels: model.input_channels });
  }
  return prepareInput(source, { size: Math.max(...model.input_size), channels: model.input_channels });
}

async function run() {
  const model = currentModel();
  if (!model || !socket) return;
  const byUser = inputChanged;
  inputChanged = false;
  const ticket = ++runTicket;
  let input;
  try {
    input = await requestInput(model);
  } catch (error) {
    showInputError(`This input could not be prepared: ${error.message}`);
    return;
  }
  if (ticket !== runTicket) return; // a newer change is being prepared: it wins
  const request = { network: building() ? stackSpec(state.get().stack) : model.name, input, kernels: true };
  // a trained classifier also sends its saliency map for the chosen class (-1: the top-scoring one)
  const chosen = state.get().saliency;
  if (model.trained && model.class_names) {
    request.saliency = chosen !== null && chosen >= 0 && chosen < model.class_names.length ? chosen : -1;
  }
  view.runError.textContent = "";
  view.networkError.textContent = "";
  if (inputErrorShown) picker.clearError();
  inputErrorShown = false;
  view.root.dataset.runState = "running";
  view.layers.classList.remove("refused"); // an empty list waits for the layers again
  announce.say("");
  mark("lamina:run-start");
  let started = false; // a refused run sends its input with no "start": the rows keep the last run that worked
  const handle = socket.run(request, {
    onStart: (message) => {
      started = true;
      begin(message, request);
    },
    onInput: (message) => started && receiveOutput(INPUT_INDEX, message),
    onLayer: (message) => receiveOutput(message.index, message),
    onKernel: (message) => receiveKernel(message),
    onSaliency: (message) => saliency.show(message, shown.outputs.get(INPUT_INDEX).tensor),
    onDone: (message) => finish(message, byUser),
    onError: (message) => failed(message),
  });
  shown.id = handle.id;
}

/** The plan arrived: lay out one row per layer (kept, and marked stale, when the network is the same). */
function begin(message, request) {
  const sameLayers = shown.network === message.network && samePlan(shown, message)
    && view.layers.children.length === message.layers.length + 1;
  if (building()) stackEditor.showShapes(message.layers);
  shown.network = message.network;
  shown.layers = message.layers;
  shown.inputShape = message.input_shape;
  shown.request = request;
  shown.firstDrawn = false;
  shown.outputs.clear();
  shown.kernels.clear();
  clearTimeout(shown.staleTimer);
  if (sameLayers) {
    // the previous run's maps stay until this run's replace them; dimmed only if that takes a while, so that
    // quick runs (a stroke being drawn) do not flicker
    const id = message.id;
    shown.staleTimer = setTimeout(() => {
      for (const row of view.layers.children) if (row.dataset.run !== id) row.dataset.state = "stale";
    }, STALE_AFTER_MS);
  } else {
    const inputInfo = { index: INPUT_INDEX, name: "input", kind: "Input", shape: message.input_shape };
    view.layers.replaceChildren(...[inputInfo, ...message.layers].map(layerRow));
    view.scores.hidden = true;
    renderDetail();
  }
  view.progressBar.max = message.layers.length;
  setProgress(0, `Computing layer 1 of ${message.layers.length}: ${message.layers[0]?.name ?? ""}`);
}

/** Whether a run's plan has the layers on screen (names, kinds and shapes): then their rows can stay. */
function samePlan(previous, plan) {
  const sameShape = (a, b) => shapeText(a ?? []) === shapeText(b ?? []);
  return sameShape(previous.inputShape, plan.input_shape) && previous.layers.length === plan.layers.length
    && previous.layers.every((layer, i) => layer.name === plan.layers[i].name && layer.kind === plan.layers[i].kind
      && sameShape(layer.shape, plan.layers[i].shape));
}

function receiveOutput(index, message) {
  const stats = message.stats ?? summarize(message.tensor.data);
  shown.outputs.set(index, { tensor: message.tensor, stats, message });
  drawLayer(index);
  if (index !== INPUT_INDEX) layerDone(index);
  if (state.get().layer === index) renderDetail(); // the open detail panel follows its layer (the input too)
}

/** Progress after layer `index`, the first maps' timing, and the scores after the last layer. */
function layerDone(index) {
  const total = shown.layers.length;
  const next = shown.layers[index + 1];
  setProgress(index + 1, next ? `Layer ${index + 1} of ${total} done; computing ${next.name} (${total - index - 1} to go)`
    : `${allLayers(total)} computed`);
  if (!shown.firstDrawn) {
    shown.firstDrawn = true;
    mark("lamina:first-maps");
    measure("lamina:run-to-first-maps", "lamina:run-start", "lamina:first-maps");
  }
  if (index === total - 1) showScores(index);
}

function receiveKernel(message) {
  const kernels = shown.kernels.get(message.index) ?? {};
  kernels[message.param] = message.tensor;
  shown.kernels.set(message.index, kernels);
  const { layer, map } = state.get();
  if (layer === message.index && map !== null && shown.outputs.has(layer)) renderKernels(layer, map, shown.layers[layer]);
}

function finish(message, byUser) {
  mark("lamina:network-drawn");
  measure("lamina:run-to-network-drawn", "lamina:run-start", "lamina:network-drawn");
  if (byUser) {
    measure("lamina:input-to-first-maps", "lamina:input-start", "lamina:first-maps");
    measure("lamina:input-to-network-drawn", "lamina:input-start", "lamina:network-drawn");
  }
  view.root.dataset.runState = "done";
  view.root.dataset.runsDone = String(Number(view.root.dataset.runsDone || 0) + 1);
  // a shared run was computed once, for an identical request moments before (a reload, a live session's tabs)
  const computing = message.shared
    ? `the answer to an identical request moments before, whose computing took ${message.compute_ms.toFixed(1)} ms`
    : `computing took ${message.compute_ms.toFixed(1)} ms of it`;
  setProgress(shown.layers.length, `${allLayers(message.layers)} in ${Math.round(message.total_ms)} ms (${computing})`);
  announce.say(`Done: ${allLayers(message.layers).toLowerCase()} computed.`);
}

/** Show a server error next to the control it is about: the network, the input, or the progress line. */
function failed(message) {
  view.root.dataset.runState = "error";
  clearTimeout(shown.staleTimer);
  const kept = view.layers.children.length > 0;
  view.layers.classList.toggle("refused", !kept); // nothing to dim: the empty list says why it stays empty
  for (const row of view.layers.children) row.dataset.state = "stale";
  setProgress(0, "Stopped: the server could not compute this run."
    + (kept ? " The maps below, dimmed, are from the last run that worked." : ""));
  announce.say("Stopped: the server could not compute this run.");
  const field = message.field ?? "";
  const about = field.split(".")[0]; // "network.layers" is about the network
  if (about === "input") showInputError(message.message);
  else if (about === "network" && building()) stackEditor.showError(message.message);
  else if (about === "network") view.networkError.textContent = message.message;
  else view.runError.textContent = message.message;
}

function showInputError(text) {
  picker.showError(text);
  inputErrorShown = true;
}

/** The progress line, seen but not spoken: it changes with every layer (announce.say() tells how a run ended). */
function setProgress(done, text) {
  if (done === null) view.progressBar.removeAttribute("value");
  else view.progressBar.value = done;
  view.progressText.textContent = text;
}

// ---- layer rows ---------------------------------------------------------------------------------------------

function layerRow(info) {
  const isInput = info.index === INPUT_INDEX;
  const title = isInput ? "Input" : `${info.index} · ${info.name}`;
  const download = isInput ? "" : element("button", { type: "button", class: "link nv-download",
    "aria-label": `download .npy of ${info.name}'s output` }, "download .npy");
  if (download) download.addEventListener("click", () => downloadLayer(info.index, download));
  return element("li", { class: "nv-layer", "data-index": info.index, "data-state": "pending" },
    element("header", { class: "nv-layer-head" },
      element("h3", {}, title),
      isInput ? "" : element("span", { class: "nv-kind" }, info.kind),
      element("span", { class: "nv-shape", title: "output shape, batch first" }, shapeText(info.shape)),
      element("span", { class: "nv-time muted" }),
      download,
      element("span", { class: "error nv-download-error", role: "alert" })),
    element("div", { class: "nv-statline" },
      element("dl", { class: "nv-stats" }),
      element("span", { class: "nv-readout muted", "aria-live": "polite" })),
    element("div", { class: "nv-layer-body" },
      element("div", { class: "nv-scale" },
        element("div", { class: "nv-hist" },
          element("canvas", { width: 160, height: 36, "aria-label": `histogram of ${info.name}'s values` }),
          element("div", { class: "nv-hist-range muted" }, element("span", {}), element("span", {}))),
        element("div", { class: "nv-legend" })),
      isInput ? element("div", {}, colourFigure(), mapsArea()) : mapsArea()));
}

function mapsArea() {
  return element("div", { class: "nv-maps" }, element("p", { class: "muted nv-waiting" }, "waiting for this layer…"));
}

/** The input row's colour picture, shown above its maps when the input has three channels (drawColourInput). */
function colourFigure() {
  return element("figure", { class: "nv-colour", hidden: true },
    element("canvas", { role: "img" }),
    element("figcaption", { class: "muted" }, "As the network sees it, in colour: its channels 0, 1 and 2 below are "
      + "the red, green and blue."));
}

function rowOf(index) {
  return view.layers.querySelector(`:scope > li[data-index="${index}"]`);
}

function drawLayer(index) {
  const row = rowOf(index);
  const output = shown.outputs.get(index);
  if (!row || !output) return;
  const { tensor, stats, message } = output;
  row.dataset.state = "done";
  row.dataset.run = shown.id;
  if (message.ms !== undefined) row.querySelector(".nv-time").textContent = `${message.ms.toFixed(1)} ms`;
  showStats(row, stats);
  const shape = layout(tensor.shape);
  const legend = row.querySelector(".nv-legend");
  const scale = scaleFor(stats.min, stats.max);
  if (shape.kind === "maps") drawMaps(row, index, tensor, shape, scale);
  else drawVector(row, tensor, scale);
  if (index === INPUT_INDEX) drawColourInput(row, tensor, shape);
  if (state.get().scale === "map" && shape.kind === "maps") legend.textContent = "one colour scale per map (hover a map)";
  else colourLegend(legend, scale);
}

function showStats(row, stats) {
  const entries = [["min", formatNumber(stats.min)], ["max", formatNumber(stats.max)], ["mean", formatNumber(stats.mean)],
    ["zeros", percent(stats.zero_fraction)], ["non-finite", String(stats.non_finite ?? 0)]];
  row.querySelector(".nv-stats").replaceChildren(
    ...entries.map(([name, value]) => element("div", {}, element("dt", {}, name), element("dd", {}, value))));
  // edges are null when no value is finite (docs/protocol.md)
  const counts = stats.histogram?.counts ?? [];
  const edges = stats.histogram?.edges ?? [];
  histogramSparkline(row.querySelector(".nv-hist canvas"), counts);
  const [low, high] = row.querySelectorAll(".nv-hist-range span");
  low.textContent = formatNumber(edges[0] ?? stats.min);
  high.textContent = formatNumber(edges.at(-1) ?? stats.max);
}

function mapScales(tensor, shape, layerScale) {
  if (state.get().scale !== "map") return layerScale;
  const area = shape.height * shape.width;
  return (c) => {
    const { min, max } = summarize(tensor.data, c * area, area, 1);
    return scaleFor(min, max);
  };
}

/**
 * CSS pixels per map: as large as fits all maps in one row, between MAP_SIZE.min and MAP_SIZE.max.
 * Every row's map area has the same width: it is read once (reading it forces a layout) until the
 * layer list changes width.
 */
function mapSize(container, channels) {
  layerList.mapsWidth ??= container.clientWidth;
  const fit = Math.floor((layerList.mapsWidth - MAP_GAP * channels) / channels);
  return Math.max(MAP_SIZE.min, Math.min(MAP_SIZE.max, fit));
}

/** Fit every layer's maps to the width the layer list has now (it changes when the detail panel opens). */
function resizeMaps([entry]) {
  if (entry.contentRect.width === layerList.width) return; // it grew taller: a row arrived
  layerList.width = entry.contentRect.width;
  layerList.mapsWidth = null;
  for (const grid of view.layers.querySelectorAll(".feature-grid")) {
    sizeGrid(grid, mapSize(grid, grid.querySelectorAll(":scope > button.map").length));
  }
}

function drawMaps(row, index, tensor, shape, scale) {
  const container = row.querySelector(".nv-maps");
  container.classList.remove("nv-vector");
  const selected = state.get().layer === index ? state.get().map : null;
  const name = index === INPUT_INDEX ? "input channel" : "map";
  const named = (c) => (index === INPUT_INDEX ? colourNamed(c, shape.channels) : String(c));
  const area = shape.height * shape.width;
  // each map's range in its name: what the readout under the pointer shows, for the keyboard too
  const ranges = Array.from({ length: shape.channels }, (_, c) => rangeText(rangeOf(tensor.data, c * area, area)));
  featureGrid(container, {
    data: tensor.data, channels: shape.channels, height: shape.height, width: shape.width,
    scale: mapScales(tensor, shape, scale), selected, size: mapSize(container, shape.channels),
    label: (c) => `${name} ${named(c)} of ${shape.channels} (${shape.height}×${shape.width}), ${ranges[c]}: `
      + "open details",
    onSelect: (channel) => state.set({ layer: index, map: channel }),
  });
  const readout = row.querySelector(".nv-readout");
  readout.textContent = ""; // it spoke of the values before these
  container.onmousemove = (event) => {
    const button = event.target.closest("button.map");
    if (!button) return;
    const c = Number(button.dataset.channel);
    const stats = summarize(tensor.data, c * area, area, 1);
    readout.textContent = `${name} ${named(c)}: min ${formatNumber(stats.min)}, max ${formatNumber(stats.max)}, `
      + `mean ${formatNumber(stats.mean)}`;
  };
}

/** A channel of the input by its number, and its colour where the input has three: "0 (red)". */
function colourNamed(channel, channels) {
  return channels === 3 ? `${channel} (${["red", "green", "blue"][channel]})` : String(channel);
}

/**
 * A three-channel input as one colour picture (channels 0, 1, 2 as red, green, blue): the photo as the network
 * sees it, after resizing, above the three maps that show each channel on the colour scale. The page sends
 * inputs in [0, 1] (never "signed"): 0 is no light, 1 full; values outside are clipped. Hidden for other inputs.
 */
function drawColourInput(row, tensor, shape) {
  const figure = row.querySelector(".nv-colour");
  figure.hidden = !(shape.kind === "maps" && shape.channels === 3);
  if (figure.hidden) return;
  const { height, width } = shape;
  const canvas = figure.querySelector("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const area = height * width;
  const level = (value) => (value > 0 ? Math.round(Math.min(value, 1) * 255) : 0); // NaN as 0
  for (let i = 0; i < area; i++) {
    image.data[4 * i] = level(tensor.data[i]);
    image.data[4 * i + 1] = level(tensor.data[area + i]);
    image.data[4 * i + 2] = level(tensor.data[2 * area + i]);
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
  const scale = COLOUR_INPUT_SIZE / Math.max(height, width);
  canvas.style.width = `${Math.max(1, Math.round(width * scale))}px`;
  canvas.style.height = `${Math.max(1, Math.round(height * scale))}px`;
  canvas.style.imageRendering = scale > 1 ? "pixelated" : "auto"; // an enlarged input's own pixels stay sharp
  canvas.setAttribute("aria-label", `the input in colour, ${height}×${width}, as the network sees it`);
}

/** A 1-D output as a strip of cells (wrapped into rows when long), with the value under the pointer. */
function drawVector(row, tensor, scale) {
  const container = row.querySelector(".nv-maps");
  container.classList.add("nv-vector");
  container.classList.remove("feature-grid");
  container.onclick = container.onkeydown = null;
  let canvas = container.querySelector(":scope > canvas.nv-strip");
  if (!canvas) {
    canvas = element("canvas", { class: "nv-strip", role: "application", "aria-roledescription": "vector",
      tabindex: "0" });
    container.replaceChildren(canvas);
    canvas.marker = new PixelMarker(container);
  }
  const values = tensor.data;
  const columns = Math.min(values.length, STRIP.columns);
  const rows = Math.ceil(values.length / columns);
  drawStrip(canvas, values, { ...scale, columns });
  const cell = Math.max(STRIP.minCell, Math.min(STRIP.maxCell, Math.floor(STRIP.width / columns),
    Math.floor(STRIP.height / rows)));
  canvas.style.width = `${columns * cell}px`;
  canvas.setAttribute("aria-label", `${stripLabel(values)}; the arrow keys read its values`);
  const readout = row.querySelector(".nv-readout");
  readout.textContent = "";
  canvas.marker.hide();
  // the value under the pointer, or at the cell the arrow keys moved to, read out and (by the keys) ringed
  let cursor = { y: 0, x: 0 };
  const read = ({ y, x }) => {
    const i = y * columns + x;
    if (i < values.length) readout.textContent = `element ${i}: ${formatNumber(values[i])}`;
    return i < values.length;
  };
  canvas.onmousemove = (event) => read(pixelUnder(canvas, event));
  canvas.onkeydown = (event) => {
    const next = stepPixel(cursor, event.key, { height: rows, width: columns });
    if (!next) return;
    event.preventDefault();
    if (!read(next)) return; // past the last value, on the strip's short last row
    cursor = next;
    canvas.marker.show([canvas], cursor);
  };
  canvas.onfocus = () => read(cursor) && canvas.marker.show([canvas], cursor);
  canvas.onblur = () => canvas.marker.hide();
}

/** A strip's name: its length and range, and its largest values when it is short enough to have a few that matter. */
function stripLabel(values) {
  let text = `${values.length} values shown as a strip of coloured cells, ${rangeText(rangeOf(values))}`;
  if (values.length <= STRIP.columns && values.length > 1) {
    const largest = Array.from(values, (value, i) => ({ value, i })).filter(({ value }) => Number.isFinite(value))
      .sort((a, b) => b.value - a.value).slice(0, 3);
    text += `; largest: ${largest.map(({ value, i }) => `element ${i} ${formatNumber(value)}`).join(", ")}`;
  }
  return text;
}

/**
 * The last layer's scores as a bar chart, named by the network's class names when it has them. The bars
 * are plain elements, not Plotly: they change on every stroke of a drawing, and a Plotly redraw costs
 * 20 to 70 ms here against well under one for these.
 */
function showScores(index) {
  const model = currentModel();
  const { tensor } = shown.outputs.get(index);
  const names = model?.class_names;
  if (!names || names.length !== tensor.data.length) {
    view.scores.hidden = true;
    return;
  }
  view.scores.hidden = false;
  const values = Array.from(tensor.data);
  const best = values.indexOf(Math.max(...values));
  const probabilities = shown.layers[index].kind === "Softmax";
  view.scoresPlot.dataset.best = names[best];
  $("#nv-scores-best").textContent = `Highest: ${names[best]} (${probabilities ? "probability " : ""}`
    + `${formatNumber(values[best])})${probabilities ? "" : "; scores before softmax"}`;
  drawScoreBars(view.scoresPlot, values, names, { best, range: probabilities ? [0, 1] : null });
}

/** Bars from zero to each value on the axis `range` (default: the values' own, with zero); `best` highlighted. */
function drawScoreBars(container, values, names, { best, range }) {
  const finite = values.filter(Number.isFinite);
  const [low, high] = range ?? [Math.min(0, ...finite), Math.max(0, ...finite)];
  const span = high - low || 1;
  const position = (v) => (Math.min(high, Math.max(low, v)) - low) / span; // 0 at the bottom, 1 at the top
  const zero = position(0);
  let bars = [...container.querySelectorAll(".score-bar")];
  if (bars.length !== values.length) {
    bars = names.map((name) => element("div", { class: "score-bar" },
      element("span", { class: "score-area" }, element("span", { class: "score-fill" }), element("span", { class: "score-value" })),
      element("span", { class: "score-label" }, name)));
    container.replaceChildren(element("div", { class: "score-axis", "aria-hidden": "true" }, element("span", {}), element("span", {})),
      element("div", { class: "score-bars" }, ...bars));
  }
  const [top, bottom] = container.querySelectorAll(".score-axis span");
  top.textContent = formatNumber(high);
  bottom.textContent = formatNumber(low);
  values.forEach((value, i) => {
    const v = Number.isFinite(value) ? position(value) : zero;
    const fill = bars[i].querySelector(".score-fill");
    fill.style.bottom = `${100 * Math.min(v, zero)}%`;
    fill.style.height = `${100 * Math.abs(v - zero)}%`;
    bars[i].classList.toggle("best", i === best);
    const label = bars[i].querySelector(".score-value");
    label.textContent = i === best ? formatNumber(value) : "";
    label.style.bottom = `${100 * Math.max(v, zero)}%`;
    bars[i].title = `${names[i]}: ${formatNumber(value)}`;
  });
  container.setAttribute("aria-label", `class scores: ${values.map((v, i) => `${names[i]} ${formatNumber(v)}`).join(", ")}`);
}

/** One download of a layer at a time: the button is marked busy, not disabled, which would take the keyboard's
 * focus from it to the page's top. */
async function downloadLayer(index, button) {
  if (button.getAttribute("aria-disabled") === "true") return;
  const error = button.parentElement.querySelector(".nv-download-error");
  error.textContent = "";
  button.setAttribute("aria-disabled", "true");
  try {
    const { blob, filename } = await postForBlob(`/api/runs/layers/${index}.npy`, shown.request);
    saveBlob(blob, filename);
  } catch (failure) {
    error.textContent = failure instanceof ApiError ? `Download failed: ${failure.message}` : String(failure);
  } finally {
    button.removeAttribute("aria-disabled");
  }
}

// ---- the detail panel -----------------------------------------------------------------------------------------

/** Whether Escape, pressed with `focused` holding the keyboard, is meant for the detail panel: not when it is for
 * a field elsewhere (a select's list, a text being typed). The live session's panel claims its own Escape
 * (defaultPrevented). */
function escapeIsTheDetails(focused) {
  return !focused || view.detail.contains(focused) || !focused.matches("input, select, textarea");
}

function closeDetail() {
  const { layer, map } = state.get();
  state.set({ layer: null, map: null });
  const button = rowOf(layer)?.querySelector(`button.map[data-channel="${map}"]`);
  if (button) button.focus();
}

/**
 * After a click on a map (the grid has opened it): a map opened from the keyboard (a click of detail 0) takes
 * the focus into the panel; one opened with the mouse where the panel sits below the layers (narrow windows)
 * scrolls it into view.
 */
function revealDetail(event) {
  if (!event.target.closest("button.map") || view.detail.hidden) return;
  if (event.detail === 0) $("#nv-detail-title").focus();
  else if (view.detail.getBoundingClientRect().top >= innerHeight) view.detail.scrollIntoView({ block: "start" });
}

/** Show the selected map (state layer/map) in the detail panel, or hide the panel when nothing is selected. */
function renderDetail() {
  const { layer, map } = state.get();
  for (const button of view.layers.querySelectorAll("button.map")) {
    const row = button.closest("li");
    const chosen = Number(row.dataset.index) === layer && Number(button.dataset.channel) === map;
    button.setAttribute("aria-pressed", String(chosen));
  }
  if (layer === null || map === null) {
    view.detail.hidden = true;
    view.root.classList.remove("with-detail");
    return;
  }
  const opened = view.detail.hidden;
  view.detail.hidden = false;
  view.root.classList.add("with-detail");
  // a live session's follower did not click: where the panel opens below the layers (a phone), bring it into view
  if (opened && document.body.dataset.live === "follow" && view.detail.getBoundingClientRect().top >= innerHeight) {
    view.detail.scrollIntoView({ block: "start" });
  }
  const info = layer === INPUT_INDEX ? { name: "input", kind: "Input" } : shown.layers[layer];
  const output = shown.outputs.get(layer);
  const title = $("#nv-detail-title");
  if (!info && shown.layers.length) {
    title.textContent = `This network has no layer ${layer}`;
    return;
  }
  if (!info || !output) {
    title.textContent = info ? `${info.name}: waiting for this layer…` : "Waiting for the network…";
    return;
  }
  const shape = layout(output.tensor.shape);
  if (shape.kind !== "maps" || !Number.isInteger(map) || map < 0 || map >= shape.channels) {
    title.textContent = `${info.name} has no map ${map}`
      + (shape.kind === "maps" ? ` (its maps are 0 to ${shape.channels - 1})` : "");
    return;
  }
  const area = shape.height * shape.width;
  const offset = map * area;
  const stats = summarize(output.tensor.data, offset, area);
  const which = layer === INPUT_INDEX ? `channel ${colourNamed(map, shape.channels)}` : `map ${map}`;
  title.textContent = `${info.name} · ${which} of ${shape.channels}`;
  view.detail.dataset.layer = String(layer);
  view.detail.dataset.map = String(map);
  $("#nv-detail-stats").textContent = `${info.kind}, ${shape.height}×${shape.width}: min ${formatNumber(stats.min)}, `
    + `max ${formatNumber(stats.max)}, mean ${formatNumber(stats.mean)}, zeros ${percent(stats.zero_fraction)}, `
    + `non-finite ${stats.non_finite}`;
  const scale = state.get().scale === "map" ? scaleFor(stats.min, stats.max) : scaleFor(output.stats.min, output.stats.max);
  heatmap($("#nv-detail-heatmap"), output.tensor.data, shape.height, shape.width, { ...scale, offset })
    .then(rereadDetailHeatmap);
  $("#nv-detail-heatmap").setAttribute("aria-label", `heatmap of ${title.textContent}: ${shape.height} rows by `
    + `${shape.width} columns, ${rangeText(rangeOf(output.tensor.data, offset, area))}`);
  if (stats.histogram.counts.length) histogram($("#nv-detail-histogram"), stats.histogram, { title: "Values in this map" });
  $("#nv-detail-histogram").setAttribute("aria-label", histogramLabel(stats.histogram));
  renderKernels(layer, map, info);
}

/** The histogram's name: its span and its fullest bin. */
function histogramLabel({ counts, edges }) {
  if (!counts.length) return "histogram of the values in this map: no finite values";
  const fullest = counts.indexOf(Math.max(...counts));
  return `histogram of the values in this map: ${counts.length} bins from ${formatNumber(edges[0])} to `
    + `${formatNumber(edges.at(-1))}; the fullest, ${formatNumber(edges[fullest])} to `
    + `${formatNumber(edges[fullest + 1])}, holds ${counts[fullest]} values`;
}

/** The weights that made output map `map`: kernel slices for convolutions, a sentence for the others. */
function renderKernels(layer, map, info) {
  const section = $("#nv-detail-kernels");
  const grid = $("#nv-kernel-grid");
  const about = $("#nv-kernel-about");
  const legend = $("#nv-kernel-legend");
  const readout = $("#nv-kernel-readout");
  grid.replaceChildren();
  kernelReader.update(null);
  legend.replaceChildren();
  readout.textContent = "";
  const params = shown.kernels.get(layer) ?? {};
  const output = shown.outputs.get(layer);
  const inputShape = output?.message.input_shape;
  const slices = inputShape && params.weight
    ? kernelSlices(info.kind, params.weight, map, inputShape[1], output.tensor.shape[1]) : null;
  if (layer === INPUT_INDEX) {
    about.textContent = "The input has no kernels: this is the image the network reads.";
  } else if (slices) {
    const bias = params.bias ? `, plus the bias ${formatNumber(params.bias.data[map])}` : "";
    const verb = info.kind === "ConvTranspose2d" ? "spread out by" : "convolved with";
    about.textContent = slices.length === 1 ? `This map is the input map ${verb} the kernel below${bias}.`
      : `This map is the sum of the ${slices.length} input maps, each ${verb} its kernel below${bias}.`;
    drawKernelSlices(grid, slices, legend);
  } else if (info.kind === "BatchNorm2d" && params.weight) {
    const value = (name) => formatNumber(params[name]?.data[map]);
    about.textContent = `Scale γ = ${value("weight")}, shift β = ${value("bias")}, running mean ${value("running_mean")}, `
      + `running variance ${value("running_var")}.`;
  } else {
    about.textContent = `${info.kind} has no weights: each value comes from the previous layer's values alone.`;
  }
  section.dataset.slices = String(slices?.length ?? 0);
}

/**
 * The kh x kw slices of `weight` that output channel `o` uses, one per input channel it reads.
 * Conv2d weight: (out, in / groups, kh, kw); ConvTranspose2d weight: (in, out / groups, kh, kw).
 */
function kernelSlices(kind, weight, o, inChannels, outChannels) {
  const [a, b, kh, kw] = weight.shape;
  const area = kh * kw;
  const slice = (first, second, inputChannel) => ({
    label: `input ${inputChannel}`, height: kh, width: kw,
    data: weight.data.subarray((first * b + second) * area, (first * b + second + 1) * area),
  });
  if (kind === "Conv2d" && weight.shape.length === 4) {
    const groups = inChannels / b;
    const group = Math.floor(o / (a / groups));
    return Array.from({ length: b }, (_, i) => slice(o, i, group * b + i));
  }
  if (kind === "ConvTranspose2d" && weight.shape.length === 4) {
    const groups = outChannels / b;
    const perGroupIn = a / groups;
    const group = Math.floor(o / b);
    return Array.from({ length: perGroupIn }, (_, i) => slice(group * perGroupIn + i, o % b, group * perGroupIn + i));
  }
  return null;
}

function drawKernelSlices(grid, slices, legend) {
  let reach = 0;
  for (const { data } of slices) for (const v of data) if (Number.isFinite(v)) reach = Math.max(reach, Math.abs(v));
  const scale = scaleFor(-reach, reach, { diverging: true });
  slices.forEach((item, i) => {
    // one tab stop for all: the pointer or the arrow keys read a weight (kernelReader), Page Up/Down change kernel
    const canvas = element("canvas", { role: "application", "aria-roledescription": "kernel", tabindex: i ? -1 : 0,
      "aria-label": kernelLabel(item), "aria-describedby": "nv-kernel-keys", "data-channel": i });
    drawMap(canvas, item.data, item.height, item.width, scale);
    const aspect = item.width / item.height;
    canvas.style.width = `${Math.round(KERNEL_DISPLAY * Math.min(1, aspect))}px`;
    canvas.style.height = `${Math.round(KERNEL_DISPLAY / Math.max(1, aspect))}px`;
    grid.append(element("figure", {}, canvas, element("figcaption", {}, item.label)));
  });
  const data = new Float32Array(slices.length * slices[0].data.length); // every slice is kh x kw
  slices.forEach(({ data: values }, i) => data.set(values, i * values.length));
  kernelNames = slices.map(({ label }) => label);
  kernelReader.update({ data });
  colourLegend(legend, scale);
}

/** A kernel's name: a small one's weights row by row (the pointer's readout, for everyone), a larger one's range. */
function kernelLabel({ label, height, width, data }) {
  const size = `${height}×${width}`;
  if (height > KERNEL_SPOKEN || width > KERNEL_SPOKEN) {
    return `kernel for ${label}, ${size} weights, ${rangeText(rangeOf(data))}`;
  }
  const rows = Array.from({ length: height },
    (_, r) => Array.from(data.subarray(r * width, (r + 1) * width), formatNumber).join(", "));
  return `kernel for ${label}, ${size} weights row by row: ${rows.join("; ")}`;
}

start();
