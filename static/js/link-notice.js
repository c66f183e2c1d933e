// Tells the person which values of the page's link were not used, instead of dropping them silently.

import { decodeSource, uploadGone } from "./inputs.js";
import { validParams } from "./lab-controls.js";

const MAX_TEXT = 40; // characters of a value shown; a pasted JSON can be long

/** A value as a link shows it: strings as they are, anything else as JSON. */
export const linkText = (value) => (typeof value === "string" ? value : JSON.stringify(value));

/** The notice's entry for `value` of `key` when it is none of the option values of `select`, else []. */
export function choiceIgnored(key, value, select) {
  const allowed = [...select.options].map((option) => option.value);
  return allowed.includes(String(value)) ? [] : [{ key, text: linkText(value), reason: `not one of ${allowed.join(", ")}` }];
}

/**
 * A link's settings `values` for layer `kind` as validParams keeps them (held to the catalogue's ranges and to
 * `limits`), and an entry under `key` for each one it did not keep as it was; `where` names what shows them
 * ("the lab"). Returns {valid, ignored}.
 */
export function paramsIgnored(kind, values, { limits = {}, key = "params", where }) {
  const valid = validParams(kind, values, limits);
  const ignored = [];
  for (const [name, value] of Object.entries(values)) {
    const ignore = (reason) => ignored.push({ key: `${key}.${name}`, text: linkText(value), reason });
    if (!kind.params.some((param) => param.name === name)) ignore(`${kind.kind} has no setting ${name}`);
    else if (!Object.hasOwn(valid, name)) ignore(`not a value ${kind.kind} takes here`);
    else if (JSON.stringify(valid[name]) !== JSON.stringify(value)) {
      ignore(`held to ${JSON.stringify(valid[name])}, what ${where} can show`);
    }
  }
  return { valid, ignored };
}

/**
 * Show `ignored` ([{key, text, reason}], as state.unread() and the pages' own checks give them) in a notice
 * at the top of the page's <main>, made on first use; with nothing ignored, the notice goes away.
 */
export function showLinkNotice(ignored) {
  let notice = document.getElementById("link-notice");
  if (!ignored.length) {
    notice?.remove();
    return;
  }
  if (!notice) {
    notice = document.createElement("div");
    notice.id = "link-notice";
    notice.className = "error link-notice";
    notice.setAttribute("role", "alert"); // made with its text, which a "status" region would not announce
    const main = document.querySelector("main");
    main.prepend(notice);
    // the notice goes once the person changes a setting: the link it speaks of is no longer the page's
    main.addEventListener("change", () => notice.remove(), { once: true });
  }
  const shorten = (text) => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text);
  const intro = document.createElement("p");
  intro.textContent = "Part of this page's link could not be used; the page shows the default instead, or the "
    + "nearest value it can show:";
  const list = document.createElement("ul");
  list.append(...ignored.map(({ key, text, reason }) => {
    const item = document.createElement("li");
    item.textContent = `${key}=${shorten(text)}: ${reason}.`;
    return item;
  }));
  notice.replaceChildren(intro, list);
}

const SAMPLES_NAMED = 5; // sample names a notice lists before "and N more"

/**
 * The notice's entry for a link's `input` text that names no input source, a source of a type not among `types`
 * (the page's picker tabs), a sample not among `samples` (the page's list, [{name}]; null checks nothing) or an
 * upload the server no longer has (checkLinkUpload). [] when the page can show what it names, or it is unset.
 */
export function inputIgnored(text, { types = null, samples = null } = {}) {
  if (text === null || text === undefined) return [];
  const source = decodeSource(text);
  const ignored = (reason) => [{ key: "input", text: String(text), reason }];
  if (!source) {
    return ignored("not an input; inputs are sample:NAME, pattern:NAME, upload:ID:WIDTHxHEIGHT or draw:PIXELS "
      + "(+centred at the end centres a digit, and ! after it inverts)");
  }
  if (types && !types.includes(source.type)) return ignored(`not an input taken here (${types.join(", ")})`);
  if (source.type === "upload" && uploadGone(source.imageId)) {
    return ignored("the server no longer has this uploaded picture (it keeps uploads in memory only, and lets them "
      + "go when unused for a while): upload it again");
  }
  if (source.type !== "sample" || !samples || samples.some((sample) => sample.name === source.name)) return [];
  const names = samples.map((sample) => sample.name);
  const more = names.length > SAMPLES_NAMED ? ` and ${names.length - SAMPLES_NAMED} more in the Sample list` : "";
  return ignored(`no sample of that name here; there are ${names.slice(0, SAMPLES_NAMED).join(", ")}${more}`);
}

/** The notice's entry for a link's `network` when it is none of `names`, else []. */
export function networkIgnored(network, names) {
  return names.includes(network) ? []
    : [{ key: "network", text: String(network), reason: `not a network here; there are ${names.join(", ")}` }];
}

/**
 * Show the link notice for `state`'s URL values that did not parse, its `input` if that names no input
 * source and what the page's own `check()` adds, now and after Back and Forward. Returns the function that
 * shows it, for a page that can check more once it has loaded what it needs: its `extra` entries name values
 * the page has replaced already.
 */
export function watchLinkNotice(state, check = () => []) {
  const show = (extra = []) => showLinkNotice([...state.unread(), ...inputIgnored(state.get().input), ...extra,
    ...check()]);
  show();
  window.addEventListener("popstate", () => show());
  return show;
}
