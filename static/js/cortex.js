// Layers & cortex (/layers): a page to read, with no settings of its own. As on every page, a link's keys that
// the page does not have (all but the site's own, such as ?follow=) are named at the top of the page.

import { showLinkNotice } from "./link-notice.js";
import { createState } from "./state.js";

const state = createState({});
const show = () => showLinkNotice(state.unread());
show();
window.addEventListener("popstate", show); // runs after the state's own listener, which re-reads the URL

// The figure's box is a tab stop only while it scrolls sideways (a narrow screen): a keyboard user needs the
// stop to scroll it, and on a wide screen it would be a stop with nothing to do.
const figureBox = document.querySelector(".cx-scroll");
const updateFigureTabStop = () => {
  if (figureBox.scrollWidth > figureBox.clientWidth) figureBox.setAttribute("tabindex", "0");
  else figureBox.removeAttribute("tabindex");
};
new ResizeObserver(updateFigureTabStop).observe(figureBox);
