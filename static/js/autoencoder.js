// The Autoencoder view (/autoencoder): give the digit autoencoder a digit, see the encoder's maps, the
// 16-number code as sliders, the decoder's transposed-convolution maps and the reconstruction beside the
// input. Moving a slider sends the edited code through the decoder alone ("from_layer", docs/protocol.md);
// the socket's latest request wins, so a dragged slider only ever waits for its newest position.
//
// View state (mirrored in the URL): input (inputs.js encodeSource text; empty: a held-out MNIST digit),
// edits (changed code numbers, "dim:value,..."), toward and blend (the blend control's digit and position),
// raw (also show the convolutions before their ReLU).
//
// #autoencoder-view carries data-run-state (idle, running, done, error) and data-updates (how many times
// the output on screen became complete: after a full run, a decoder run, or a reset to the encoded code);
// #ae-code carries data-code (the code whose decoding is on screen) and data-digit-codes (loading, loaded,
// failed).

import { announcer, connectionProgress } from "./announce.js";
import { cachedJSON } from "./api.js";
import {
  applyEdits, blendCodes, CodePanel, editsToward, formatEdits, loadDigitCodes, parseEdits, randomCode, readEdits,
  roundValue,
} from "./autoencoder-code.js";
import { LayerRows } from "./autoencoder-maps.js";
import { Pictures } from "./autoencoder-pictures.js";
import {
  checkLinkUpload, createInputPicker, decodeSource, encodeSource, listSamples, prepareInput, sourceToInput,
} from "./inputs.js";
import { counted } from "./dom.js";
import { inputIgnored, watchLinkNotice } from "./link-notice.js";
import { formatNumber } from "./plots.js";
import { createState } from "./state.js";
import { encodeArray, RunSocket } from "./wire.js";

const NETWORK = "digits-autoencoder";
const DEFAULT_SOURCE = { type: "sample", name: "mnist-3" };

const state = createState(
  { input: null, edits: "", toward: 8, blend: 0, raw: false },
  { types: { input: "string" } },
);

/** The link notice's entry for a blend digit that is not one. */
function towardIgnored() {
  const { toward } = state.get();
  return Number.isInteger(toward) && toward >= 0 && toward <= 9 ? []
    : [{ key: "toward", text: String(toward), reason: "not a digit from 0 to 9" }];
}

const heldBlend = (blend) => Math.min(1, Math.max(0, blend));

/** The link notice's entry for a blend position outside 0 .. 1. */
function blendIgnored() {
  const { blend } = state.get();
  return heldBlend(blend) === blend ? []
    : [{ key: "blend", text: String(blend), reason: `held to ${heldBlend(blend)} (the blend goes from 0 to 1)` }];
}

/** The link notice's entries for code edits that were dropped or held. */
function editsIgnored() {
  return readEdits(state.get().edits, codeSize).ignored;
}

const $ = (selector) => document.querySelector(selector);
const view = {
  root: $("#autoencoder-view"),
  about: $("#ae-about"),
  modelError: $("#ae-model-error"),
  progressBar: $("#ae-progress progress"),
  progressText: $("#ae-progress-text"),
  said: $("#ae-run-said"),
  runError: $("#ae-run-error"),
};
/** Speaks through the page's status region: how a run ended, and the connection's changes. */
const announce = announcer(view.said);

let model = null; // GET /api/models/digits-autoencoder
let codeIndex = -1; // index of the layer named "code"
let codeSize = 0; // how many numbers the code has
let fromLayer = null; // the first decoder layer: where an edited code enters
let picker = null;
let socket = null;
let panel = null; // the code sliders (autoencoder-code.js)
let rows = null; // the encoder's and decoder's maps (autoencoder-maps.js)
let pictures = null; // input, output and difference (autoencoder-pictures.js)
let digitCodes = null; // the codes of mnist-0 .. mnist-9, once loaded
let linkBlend = null; // a link's blend position whose code is still to be made (blendFromLink)
let runTicket = 0; // counts full runs asked for: only the newest sends its request
const run = {
  plan: [], // the full network's layers [{index, name, kind, shape}] from the first start message
  encoded: null, // the encoder's code for the input (Float32Array)
  blendStart: null, // the code a blend runs from, taken when the blend control leaves 0% (blended)
  awaitingCode: false, // a full run is on its way and has not sent the code yet
  full: null, // the handle of a full run in flight
  decoder: null, // the handle of a decoder run in flight
  baseline: new Map(), // layer name -> output of the decoder layers for the encoded code (from the full run)
  baselineDone: false,
};

