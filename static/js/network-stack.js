// The Network view's own stack: layers a user puts together (kind by kind, with the controls the catalogue
// describes), run top to bottom on an image of the channels and size they choose. The server builds the
// network from the spec this editor makes (docs/protocol.md, "A spec"), with seeded, untrained weights.
//
//   const editor = createStackEditor(elements, kinds, { onChange });  // kinds: GET /api/layers
//   editor.show(stack);              // draw a stack (from the URL, Back/Forward or a live session)
//   editor.showShapes(plan.layers);  // each layer's output shape, from a run's plan
//   editor.showError(message);       // a server error about the spec, shown at the layer it names
//
// A stack is {input: [channels, height, width], layers: [{kind, params}]}, params holding only the values
// that differ from the catalogue's defaults; it lives in the view state (the URL) as JSON.

import { element } from "./dom.js";
import { createParamControls, formatValue } from "./lab-controls.js";
import { paramsIgnored } from "./link-notice.js";

export const CUSTOM_NETWORK = "custom";
export const STACK_TITLE = "Your own stack of layers";

/** A small CNN for 28×28 digits: what the stack starts as. */
export const DEFAULT_STACK = {
  input: [1, 28, 28],
  layers: [
    { kind: "Conv2d", params: { out_channels: 8, padding: 1 } },
    { kind: "ReLU", params: {} },
    { kind: "MaxPool2d", params: {} },
    { kind: "Conv2d", params: { out_channels: 16, padding: 1 } },
    { kind: "ReLU", params: {} },
    { kind: "MaxPool2d", params: {} },
    { kind: "Flatten", params: {} },
    { kind: "Linear", params: { out_features: 10 } },
    { kind: "Softmax", params: {} },
  ],
};

const INPUT_SIZE = { min: 8, max: 256 }; // pixels of the square input
// channel and feature counts follow from the layer above (engine/spec.py), so they get no control
const INFERRED = ["in_channels", "in_features", "num_features", "input_size"];
// narrower slider ranges than the catalogue's (which allows 4,096 channels): enough to explore, easy to drag
const LIMITS = { out_channels: 64, out_features: 256, hidden_size: 256, groups: 64, channels: 64, height: 64,
  width: 64 };
const ROW_ERROR = ".nv-stack-body > .error"; // a layer's own error line
// a line of a spec error about one layer (engine/spec.py): "layer 3 'conv' (Conv2d): " and the reason after it
const LAYER_AT_FAULT = /^layer (\d+)(?: '[^']*')?(?: \([^)]*\))?: /;

/** The request's spec for a stack. */
export function stackSpec(stack) {
  return {
    name: "your stack",
    input_shape: stack.input,
    layers: stack.layers.map(({ kind, params }) => ({ kind, params })),
  };
}

/** What the Network view needs to know of a stack, in the shape of a GET /api/models entry. */
export function stackModel(stack) {
  return {
    name: CUSTOM_NETWORK,
    title: STACK_TITLE,
    input_channels: stack.input[0],
    input_size: stack.input.slice(1),
    input_kind: "image",
    trained: false,
    class_names: null,
    card: null,
  };
}

/** `stack` if it has the shape of one (a URL can hold anything), else null. */
export function validStack(stack, kinds) {
  return stackProblem(stack, kinds) ? null : stack;
}

/** Why `stack` does not have the shape of one, as words for a person; "" when it has. */
export function stackProblem(stack, kinds) {
  const known = kinds.map((kind) => kind.kind);
  const shown = (value) => JSON.stringify(value ?? null).slice(0, 60);
  const [channels, height, width] = Array.isArray(stack?.input) ? stack.input : [];
  if (!([1, 3].includes(channels) && height === width && Number.isInteger(height)
    && height >= INPUT_SIZE.min && height <= INPUT_SIZE.max)) {
    return `its input is ${shown(stack?.input)}, not [channels, size, size] with 1 or 3 channels and a size from `
      + `${INPUT_SIZE.min} to ${INPUT_SIZE.max}`;
  }
  if (!Array.isArray(stack.layers) || !stack.layers.length) return "it has no layers";
  for (const [index, layer] of stack.layers.entries()) {
    if (!known.includes(layer?.kind)) {
      return `layer ${index}'s kind ${shown(layer?.kind)} is not one of ${known.join(", ")}`;
    }
    if (layer.params === null || typeof layer.params !== "object" || Array.isArray(layer.params)) {
      return `layer ${index}'s params are ${shown(layer.params)}, not an object of settings`;
    }
  }
  return "";
}

/**
 * `stack` (one that has the shape of one) with each layer's settings as its kind takes them: a hand-edited link
 * can hold out_channels "abc" or stride -3. Returns {stack, ignored}: the link notice's entries for what changed.
 */
