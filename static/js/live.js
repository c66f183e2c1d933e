// Live classroom sessions (server/live.py, docs/protocol.md): followers see the presenter's view.
//
// Every view keeps its whole state in its URL, so the presenter's tab sends its path and query each
// time state.js writes them; a follower's tab shows each URL it receives: on the same page it takes
// the new query and re-reads it (as after Back), otherwise it opens the other page. A tab remembers
// its part in sessionStorage, so the session goes on across page changes; `?follow=CODE` in a link
// joins a session.
//
// A presenter's tab that closes leaves its session's code and key in localStorage for the grace period the
// server waits for it: a page of this site opened meanwhile in the same browser offers to present it again
// (never on its own), unless another tab has taken it up already.

import { URL_WRITTEN } from "./state.js";

const PRESENTING = "lamina:live-presenting"; // {code, key, grace}: this tab presents that session
// {code, key, until}: a session whose presenting tab closed, waiting on the server until that time (epoch ms)
const LEFT = "lamina:live-left";
const FOLLOWING = "lamina:live-following"; // code: this tab follows that session
const SHOWN = "lamina:live-shown"; // the URL of the presenter's view this follower's tab showed last
// the site's pages, from the header's links (server/pages.py): the only places a follower is taken to
const PAGES = [...document.querySelectorAll("nav[aria-label='Views'] a")].map((link) => new URL(link.href).pathname);
const RETRY_MS = 2000; // after a lost connection (a server restart), try again this much later
// a presenter's page change closes its page and reconnects from the next within a second or so: a follower is told
// the presenter has gone only once that has taken longer than this
const AWAY_NOTICE_MS = 3000;
// A follower shows at most one view per this many ms (the newest): each view it shows costs the server
// a run, and a presenter dragging a slider writes its URL up to ten times a second.
const FOLLOW_INTERVAL_MS = 250;

const $ = (id) => document.getElementById(id);
const ui = {
  toggle: $("live-toggle"), panel: $("live-panel"), idle: $("live-idle"), presenting: $("live-presenting"),
  start: $("live-start"), form: $("live-follow-form"), code: $("live-code"), bigCode: $("live-big-code"),
  link: $("live-link"), error: $("live-error"), banner: $("live-banner"), status: $("live-status"),
  stop: $("live-stop"), back: $("live-back"), close: $("live-close"),
};
// the banner's offer to present again a session whose tab closed (the template has no place for it)
ui.resume = Object.assign(document.createElement("button"), { type: "button", id: "live-resume", hidden: true,
  textContent: "Present again" });
ui.stop.before(ui.resume);

// connected: the socket is open; resuming: this tab is taking up a part it had (after a page change or a
// lost connection), so a refusal means the server no longer knows the session
const live = { role: null, code: null, followers: 0, ended: null, socket: null, connected: false, resuming: false,
  away: null, // away: for a follower, the seconds left to the presenter's page to come back, when told
  offer: null }; // offer: {code, seconds} of a session whose presenting tab in this browser closed, offered here
let awayTimer = null;
let offerTimer = null;
// a follower's last view from the presenter, whether the person has touched this page since, and whether the
// view now differs from the presenter's because of that
const followed = { url: null, touched: false, strayed: false };

function currentUrl() {
  return location.pathname + location.search;
}

function send(message) {
  if (live.socket?.readyState === WebSocket.OPEN) live.socket.send(JSON.stringify(message));
}