const edits = () => parseEdits(state.get().edits, codeSize);
// the edits are checked once the model says how many numbers the code has
const showNotice = watchLinkNotice(state,
  () => [...towardIgnored(), ...blendIgnored(), ...(codeSize ? editsIgnored() : [])]);
const lastLayer = () => run.plan.at(-1)?.name;

// ---- start-up ---------------------------------------------------------------------------------------------

async function start() {
  pictures = new Pictures(view.root);
  // fetched beside the model; without the list the picker says why, and a link's sample is not checked
  const samplesLoading = listSamples().catch(() => null);
  const uploadChecked = checkLinkUpload();
  try {
    model = await cachedJSON(`/api/models/${NETWORK}`);
  } catch (error) {
    view.modelError.textContent = `The autoencoder could not be loaded: ${error.message}`;
    setProgress(0, "Stopped.");
    return;
  }
  const names = model.spec.layers.map((layer) => layer.name);
  codeIndex = names.indexOf("code");
  fromLayer = names[codeIndex + 1];
  codeSize = model.spec.layers[codeIndex].params.out_features;
  showModel();
  await uploadChecked;
  const inputRefused = inputIgnored(state.get().input, { samples: await samplesLoading });
  if (inputRefused.length) state.set({ input: null }); // named below, from inputRefused
  if (editsIgnored().length || inputRefused.length) showNotice(inputRefused); // before the edits it names go
  if (editsIgnored().length) state.set({ edits: formatEdits(edits()) });
  if (towardIgnored().length) state.set({ toward: state.defaults.toward });
  if (blendIgnored().length) state.set({ blend: heldBlend(state.get().blend) });
  // a link's blend without the code edits it makes (a hand-made link): made once the codes are known
  if (state.get().blend > 0 && !state.get().edits) linkBlend = state.get().blend;
  rows = new LayerRows($("#ae-encoder-layers"), $("#ae-decoder-layers"), { codeIndex, spec: model.spec });
  rows.showRaw(state.get().raw);
  panel = new CodePanel($("#ae-code"), { onSlide: slid, onReset: reset, onRandom: random, onBlend: blended });
  panel.showBlend(state.get().toward, state.get().blend);
  loadDigitCodes(NETWORK, codeIndex).then((codes) => {
    digitCodes = codes;
    panel.setDigitCodes(codes);
    blendFromLink();
  }, (error) => panel.setDigitCodes(null, error.message));

  $("#ae-raw").checked = state.get().raw;
  $("#ae-raw").addEventListener("change", (event) => state.set({ raw: event.target.checked }));
  picker = createInputPicker($("#ae-input"), { initial: currentSource(), onChange: inputPicked, digits: true });
  await picker.ready;
  socket = new RunSocket({ onStatus: showConnection, encoding: "float16" });
  state.subscribe(changed);
  linkNetworkView();
  window.addEventListener("pagehide", () => socket.close());
  runFull();
}

function currentSource() {
  return decodeSource(state.get().input) ?? DEFAULT_SOURCE;
}

function showModel() {
  const card = model.card;
  const weights = !model.trained ? "Untrained: seeded random weights, so its output is a flat grey blur whatever the "
    + "input, until the trained weights are installed."
    : card ? `Trained weights (${card.epochs} epochs); their mean squared error on held-out digits is `
      + `${formatNumber(card.held_out_score)}.` : "Trained weights.";
  view.about.textContent = weights;
  view.about.title = card ? `${card.data}; ${card.split}` : "";
  view.root.dataset.trained = String(model.trained);
}

/** The Network view's link opens this network on this input. */
function linkNetworkView() {
  const input = encodeURIComponent(encodeSource(currentSource()));
  $("#ae-network-link").href = `/network?network=${NETWORK}&input=${input}`;
}

function showConnection(status, detail) {
  const text = connectionProgress(announce.connection(status), status, detail, view.progressText.textContent,
    socket?.current);
  if (text) setProgress(status === "open" ? 0 : null, text);
}

