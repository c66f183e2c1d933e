// The Sequence view (/sequence): a recurrent network (a built-in RNN, LSTM or GRU network, or an untrained
// cell of a chosen size) reads a sequence (a sine wave, typed numbers, the characters of a text, or a digit
// row by row); the page shows the input, the hidden state and the gates over time, and the output, and a
// time scrubber highlights one step everywhere. Scrubbing is a view change; a new network or input runs again (the
// latest request wins).
//
// View state (mirrored in the URL): network (a built-in name or "untrained-rnn|lstm|gru"), hidden (the
// untrained cell's size), source ("sine", "numbers", "text", "digit"; null: the network's first), amplitude,
// frequency, length (the sine wave), numbers (the typed numbers), text (the typed text), input (the digit,
// inputs.js encodeSource; null: mnist-3), step (null: the last step).
// #sequence-view carries data-run-state (idle, running, done, error), data-runs-done (a count) and
// data-step (the step drawn), for tests.

import { ApiError, cachedJSON, postForBlob, saveBlob } from "./api.js";
import { checkLinkUpload, createInputPicker, decodeSource, encodeSource, listSamples } from "./inputs.js";
import { CELLS, LIMITS, SOURCES, networkChoices, requestInput, requestNetwork } from "./sequence-inputs.js";
import { announcer, connectionProgress } from "./announce.js";
import { inputIgnored, networkIgnored, showLinkNotice } from "./link-notice.js";
import { counted } from "./dom.js";
import { formatNumber } from "./plots.js";
import { clampStep, drawRun, drawStep } from "./sequence-render.js";
import { createState } from "./state.js";
import { RunSocket } from "./wire.js";

// a wave of period 16 and height 0.5, like the waves sine-rnn learnt from (its guesses are off by 0.17 on average)
const DEFAULT_NUMBERS = "0, 0.2, 0.35, 0.45, 0.5, 0.45, 0.35, 0.2, 0, -0.2, -0.35, -0.45, -0.5, -0.45, -0.35, -0.2, "
  + "0, 0.2, 0.35, 0.45";
const DEFAULT_TEXT = "hello world";
const DEFAULT_DIGIT = { type: "sample", name: "mnist-3" };
const DIGIT_INPUT_TYPES = ["sample", "draw", "upload"]; // the input picker's tabs for a digit reader
const DIGIT_SAMPLE_KINDS = ["digit"]; // and the samples it offers
const RUN_KEYS = ["network", "hidden", "source", "amplitude", "frequency", "length", "numbers", "text", "input"];
const PLAY_MS = 300; // one step per this many ms while playing
const TYPING_MS = 300; // typed numbers and text run once typing pauses this long

const state = createState(
  { network: "digits-lstm", hidden: 16, source: null, amplitude: 0.5, frequency: 0.05, length: 64,
    numbers: DEFAULT_NUMBERS, text: DEFAULT_TEXT, input: null, step: null },
  { types: { source: "string", input: "string", step: "number" } },
);

const $ = (selector) => document.querySelector(selector);
const view = {
  root: $("#sequence-view"), network: $("#sq-network"), hidden: $("#sq-hidden"), sources: $("#sq-sources"),
  numbers: $("#sq-numbers"), text: $("#sq-text"), step: $("#sq-step"), play: $("#sq-play"), progress: $("#sq-progress"),
  said: $("#sq-run-said"),
};
/** Speaks through the page's status region: how a run ended, and the connection's changes. */
const announce = announcer(view.said);

let choices = [];
let picker = null;
let socket = null;
let current = null; // the run on screen (sequence-render.js `shown`)
let runTicket = 0; // counts run() calls: only the newest sends its request
let playTimer = null;
// the step came from the link the page opened with and is not checked yet (the links the page writes itself, which
// Back, Forward and a live session's presenter bring, hold steps it has shown)
let stepFromLink = true;
let digitSamples = null; // GET /api/samples, the digits: the names a link's input may give
let linkNotice = []; // what the link notice said when the page opened; the step's entry joins it after the first run
let stepFrame = null; // a pending animation frame that draws the scrubbed step
let typingTimer = null; // pending while the person types in the numbers or text box

