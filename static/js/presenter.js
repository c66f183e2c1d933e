// Presenter mode: large type and no clutter, for a projector. Remembered in this browser.
import { plotFont, plotMargin, titleFont } from "./plots.js";

const KEY = "lamina:presenter";
const button = document.getElementById("presenter-toggle");

function apply(on) {
  document.body.classList.toggle("presenter", on);
  button?.setAttribute("aria-pressed", String(on)); // shown pressed (lamina.css): click again to leave
  // plots drawn from now on take their text size and margins from the mode (plots.js); these are redrawn
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    if (!plot.layout) continue; // purged (Plotly leaves its class): nothing drawn to relayout
    const base = plot.layout.meta?.baseMargin;
    window.Plotly?.relayout(plot, { "font.size": plotFont(on).size, ...(base ? { margin: plotMargin(base) } : {}),
      ...(plot.layout.title?.text ? { "title.font.size": titleFont(on).size } : {}) });
  }
  window.dispatchEvent(new Event("resize")); // let Plotly plots refit to the new type size
}

apply(localStorage.getItem(KEY) === "1");
button?.addEventListener("click", () => {
  const on = !document.body.classList.contains("presenter");
  localStorage.setItem(KEY, on ? "1" : "0");
  apply(on);
});
