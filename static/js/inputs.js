// The input picker shared by the Layer lab and the Network view: bundled samples, an upload (file
// picker and drag-and-drop), a small canvas to draw on, and synthetic patterns made here.
//
// A *source* is a small plain object that says where the input comes from; it round-trips through
// a URL with encodeSource / decodeSource:
//   {type: "sample", name}                         a bundled image (GET /api/samples)
//   {type: "upload", imageId, name, width, height} an image sent to POST /api/images, as the server keeps it
//                                                  (with original: [width, height] when it was reduced, frames
//                                                  and format when the file holds several frames, and channels,
//                                                  1 or 3, once the server has described it)
//   {type: "draw", size, pixels}                   the drawing canvas, pixels a Float32Array in [0, 1]
//   {type: "pattern", name}                        a synthetic pattern made at the working size
// plus `invert: true` when the input should be 1 - x (digits drawn dark on white), and `centred: true` when a
// digit reader should get the digit as MNIST's are: cropped, 20 pixels across, centred (the server's
// "centre_digit"; a link writes "+centred").
// sourceToInput turns a source into the "input" object of a run request (docs/protocol.md).

import { cachedJSON, uploadImage as postImage } from "./api.js";
import { element } from "./dom.js";
import { encodeArray } from "./wire.js";

export const DRAW_SIZE = 28; // MNIST's size: what the digit networks take
const DRAW_SCALE = 7; // screen pixels per drawn pixel
const BRUSH_WIDTH = 2.2; // in drawn pixels: about the width of an MNIST pen stroke
const DRAW_LEVELS = 15; // a drawing travels in URLs as 4-bit values (0..15)
/** The 4-bit level (0..15) of a drawing's value in [0, 1]. */
const drawLevel = (value) => Math.round(clamp(value, 0, 1) * DRAW_LEVELS);

export const PATTERNS = {
  checkerboard: "Checkerboard",
  stripes: "Vertical stripes",
  stripes_h: "Horizontal stripes",
  diagonal: "Diagonal stripes",
  gradient: "Left-to-right gradient",
  circle: "White disc",
  square: "White square",
  dot: "Single dot (impulse)",
  noise: "Random noise",
};

const CENTRED = "+centred"; // a source's suffix in a link for `centred: true` (base64url has no "+")
const KIND_LABELS = { sample: "Sample", upload: "Upload", draw: "Draw", pattern: "Pattern" };
const SAMPLE_GROUPS = { photo: "Photos", digit: "Digits", pattern: "Patterns" };

/** The bundled samples of `kinds` (fetched once per page): [{name, title, kind, width, height, channels}]. */
export async function listSamples(kinds = Object.keys(SAMPLE_GROUPS)) {
  return (await cachedJSON("/api/samples")).filter((sample) => kinds.includes(sample.kind));
}

// ---- synthetic patterns ---------------------------------------------------------------------------

/** A size x size pattern in [0, 1], row-major (see PATTERNS for the names). */
export function patternArray(name, size) {
  const out = new Float32Array(size * size);
  const period = Math.max(4, Math.round(size / 8));
  const centre = (size - 1) / 2;
  const random = seededRandom(size);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      out[r * size + c] = patternValue(name, r, c, { size, period, centre, random });
    }
  }
  return out;
}

function patternValue(name, r, c, { size, period, centre, random }) {
  const wave = (d) => 0.5 + 0.5 * Math.sin((2 * Math.PI * d) / period);
  switch (name) {
    case "checkerboard": return (Math.floor(r / period) + Math.floor(c / period)) % 2;
    case "stripes": return wave(c);
    case "stripes_h": return wave(r);
    case "diagonal": return wave((r + c) / Math.SQRT2);
    case "gradient": return size > 1 ? c / (size - 1) : 0;
    case "circle": return clamp(size / 4 - Math.hypot(r - centre, c - centre) + 0.5, 0, 1);
    case "square": return Math.abs(r - centre) < size / 4 && Math.abs(c - centre) < size / 4 ? 1 : 0;
    case "dot": return r === Math.floor(size / 2) && c === Math.floor(size / 2) ? 1 : 0;
    case "noise": return random();
    default: throw new Error(`unknown pattern ${name}`);
  }
}

/** A small deterministic generator (mulberry32) so a pattern or kernel is the same on every load. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const clamp = (x, low, high) => Math.min(high, Math.max(low, x));

// ---- sources -> run-request inputs -------------------------------------------------------------------

/** The (height, width) that fits `size` on the longer side, keeping the aspect ratio. */
export function fitSize(width, height, size) {
  const scale = size / Math.max(width, height);
  return [Math.max(1, Math.round(height * scale)), Math.max(1, Math.round(width * scale))];
}

/**
 * The "input" object of a run request for `source`, as it is: samples and uploads by name or id (the
 * server converts and resizes them for a built-in network), drawings and patterns as arrays
 * (1 x H x W; patterns at options.size, default 128). options.resizedTo: the [height, width] the server
 * resizes a sample or upload to (a network's input size), and options.channels: the channels it converts
 * them to (the network's), for the picker to say when it enlarges an upload or reads a colour one in grey.
 */
export function sourceToInput(source, { size = 128, resizedTo = null, channels = null } = {}) {
  if (resizedTo) noteReading(source, resizedTo, { channels });
  let input;
  if (source.type === "sample") input = { sample: source.name };
  else if (source.type === "upload") input = { image_id: source.imageId };
  else if (source.type === "draw") input = { array: encodeArray(source.pixels, [1, source.size, source.size]) };
  else if (source.type === "pattern") input = { array: encodeArray(patternArray(source.name, size), [1, size, size]) };
  else throw new Error(`unknown input source type ${source.type}`);
  return withOptions(input, source);
}

/** The run request's "invert" and "centre_digit" for a source that asks for them. */
function withOptions(input, source) {
  return { ...input, ...(source.invert ? { invert: true } : {}), ...(source.centred ? { centre_digit: true } : {}) };
}

const prepared = new Map(); // the last few prepared inputs (promises), by source and options
const PREPARED_KEEP = 8;

