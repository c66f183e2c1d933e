// Layers & cortex (/layers): a page to read, with no settings of its own. As on every page, a link's keys that
// the page does not have (all but the site's own, such as ?follow=) are named at the top of the page.

import { showLinkNotice } from "./link-notice.js";
import { createState } from "./state.js";

const state = createState({});
const show = () => showLinkNotice(state.unread());
show();
window.addEventListener("popstate", show); // runs after the state's own listener, which re-reads the URL
