// What the Sequence view feeds a recurrent network, and which network it feeds.
//
// A *choice* is one entry of the network menu: a built-in sequence network (GET /api/models,
// input_kind "sequence") or an untrained cell ("untrained-rnn", "untrained-lstm", "untrained-gru") of a
// chosen hidden size. Each choice says which inputs it can read:
//   sine     a sine wave x_t = A sin(2π f t), one number per step (F = 1)
//   numbers  numbers typed in, one per step (F = 1)
//   text     the characters of a text, one per step, each one-hot over a–z and space (F = 27; untrained
//            cells only: no built-in network was trained on text)
//   digit    a digit image read row by row: each of its rows is one step of F pixels
// and requestInput turns the view state into the run request's "input", plus the values a plot
// compares the network's prediction with (the actual next value of the sequence).

import { prepareInput, sourceToInput } from "./inputs.js";
import { encodeArray } from "./wire.js";

export const SOURCES = { sine: "Sine wave", numbers: "Numbers", text: "Characters of a text",
  digit: "Digit, row by row" };
export const CELLS = ["RNN", "LSTM", "GRU"];
export const LIMITS = {
  amplitude: { min: 0, max: 1, step: 0.05 },
  frequency: { min: 0.01, max: 0.25, step: 0.005 },
  length: { min: 4, max: 256, step: 1 },
  hidden: { min: 1, max: 128, step: 1 },
  numbers: { min: 2, max: 512 },
  text: { min: 1, max: 256 }, // characters
};
export const DIGIT_SIZE = 28; // the digit networks read 28 rows of 28 pixels
/** The symbols a text may use, in the order of the one-hot rows: symbol k sets feature k. */
export const ALPHABET = "abcdefghijklmnopqrstuvwxyz ";

const UNTRAINED_PREFIX = "untrained-";

/** The menu of networks: the built-in sequence networks, then one untrained cell of each kind. */
export function networkChoices(models) {
  const builtins = models.filter((model) => model.input_kind === "sequence").map((model) => {
    const cell = model.spec.layers.find((layer) => CELLS.includes(layer.kind));
    const [steps, features] = model.input_shape;
    const reads = features === 1 ? ["sine", "numbers"] : ["digit"];
    const why = features === 1
      ? "It reads one number per step (it was trained on sums of sine waves), so a digit image, which gives "
        + `${DIGIT_SIZE} numbers per step, or a text, which gives ${ALPHABET.length}, does not fit.`
      : `It reads a ${steps}×${features} image one row per step (${features} pixels at a time) and was trained on `
        + "handwritten digits, so a sine wave, a list of numbers (one number per step) or a text would mean "
        + "nothing to it.";
    return { name: model.name, title: model.title, model, cell: cell.kind, cellName: cell.name, sources: reads, why };
  });
  const untrained = CELLS.map((cell) => ({
    name: `${UNTRAINED_PREFIX}${cell.toLowerCase()}`, title: `Untrained ${cell} cell`, model: null,
    cell, cellName: cell.toLowerCase(), sources: Object.keys(SOURCES),
    why: "An untrained cell reads any sequence: one number per step, a text's characters (27 numbers per step), "
      + "or a digit's rows of pixels.",
  }));
  return [...builtins, ...untrained];
}

/** The run request's "network": a built-in's name, or a one-layer spec (input size taken from the input). */
export function requestNetwork(choice, hidden) {
  if (choice.model) return choice.name;
  return { name: choice.name,
    layers: [{ kind: choice.cell, name: choice.cellName, params: { hidden_size: hidden } }] };
}

/** T + 1 samples of x_t = amplitude · sin(2π · frequency · t): the input is the first T, the targets the last T. */
export function sineWave({ amplitude, frequency, length }) {
  const values = new Float32Array(length + 1);
  // rounded to 1e-9: sin(2π k) is 1e-16 rather than 0, which a class would read as a bug
  for (let t = 0; t <= length; t++) {
    values[t] = Math.round(1e9 * amplitude * Math.sin(2 * Math.PI * frequency * t)) / 1e9;
  }
  return values;
}

/**
 * The numbers in `text`, separated by commas, semicolons or white space: {values} or {error} with a
 * sentence a student can act on.
 */