/**
 * The "input" object of a run request for `source` at a working size: the picture resized so its longer
 * side is `size` and converted to `channels` (1: luminance, 3: RGB); signed: values mapped from [0, 1] to
 * [-1, 1] (2x - 1, after any inversion). byName: samples and uploads go by name, and the server resizes and
 * converts them ("fit", "channels", "signed": docs/protocol.md), where the run does not fix the size; every
 * other source is made here and sent as an array (C x H x W). Resolves the same object for the same arguments.
 */
export async function prepareInput(source, { size, channels = 1, signed = false, byName = false }) {
  const fitted = source.type === "upload" && !source.centred; // a centred digit is made 28×28 by the server
  noteReading(source, fitted ? fitSize(source.width, source.height, size) : null, { fit: size });
  // the server finds the digit in the whole picture, at its own size
  if (source.centred) return sourceToInput(source, { size });
  if (byName && (source.type === "sample" || source.type === "upload")) {
    return { ...sourceToInput(source), fit: size, channels, ...(signed ? { signed: true } : {}) };
  }
  const invert = Boolean(source.invert);
  const key = [encodeSource({ ...source, invert: false }), size, channels, signed ? invert : "-"].join("|");
  if (!prepared.has(key)) {
    const promise = makeInput(source, { size, channels, signed, invert });
    promise.catch(() => prepared.delete(key));
    prepared.set(key, promise);
    if (prepared.size > PREPARED_KEEP) prepared.delete(prepared.keys().next().value);
  }
  const input = await prepared.get(key);
  return signed ? input : withOptions(input, source);
}

async function makeInput(source, { size, channels, signed, invert }) {
  const { values, shape } = await readPicture(source, { size, channels });
  if (signed) values.forEach((v, i) => { values[i] = 2 * (invert ? 1 - v : v) - 1; });
  return { array: encodeArray(values, shape) };
}

/**
 * The source's picture as {values: Float32Array (C*H*W, in [0, 1]), shape: [C, H, W]} with the longer
 * side `size` (the aspect ratio kept), or stretched to `shape` [H, W] when given, and `channels` 1 (ITU-R
 * BT.601 luminance, as the server converts) or 3. Inversion is not applied (the request's "invert" does it on
 * the server). For a run's input: the picker says what this does to an upload.
 */
export async function sourceImage(source, { size, channels = 1, shape = null }) {
  const picture = await readPicture(source, { size, channels, shape });
  noteReading(source, picture.shape.slice(1), { fit: shape ? null : size });
  return picture;
}

/** sourceImage without telling the picker (to look at the picture, not to run on it). */
async function readPicture(source, { size, channels = 1, shape = null }) {
  if (source.type === "pattern" && !shape) {
    return repeatChannels(patternArray(source.name, size), [size, size], channels);
  }
  const drawable = source.type === "pattern" ? grayCanvas(patternArray(source.name, size), size, size)
    : source.type === "draw" ? grayCanvas(source.pixels, source.size, source.size)
      : await fetchBitmap(sourceImageURL(source), source);
  const [height, width] = shape ?? fitSize(drawable.width, drawable.height, size);
  const values = pixelsOf(drawable, height, width, channels);
  drawable.close?.();
  return { values, shape: [channels, height, width] };
}

function repeatChannels(plane, [height, width], channels) {
  const values = new Float32Array(channels * plane.length);
  for (let c = 0; c < channels; c++) values.set(plane, c * plane.length);
  return { values, shape: [channels, height, width] };
}

async function fetchBitmap(url, source) {
  const response = await fetch(url);
  if (!response.ok) {
    const missing = source.type === "sample" ? `there is no sample image named “${source.name}”`
      : "the input image is gone from the server (uploads expire): upload it again";
    throw new Error(response.status === 404 ? missing : `the input image could not be loaded (HTTP ${response.status})`);
  }
  return createImageBitmap(await response.blob());
}

// A file dropped beside the picker would make the browser leave the page to show the file: it is ignored.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    if (event.dataTransfer?.types.includes("Files")) event.preventDefault();
  });
}

const goneUploads = new Set(); // ids of uploads the server said it no longer has
const describedUploads = new Map(); // id -> the upload source the server described (its file's name and size)

/**
 * Ask the server about upload `imageId` (GET /api/images/{id}): a link or a live session's view carries only
 * its id and a size, not its file's name, and a link's size may be wrong. The answer is kept for
 * `describedUpload`; a 404 for `uploadGone`. Never rejects.
 */
async function describeUpload(imageId) {
  const response = await fetch(`/api/images/${encodeURIComponent(imageId)}`).catch(() => null);
  if (response?.status === 404) goneUploads.add(imageId);
  const answer = response?.ok ? await response.json().catch(() => null) : null;
  if (answer) describedUploads.set(imageId, uploadSource(answer, answer.name || "uploaded image"));
}

/** `source` (an upload) with the name, sizes and frames the server gave for it, where it has described it. */
function describedUpload(source) {
  const described = describedUploads.get(source.imageId);
  if (!described) return source;
  const { name, width, height, original, frames, format, channels } = described;
  const kept = { ...source, name, width, height, channels };
  if (original) kept.original = original;
  if (frames) Object.assign(kept, { frames, format });
  return kept;
}

/**
 * Ask the server whether the upload that the page's link names (its `input`) is still there. When it is not,
 * inputIgnored names it and the page reads its default input instead; when it is, the picker names its file
 * and shows the size the server keeps. Never rejects.
 */
export async function checkLinkUpload() {
  const source = decodeSource(new URLSearchParams(location.search).get("input"));
  if (source?.type === "upload") await describeUpload(source.imageId);
}

/** Whether the server said it no longer has the upload `imageId` (checkLinkUpload asks). */
export const uploadGone = (imageId) => goneUploads.has(imageId);

/** Where the browser can fetch a source's picture (samples and uploads), or null. */
export function sourceImageURL(source) {
  if (source.type === "sample") return `/api/samples/${encodeURIComponent(source.name)}`;
  if (source.type === "upload") return `/api/images/${encodeURIComponent(source.imageId)}.png`;
  return null;
}

