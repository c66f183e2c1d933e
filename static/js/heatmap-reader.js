// Reading a Plotly heatmap's cells from the keyboard: the arrow keys (and Home and End) move over its cells, and
// each cell reached shows Plotly's own hover label on it and is said in a readout line.

import { stepPixel } from "./pixel-reader.js";

/**
 * Make the heatmap drawn in `div` (by plots.heatmap, which may draw it afresh: the listeners here are the div's
 * own, not Plotly's) a tab stop whose keys move over its cells. describe(row, column, value) words the readout.
 */
export function readHeatmapWithKeys(div, readout, describe) {
  let cursor = { y: 0, x: 0 };
  const size = () => {
    const z = div.data?.[0]?.z;
    return z?.length ? { height: z.length, width: z[0].length } : null;
  };
  const show = () => {
    const cells = size();
    if (!cells) return;
    cursor = { y: Math.min(cursor.y, cells.height - 1), x: Math.min(cursor.x, cells.width - 1) }; // a smaller map
    Plotly.Fx.hover(div, { xval: cursor.x, yval: cursor.y }, "xy");
    readout.textContent = describe(cursor.y, cursor.x, div.data[0].z[cursor.y][cursor.x]);
  };
  div.tabIndex = 0;
  div.addEventListener("keydown", (event) => {
    const cells = size();
    const next = cells && stepPixel(cursor, event.key, cells);
    if (!next) return;
    event.preventDefault();
    cursor = next;
    show();
  });
  div.addEventListener("focus", show);
  div.addEventListener("blur", () => {
    Plotly.Fx.unhover(div);
    readout.textContent = "";
  });
}
