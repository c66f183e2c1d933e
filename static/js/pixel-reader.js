// Reading the values of canvases drawn one pixel per value (and scaled up by CSS), by pointer or by the arrow
// keys, with a marker around the pixel read: the Autoencoder's maps and pictures, the Network page's kernels.

import { element } from "./dom.js";

const MARKER_MARGIN = 4; // CSS pixels a marker's overlay reaches past its host, for the rings of edge pixels
const MARKER_RINGS = ["#000", "#fff", "#000"]; // outside in, one CSS pixel each: they show on dark and light pixels

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

/**
 * The pixel that `key` moves to from {y, x} in a picture of height x width pixels (a canvas drawn one pixel per
 * value will do): the arrow keys by one, Home and End to the row's ends, held at the edges; null for other keys.
 */
export function stepPixel({ y, x }, key, { height, width }) {
  const moves = { ArrowLeft: [y, x - 1], ArrowRight: [y, x + 1], ArrowUp: [y - 1, x], ArrowDown: [y + 1, x],
    Home: [y, 0], End: [y, width - 1] };
  if (!Object.hasOwn(moves, key)) return null;
  const [row, col] = moves[key];
  return { y: clamp(row, 0, height - 1), x: clamp(col, 0, width - 1) };
}

/** The pixel {y, x} under the pointer of a mouse `event` on a canvas drawn one pixel per value (border aside). */
export function pixelUnder(canvas, event) {
  const box = canvas.getBoundingClientRect();
  const across = (event.clientX - box.left - canvas.clientLeft) / canvas.clientWidth;
  const down = (event.clientY - box.top - canvas.clientTop) / canvas.clientHeight;
  return { y: clamp(Math.floor(down * canvas.height), 0, canvas.height - 1),
    x: clamp(Math.floor(across * canvas.width), 0, canvas.width - 1) };
}

/**
 * Outlines one pixel of canvases inside `host` (a positioned element) on an overlay canvas laid over it, at
 * screen resolution, in a dark, a light and a dark ring, so that it shows on any colour; the pixel itself and the
 * canvases' own image data are left as they are.
 */
export class PixelMarker {
  constructor(host) {
    this.host = host;
    this.overlay = element("canvas", { class: "pixel-marker", "aria-hidden": "true", hidden: true });
    host.append(this.overlay);
    this.shown = null; // show()'s arguments while shown: drawn again where a new layout puts the canvases
    new ResizeObserver(() => this.shown && this.show(...this.shown)).observe(host);
  }

  /** Outline pixel {y, x} of each of `canvases` (drawn one pixel per value, scaled by CSS). */
  show(canvases, { y, x }) {
    this.shown = [canvases, { y, x }];
    const ratio = this.fit();
    const context = this.overlay.getContext("2d");
    const hostBox = this.host.getBoundingClientRect();
    const origin = { left: hostBox.left + this.host.clientLeft - MARKER_MARGIN,
      top: hostBox.top + this.host.clientTop - MARKER_MARGIN };
    for (const canvas of canvases) {
      const box = canvas.getBoundingClientRect();
      const cell = { width: canvas.clientWidth / canvas.width, height: canvas.clientHeight / canvas.height };
      outlineCell(context, ratio, {
        left: box.left + canvas.clientLeft - origin.left + x * cell.width,
        top: box.top + canvas.clientTop - origin.top + y * cell.height, ...cell });
    }
  }

  hide() {
    this.shown = null;
    this.overlay.hidden = true;
  }

  /** Size the overlay to the host (which clears it) and show it; returns device pixels per CSS pixel. */
  fit() {
    const ratio = window.devicePixelRatio || 1;
    const width = this.host.clientWidth + 2 * MARKER_MARGIN;
    const height = this.host.clientHeight + 2 * MARKER_MARGIN;
    Object.assign(this.overlay.style, { left: `${-MARKER_MARGIN}px`, top: `${-MARKER_MARGIN}px`,
      width: `${width}px`, height: `${height}px` });
    this.overlay.width = Math.round(width * ratio);
    this.overlay.height = Math.round(height * ratio);
    this.overlay.hidden = false;
    return ratio;
  }
}