/** A canvas showing gray values in [0, 1] (row-major, height x width). */
function grayCanvas(pixels, height, width) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  pixels.forEach((v, i) => {
    const level = Math.round(clamp(v, 0, 1) * 255);
    image.data.set([level, level, level, 255], 4 * i);
  });
  context.putImageData(image, 0, 0);
  return canvas;
}

/** A drawable resized to height x width as planar values in [0, 1]: 1 channel (luminance) or 3 (RGB). */
function pixelsOf(drawable, height, width, channels) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingQuality = "high";
  context.drawImage(drawable, 0, 0, width, height);
  const data = context.getImageData(0, 0, width, height).data;
  const area = width * height;
  const out = new Float32Array(channels * area);
  for (let i = 0; i < area; i++) {
    const [r, g, b] = [data[4 * i], data[4 * i + 1], data[4 * i + 2]];
    if (channels === 1) out[i] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else [out[i], out[area + i], out[2 * area + i]] = [r / 255, g / 255, b / 255];
  }
  return out;
}

// ---- sources <-> URL text -----------------------------------------------------------------------------

/** A short text for the URL: "sample:camera", "upload:<id>:<w>x<h>", "pattern:stripes", "draw:<base64>". */
export function encodeSource(source) {
  const suffix = `${source.centred ? CENTRED : ""}${source.invert ? "!" : ""}`;
  switch (source.type) {
    case "sample": return `sample:${source.name}${suffix}`;
    case "upload": return `upload:${source.imageId}:${source.width}x${source.height}${suffix}`;
    case "pattern": return `pattern:${source.name}${suffix}`;
    case "draw": return `draw:${packPixels(source.pixels)}${suffix}`;
    default: throw new Error(`unknown input source type ${source.type}`);
  }
}

/** The source of an encodeSource text, or null when the text is not one. */
export function decodeSource(text) {
  if (typeof text !== "string") return null;
  const invert = text.endsWith("!");
  let body = invert ? text.slice(0, -1) : text;
  const centred = body.endsWith(CENTRED);
  if (centred) body = body.slice(0, -CENTRED.length);
  const [type, ...rest] = body.split(":");
  const source = decodeBody(type, rest);
  if (source && invert) source.invert = true;
  if (source && centred) source.centred = true;
  return source;
}

function decodeBody(type, rest) {
  if (type === "sample" && rest.length === 1 && rest[0]) return { type, name: rest[0] };
  if (type === "pattern" && rest[0] in PATTERNS) return { type, name: rest[0] };
  if (type === "upload" && rest.length === 2) {
    const [width, height] = rest[1].split("x").map(Number);
    if (!(width > 0 && height > 0)) return null;
    return { type, imageId: rest[0], name: "uploaded image", width, height };
  }
  if (type === "draw" && rest.length === 1) {
    const pixels = unpackPixels(rest[0], DRAW_SIZE * DRAW_SIZE);
    return pixels ? { type, size: DRAW_SIZE, pixels } : null;
  }
  return null;
}

/** Two 4-bit levels per byte, base64url without padding (a 28x28 drawing: 523 characters). */
function packPixels(pixels) {
  const bytes = new Uint8Array(Math.ceil(pixels.length / 2));
  pixels.forEach((v, i) => {
    bytes[i >> 1] |= drawLevel(v) << (i % 2 ? 0 : 4);
  });
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unpackPixels(text, count) {
  let binary;
  try {
    binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return null;
  }
  if (binary.length !== Math.ceil(count / 2)) return null;
  const pixels = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const byte = binary.charCodeAt(i >> 1);
    pixels[i] = ((i % 2 ? byte : byte >> 4) & 0xf) / DRAW_LEVELS;
  }
  return pixels;
}

// ---- upload -----------------------------------------------------------------------------------------

/** POST the file to /api/images; resolves to an upload source, rejects with the server's words. */
export async function uploadImage(file) {
  let answer;
  try {
    answer = await postImage(file);
  } catch (error) {
    throw new Error(`${file.name} could not be used: ${error.message}`);
  }
  const source = uploadSource(answer, answer.name || file.name); // the server's name: the one a reload shows
  describedUploads.set(source.imageId, source);
  return source;
}

/**
 * The source of an upload the server described (POST or GET /api/images): its channels (1: grey, 3: colour),
 * "original" when it was reduced, "frames" and "format" when its file holds several frames (or pages) and only
 * the first is used.
 */
function uploadSource(answer, name) {
  const source = { type: "upload", imageId: answer.image_id, name, width: answer.width, height: answer.height,
    channels: answer.channels };
  const reduced = answer.original_width > answer.width || answer.original_height > answer.height;
  if (reduced) source.original = [answer.original_width, answer.original_height];
  if (answer.frames > 1) Object.assign(source, { frames: answer.frames, format: answer.format });
  return source;
}

/** "Using NAME (W×H)": the picture an upload source names, and the size the server reduced it from. */
function usingText({ name, width, height, original }) {
  const kept = original ? `${original[0]}×${original[1]}, kept at ${width}×${height}` : `${width}×${height}`;
  return `Using ${name} (${kept})`;
}

// ---- what is done to an upload on its way to the layer ----------------------------------------------------
// A run's input is made here (prepareInput, sourceImage, sourceToInput), so here the page's pickers learn the
// size their upload is read at, and say so under it when that enlarges the picture or leaves it very thin.

const THIN_SIDE = 8; // pixels: a side shorter than this is thinner than most windows a layer slides
// an enlargement worth a note: by half as much again, its pixels show as soft blocks (a slight one, such as
// 90×120 read at 96×128, looks the same and is what the working size says, like a reduction)
const NOTED_ENLARGEMENT = 1.5;
const READING_WAIT_MS = 1000; // how long an upload's note waits for the page to read the picture
const pickers = new Set(); // the page's pickers with an Upload tab
const samplePickers = new Set(); // the page's pickers with a Sample tab
// how the page's last run input reads its upload: {source, shape: [h, w], fit, channels}, or null
let lastReading = null;
let sampleReading = null; // the channels the page's last run input reads its sample in: {name, channels}, or null

/**
 * The page reads `source` at `shape` [height, width]: its longer side fitted to `fit` pixels, or stretched; in
 * `channels` (1: grey, 3: colour) where the network fixes them (null: as the page asked, or the picture's own).
 */
