// The saliency panel of the Network view: which input pixels move one class's score, drawn over the input.
//
// The server sends d(score of class k)/d(input) (a "saliency" message, docs/protocol.md). The input is
// drawn in greys; each pixel is tinted red where raising it raises the score and blue where it lowers the
// score, more opaque the larger the gradient (relative to the largest in the image).

import { formatNumber } from "./plots.js";

const POSITIVE = [220, 40, 40]; // red: brighter here -> higher score
const NEGATIVE = [40, 90, 230]; // blue: brighter here -> lower score
const TOP_CLASS = "top";

/**
 * elements: { root, select, canvas, caption }; onPick(classIndex | null) when the user picks a class
 * (null: "the top class"). Returns { setModel(model), setChoice(classIndex | null), show(message, input), clear() }.
 */
export function createSaliencyPanel(elements, onPick) {
  const { root, select, canvas, caption } = elements;
  let names = null;

  select.addEventListener("change", () => onPick(select.value === TOP_CLASS ? null : Number(select.value)));

  function setModel(model) {
    names = model?.trained && model.class_names ? model.class_names : null;
    root.hidden = names === null;
    if (!names) return;
    select.replaceChildren(new Option("the top class", TOP_CLASS), ...names.map((name, i) => new Option(name, String(i))));
  }

  function setChoice(classIndex) {
    select.value = classIndex === null ? TOP_CLASS : String(classIndex);
  }

  function show(message, input) {
    if (!names) return;
    const [, channels, height, width] = message.tensor.shape;
    const gradient = combineChannels(message.tensor.data, channels, height * width);
    const base = combineChannels(input.data, channels, height * width, { mean: true });
    const largest = gradient.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    drawOverlay(canvas, base, gradient, height, width, largest);
    canvas.dataset.classIndex = String(message.class_index);
    canvas.dataset.largest = String(largest);
    caption.textContent = `Gradient of the score for “${names[message.class_index]}” (${formatNumber(message.score)}, `
      + "before softmax turns the scores into probabilities) with respect to each pixel; the largest is "
      + `${formatNumber(largest)}. Red: more ink here raises the score; blue: lowers it.`;
    canvas.setAttribute("aria-label", `saliency map for class ${names[message.class_index]} over the input`);
  }

  function clear() {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    delete canvas.dataset.classIndex;
    caption.textContent = "";
  }

  return { setModel, setChoice, show, clear };
}

/** One value per pixel: the sum over channels of the gradient (or the mean, for the image itself). */
function combineChannels(data, channels, pixels, { mean = false } = {}) {
  const out = new Float32Array(pixels);
  for (let c = 0; c < channels; c++) for (let i = 0; i < pixels; i++) out[i] += data[c * pixels + i];
  if (mean && channels > 1) for (let i = 0; i < pixels; i++) out[i] /= channels;
  return out;
}

function drawOverlay(canvas, base, gradient, height, width, largest) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < height * width; i++) {
    const grey = 255 * Math.min(1, Math.max(0, base[i]));
    const alpha = largest > 0 ? Math.min(1, Math.abs(gradient[i]) / largest) : 0;
    const tint = gradient[i] >= 0 ? POSITIVE : NEGATIVE;
    for (let k = 0; k < 3; k++) image.data[4 * i + k] = grey * (1 - alpha) + tint[k] * alpha;
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}