/** The marker's rings around a cell {left, top, width, height} (CSS pixels), on whole device pixels. */
function outlineCell(context, ratio, { left, top, width, height }) {
  const [x0, y0, x1, y1] = [left, top, left + width, top + height].map((v) => Math.round(v * ratio));
  const line = Math.max(1, Math.round(ratio));
  MARKER_RINGS.forEach((colour, i) => {
    const out = (MARKER_RINGS.length - i) * line;
    context.fillStyle = colour;
    context.fillRect(x0 - out, y0 - out, x1 - x0 + 2 * out, y1 - y0 + 2 * out);
  });
  context.clearRect(x0, y0, x1 - x0, y1 - y0);
}

/**
 * The readout of a row of canvases, each drawn one pixel per value (`data-channel` c: values c·h·w onwards of
 * the tensor given to update): the value under the pointer, or, in the focused canvas, at the pixel the keys
 * moved to (one pixel for all the row's canvases, so that the next one reads the same place), with the marker
 * on the canvas read. The row is one tab stop: Page Up and Page Down move the focus to its previous and next
 * canvas. describe(c, y, x, value) words the readout.
 */
export class PixelReader {
  constructor(host, { maps, readout, describe }) {
    this.maps = maps;
    this.readout = readout;
    this.describe = describe;
    this.marker = new PixelMarker(host);
    this.tensor = null;
    this.cursor = { y: 0, x: 0 };
    this.hovered = null; // the canvas under the pointer
    maps.addEventListener("mousemove", (event) => {
      this.hovered = this.canvasOf(event.target);
      if (this.hovered) this.cursor = pixelUnder(this.hovered, event); // the keys go on from here
      this.show();
    });
    maps.addEventListener("mouseleave", () => {
      this.hovered = null;
      this.show();
    });
    maps.addEventListener("focusin", (event) => {
      for (const canvas of this.canvases()) canvas.tabIndex = canvas === event.target ? 0 : -1; // Tab comes back
      this.show();
    });
    maps.addEventListener("focusout", () => this.show());
    maps.addEventListener("keydown", (event) => {
      const turn = { PageUp: -1, PageDown: 1 }[event.key];
      if (turn) {
        event.preventDefault();
        const canvases = this.canvases();
        canvases[clamp(Number(event.target.dataset.channel) + turn, 0, canvases.length - 1)].focus();
        return;
      }
      const next = stepPixel(this.cursor, event.key, event.target);
      if (!next || !this.tensor) return;
      event.preventDefault();
      this.cursor = next;
      this.hovered = null; // the keys read the focused canvas, wherever the pointer rests
      this.show();
    });
  }

  canvases() {
    return [...this.maps.querySelectorAll("canvas[data-channel]")];
  }

  canvasOf(node) {
    const canvas = node?.closest?.("canvas[data-channel]");
    return canvas && this.maps.contains(canvas) ? canvas : null;
  }

  /** New values ({data}) for the canvases: the readout and the marker follow if one is being read. */
  update(tensor) {
    this.tensor = tensor;
    this.show();
  }

  /** The canvas being read: the one under the pointer, else the focused one; null when neither. */
  current() {
    return this.hovered ?? this.canvasOf(document.activeElement);
  }

  /** Say the value at the cursor in the canvas being read and mark it; with none being read, hide the marker. */
  show() {
    const canvas = this.current();
    if (!canvas || !this.tensor) {
      this.marker.hide();
      return;
    }
    const c = Number(canvas.dataset.channel);
    const { height, width } = canvas;
    const [y, x] = [Math.min(this.cursor.y, height - 1), Math.min(this.cursor.x, width - 1)]; // kernels of a new size
    this.readout.textContent = this.describe(c, y, x, this.tensor.data[(c * height + y) * width + x]);
    this.marker.show([canvas], { y, x });
  }
}