function noteReading(source, shape, { fit = null, channels = null } = {}) {
  lastReading = source.type === "upload" && shape ? { source, shape, fit, channels } : null;
  sampleReading = source.type === "sample" && channels ? { name: source.name, channels } : null;
  for (const picker of pickers) picker.showUploadNote();
  for (const picker of samplePickers) picker.showSampleNote();
}

/** What was done to an upload, in a sentence or two ("" when nothing worth saying): its frames, and its size as the
 * page last read it, or, centred (a digit page's "Centre the digit"), what the server makes of it. */
function uploadNote(source, { centred = false } = {}) {
  const read = lastReading?.source.imageId === source.imageId ? lastReading : null;
  const size = centred ? [CENTRED_NOTE] : [read ? enlargedNote(source, read) : "", read ? thinNote(read) : ""];
  return [framesNote(source), ...size, read ? greyNote(source.channels, read.channels) : ""].filter(Boolean).join(" ");
}

/** "Read in grey: …" when a colour picture (`own` channels 3) is read by a network that takes one channel. */
function greyNote(own, read) {
  return own === 3 && read === 1 ? GREY_NOTE : "";
}

const GREY_NOTE = "Read in grey: this network takes one channel.";

// what the server's centre_digit does (server/digits.py), said under a centred upload
const CENTRED_NOTE = "Its digit is read as MNIST's are: the ink found, made white on black, 20 px across, centred "
  + "in 28×28.";

// the server counts an upload's frames up to this many (server/images.py MAX_COUNTED_FRAMES): that count means "or more"
const COUNTED_FRAMES = 1000;

function framesNote({ frames, format }) {
  if (!(frames > 1)) return "";
  const count = frames >= COUNTED_FRAMES ? `${COUNTED_FRAMES.toLocaleString("en")} or more` : frames;
  return `First of ${count} ${format === "TIFF" ? "pages" : "frames"} used.`;
}

/**
 * "Enlarged from 10×10 to 28×28." when the picture grows by NOTED_ENLARGEMENT or more; "Stretched from …" when
 * a side grows and the other shrinks, by any amount (its shape changes).
 */
function enlargedNote({ width, height }, { shape: [toHeight, toWidth] }) {
  const growth = Math.max(toHeight / height, toWidth / width);
  const stretched = toHeight < height || toWidth < width;
  if (growth <= 1 || (!stretched && growth < NOTED_ENLARGEMENT)) return "";
  return `${stretched ? "Stretched" : "Enlarged"} from ${width}×${height} to ${toWidth}×${toHeight}.`;
}

/** "Read at 128×2, only 2 px tall: …" when fitting the longer side leaves the other very short. */
function thinNote({ shape: [height, width], fit }) {
  if (!fit || Math.min(height, width) >= THIN_SIDE) return "";
  const thin = height < width ? `${height} px tall` : `${width} px wide`;
  return `Read at ${width}×${height}, only ${thin}: its longer side is fitted to ${fit} px.`;
}

/**
 * Why the run's input is thinner than its working size, for an error that says an output side would be empty
 * ("output height would be empty: …"): the uploaded picture's shape. "" when the error is about another side,
 * or the input is not an upload fitted to a size.
 */
export function thinInputReason(message) {
  const side = /output (height|width) would be empty/.exec(message)?.[1];
  if (!side || !lastReading?.fit) return "";
  const { source, shape: [height, width], fit } = lastReading;
  const pixels = side === "height" ? height : width;
  if (pixels >= fit) return "";
  const [ownWidth, ownHeight] = source.original ?? [source.width, source.height];
  return `The input is only ${pixels} px ${side === "height" ? "tall" : "wide"} because ${source.name} is `
    + `${ownWidth}×${ownHeight}: its longer side is fitted to ${fit} px.`;
}

// ---- how an uploaded digit differs from MNIST's ----------------------------------------------------------------
// The digit networks learnt from MNIST: light ink on black, the ink 20 pixels across and centred in 28×28. A
// student's picture (a scan, a photo of paper, a drawing made elsewhere) is seldom so: dark on white, the digit
// small or off to one side. Invert alone fixes the first; "Centre the digit" (the server's centre_digit) all three.

const MNIST_MIDDLE = (DRAW_SIZE - 1) / 2; // where MNIST puts a digit's centre of mass
const OFF_CENTRE = 3.5; // pixels (of 28) the ink's centre of mass may lie from the middle
const SMALL_DIGIT = 12; // pixels (of 28): a digit whose ink spans fewer on its longer side is small (MNIST's: 20)
const CLEAR_INK = 0.2; // ink must differ from the picture's usual level by this much to be told from the paper

/**
 * Where the digit lies in a 28×28 gray picture (row-major values in [0, 1]): {light, problems}. light: the picture
 * is mostly light (its ink dark). problems: "off-centre" and "small" as they apply to its ink, the pixels that
 * differ from the picture's median level, on the ink's side, by at least half the most any does.
 */
export function digitLayout(values, size = DRAW_SIZE) {
  const light = values.reduce((sum, v) => sum + v, 0) / values.length > 0.5;
  const median = Float32Array.from(values).sort()[values.length >> 1];
  const ink = Array.from(values, (v) => Math.max(0, light ? median - v : v - median));
  const strongest = Math.max(...ink);
  if (strongest < CLEAR_INK) return { light, problems: [] }; // a blank picture, or no ink to speak of
  let mass = 0, rowSum = 0, colSum = 0;
  const box = { top: size, bottom: -1, left: size, right: -1 };
  ink.forEach((value, i) => {
    if (value < strongest / 2) return;
    const [row, col] = [Math.floor(i / size), i % size];
    mass += value;
    rowSum += value * row;
    colSum += value * col;
    Object.assign(box, { top: Math.min(box.top, row), bottom: Math.max(box.bottom, row),
      left: Math.min(box.left, col), right: Math.max(box.right, col) });
  });
  const offCentre = Math.hypot(rowSum / mass - MNIST_MIDDLE, colSum / mass - MNIST_MIDDLE) > OFF_CENTRE;
  const span = Math.max(box.bottom - box.top, box.right - box.left) + 1;
  return { light, problems: [...(offCentre ? ["off-centre"] : []), ...(span < SMALL_DIGIT ? ["small"] : [])] };
}