/** The progress line, seen but not spoken: it changes with every layer (announce.say() tells how a run ended). */
function setProgress(done, text) {
  if (done === null) view.progressBar.removeAttribute("value");
  else view.progressBar.value = done;
  view.progressText.textContent = text;
}

// ---- the state and what the person does ----------------------------------------------------------------------

function inputPicked(source) {
  const text = encodeSource(source);
  if (text === state.get().input) return;
  state.set({ input: text, edits: "", blend: 0 });
}

function changed(values, keys) {
  if (keys.has("input")) {
    const shown = picker.getSource();
    if (!shown || encodeSource(shown) !== values.input) picker.setSource(currentSource()); // Back, Forward
    linkNetworkView();
  }
  if (keys.has("toward") || keys.has("blend")) panel.showBlend(values.toward, values.blend);
  if (keys.has("raw")) {
    $("#ae-raw").checked = values.raw;
    rows.showRaw(values.raw);
  }
  if (keys.has("input")) runFull();
  else if (keys.has("edits")) decode();
}

function slid(dim, value) {
  const changes = edits();
  // back on the encoded value (the slider's positions pass through it) the number is no longer edited
  if (roundValue(value) === roundValue(run.encoded[dim])) changes.delete(dim);
  else changes.set(dim, roundValue(value));
  state.set({ edits: formatEdits(changes), blend: 0 }); // the code is no blend any more: the control goes back
}

function reset() {
  state.set({ edits: "", blend: 0 });
}

function random() {
  if (!run.encoded) return;
  const code = randomCode(panel.ranges, digitCodes);
  state.set({ edits: formatEdits(editsToward(run.encoded, code)), blend: 0 });
}

/** The blend runs from the code on screen when it left 0%: the encoded code with the person's edits (from the
 * encoded code alone where that moment is not known, as for a link's blend). */
function blended(digit, t) {
  if (!run.encoded || !digitCodes) return;
  if (state.get().blend === 0) run.blendStart = applyEdits(run.encoded, edits());
  const code = blendCodes(run.blendStart ?? run.encoded, digitCodes[digit], t);
  state.set({ toward: digit, blend: t, edits: formatEdits(editsToward(run.encoded, code)) });
}

// ---- runs ----------------------------------------------------------------------------------------------------

/** The run request's "input": samples and uploads by name, drawings and patterns made at 28 x 28 here. */
async function requestInput() {
  const source = currentSource();
  // by name: the server resizes and converts it to the network's input (the picker says when that enlarges an
  // upload, or reads a colour one in grey)
  if (source.type === "sample" || source.type === "upload") {
    return sourceToInput(source, { resizedTo: model.input_size, channels: model.input_channels });
  }
  return prepareInput(source, { size: Math.max(...model.input_size), channels: model.input_channels });
}

/** Run the whole network on the input: the encoder's maps, the code, and the decoder for the encoded code. */
async function runFull() {
  const ticket = ++runTicket;
  let input;
  try {
    input = await requestInput();
  } catch (error) {
    failed({ field: "input", message: `This input could not be prepared: ${error.message}` });
    return;
  }
  if (ticket !== runTicket) return; // a newer input is being prepared: it wins
  clearErrors();
  running();
  announce.say("");
  rows.newInput();
  Object.assign(run, { awaitingCode: true, baseline: new Map(), baselineDone: false, decoder: null });
  const handle = socket.run({ network: NETWORK, input }, {
    onStart: (message) => {
      run.plan = message.layers;
      view.progressBar.max = message.layers.length;
      rows.build(message.layers);
    },
    onInput: (message) => pictures.setInput(message.tensor),
    onLayer: fullLayer,
    onDone: (message) => {
      run.full = null;
      run.baselineDone = true;
      if (edits().size) decode();
      else {
        complete(run.encoded, `All ${message.layers} layers in ${Math.round(message.total_ms)} ms`,
          `Done: all ${message.layers} layers computed.`);
      }
    },
    onError: failed,
  });
  run.full = handle;
}

function fullLayer(message) {
  const { index, name, tensor } = message;
  const total = run.plan.length;
  setProgress(index + 1, `Layer ${index + 1} of ${total} done: ${name}`);
  if (index < codeIndex) rows.draw(name, tensor);
  else if (index === codeIndex) codeArrived(tensor.data);
  else {
    run.baseline.set(name, tensor);
    if (!edits().size) showDecoderLayer(name, tensor);
  }
}