export function parseNumbers(text) {
  const words = text.split(/[\s,;]+/).filter(Boolean);
  const bad = words.find((word) => !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(word));
  if (bad !== undefined) {
    return { error: `“${bad}” is not a number. Type numbers separated by commas or spaces, like 0, 0.5, 1, -2.` };
  }
  const { min, max } = LIMITS.numbers;
  if (words.length < min) {
    return { error: `Type at least ${min} numbers, separated by commas or spaces (you typed ${words.length}).` };
  }
  if (words.length > max) return { error: `At most ${max} numbers, please: you typed ${words.length}.` };
  const values = Float32Array.from(words, Number);
  const huge = words.find((_, i) => !Number.isFinite(values[i]));
  if (huge !== undefined) {
    return { error: `“${huge}” is too large: numbers here are float32, at most about 3.4e38 either way.` };
  }
  return { values };
}

/** How an error names one character: “é” when it can be seen, its code point (U+0009) when not. */
function characterName(character) {
  if (/^[\p{L}\p{M}\p{N}\p{P}\p{S}]+$/u.test(character)) return `“${character}”`;
  const code = character.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
  return `the invisible character U+${code}`;
}

/**
 * The characters of `text`, one per step, with capitals folded to small letters: {characters} (an array
 * of ALPHABET symbols) or {error} with a sentence a student can act on (which character is not allowed,
 * or how many characters are).
 */
export function parseText(text) {
  const characters = Array.from(text); // code points: "é" or "😀" is one character, as a person counts
  const position = characters.findIndex((character) => !/^[a-z ]$/i.test(character));
  if (position >= 0) {
    return { error: `${characterName(characters[position])} (step ${position}) is not one of the letters `
      + "a–z or a space. Type only letters and spaces, like “hello world”." };
  }
  const { min, max } = LIMITS.text;
  if (characters.length < min) return { error: `Type at least ${min} character: letters a–z and spaces.` };
  if (characters.length > max) {
    return { error: `At most ${max} characters, please: you typed ${characters.length}.` };
  }
  return { characters: characters.map((character) => character.toLowerCase()) };
}

/**
 * The one-hot encoding of `characters` (ALPHABET symbols): T rows of ALPHABET.length numbers, C order,
 * row t all zeros but a 1 at the index of character t in ALPHABET.
 */
export function oneHot(characters) {
  const size = ALPHABET.length;
  const values = new Float32Array(characters.length * size);
  characters.forEach((character, t) => {
    const k = ALPHABET.indexOf(character);
    if (k < 0) throw new Error(`“${character}” is not in the alphabet`);
    values[t * size + k] = 1;
  });
  return values;
}

/** A sequence of T numbers as a [T, 1] input array. */
function columnInput(values) {
  return { array: encodeArray(values, [values.length, 1]) };
}

/**
 * The run request's "input" for the view state `values` and the network `choice`, with `next`: the actual
 * value after each step (NaN where the sequence does not say) when the input is one number per step, and
 * `characters`: the character read at each step when the input is a text.
 * Rejects with {field, message} when the input cannot be made (bad text, an image that cannot load).
 */
export async function requestInput(choice, values, digitSource) {
  if (values.source === "sine") {
    const wave = sineWave(values);
    return { input: columnInput(wave.subarray(0, values.length)), next: wave.subarray(1) };
  }
  if (values.source === "numbers") {
    const parsed = parseNumbers(values.numbers);
    if (parsed.error) throw { field: "numbers", message: parsed.error };
    const next = new Float32Array(parsed.values.length).fill(NaN);
    next.set(parsed.values.subarray(1));
    return { input: columnInput(parsed.values), next };
  }
  if (values.source === "text") {
    const parsed = parseText(values.text);
    if (parsed.error) throw { field: "text", message: parsed.error };
    const { characters } = parsed;
    return { input: { array: encodeArray(oneHot(characters), [characters.length, ALPHABET.length]) }, next: null,
      characters };
  }
  return { input: await digitInput(choice, digitSource), next: null };
}

/**
 * A digit for a built-in network: samples and uploads by name (the server reads them row by row at the
 * network's size), a drawing as its 28×28 pixels, a centred digit as the server centres it. For an untrained
 * cell: the picture made here at 28 pixels on its longer side, sent as an array [rows, columns], one row per
 * step (not centred: centring is for the trained digit readers).
 */
async function digitInput(choice, source) {
  try {
    if (choice.model && (source.type !== "draw" || source.centred)) return sourceToInput(source);
    source = { ...source, centred: false };
    if (source.type === "draw") {
      const input = { array: encodeArray(source.pixels, [source.size, source.size]) };
      return source.invert ? { ...input, invert: true } : input;
    }
    const prepared = await prepareInput(source, { size: DIGIT_SIZE, channels: 1 });
    const [, rows, columns] = prepared.array.shape;
    return { ...prepared, array: { ...prepared.array, shape: [rows, columns] } };
  } catch (error) {
    throw { field: "input", message: `This picture could not be prepared: ${error.message}` };
  }
}