// an upload's digitLayout, by image id: ticking Invert or Centre changes the hint, not the picture it reads
const digitLayouts = new Map();

/** digitLayout of an upload, read from the server once (a failed read is tried again next time). */
function uploadedDigitLayout(source) {
  if (!digitLayouts.has(source.imageId)) {
    const reading = readPicture(source, { size: DRAW_SIZE, channels: 1, shape: [DRAW_SIZE, DRAW_SIZE] })
      .then(({ values }) => digitLayout(values));
    reading.catch(() => digitLayouts.delete(source.imageId));
    digitLayouts.set(source.imageId, reading);
  }
  return digitLayouts.get(source.imageId);
}

const MNIST_FRAME = "MNIST's digits are 20 pixels across and centred in 28×28";

/** The hint for an upload read as it is on a digit page (invert: the person ticked Invert), or "". */
export function digitHint({ light, problems }, { invert }) {
  const shape = problems.join(" and ");
  if (light && !invert) {
    return "This picture is mostly light. The digit networks read light ink on a dark background, as in MNIST: "
      + "if the digit is dark on white, tick Invert. " + (shape
      ? `The digit is also ${shape}, and ${MNIST_FRAME}: tick “Centre the digit”, which does both (it finds the `
        + "ink, under uneven light too, crops it and centres it)."
      : "For a photo of a digit on paper, tick “Centre the digit”: it also finds the ink under uneven light, crops "
        + "it and centres it.");
  }
  if (!light && invert) {
    return "This picture is mostly dark already: inverted, the network reads dark ink on a light background, "
      + "unlike MNIST's digits: untick Invert.";
  }
  if (!shape) return "";
  return `The digit is ${shape} in the 28×28 picture the network reads, and ${MNIST_FRAME} (Invert does not move `
    + "it): tick “Centre the digit” to crop and centre it.";
}

// ---- the picker -------------------------------------------------------------------------------------

let pickerCount = 0;

/**
 * Build the picker inside `container`.
 * options.onChange(source): called whenever the user picks or changes the input.
 * options.kinds: which tabs to offer (default all: sample, upload, draw, pattern).
 * options.sampleKinds: which sample kinds to list (default photo, digit, pattern).
 * options.initial: the first source (default the first listed sample).
 * options.digits: the input is for a digit reader (hints for drawings and uploads that do not look like MNIST's).
 * Returns {element, ready, getSource(), setSource(source), showError(text), clearError(), setDigits(digits)};
 * `ready` resolves once the sample list is in (setSource waits for it too). clearError() takes away what the
 * page showed, not why a chosen file was refused: that stays until the person chooses again.
 */
export function createInputPicker(container, options = {}) {
  const picker = new InputPicker(container, options);
  return {
    element: picker.root,
    ready: picker.ready,
    getSource: () => picker.source,
    setSource: (source) => picker.setSource(source),
    showError: (text) => picker.showError(text),
    clearError: () => picker.clearPageError(),
    setDigits: (digits) => picker.setDigits(digits),
  };
}

class InputPicker {
  constructor(container, { onChange = () => {}, kinds = Object.keys(KIND_LABELS),
    sampleKinds = Object.keys(SAMPLE_GROUPS), initial = null, digits = false } = {}) {
    this.onChange = onChange;
    this.digits = digits; // the page reads handwritten digits: white ink on black, as MNIST
    this.kinds = kinds;
    this.sampleKinds = sampleKinds;
    this.samples = [];
    this.id = `input-picker-${++pickerCount}`;
    this.root = this.build();
    container.append(this.root);
    const pad = this.root.querySelector(".ip-draw-pad");
    this.drawing = pad ? new DrawingPad(pad, () => { this.uploadsStarted++; this.drawn(); }) : null;
    this.source = this.forPage(initial);
    this.uploadsStarted = 0; // counts files chosen: only the newest one's upload is used
    if (kinds.includes("upload")) pickers.add(this);
    if (kinds.includes("sample")) samplePickers.add(this);
    this.ready = this.loadSamples(initial);
  }

  build() {
    const root = element("div", { class: "input-picker" });
    const tabs = element("div", { class: "ip-tabs", role: "radiogroup", "aria-label": "Input source" });
    for (const kind of this.kinds) {
      const radio = element("input", { type: "radio", name: `${this.id}-kind`, value: kind });
      radio.addEventListener("change", () => this.switchTo(kind));
      tabs.append(element("label", { class: "ip-tab" }, radio, KIND_LABELS[kind]));
    }
    root.append(tabs);
    for (const kind of this.kinds) root.append(this[`build_${kind}`]());
    const invert = element("input", { type: "checkbox", class: "ip-invert" });
    invert.addEventListener("change", () => this.optionsChanged());
    root.append(element("label", { class: "ip-invert-label", title: "x becomes 1 − x: digits drawn dark on white "
      + "must be inverted for the digit networks, which expect white ink on black" }, invert, "Invert (1 − x)"));
    const centre = element("input", { type: "checkbox", class: "ip-centre" });
    centre.addEventListener("change", () => this.optionsChanged());
    root.append(element("label", { class: "ip-invert-label ip-centre-label", hidden: !this.digits,
      title: "the server finds the ink (dark on light or light on dark), crops it, scales it to 20 pixels across "
        + "and centres it in 28×28, white on black: as MNIST's digits were made" }, centre,
    "Centre the digit, as MNIST's are"));
    root.append(element("p", { class: "ip-hint", hidden: true }));
    root.append(element("p", { class: "error ip-error", role: "alert", "aria-live": "polite" }));
    this.listenForDrops(root);
    return root;
  }

  build_sample() {
    const select = element("select", { class: "ip-sample", id: `${this.id}-sample` });
    select.addEventListener("change", () => this.choose({ type: "sample", name: select.value }));
    return element("div", { class: "ip-pane", "data-kind": "sample" },
      element("label", { for: select.id }, "Sample image"), select,
      element("p", { class: "ip-sample-note" })); // a colour sample read in grey says so
  }