const clamp = (value, { min, max }) => Math.min(max, Math.max(min, value));

function currentChoice() {
  return choices.find((choice) => choice.name === state.get().network) ?? choices[0];
}

/** The state with numbers clamped to their ranges and the source one the network reads. */
function settings() {
  const values = state.get();
  const choice = currentChoice();
  return { ...values, amplitude: clamp(values.amplitude, LIMITS.amplitude),
    frequency: clamp(values.frequency, LIMITS.frequency), length: Math.round(clamp(values.length, LIMITS.length)),
    hidden: Math.round(clamp(values.hidden, LIMITS.hidden)),
    source: choice.sources.includes(values.source) ? values.source : choice.sources[0] };
}

/** What of the link settings() cannot use as it is: values that did not parse, an unknown network, numbers held. */
function linkIgnored() {
  const values = state.get();
  const used = settings();
  const ignored = [...state.unread(), ...inputIgnored(values.input, digitInputs()),
    ...networkIgnored(values.network, choices.map((choice) => choice.name))];
  // a kind the network cannot read is the page's own (it keeps the person's kind across networks): the line
  // under the kinds says why it is not used; a kind that is none is named here
  if (values.source !== null && !Object.hasOwn(SOURCES, values.source)) {
    ignored.push({ key: "source", text: String(values.source),
      reason: `not an input kind; the kinds are ${Object.keys(SOURCES).join(", ")}` });
  }
  // the sine wave's numbers matter only when the network reads one; H only for the bare cells
  const keys = [...(used.source === "sine" ? ["amplitude", "frequency", "length"] : []),
    ...(currentChoice().model ? [] : ["hidden"])];
  for (const key of keys) {
    if (used[key] !== values[key]) {
      ignored.push({ key, text: String(values[key]),
        reason: `held to ${used[key]} (from ${LIMITS[key].min} to ${LIMITS[key].max})` });
    }
  }
  return ignored;
}

/** The notice's entry for a link's step outside the run's 0..steps-1 (or between two steps), else []. */
function stepIgnored(step, steps) {
  if (step === null || clampStep(step, steps) === step) return [];
  return [{ key: "step", text: String(step),
    reason: `held to ${clampStep(step, steps)} (the steps are 0 to ${steps - 1})` }];
}

/** What a link's input may name here: inputIgnored's options. */
const digitInputs = () => ({ types: DIGIT_INPUT_TYPES, samples: digitSamples });

function digitSource() {
  return decodeSource(state.get().input) ?? DEFAULT_DIGIT;
}

// ---- start-up and controls ------------------------------------------------------------------------------

async function start() {
  // fetched beside the models; without the list the picker says why, and a link's sample is not checked
  const samplesLoading = listSamples(DIGIT_SAMPLE_KINDS).catch(() => null);
  const uploadChecked = checkLinkUpload();
  try {
    choices = networkChoices(await cachedJSON("/api/models"));
  } catch (error) {
    $("#sq-network-error").textContent = `The list of networks could not be loaded: ${error.message}`;
    return;
  }
  digitSamples = await samplesLoading;
  await uploadChecked;
  linkNotice = linkIgnored();
  showLinkNotice(linkNotice);
  // what the notice names is dropped from the page's own link
  if (inputIgnored(state.get().input, digitInputs()).length) state.set({ input: null });
  if (state.get().source !== null && !Object.hasOwn(SOURCES, state.get().source)) state.set({ source: null });
  if (currentChoice().name !== state.get().network) state.set({ network: currentChoice().name }); // the first
  window.addEventListener("popstate", () => showLinkNotice(linkIgnored()));
  buildControls();
  picker = createInputPicker($("#sq-digit"), { kinds: DIGIT_INPUT_TYPES, sampleKinds: DIGIT_SAMPLE_KINDS, digits: true,
    initial: digitSource(), onChange: (source) => state.set({ input: encodeSource(source) }) });
  await picker.ready;
  showControls(state.get(), new Set(Object.keys(state.get())));
  socket = new RunSocket({ encoding: "float16", onStatus: showConnection });
  state.subscribe(changed);
  window.addEventListener("pagehide", () => socket.close());
  run();
}