function connect(firstMessage) {
  live.socket?.close();
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/live`);
  live.socket = socket;
  socket.addEventListener("open", () => {
    live.connected = true;
    socket.send(JSON.stringify(firstMessage));
  });
  socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    if (live.socket !== socket || !live.role) return;
    live.connected = false;
    render();
    setTimeout(() => live.socket === socket && resume(), RETRY_MS);
  });
}

/** Take up this tab's part again (after a page change or a lost connection), if it has one; `joining`: the
 * part is new (a ?follow= link), so a refusal is about the code, not about a session that ended. */
function resume({ joining = false } = {}) {
  const presenting = JSON.parse(sessionStorage.getItem(PRESENTING) || "null");
  const following = sessionStorage.getItem(FOLLOWING);
  live.resuming = !joining && Boolean(presenting || following);
  if (presenting) {
    Object.assign(live, { role: "present", code: presenting.code });
    connect({ type: "present", code: presenting.code, key: presenting.key });
  } else if (following) {
    Object.assign(live, { role: "follow", code: following });
    connect({ type: "follow", code: following });
  }
  render();
}

/** This tab no longer presents or follows; `forget` also clears its part for the tab's next pages. */
function stop(endedCode = null, { forget = true } = {}) {
  if (forget) {
    sessionStorage.removeItem(PRESENTING);
    sessionStorage.removeItem(FOLLOWING);
    sessionStorage.removeItem(SHOWN);
  }
  const socket = live.socket;
  if (forget && live.role === "present") forgetLeft(live.code);
  Object.assign(live, { role: null, code: null, followers: 0, ended: endedCode, socket: null, connected: false,
    resuming: false, away: null });
  clearTimeout(awayTimer);
  socket?.close();
  render();
}

// ---- a session whose presenting tab closed -------------------------------------------------------------------

/** The session a presenting tab of this browser left on closing, while the server still waits for it. */
function leftSession() {
  let left = null;
  try {
    left = JSON.parse(localStorage.getItem(LEFT) || "null");
  } catch {
    // not written by this page: forgotten below
  }
  if (typeof left?.code === "string" && typeof left.key === "string" && left.until > Date.now()) return left;
  localStorage.removeItem(LEFT);
  return null;
}

/** Forget the left session `code`: it is presented again, or it ended. */
function forgetLeft(code) {
  if (leftSession()?.code === code) localStorage.removeItem(LEFT);
}

/** This page closes while it presents: leave the session's code and key for the time the server waits for it. */
function leaveSession() {
  const presenting = JSON.parse(sessionStorage.getItem(PRESENTING) || "null");
  if (live.role !== "present" || !live.connected || !presenting?.grace) return;
  // a second early: the server's wait begins when the socket has closed, and a late try is refused
  const until = Date.now() + (presenting.grace - 1) * 1000;
  localStorage.setItem(LEFT, JSON.stringify({ code: presenting.code, key: presenting.key, until }));
}

/** Offer a tab with no part the session left by a closed tab, until it ends; withdraw it once it is gone. */
function offer() {
  clearTimeout(offerTimer);
  const left = live.role ? null : leftSession();
  // the seconds are said once: the banner is a live region, read out at each change
  live.offer = left && { code: left.code, seconds: Math.round((left.until - Date.now()) / 1000) };
  if (left) offerTimer = setTimeout(offer, left.until - Date.now());
  render();
}

function withdrawOffer() {
  clearTimeout(offerTimer);
  live.offer = null;
}

/** Present the offered session from this tab, unless another tab took it up meanwhile. */
function takeUpOffer() {
  const left = leftSession();
  if (left?.code !== live.offer?.code) {
    offer();
    return;
  }
  withdrawOffer();
  ui.error.hidden = true;
  sessionStorage.setItem(PRESENTING, JSON.stringify({ code: left.code, key: left.key }));
  resume();
}

/** A follower shows the presenter's URL: a new query for this page, or another page. */
function show(url) {
  Object.assign(followed, { url, touched: false, strayed: false });
  sessionStorage.setItem(SHOWN, url);
  const target = new URL(url, location.origin);
  // only this site's pages (the server checks this too): "//host/x" is a path here but another site to assign()
  if (target.origin !== location.origin || !PAGES.includes(target.pathname)) return;
  if (target.pathname !== location.pathname) {
    location.assign(target.pathname + target.search);
  } else if (target.search !== location.search) {
    history.replaceState(null, "", target.pathname + target.search + location.hash);
    window.dispatchEvent(new PopStateEvent("popstate"));
  }
}

let nextView = null; // the newest view not shown yet, and the timer that will show it
let viewTimer = null;
let lastShown = -Infinity;

/** Whether this tab is on another page than the presenter's view it showed last: the person went there. */
function leftShownPage() {
  const shown = sessionStorage.getItem(SHOWN);
  return shown !== null && !onPageOf(shown);
}

/** Whether `url` (a view's path and query, or null) is on this tab's page. */
function onPageOf(url) {
  return Boolean(url) && new URL(url, location.origin).pathname === location.pathname;
}

function showSoon(url) {
  nextView = url;
  if (viewTimer !== null) return;
  viewTimer = setTimeout(() => {
    viewTimer = null;
    lastShown = performance.now();
    if (live.role === "follow") show(nextView);
    render();
  }, Math.max(0, lastShown + FOLLOW_INTERVAL_MS - performance.now()));
}

function receive(message) {
  switch (message.type) {
    case "presenting":
      sessionStorage.setItem(PRESENTING, JSON.stringify({ code: message.code, key: message.key,
        grace: message.grace_seconds }));
      forgetLeft(message.code); // presented again: no other tab offers it
      Object.assign(live, { role: "present", code: message.code, followers: message.followers, ended: null,
        resuming: false });
      send({ type: "view", url: currentUrl() });
      break;
    case "followers":
      live.followers = message.count;
      break;
    case "following": {
      // before resuming is cleared; a presenter who came to this page meanwhile is followed, not strayed from
      const strayed = live.resuming && leftShownPage() && !onPageOf(message.url);
      sessionStorage.setItem(FOLLOWING, message.code);
      Object.assign(live, { role: "follow", code: message.code, ended: null, resuming: false });
      ui.panel.hidden = true;
      // a follower who opened another page (a header link, Back) stays there, told so, until the presenter's
      // next change or the banner's button
      if (strayed) Object.assign(followed, { url: message.url, touched: false, strayed: Boolean(message.url) });
      else if (message.url) show(message.url);
      break;
    }
    case "view":
      if (live.role === "follow") showSoon(message.url);
      break;
    case "presenter": { // the presenter's page closed ("here": false), or a page of theirs came back
      clearTimeout(awayTimer);
      live.away = null;
      // said once, not counted down: the banner is a live region that a screen reader reads out at each change
      const seconds = Math.max(0, Math.round(message.seconds - AWAY_NOTICE_MS / 1000));
      if (!message.here) awayTimer = setTimeout(() => { live.away = seconds; render(); }, AWAY_NOTICE_MS);
      break;
    }
    case "ended":
      // "reason": a newer page of this tab presents the session now; this page just lets go
      if (message.reason) stop(null, { forget: false });
      else stop(live.role === "follow" ? message.code : null);
      break;
    case "left":
      stop();
      break;
    case "error": {
      // a refused present or follow (an ended session, a mistyped code) ends this tab's part; refused when
      // taking up a part again, the session is gone from the server (it ended, or the server restarted)
      const { role, code, resuming } = live;
      const gone = resuming && message.field === "code";
      if (message.field !== "url") stop(gone && role === "follow" ? code : null);
      ui.error.textContent = !gone ? message.message : role === "present"
        ? `Your live session ${code} has ended: the server no longer has it (it may have restarted). `
          + "Start a new session to present again."
        : `The live session ${code} has ended: the server no longer has it (the presenter ended it, or the `
          + "server restarted).";
      ui.error.hidden = false;
      showPanel();
      break;
    }
  }
  render();
}

function render({ refocus = true } = {}) {
  const focused = document.activeElement;
  const hadFocus = insideLiveUi(focused);
  draw();
  // the control that had the keyboard was hidden (Start, Follow, End session, Leave, Close): it goes on from the
  // panel's own control while the panel is open, else from the header's toggle, which names the session
  if (refocus && hadFocus && focused.closest("[hidden]")) {
    (ui.panel.hidden ? ui.toggle : live.role === "present" ? ui.link : ui.start).focus();
  }
}

function draw() {
  const { role, code } = live;
  ui.toggle.textContent = role === "present" ? `Live: ${code}` : role === "follow" ? `Following ${code}` : "Live session";
  ui.toggle.setAttribute("aria-expanded", String(!ui.panel.hidden));
  ui.idle.hidden = role === "present";
  ui.presenting.hidden = role !== "present";
  ui.start.disabled = role === "follow";
  if (role === "present") {
    const link = `${location.origin}/?follow=${code}`;
    ui.bigCode.textContent = code;
    ui.link.textContent = link;
    ui.link.href = link;
  }
  // [text before the code, the code, text after it, the button's label]
  const lost = live.socket && !live.connected ? ": connecting to the server…" : null;
  const following = live.away !== null
    ? `: the presenter's page has closed; unless it comes back, the session ends within ${live.away} seconds`
    : followed.strayed ? ": you changed this view; the presenter's next change brings you back"
      : ": this tab shows the presenter's view";
  const banner = {
    present: ["Live session ", code, lost ?? `: ${live.followers} following`, "End session"],
    follow: ["Following ", code, lost ?? following, "Leave"],
  }[role] ?? (live.offer ? ["Your live session ", live.offer.code, " closed with its tab; unless you present it "
    + `again, it ends within ${live.offer.seconds} seconds`, "Dismiss"]
    : live.ended ? ["The live session ", live.ended, " has ended", "Close"] : null);
  ui.back.hidden = !(role === "follow" && followed.strayed);
  ui.resume.hidden = !(live.offer && !role);
  ui.banner.hidden = !banner;
  if (banner) {
    const strong = document.createElement("strong");
    strong.textContent = banner[1];
    ui.status.replaceChildren(banner[0], strong, banner[2]);
    ui.stop.textContent = banner[3];
  }
  document.body.dataset.live = role ?? "";
}

/** Show the panel just below the header (which wraps onto several lines in a narrow window). */
function showPanel() {
  ui.panel.style.top = `${document.querySelector("header.top").getBoundingClientRect().bottom + window.scrollY + 4}px`;
  ui.panel.hidden = false;
}
function openPanel() {
  showPanel();
  render();
  (live.role === "present" ? ui.link : live.role ? ui.code : ui.start).focus();
}
/** Close the panel; `refocus`: the keyboard goes on from the toggle (Escape, Close), else it is going elsewhere
 * (a click or Tab out of the panel) and is left to go there. */
function closePanel({ refocus = false } = {}) {
  if (ui.panel.hidden) return;
  ui.panel.hidden = true;
  render({ refocus: false });
  if (refocus) ui.toggle.focus();
}
const insidePanel = (node) => node instanceof Node && (ui.panel.contains(node) || ui.toggle.contains(node));
const insideLiveUi = (node) => insidePanel(node) || (node instanceof Node && ui.banner.contains(node));

ui.toggle.addEventListener("click", () => (ui.panel.hidden ? openPanel() : closePanel()));
ui.close.addEventListener("click", () => closePanel({ refocus: true }));
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || ui.panel.hidden) return;
  event.preventDefault(); // this Escape is the panel's: the page's own panels stay as they are
  closePanel({ refocus: true });
});
// The panel floats over the page: it closes when the keyboard or a tap goes elsewhere, never hiding what has focus.
ui.panel.addEventListener("focusout", (event) => {
  if (event.relatedTarget && !insidePanel(event.relatedTarget)) closePanel();
});
document.addEventListener("pointerdown", (event) => {
  if (!insidePanel(event.target)) closePanel();
});
ui.start.addEventListener("click", () => {
  ui.error.hidden = true;
  withdrawOffer();
  Object.assign(live, { role: "present", code: "…", ended: null });
  connect({ type: "present" });
  render();
});
ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const code = ui.code.value.trim().toUpperCase();
  if (!code) return;
  ui.error.hidden = true;
  withdrawOffer();
  Object.assign(live, { role: "follow", code, ended: null });
  connect({ type: "follow", code });
  render();
});
ui.stop.addEventListener("click", () => {
  if (live.offer && !live.role) { // "Dismiss": no tab offers it again
    localStorage.removeItem(LEFT);
    withdrawOffer();
    render();
    return;
  }
  // the server's "ended" or "left" reply stops this tab's part; without a connection, stop now
  const request = { present: { type: "end" }, follow: { type: "leave" } }[live.role];
  if (request && live.socket?.readyState === WebSocket.OPEN) send(request);
  else stop();
});
for (const event of [URL_WRITTEN, "popstate"]) {
  window.addEventListener(event, () => {
    if (live.role === "present") send({ type: "view", url: currentUrl() });
  });
}
// A follower who changes the page's view (their own pointer or keys, then a new URL) is told so, and can go back.
for (const event of ["pointerdown", "keydown", "drop"]) { // a file dragged in from elsewhere: a drop alone
  document.querySelector("main")?.addEventListener(event, () => { followed.touched = true; });
}
function checkStrayed() {
  if (live.role !== "follow" || !followed.url) return;
  followed.strayed = currentUrl() !== followed.url;
  render();
}
window.addEventListener(URL_WRITTEN, () => followed.touched && checkStrayed());
window.addEventListener("popstate", checkStrayed); // the follower's own Back or Forward (show() sets followed.url first)
ui.back.addEventListener("click", () => {
  if (!followed.url) return;
  show(followed.url);
  render();
  ui.stop.focus(); // the button is gone: the keyboard goes on from the banner's other one
});

// The banner stays at the window's top (lamina.css): its height, 0 while hidden, keeps the page's own sticky parts
// and what the page scrolls into view below it.
new ResizeObserver(() => {
  document.documentElement.style.setProperty("--live-banner-height", `${ui.banner.offsetHeight}px`);
}).observe(ui.banner);

ui.resume.addEventListener("click", takeUpOffer);
window.addEventListener("pagehide", leaveSession);
// another tab took the offered session up, or dismissed it
window.addEventListener("storage", (event) => {
  if (live.offer && (event.key === LEFT || event.key === null)) offer();
});

// A link with ?follow=CODE joins that session (the parameter is taken out of the address).
const params = new URLSearchParams(location.search);
const linked = params.get("follow");
if (linked && !sessionStorage.getItem(PRESENTING)) {
  params.delete("follow");
  const query = params.toString();
  history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
  sessionStorage.setItem(FOLLOWING, linked.trim().toUpperCase());
}
resume({ joining: Boolean(linked) });
offer();