  build_upload() {
    const file = element("input", { type: "file", accept: "image/*", class: "ip-file", id: `${this.id}-file` });
    file.addEventListener("change", () => {
      if (file.files.length) this.upload(file.files[0]);
      file.value = "";
    });
    return element("div", { class: "ip-pane", "data-kind": "upload" },
      element("div", { class: "ip-drop" },
        element("label", { for: file.id }, "Choose an image"), file,
        element("span", { class: "muted help" }, "or drop one anywhere on this box (PNG, JPEG, GIF, WebP, BMP, TIFF)")),
      // one status: the picture used and what is done to it, said together once the page has read it
      element("div", { class: "ip-upload-status", role: "status" },
        element("p", { class: "ip-upload-name muted" }),
        element("p", { class: "ip-upload-note" })));
  }

  build_draw() {
    const clear = element("button", { type: "button", class: "ip-clear" }, "Clear");
    const ink = element("select", { class: "ip-ink", id: `${this.id}-ink` },
      element("option", { value: "white" }, "white ink on black"),
      element("option", { value: "dark" }, "dark ink on white"));
    clear.addEventListener("click", () => this.drawing.clear());
    ink.addEventListener("change", () => this.drawing.setInk(ink.value));
    return element("div", { class: "ip-pane", "data-kind": "draw" },
      element("div", { class: "ip-draw-frame" },
        element("canvas", { class: "ip-draw-pad", width: DRAW_SIZE * DRAW_SCALE, height: DRAW_SIZE * DRAW_SCALE,
          tabindex: "0", role: "application", "aria-describedby": `${this.id}-pen-keys`,
          "aria-label": `Drawing canvas, ${DRAW_SIZE} by ${DRAW_SIZE} pixels: draw with the mouse, a finger or `
            + "the keys" }),
        element("div", { class: "ip-draw-pen", "aria-hidden": "true" })),
      element("p", { class: "ip-draw-pen-keys muted help", id: `${this.id}-pen-keys` },
        "Keys: arrows move the pen (Shift: 4 pixels), Space puts it down or lifts it; it draws as it moves "
          + "while down."),
      element("p", { class: "ip-draw-pen-state muted", role: "status" }),
      element("div", { class: "ip-draw-tools" }, clear,
        element("label", { for: ink.id }, "Ink"), ink));
  }

  build_pattern() {
    const select = element("select", { class: "ip-pattern", id: `${this.id}-pattern` },
      ...Object.entries(PATTERNS).map(([value, title]) => element("option", { value }, title)));
    select.addEventListener("change", () => this.choose({ type: "pattern", name: select.value }));
    return element("div", { class: "ip-pane", "data-kind": "pattern" },
      element("label", { for: select.id }, "Pattern"), select);
  }

  async loadSamples(initial) {
    if (!this.kinds.includes("sample")) {
      this.showSource(initial ?? this.firstSource());
      return;
    }
    try {
      this.samples = await listSamples(this.sampleKinds);
    } catch (error) {
      this.showError(`The sample list could not be loaded: ${error.message}`);
    }
    const select = this.root.querySelector(".ip-sample");
    for (const [kind, title] of Object.entries(SAMPLE_GROUPS)) {
      const members = this.samples.filter((s) => s.kind === kind);
      if (!members.length) continue;
      select.append(element("optgroup", { label: title },
        ...members.map((s) => element("option", { value: s.name }, `${s.title}, ${s.width}×${s.height}`))));
    }
    const first = this.samples[0] ? { type: "sample", name: this.samples[0].name } : null;
    this.showSource(initial ?? this.source ?? first);
  }

  /** Without samples: the first pattern, else the blank drawing, else nothing until an upload. */
  firstSource() {
    if (this.kinds.includes("pattern")) return { type: "pattern", name: Object.keys(PATTERNS)[0] };
    if (this.drawing) return { type: "draw", size: DRAW_SIZE, pixels: this.drawing.pixels() };
    return null;
  }

  /** Show `source` in the controls without calling onChange. */
  async setSource(source) {
    await this.ready;
    this.showSource(source);
  }

  showSource(source) {
    if (!source) return;
    if (source.type === "upload") source = describedUpload(source); // the server's name and size, where known
    this.source = this.forPage({ ...source });
    this.selectTab(source.type);
    const field = (name) => this.root.querySelector(name);
    if (source.type === "sample") field(".ip-sample").value = source.name;
    if (source.type === "pattern") field(".ip-pattern").value = source.name;
    if (source.type === "draw") this.drawing.load(source.pixels);
    if (source.type === "upload") {
      this.lastUpload = source;
      this.showUpload(this.lastUpload);
      // not described yet (a live session's view, a history entry): ask, then name the file if still shown
      if (!describedUploads.has(source.imageId)) {
        describeUpload(source.imageId).then(() => {
          if (this.lastUpload?.imageId !== source.imageId || !describedUploads.has(source.imageId)) return;
          this.lastUpload = describedUpload(this.lastUpload);
          this.showUpload(this.lastUpload);
        });
      }
    }
    field(".ip-invert").checked = Boolean(source.invert);
    field(".ip-centre").checked = Boolean(source.centred);
  }

  /** `source` as this page reads it: only a page that reads digits centres them (a link may ask it of another). */
  forPage(source) {
    if (!source?.centred || this.digits) return source;
    const { centred, ...rest } = source;
    return rest;
  }

  selectTab(kind) {
    for (const radio of this.root.querySelectorAll(".ip-tabs input")) radio.checked = radio.value === kind;
    for (const pane of this.root.querySelectorAll(".ip-pane")) pane.hidden = pane.dataset.kind !== kind;
  }

  switchTo(kind) {
    this.selectTab(kind);
    const field = (name) => this.root.querySelector(name);
    if (kind === "sample" && field(".ip-sample").value) this.choose({ type: "sample", name: field(".ip-sample").value });
    if (kind === "pattern") this.choose({ type: "pattern", name: field(".ip-pattern").value });
    if (kind === "draw") this.drawn();
    if (kind === "upload" && this.lastUpload) {
      this.showUpload(this.lastUpload);
      this.choose(this.lastUpload);
    }
  }