/** The socket's state on the progress line (connectionProgress). */
function showConnection(status, detail) {
  const text = connectionProgress(announce.connection(status), status, detail, view.progress.textContent,
    socket?.current);
  if (text) view.progress.textContent = text;
}

function option(value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  return element;
}

function buildControls() {
  const group = (label, members) => {
    const element = document.createElement("optgroup");
    element.label = label;
    element.append(...members.map((choice) => option(choice.name, choice.title)));
    return element;
  };
  view.network.replaceChildren(group("Built-in networks", choices.filter((c) => c.model)),
    group("Untrained cells", choices.filter((c) => !c.model)));
  // another network or kind of input reads another sequence: it opens at its last step, as the page does
  view.network.addEventListener("change", () => state.set({ network: view.network.value, step: null }, { push: true }));
  for (const name of ["hidden", "amplitude", "frequency", "length"]) {
    const slider = $(`#sq-${name}`);
    Object.assign(slider, { min: LIMITS[name].min, max: LIMITS[name].max, step: LIMITS[name].step });
    slider.addEventListener("input", () => state.set({ [name]: Number(slider.value) }));
  }
  for (const [value, title] of Object.entries(SOURCES)) {
    const radio = Object.assign(document.createElement("input"), { type: "radio", name: "sq-source", value });
    radio.addEventListener("change", () => state.set({ source: value, step: null }, { push: true }));
    const label = document.createElement("label");
    label.className = "sq-source";
    label.append(radio, title);
    view.sources.append(label);
  }
  for (const name of ["numbers", "text"]) {
    view[name].addEventListener("input", () => {
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => {
        typingTimer = null;
        state.set({ [name]: view[name].value });
      }, TYPING_MS);
    });
  }
  view.step.addEventListener("input", () => state.set({ step: Number(view.step.value) }));
  $("#sq-prev").addEventListener("click", () => moveStep(-1));
  $("#sq-next").addEventListener("click", () => moveStep(1));
  view.play.addEventListener("click", () => play(!playTimer));
  $("#sq-download").addEventListener("click", download);
}

/** Reflect the state in the controls (at start, and on Back and Forward). */
function showControls(values, keys) {
  const choice = currentChoice();
  const use = settings();
  view.network.value = choice.name;
  $("#sq-hidden-field").hidden = Boolean(choice.model);
  for (const name of ["hidden", "amplitude", "frequency", "length"]) $(`#sq-${name}`).value = use[name];
  $("#sq-hidden-value").textContent = use.hidden;
  $("#sq-amplitude-value").textContent = use.amplitude.toFixed(2);
  $("#sq-frequency-value").textContent = `${use.frequency.toFixed(3)} cycles per step `
    + `(one cycle every ${(1 / use.frequency).toFixed(1)} steps)`;
  $("#sq-length-value").textContent = use.length;
  for (const radio of view.sources.querySelectorAll("input")) {
    radio.checked = radio.value === use.source;
    radio.disabled = !choice.sources.includes(radio.value);
    radio.parentElement.title = radio.disabled ? choice.why : "";
  }
  for (const pane of document.querySelectorAll(".sq-pane")) pane.hidden = pane.dataset.source !== use.source;
  const refused = values.source && values.source !== use.source;
  const named = Object.hasOwn(SOURCES, values.source) ? SOURCES[values.source].toLowerCase() : null;
  const asked = !refused ? "" : named ? `It cannot read ${named}: ` : `“${values.source}” is not an input kind: `;
  $("#sq-source-why").textContent = asked + choice.why;
  for (const name of ["numbers", "text"]) {
    // the box being typed in keeps its newer text: the state gets it once typing pauses
    const typing = typingTimer !== null && document.activeElement === view[name];
    if (view[name].value !== values[name] && !typing) view[name].value = values[name];
  }
  if (keys.has("input") && encodeSource(picker.getSource() ?? DEFAULT_DIGIT) !== encodeSource(digitSource())) {
    picker.setSource(digitSource());
  }
  showNetworkAbout(choice, use.hidden);
}

