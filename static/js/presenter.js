// Presenter mode: large type and no clutter, for a projector. Remembered in this browser.
import { plotFont } from "./plots.js";

const KEY = "lamina:presenter";
const button = document.getElementById("presenter-toggle");

function apply(on) {
  document.body.classList.toggle("presenter", on);
  button?.setAttribute("aria-pressed", String(on));
  if (button) button.textContent = on ? "Leave presenter mode" : "Presenter mode";
  // plots drawn from now on take their text size from the mode (plots.js plotFont); these are redrawn
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    window.Plotly?.relayout(plot, { "font.size": plotFont(on).size });
  }
  window.dispatchEvent(new Event("resize")); // let Plotly plots refit to the new type size
}

apply(localStorage.getItem(KEY) === "1");
button?.addEventListener("click", () => {
  const on = !document.body.classList.contains("presenter");
  localStorage.setItem(KEY, on ? "1" : "0");
  apply(on);
});