  /** The person chose another picture: a file still uploading is no longer the one to use. */
  choose(source) {
    this.uploadsStarted++;
    this.pick(source);
  }

  pick(source) {
    this.source = { ...source, invert: this.root.querySelector(".ip-invert").checked,
      centred: this.digits && this.root.querySelector(".ip-centre").checked };
    if (!this.source.invert) delete this.source.invert;
    if (!this.source.centred) delete this.source.centred;
    this.showError("");
    this.root.querySelector(".ip-hint").hidden = true;
    this.onChange(this.source);
  }

  /**
   * On a digit page, an upload read as it is (not centred): say what keeps it from looking like MNIST's digits,
   * light ink on black, 20 pixels across and centred, and which box changes that (digitHint).
   */
  async hintAtDigit(source) {
    const centred = () => this.source?.centred; // centring finds the ink and makes the digit as MNIST's are
    if (!this.digits || centred()) return;
    let layout;
    try {
      layout = await uploadedDigitLayout(source);
    } catch {
      return; // the picture cannot be read back (gone from the server): the run says why
    }
    if (this.source?.imageId !== source.imageId || centred()) return; // another input, or centred, meanwhile
    const text = digitHint(layout, { invert: Boolean(this.source.invert) });
    if (text) this.showHint(text);
  }

  /** A hint under the picker until the next input is picked. */
  showHint(text) {
    const hint = this.root.querySelector(".ip-hint");
    hint.textContent = text;
    hint.hidden = false;
  }

  optionsChanged() {
    if (this.source?.type === "draw") this.drawn(); // with the drawing's hints
    else if (this.source) this.pick(this.source); // pick sets "invert" and "centred" from the checkboxes
    if (this.source?.type !== "upload") return;
    if (this.shownUpload) this.showUploadNote(); // whether the digit is centred
    this.hintAtDigit(this.source);
  }

  drawn() {
    const pixels = this.drawing.pixels();
    this.pick({ type: "draw", size: DRAW_SIZE, pixels });
    // the network reads any picture: for a digit reader, say when this one is not a digit as it was taught them
    if (!this.digits) return;
    if (pixels.every((value) => value === pixels[0])) {
      this.showHint("The drawing is blank, so what the network says is about a blank picture: draw a digit.");
    } else if (!this.source.centred && (this.drawing.ink === "dark") !== Boolean(this.source.invert)) {
      this.showHint("The digit networks read light ink on a dark background, as in MNIST: "
        + (this.source.invert ? "with white ink on black, untick Invert." : "with dark ink on white, tick Invert."));
    }
  }

  /** Whether the input is for a network that reads handwritten digits (the drawing and upload hints). */
  setDigits(digits) {
    this.digits = digits;
    this.root.querySelector(".ip-centre-label").hidden = !digits;
    if (!digits && this.source?.centred) this.pick(this.source); // only a digit reader's input is centred
  }

  /** Upload `file` and use it; of files chosen quickly one after another, the last one is used. */
  async upload(file, note = "") {
    this.selectTab("upload");
    const name = this.root.querySelector(".ip-upload-name");
    const ticket = ++this.uploadsStarted;
    this.showUpload(null);
    this.showError(""); // a refusal of the file chosen before is not about this one
    name.textContent = `Uploading ${file.name}…`;
    try {
      const source = await uploadImage(file);
      if (ticket !== this.uploadsStarted) return; // another file was chosen meanwhile
      this.lastUpload = source;
      this.showUpload(source);
      this.pick(source);
      if (note) this.showHint(note);
      await this.hintAtDigit(source);
    } catch (error) {
      if (ticket !== this.uploadsStarted) return;
      // the page still shows what it showed: its tab comes back, or the upload's line says which picture it is
      const stillShown = this.lastUpload && this.source?.imageId === this.lastUpload.imageId;
      this.showUpload(stillShown ? this.lastUpload : null);
      if (this.source && this.source.type !== "upload") {
        const hadFocus = this.root.querySelector(".ip-pane[data-kind='upload']").contains(document.activeElement);
        this.selectTab(this.source.type);
        // the file picker the keyboard was on is hidden with its pane: the keyboard goes on from the tab shown
        if (hadFocus) this.root.querySelector(".ip-tabs input:checked").focus();
      }
      this.showError(error.message, { refusal: true });
    }
  }

  /** Under the sample: "Read in grey: …" while the page reads the colour sample shown in one channel. */
  showSampleNote() {
    const name = this.root.querySelector(".ip-sample").value;
    const own = this.samples.find((sample) => sample.name === name)?.channels;
    const text = sampleReading?.name === name ? greyNote(own, sampleReading.channels) : "";
    const note = this.root.querySelector(".ip-sample-note");
    if (note.textContent !== text) note.textContent = text;
  }

  /** The upload pane's lines: which picture is used (`source`, or none) and what is done to it. */
  showUpload(source) {
    this.shownUpload = source;
    this.showUploadNote();
  }

  /**
   * The upload's status: "Using NAME (W×H)" and the note of what is done to the picture shown (after each
   * noteReading too). A status is said whenever it changes, so a picture the page has not read yet gets both
   * lines once it is read, name, frames and size together, not its name first and all of it again (or after
   * READING_WAIT_MS, for a page that does not read it); until then the name line says it is uploading.
   */
  showUploadNote() {
    const unread = this.shownUpload && lastReading?.source.imageId !== this.shownUpload.imageId;
    if (unread) {
      this.noteTimer ??= setTimeout(() => {
        this.noteTimer = null;
        this.writeUploadNote();
      }, READING_WAIT_MS);
      return;
    }
    clearTimeout(this.noteTimer);
    this.noteTimer = null;
    this.writeUploadNote();
  }

  writeUploadNote() {
    const shown = this.shownUpload;
    const centred = Boolean(this.source?.centred) && this.source.imageId === shown?.imageId;
    const lines = { ".ip-upload-name": shown ? usingText(shown) : "",
      ".ip-upload-note": shown ? uploadNote(shown, { centred }) : "" };
    for (const [selector, text] of Object.entries(lines)) {
      const line = this.root.querySelector(selector);
      if (line.textContent !== text) line.textContent = text; // a status: said again only when it changes
    }
  }

