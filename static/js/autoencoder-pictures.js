// The Autoencoder view's pictures: the input and the decoder's output side by side on one grey scale,
// their difference, the reconstruction error in words, and a readout of the pixel under the pointer (or the
// pixel the arrow keys picked, for a keyboard), outlined on all three pictures.

import { mapsOf } from "./autoencoder-maps.js";
import { pixelUnder, PixelMarker, stepPixel } from "./pixel-reader.js";
import { colourLegend, drawMap, formatNumber, rangeOf, rangeText } from "./plots.js";

const MAGENTA = [255, 0, 255]; // NaN and inf, as plots.js draws them
const BETTER = 0.8; // an error below this share of the held-out average is "better than usual"
const WORSE = 1.25; // above this share, "worse than usual"

/** Draw h x w values as grey levels, 0 black and 1 white (clipped), NaN and inf in magenta. */
function drawGrey(canvas, data, h, w) {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const context = canvas.getContext("2d");
  const image = context.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = data[i];
    const rgb = Number.isFinite(v) ? Array(3).fill(Math.round(255 * Math.min(1, Math.max(0, v)))) : MAGENTA;
    image.data.set([...rgb, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

/** Mean squared error between two equally long arrays, over the pairs whose difference is finite. */
function meanSquaredError(a, b) {
  let sum = 0, count = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = a[i] - b[i];
    if (Number.isFinite(d)) {
      sum += d * d;
      count++;
    }
  }
  return count ? sum / count : NaN;
}

/** A legend for the grey pictures: black is 0, white is 1. */
function greyLegend(element) {
  colourLegend(element, { min: 0, max: 1 });
  element.setAttribute("aria-label", "grey scale from 0 (black) to 1 (white)");
  element.querySelector(".colour-legend-bar").style.background = "linear-gradient(to right, #000, #fff)";
}

/** A picture's name: what it is, its size and its values (the readout has them pixel by pixel: pointer or keys). */
function describePicture(canvas, what, data, height, width, scale = "0 black, 1 white") {
  canvas.setAttribute("aria-label", `${what}, ${height}×${width} pixels, ${rangeText(rangeOf(data))} (${scale})`);
}

/**
 * The pictures inside `root` (#autoencoder-view): #ae-input-image, #ae-output-image, #ae-difference-image,
 * their legends, #ae-picture-readout, #ae-output-caption and #ae-error.
 */
export class Pictures {
  constructor(root) {
    const find = (selector) => root.querySelector(selector);
    this.canvases = { input: find("#ae-input-image"), output: find("#ae-output-image"),
      difference: find("#ae-difference-image") };
    this.caption = find("#ae-output-caption");
    this.errorText = find("#ae-error");
    this.input = null;
    this.output = null;
    greyLegend(find("#ae-grey-legend"));
    colourLegend(find("#ae-difference-legend"), { min: -1, max: 1, diverging: true });
    this.readout = find("#ae-picture-readout");
    this.cursor = { y: 0, x: 0 }; // the pixel the arrow keys read, the same in all three pictures
    this.hovering = false; // the pointer is over one of them
    this.marker = new PixelMarker(find(".ae-pictures"));
    for (const canvas of Object.values(this.canvases)) {
      canvas.addEventListener("mousemove", (event) => {
        this.hovering = true;
        this.readout.textContent = this.pixelAt(canvas, event);
        this.mark();
      });
      canvas.addEventListener("mouseleave", () => {
        this.hovering = false;
        this.mark();
      });
      canvas.addEventListener("focus", () => {
        this.readout.textContent = this.pixelText(this.cursor);
        this.mark();
      });
      canvas.addEventListener("blur", () => this.mark());
      canvas.addEventListener("keydown", (event) => {
        if (!this.moveCursor(event.key)) return;
        event.preventDefault();
        this.readout.textContent = this.pixelText(this.cursor);
        this.mark();
      });
    }
  }

  /** Move the keyboard's pixel by an arrow key, Home or End (the row's ends); false for other keys. */
  moveCursor(key) {
    if (!this.output) return false;
    const next = stepPixel(this.cursor, key, mapsOf(this.output.shape));
    if (next) this.cursor = next;
    return Boolean(next);
  }

  /** Whether a picture is being read: the pointer or the focus is on one of them. */
  reading() {
    return this.hovering || Object.values(this.canvases).includes(document.activeElement);
  }

  /** Outline the shared pixel on all three pictures while one of them is being read. */
  mark() {
    const pictures = Object.values(this.canvases);
    if (this.output && this.reading()) {
      this.marker.show(pictures, this.cursor);
    } else {
      this.marker.hide();
    }
  }

  /** The input as the network got it (a 1-map tensor {data, shape}). */
  setInput(tensor) {
    this.input = tensor;
    const { height, width } = mapsOf(tensor.shape);
    drawGrey(this.canvases.input, tensor.data, height, width);
    describePicture(this.canvases.input, "the input digit", tensor.data, height, width);
  }

  /** The decoder's output, and its difference from the input. */
  setOutput(tensor) {
    this.output = tensor;
    const { height, width } = mapsOf(tensor.shape);
    drawGrey(this.canvases.output, tensor.data, height, width);
    describePicture(this.canvases.output, "the decoder's output", tensor.data, height, width);
    if (this.input?.data.length !== tensor.data.length) return;
    const difference = tensor.data.map((v, i) => v - this.input.data[i]);
    drawMap(this.canvases.difference, difference, height, width, { min: -1, max: 1, diverging: true });
    describePicture(this.canvases.difference, "output minus input", difference, height, width,
      "blue below zero, red above");
    if (this.reading()) this.readout.textContent = this.pixelText(this.cursor); // e.g. a slider moved under it
  }

  /**
   * Say how far the output is from the input. edited: the code was changed (the output no longer aims at
   * the input); average: the held-out mean squared error of the training card (trained weights only).
   */
  describe({ edited, trained, average }) {
    this.caption.textContent = edited ? "Decoded from the edited code" : "Reconstruction";
    if (!this.input || !this.output) return;
    const mse = meanSquaredError(this.output.data, this.input.data);
    this.errorText.dataset.mse = String(mse);
    const typical = Math.sqrt(mse);
    const words = `mean squared error ${formatNumber(mse)}: a typical pixel is off by ${formatNumber(typical)}, `
      + `${Math.round(100 * typical)}% of the way from black to white.`;
    let text = edited ? "The code is edited, so the output no longer aims at the input. It differs from the input "
      + `by a ${words}` : `Reconstruction error: ${words}`;
    if (!edited && trained && Number.isFinite(average)) {
      const verdict = mse < BETTER * average ? "better than"
        : mse > WORSE * average ? "worse than" : "about as well as";
      text += ` The average over held-out digits is ${formatNumber(average)}: this input is rebuilt ${verdict} usual.`;
    }
    if (!trained) text += " (The weights are untrained, so the output is grey whatever the input.)";
    this.errorText.textContent = text;
  }

  /** The readout of the pixel under the pointer. */
  pixelAt(canvas, event) {
    if (!this.output) return "";
    this.cursor = pixelUnder(canvas, event); // the arrow keys go on from the pixel last pointed at
    return this.pixelText(this.cursor);
  }

  /** "row r, col c: input a, output b, difference b - a" for pixel (y, x). */
  pixelText({ y, x }) {
    if (!this.input || !this.output) return "";
    const { width } = mapsOf(this.output.shape);
    const [a, b] = [this.input.data[y * width + x], this.output.data[y * width + x]];
    return `row ${y}, col ${x}: input ${formatNumber(a)}, output ${formatNumber(b)}, difference ${formatNumber(b - a)}`;
  }
}