export function checkedStack(stack, kinds) {
  const catalogue = new Map(kinds.map((kind) => [kind.kind, kind]));
  const ignored = [];
  const layers = stack.layers.map((layer, index) => {
    const checked = paramsIgnored(catalogue.get(layer.kind), layer.params,
      { key: `stack layer ${index}`, where: "the stack" });
    ignored.push(...checked.ignored);
    return { ...layer, params: checked.valid };
  });
  return { stack: { ...stack, layers }, ignored };
}

/**
 * A stack holding a built-in network's layers (GET /api/models' spec), its settings as the spec gives them less
 * the catalogue's defaults and the counts that follow from the layer above; null when the stack cannot hold
 * them (an input that is not a square image of 1 or 3 channels and 8 to 256 pixels).
 */
export function stackFromSpec(spec, kinds) {
  const catalogue = new Map(kinds.map((kind) => [kind.kind, kind]));
  const layers = (spec?.layers ?? []).map(({ kind, params = {} }) => {
    const defaults = new Map((catalogue.get(kind)?.params ?? []).map((param) => [param.name, param.default]));
    const changed = Object.entries(params).filter(([name, value]) => !INFERRED.includes(name)
      && JSON.stringify(value) !== JSON.stringify(defaults.get(name)));
    return { kind, params: Object.fromEntries(changed) };
  });
  return validStack({ input: spec?.input_shape, layers }, kinds);
}

/** What the line under the stack says of the layers at fault: "Layer 3 cannot run: see its settings.", or for
 * several "Layers 1, 3 and 5 cannot run: see their settings." */
function faultSummary(indices) {
  if (indices.length === 1) return `Layer ${indices[0]} cannot run: see its settings.`;
  const listed = `${indices.slice(0, -1).join(", ")} and ${indices.at(-1)}`;
  return `Layers ${listed} cannot run: see their settings.`;
}

/** The layer kinds a stack offers: those that take images or flat vectors (the recurrent cells have /sequence). */
function imageKinds(kinds) {
  return kinds.filter((kind) => kind.input_ndim.some((ndim) => ndim === 2 || ndim === 4));
}

/** The Layer lab's link for one layer: its kind and settings, on the lab's own sample picture. */
function labLink({ kind, params }, channels) {
  const query = new URLSearchParams({ kind });
  if (Object.keys(params).length) query.set("params", JSON.stringify(params));
  if (channels === 3) query.set("colour", "rgb");
  return `/?${query}`;
}

/** "→ 8×28×28" for a batched output shape; nothing while it is not known. */
function shapeText(shape) {
  return shape ? `→ ${shape.slice(1).join("×")}` : "";
}

/** A layer's settings that differ from the defaults: "out channels 8, padding 1". */
function settingsText(params) {
  return Object.entries(params).map(([name, value]) => `${name.replace(/_/g, " ")} ${formatValue(value)}`).join(", ");
}

/**
 * elements: {channels (select), size (range), sizeShown (output), layers (ol), addKind (select), add (button),
 * full (p: why Add is off), reset (button), error (p)}. onChange(stack) after every edit; the editor never calls it
 * for show(). setMaxLayers(n): the server's limit on a spec's layers (its hello), at which Add turns off.
 */