  listenForDrops(root) {
    root.addEventListener("dragover", (event) => {
      event.preventDefault();
      root.classList.add("ip-dragging");
    });
    root.addEventListener("dragleave", () => root.classList.remove("ip-dragging"));
    root.addEventListener("drop", (event) => {
      event.preventDefault();
      root.classList.remove("ip-dragging");
      const files = event.dataTransfer?.files ?? [];
      if (files.length) {
        this.upload(files[0], files.length > 1 ? `${files.length} files were dropped: the page reads one picture, `
          + `so it uses the first, ${files[0].name}.` : "");
      }
    });
  }

  /** Show `text` under the picker; a refusal (of a file the person chose) outlasts the page's next run. */
  showError(text, { refusal = false } = {}) {
    this.root.querySelector(".ip-error").textContent = text;
    this.refusalShown = refusal && Boolean(text);
  }

  clearPageError() {
    if (!this.refusalShown) this.showError("");
  }
}

// ---- the drawing pad ------------------------------------------------------------------------------------

/** A canvas drawn on at DRAW_SCALE screen pixels per pixel, read back at DRAW_SIZE x DRAW_SIZE. */
const PEN_KEYS = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
const PEN_LEAP = 4; // drawn pixels a Shift+arrow moves the pen

class DrawingPad {
  constructor(canvas, onStroke) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d", { willReadFrequently: true });
    this.onStroke = onStroke;
    this.ink = "white";
    this.last = null;
    // the keyboard's pen: a drawn pixel (row, col), shown by .ip-draw-pen and said by .ip-draw-pen-state
    this.pen = { row: DRAW_SIZE >> 1, col: DRAW_SIZE >> 1, down: false };
    this.penMark = canvas.parentElement.querySelector(".ip-draw-pen");
    this.penMark.style.setProperty("--size", DRAW_SIZE);
    this.penState = canvas.closest(".ip-pane").querySelector(".ip-draw-pen-state");
    this.clear(false);
    canvas.addEventListener("pointerdown", (event) => this.start(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
      canvas.addEventListener(name, () => this.end());
    }
    canvas.addEventListener("keydown", (event) => this.key(event));
    canvas.addEventListener("focus", () => this.showPen());
  }

  /** Arrows move the pen (drawing while it is down), Space lowers or lifts it. */
  key(event) {
    const step = PEN_KEYS[event.key];
    if (!step && event.key !== " ") return;
    event.preventDefault();
    const from = this.penPoint();
    if (step) {
      const leap = event.shiftKey ? PEN_LEAP : 1;
      const clamp = (value) => Math.max(0, Math.min(DRAW_SIZE - 1, value));
      this.pen.row = clamp(this.pen.row + step[0] * leap);
      this.pen.col = clamp(this.pen.col + step[1] * leap);
    } else this.pen.down = !this.pen.down;
    if (this.pen.down) this.strokeBetween(from, this.penPoint()); // lowering the pen inks its pixel
    this.showPen();
  }

  /** The pen's pixel centre in canvas coordinates. */
  penPoint() {
    return [(this.pen.col + 0.5) * DRAW_SCALE, (this.pen.row + 0.5) * DRAW_SCALE];
  }

  showPen() {
    const { row, col, down } = this.pen;
    this.penMark.style.setProperty("--row", row);
    this.penMark.style.setProperty("--col", col);
    this.penMark.classList.toggle("down", down);
    this.penState.textContent = `Pen at row ${row}, column ${col}, ${down ? "down (drawing)" : "up"}.`;
  }

  strokeBetween(from, to) {
    this.last = from;
    this.stroke(to);
    this.last = null;
  }

  colours() {
    return this.ink === "white" ? ["#000", "#fff"] : ["#fff", "#000"];
  }

  clear(notify = true) {
    this.context.fillStyle = this.colours()[0];
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (notify) this.onStroke();
  }

  setInk(ink) {
    if (ink === this.ink) return;
    this.ink = ink;
    // swap the colours of what is already drawn, so the drawing stays
    const image = this.context.getImageData(0, 0, this.canvas.width, this.canvas.height);
    for (let i = 0; i < image.data.length; i += 4) {
      for (let k = 0; k < 3; k++) image.data[i + k] = 255 - image.data[i + k];
    }
    this.context.putImageData(image, 0, 0);
    this.onStroke();
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (this.canvas.width / box.width),
      (event.clientY - box.top) * (this.canvas.height / box.height)];
  }

  start(event) {
    event.preventDefault();
    this.canvas.setPointerCapture?.(event.pointerId);
    this.last = this.point(event);
    this.stroke(this.last);
  }

  move(event) {
    if (!this.last) return;
    this.stroke(this.point(event));
  }

  end() {
    if (!this.last) return;
    this.last = null;
    this.onStroke();
  }

  stroke(to) {
    const context = this.context;
    context.strokeStyle = this.colours()[1];
    context.lineWidth = BRUSH_WIDTH * DRAW_SCALE;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(...this.last);
    context.lineTo(...to);
    context.stroke();
    this.last = to;
    this.onStroke();
  }

  /**
   * The drawing at DRAW_SIZE x DRAW_SIZE, values in [0, 1] (1 = white), row-major, held to the levels a link
   * carries: a link to a drawing reproduces the very values computed from it.
   */
  pixels() {
    return pixelsOf(this.canvas, DRAW_SIZE, DRAW_SIZE, 1).map((v) => drawLevel(v) / DRAW_LEVELS);
  }

  load(pixels) {
    this.context.imageSmoothingEnabled = true;
    this.context.drawImage(grayCanvas(pixels, DRAW_SIZE, DRAW_SIZE), 0, 0, this.canvas.width, this.canvas.height);
    // a mostly white drawing was drawn dark on white
    const mean = pixels.reduce((sum, v) => sum + v, 0) / pixels.length;
    this.ink = mean > 0.5 ? "dark" : "white";
    const select = this.canvas.closest(".ip-pane")?.querySelector(".ip-ink");
    if (select) select.value = this.ink;
  }
}