/** Where a built-in's weights come from: its training card's score, or that they are untrained. */
function weightsText({ trained, card }) {
  if (!trained) return "Untrained: seeded random weights, so its answers mean nothing yet.";
  if (!card?.metric || card.held_out_score === null || card.held_out_score === undefined) return "Trained weights.";
  return `Trained weights (${card.epochs} epochs); ${card.metric}: ${formatNumber(card.held_out_score)}.`;
}

function showNetworkAbout(choice, hidden) {
  const about = $("#sq-network-about");
  if (choice.model) {
    about.textContent = `${choice.model.description} ${weightsText(choice.model)}`;
  } else {
    about.textContent = `One ${choice.cell} layer with ${hidden} hidden unit${hidden === 1 ? "" : "s"} and seeded random weights, and no `
      + "output layer: watch how its hidden state and gates respond to the input.";
  }
  cachedJSON(`/api/layers/${choice.cell}`).then((layer) => {
    if (currentChoice().cell !== choice.cell) return;
    $("#sq-layer-summary").textContent = `${choice.cell}: ${layer.summary}`;
    $("#sq-layer-formula").textContent = layer.formula;
  }, () => {}); // the explanation above stands without the catalogue's text
}

function changed(values, keys) {
  if ([...keys].some((key) => key !== "step")) showControls(values, keys);
  if (RUN_KEYS.some((key) => keys.has(key))) run();
  else if (keys.has("step")) scheduleStep();
}

// ---- running ----------------------------------------------------------------------------------------------

async function run() {
  const choice = currentChoice();
  const use = settings();
  const ticket = ++runTicket;
  let made;
  try {
    made = await requestInput(choice, use, digitSource());
  } catch (problem) {
    if (ticket === runTicket) showProblem(problem.field ?? "input", problem.message ?? String(problem));
    return;
  }
  if (ticket !== runTicket) return; // a newer change is being prepared: it wins
  for (const id of ["#sq-numbers-error", "#sq-text-error", "#sq-network-error", "#sq-run-error"]) {
    $(id).textContent = "";
  }
  for (const field of [view.numbers, view.text]) field.removeAttribute("aria-invalid");
  picker.clearError();
  const request = { network: requestNetwork(choice, use.hidden), input: made.input, trace: true };
  const incoming = { request, choice, next: made.next, characters: made.characters ?? null, layers: [],
    outputs: new Map(), gates: [], input: null };
  view.root.dataset.runState = "running";
  view.progress.textContent = "Computing…";
  announce.say("");
  socket.run(request, {
    onStart: (message) => { incoming.layers = message.layers; },
    onInput: (message) => { incoming.input = message.tensor; },
    onLayer: (message) => incoming.outputs.set(message.index, message.tensor),
    onTrace: (message) => incoming.gates.push({ part: message.part, data: message.tensor.data }),
    onDone: (message) => finish(incoming, message),
    onError: (message) => showProblem(message.field ?? "", message.message),
  });
}

/** The run's tensors as sequence-render.js draws them. */
function assemble({ request, choice, next, characters, layers, outputs, gates, input }) {
  const cellIndex = layers.findIndex((layer) => CELLS.includes(layer.kind));
  const hidden = outputs.get(cellIndex);
  const [, steps, units] = hidden.shape;
  let output = null;
  const last = outputs.get(layers.length - 1);
  if (layers.length - 1 > cellIndex) {
    const size = last.shape[2];
    const names = choice.model?.class_names;
    if (names?.length === size) output = { kind: "classes", data: last.data, names };
    else if (size === 1) output = { kind: "next", data: last.data };
  }
  return { request, choice, cellIndex, steps, units, features: input.shape[2], input: input.data, next, characters,
    hidden: hidden.data, gates, output };
}