function codeArrived(code) {
  run.encoded = Float32Array.from(code);
  run.blendStart = null; // a link's blend starts from this input's encoded code
  run.awaitingCode = false;
  panel.setEncoded(run.encoded, edits());
  blendFromLink();
}

/** Make the code a link's blend names (linkBlend), once the input's code and the digits' codes are known. */
function blendFromLink() {
  if (linkBlend === null || !run.encoded || !digitCodes) return;
  const t = linkBlend;
  linkBlend = null;
  // the person went on first (another input, Reset, a slider): their code stands
  if (run.awaitingCode || state.get().blend !== t || state.get().edits) return;
  blended(state.get().toward, t);
}

/** Show what the current code decodes to: the full run's own decoder outputs when unedited, else a decoder run. */
function decode() {
  if (!run.encoded || run.awaitingCode) return; // the full run under way decodes the edits when it is done
  const changes = edits();
  const code = applyEdits(run.encoded, changes);
  panel.show(code, changes);
  if (!changes.size && (run.baselineDone || run.full)) {
    run.decoder?.cancel();
    run.decoder = null;
    rows.forget(run.baseline.keys());
    for (const [name, tensor] of run.baseline) showDecoderLayer(name, tensor);
    if (run.baselineDone) complete(code, "Back to the encoded code", "Back to the encoded code.");
    return;
  }
  runDecoder(code);
}

/**
 * Send `code` through the decoder alone; the layers come back indexed from the first decoder layer. The status
 * is not cleared first: a slider's arrow key presses, a decoder run each, are told once that they decode.
 */
function runDecoder(code) {
  running();
  $("#ae-code-error").textContent = "";
  const total = run.plan.length - codeIndex - 1;
  view.progressBar.max = total;
  const handle = socket.run({
    network: NETWORK, from_layer: fromLayer, input: { array: encodeArray(code, [code.length]) },
  }, {
    onLayer: (message) => {
      setProgress(message.index + 1, `Decoding the edited code: layer ${message.index + 1} of ${total}`);
      showDecoderLayer(message.name, message.tensor);
    },
    onDone: (message) => {
      run.decoder = null;
      complete(code, `Decoded the edited code in ${Math.round(message.total_ms)} ms`, decodedSentence());
    },
    onError: (message) => failed(message, $("#ae-code-error")),
  });
  run.full = null;
  run.decoder = handle;
}

/** What a finished decode tells a screen reader: worded by what was edited, so that moving another slider is told
 * again, while the key presses on one slider (each a decode) are told once. */
function decodedSentence() {
  const { blend, toward } = state.get();
  if (blend > 0) return `Decoded the blend toward ${toward}, at ${Math.round(heldBlend(blend) * 100)}%.`;
  return `Decoded the edited code: ${counted(edits().size, "value")} changed.`;
}

function running() {
  view.root.dataset.runState = "running";
}

/** The output on screen is complete: show `text`, tell screen readers `spoken`, and how far it is from the input. */
function complete(code, text, spoken) {
  view.root.dataset.runState = "done";
  view.root.dataset.updates = String(Number(view.root.dataset.updates || 0) + 1);
  panel.markShown(code);
  setProgress(view.progressBar.max, text);
  announce.say(spoken);
  pictures.describe({ edited: edits().size > 0, trained: model.trained, average: model.card?.held_out_score });
}

/** Show a server error next to what it is about: the input, the code (a decoder run), or the progress line. */
function failed(message, place = view.runError) {
  Object.assign(run, { full: null, decoder: null });
  view.root.dataset.runState = "error";
  setProgress(0, "Stopped: the server could not compute this.");
  announce.say("Stopped: the server could not compute this.");
  const field = message.field ?? "";
  if (place === view.runError && (field === "input" || field.startsWith("input."))) picker.showError(message.message);
  else place.textContent = message.message;
}

function clearErrors() {
  view.runError.textContent = "";
  $("#ae-code-error").textContent = "";
  picker.clearError();
}

/** A decoder layer's output: the last one is the picture, the others are rows of maps. */
function showDecoderLayer(name, tensor) {
  if (name === lastLayer()) pictures.setOutput(tensor);
  else rows.draw(name, tensor);
}

start();
