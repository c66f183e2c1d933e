// Reading a Plotly heatmap's cells from the keyboard: the arrow keys (and Home and End) move over its cells, and
// each cell reached shows Plotly's own hover label on it and is said in a readout line. A line plot is read the
// same way, its lines as the rows and their points as the columns.

import { stepPixel } from "./pixel-reader.js";

/** The plot's cells, row by row: a heatmap's z, or each line's y values. */
function cellsOf(div) {
  const traces = div.data ?? [];
  return traces[0]?.z ?? traces.map((trace) => trace.y);
}

/** Show Plotly's hover label on cell {y, x} (on a category axis too: the values are the rows' indices). */
function hoverCell(div, { y, x }) {
  if (div.data[0].z) Plotly.Fx.hover(div, { xval: x, yval: y }, "xy");
  else Plotly.Fx.hover(div, [{ curveNumber: y, pointNumber: x }]);
}

/**
 * Make the heatmap (or line plot) drawn in `div` (by plots.heatmap, which may draw it afresh: the listeners here
 * are the div's own, not Plotly's) a tab stop whose keys move over its cells. describe(row, column, value) words
 * the readout (a string, or nodes in a DocumentFragment); onPick(row, column), if given, is what Enter and Space
 * do on a cell (what a click on it does).
 * Returns reread(): call it once the plot is drawn afresh, so that while it has the focus the readout and the
 * hover label say the new value of the cell the keys are on, not the old one.
 */
export function readHeatmapWithKeys(div, readout, describe, onPick = null) {
  let cursor = { y: 0, x: 0 };
  const size = () => {
    const cells = cellsOf(div);
    return cells[0]?.length ? { height: cells.length, width: cells[0].length } : null;
  };
  const show = () => {
    const cells = cellsOf(div);
    if (!cells[0]?.length) { // nothing drawn (any more): nothing to say
      readout.textContent = "";
      return;
    }
    cursor = { y: Math.min(cursor.y, cells.length - 1), x: Math.min(cursor.x, cells[0].length - 1) }; // a smaller map
    hoverCell(div, cursor);
    readout.replaceChildren(describe(cursor.y, cursor.x, cells[cursor.y][cursor.x]));
  };
  div.tabIndex = 0;
  div.addEventListener("keydown", (event) => {
    const cells = size();
    if (cells && onPick && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault(); // Space would scroll the page
      show(); // the cell picked is the one said, on a map that may have been drawn afresh since
      onPick(cursor.y, cursor.x);
      return;
    }
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
  return () => {
    if (document.activeElement === div) show();
  };
}