async function finish(incoming, done) {
  current = assemble(incoming);
  view.root.classList.remove("sq-stale");
  if (stepFromLink) { // the link's step can be checked only now that the run says how many steps there are
    stepFromLink = false;
    const wrong = stepIgnored(state.get().step, current.steps);
    if (wrong.length) {
      showLinkNotice([...linkNotice, ...wrong]); // the network it named is replaced by now: keep its entry
      state.set({ step: clampStep(state.get().step, current.steps) });
    }
  }
  const step = clampStep(state.get().step, current.steps);
  await drawRun(current, step, (t) => state.set({ step: t }));
  await showStep();
  view.root.dataset.runState = "done";
  view.root.dataset.runsDone = String(Number(view.root.dataset.runsDone) + 1);
  const steps = counted(current.steps, "step");
  view.progress.textContent = `${steps} through the ${current.choice.cell} in ${Math.round(done.total_ms)} ms.`;
  announce.say(`Done: ${steps} through the ${current.choice.cell}. ${$("#sq-answer").textContent}`.trim());
}

/** An error next to the control it is about: the typed numbers or text, the digit picker, the network, or the run. */
function showProblem(field, message) {
  view.root.dataset.runState = "error";
  view.progress.textContent = current ? "Stopped. The plots still show the last sequence that worked."
    : "Stopped: nothing to show yet.";
  announce.say(view.progress.textContent);
  view.root.classList.toggle("sq-stale", Boolean(current));
  const source = settings().source;
  const typed = ["numbers", "text"].find((name) => field === name || (field.startsWith("input") && source === name));
  if (typed) {
    $(`#sq-${typed}-error`).textContent = message;
    view[typed].setAttribute("aria-invalid", "true");
  } else if (field.startsWith("input") && source === "digit") picker.showError(message);
  else if (field.startsWith("network")) $("#sq-network-error").textContent = message;
  else $("#sq-run-error").textContent = message;
}

async function download() {
  const error = $("#sq-download-error");
  error.textContent = "";
  if (!current) return;
  try {
    const { blob, filename } = await postForBlob(`/api/runs/layers/${current.cellIndex}.npy`, current.request);
    saveBlob(blob, filename);
  } catch (failure) {
    error.textContent = failure instanceof ApiError ? `Download failed: ${failure.message}` : String(failure);
  }
}

// ---- the time scrubber -----------------------------------------------------------------------------------

function moveStep(delta) {
  if (current) state.set({ step: clampStep(clampStep(state.get().step, current.steps) + delta, current.steps) });
}

/** Draw the scrubbed step at the next animation frame: a fast drag draws once per frame. */
function scheduleStep() {
  if (stepFrame === null) stepFrame = requestAnimationFrame(() => { stepFrame = null; showStep(); });
}

async function showStep() {
  if (!current) return;
  const t = clampStep(state.get().step, current.steps);
  view.step.max = String(current.steps - 1);
  view.step.value = String(t);
  view.step.setAttribute("aria-valuetext", `step ${t} of 0 to ${current.steps - 1}`); // as the line beside it
  $("#sq-step-text").textContent = `step ${t} (of 0–${current.steps - 1})`;
  endStepButtons(t);
  await drawStep(current, t);
  view.root.dataset.step = String(t);
}

/** Previous and Next are off at the ends; the one that had the keyboard hands it to the step slider, which says the
 * step (a disabled button loses the focus to the page's top). */
function endStepButtons(t) {
  for (const [id, atEnd] of [["#sq-prev", t === 0], ["#sq-next", t === current.steps - 1]]) {
    const button = $(id);
    if (atEnd && button === document.activeElement) view.step.focus();
    button.disabled = atEnd;
  }
}

/** Play: move one step every PLAY_MS to the end (from the start when already there). The button's label says
 * what it will do (no aria-pressed as well: "Pause, pressed" would say it twice). */
function play(on) {
  clearInterval(playTimer);
  playTimer = null;
  view.play.textContent = on ? "Pause" : "Play";
  if (!on || !current) return;
  if (clampStep(state.get().step, current.steps) >= current.steps - 1) state.set({ step: 0 });
  playTimer = setInterval(() => {
    const t = clampStep(state.get().step, current.steps);
    if (t >= current.steps - 1) play(false);
    else state.set({ step: t + 1 });
  }, PLAY_MS);
}

start();