export function createStackEditor(elements, kinds, { onChange }) {
  const catalogue = new Map(kinds.map((kind) => [kind.kind, kind]));
  let stack = null;
  let open = new Set(); // indices of the layers whose settings are unfolded
  let rows = [];
  let serverError = false; // an error from showError is on screen (the next good run clears it)
  let maxLayers = Infinity; // the server's max_spec_layers, once its hello has said it
  const shapes = new Map(); // output shape of layer i, by the input and layers 0..i it came from (prefixKey)

  elements.addKind.replaceChildren(...imageKinds(kinds).map((kind) => element("option", { value: kind.kind }, kind.kind)));
  elements.channels.addEventListener("change", () => {
    // redrawn: each layer's Layer lab link carries the input's colour
    edit({ ...stack, input: [Number(elements.channels.value), ...stack.input.slice(1)] }, { redraw: true });
  });
  elements.size.min = String(INPUT_SIZE.min);
  elements.size.max = String(INPUT_SIZE.max);
  elements.size.addEventListener("input", () => {
    const size = Number(elements.size.value);
    elements.sizeShown.textContent = `${size} px`;
    edit({ ...stack, input: [stack.input[0], size, size] });
  });
  elements.add.addEventListener("click", () => {
    const kind = elements.addKind.value;
    const at = insertionPoint(catalogue.get(kind).input_ndim);
    const layers = [...stack.layers];
    layers.splice(at, 0, { kind, params: {} });
    open = new Set([at]);
    edit({ ...stack, layers }, { redraw: true });
    rows[at].querySelector(".nv-stack-toggle").focus(); // says where it went: its name holds its place
  });

  /** Where a new layer taking `inputNdim`-D inputs goes: after the last layer whose output it can take (before a
   * Flatten, for an image layer), at the end when the shapes are not known yet. */
  function insertionPoint(inputNdim) {
    for (let i = stack.layers.length - 1; i >= 0; i--) {
      const shape = shapes.get(prefixKey(i));
      if (!shape) return stack.layers.length;
      if (inputNdim.includes(shape.length)) return i + 1;
    }
    return inputNdim.includes(stack.input.length + 1) ? 0 : stack.layers.length;
  }

  /** What layer i's output shape depends on: the input and the layers up to i. */
  function prefixKey(i) {
    return JSON.stringify([stack.input, stack.layers.slice(0, i + 1)]);
  }

  elements.reset.addEventListener("click", () => {
    open = new Set();
    edit(DEFAULT_STACK, { redraw: true });
    showInput();
  });

  /** Fold or unfold layer `index`'s settings. */
  function fold(index, folded) {
    rows[index].querySelector(".nv-stack-body").hidden = folded;
    rows[index].querySelector(".nv-stack-toggle").setAttribute("aria-expanded", String(!folded));
    if (folded) open.delete(index);
    else open.add(index);
  }

  function showInput() {
    elements.channels.value = String(stack.input[0]);
    elements.size.value = String(stack.input[1]);
    elements.sizeShown.textContent = `${stack.input[1]} px`;
  }

  function edit(next, { redraw = false } = {}) {
    stack = next;
    elements.error.textContent = "";
    if (redraw) drawLayers();
    onChange(stack);
  }

  function move(index, offset) {
    const layers = [...stack.layers];
    const [layer] = layers.splice(index, 1);
    layers.splice(index + offset, 0, layer);
    open = new Set([...open].map((i) => (i === index ? index + offset : i === index + offset ? index : i)));
    edit({ ...stack, layers }, { redraw: true });
    // keep the keyboard on the moved layer: on the same button while it can move further, else on its name
    const moved = rows[index + offset];
    const again = moved.querySelector(offset < 0 ? ".nv-stack-up" : ".nv-stack-down");
    (again.disabled ? moved.querySelector(".nv-stack-toggle") : again).focus();
  }

  function remove(index) {
    open = new Set([...open].filter((i) => i !== index).map((i) => (i > index ? i - 1 : i)));
    edit({ ...stack, layers: stack.layers.filter((_, i) => i !== index) }, { redraw: true });
    (rows[index] ?? rows[index - 1])?.querySelector(".nv-stack-toggle")?.focus();
  }

  function setParams(index, params) {
    const layers = stack.layers.map((layer, i) => (i === index ? { kind: layer.kind, params } : layer));
    rows[index].querySelector(".nv-stack-settings").textContent = settingsText(params);
    rows[index].querySelector(".nv-stack-lab").href = labLink(layers[index], stack.input[0]);
    rows[index].querySelector(ROW_ERROR).textContent = "";
    edit({ ...stack, layers });
  }

  function layerRow(layer, index) {
    const count = stack.layers.length;
    const bodyId = `nv-stack-body-${index}`;
    const toggle = element("button", { type: "button", class: "nv-stack-toggle", "aria-controls": bodyId,
      "aria-expanded": String(open.has(index)) },
    element("span", { class: "nv-stack-index" }, `${index}`),
    element("span", { class: "nv-stack-name" }, element("span", { class: "nv-stack-kind" }, layer.kind),
      element("span", { class: "nv-stack-shape" }, shapeText(shapes.get(prefixKey(index))))),
    element("span", { class: "nv-stack-settings" }, settingsText(layer.params)));
    const buttons = [
      ["nv-stack-up", "↑", `Move layer ${index} up`, index === 0, () => move(index, -1)],
      ["nv-stack-down", "↓", `Move layer ${index} down`, index === count - 1, () => move(index, 1)],
      ["nv-stack-remove", "✕", `Remove layer ${index}`, count === 1, () => remove(index)],
    ].map(([className, text, label, disabled, action]) => {
      const button = element("button", { type: "button", class: className, "aria-label": label, title: label }, text);
      button.disabled = disabled;
      button.addEventListener("click", action);
      return button;
    });
    const params = element("div", { class: "nv-stack-params" });
    const body = element("div", { class: "nv-stack-body", id: bodyId },
      element("p", { class: "error", role: "alert" }), params,
      element("p", { class: "nv-stack-lab-line" },
        element("a", { class: "nv-stack-lab", href: labLink(layer, stack.input[0]) }, "Study this layer in the Layer lab"),
        // the lab feeds a layer a picture (its channel and feature counts follow), not this stack's maps
        element("span", { class: "muted" }, ", which runs it on a picture of its own, not on the maps it gets in "
          + "this stack")));
    body.hidden = !open.has(index);
    toggle.addEventListener("click", () => fold(index, !body.hidden));
    // a copied network's settings may go past the usual slider ranges (a decoder's 784 features): widen to them
    const limits = Object.fromEntries(Object.entries({ ...LIMITS, groups: groupsMaximum(index) })
      .map(([name, maximum]) => [name, Math.max(maximum, Number(layer.params[name]) || 0)]));
    createParamControls(params, catalogue.get(layer.kind), layer.params, {
      hidden: INFERRED, limits, idPrefix: `nv-stack-${index}`,
      onInput: (_, values) => setParams(index, values),
    });
    return element("li", { class: "nv-stack-layer" },
      element("div", { class: "nv-stack-head" }, toggle, ...buttons),
      body);
  }

  /** Groups go up to the channels layer `index` gets: the input's, or the previous layer's once a run has told
   * them (until then the usual limit). */
  function groupsMaximum(index) {
    const channelsIn = index === 0 ? stack.input[0] : shapes.get(prefixKey(index - 1))?.[1];
    return channelsIn ?? LIMITS.groups;
  }

  function drawLayers() {
    rows = stack.layers.map(layerRow);
    elements.layers.replaceChildren(...rows);
    showRoom();
  }

  /** Add is off once the stack has as many layers as the server runs. */
  function showRoom() {
    const full = stack.layers.length >= maxLayers;
    elements.add.disabled = full;
    elements.full.hidden = !full;
    elements.full.textContent = full ? `The stack has ${stack.layers.length} layers, as many as the server runs `
      + `(${maxLayers}): remove one to add another.` : "";
  }

  return {
    setMaxLayers(count) {
      maxLayers = count;
      if (stack) showRoom();
    },
    show(next) {
      if (stack && JSON.stringify(next) === JSON.stringify(stack)) return;
      stack = next;
      showInput();
      elements.error.textContent = "";
      open = new Set([...open].filter((i) => i < stack.layers.length));
      drawLayers();
    },
    /** Each layer's output shape from a run's plan (its layers in the stack's order); a plan means the spec
     * was good, so an earlier error about it goes. */
    showShapes(planLayers) {
      if (serverError) {
        for (const row of rows) row.querySelector(ROW_ERROR).textContent = "";
        elements.error.textContent = "";
        serverError = false;
      }
      if (planLayers.length !== stack.layers.length) return; // a plan of an older stack
      if (shapes.size > 1000) shapes.clear(); // a long session of edits: keep only what comes next
      planLayers.forEach((info, i) => {
        shapes.set(prefixKey(i), info.shape);
        rows[i].querySelector(".nv-stack-shape").textContent = shapeText(info.shape);
      });
      // the channels each layer gets are known now: its groups slider goes up to them (and to its own setting)
      rows.forEach((row, i) => {
        const groups = row.querySelector(`#nv-stack-${i}-groups`);
        if (groups) groups.max = String(Math.max(groupsMaximum(i), Number(groups.value)));
      });
    },
    /** A spec error: engine/spec.py names each layer at fault on a line of its own ("layer N (Kind): why"), which
     * goes to that layer's row, unfolded; its other lines (which layers it could not check) go under the stack. */
    showError(message) {
      serverError = true;
      for (const row of rows) row.querySelector(ROW_ERROR).textContent = ""; // an earlier error's rows may be mended
      const lines = message.split("\n").filter(Boolean);
      const faults = lines.map((line) => LAYER_AT_FAULT.exec(line))
        .filter((match) => match && rows[Number(match[1])]);
      if (!faults.length) {
        elements.error.textContent = message;
        return;
      }
      for (const match of faults) {
        const index = Number(match[1]);
        rows[index].querySelector(ROW_ERROR).textContent = match.input.slice(match[0].length);
        fold(index, false);
      }
      // the first layer at fault and the ones after it have no output now: the shapes of an earlier run would mislead
      for (const later of rows.slice(Number(faults[0][1]))) later.querySelector(".nv-stack-shape").textContent = "";
      const notes = lines.filter((line) => !faults.some((match) => match.input === line))
        .map((line) => `${line[0].toUpperCase()}${line.slice(1)}.`);
      elements.error.textContent = [faultSummary(faults.map((match) => match[1])), ...notes].join(" ");
    },
  };
}
