// Controls generated from a layer kind's parameter schema (GET /api/layers): a slider with its value for
// numbers and pairs with a range, a select for choices, a checkbox for booleans. Every control has an
// error line under it where the server's complaints about that parameter appear.
//
//   const controls = createParamControls(container, kindInfo, values, { onInput, hidden, limits, idPrefix });
//   controls.values();                  // only the values that differ from the defaults
//   controls.showError("stride", "...");  controls.clearErrors();

import { element } from "./dom.js";

const WIDE_FLOAT_RANGE = 1e4; // floats spanning more than this ratio get a number field, not a slider
// an optional setting whose "auto" stands for another setting's value (a pool's stride: its kernel size): its
// slider shows that value while auto is ticked, and starts from it when auto is unticked
const AUTO_IS = { stride: "kernel_size" };

/** A value written for people: pairs as "3×5", null as "auto". */
export function formatValue(value) {
  if (value === null || value === undefined) return "auto";
  if (Array.isArray(value)) return value[0] === value[1] ? String(value[0]) : `${value[0]}×${value[1]}`;
  if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(3)));
  return String(value);
}

/** [height, width] of a pair value (an int or [h, w]). */
export function pairOf(value) {
  return Array.isArray(value) ? [value[0], value[1]] : [value, value];
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** A parameter's largest value here: the catalogue's maximum, or the page's own limit when that is smaller. */
function maximumOf(param, limits) {
  return Math.min(param.maximum ?? Infinity, limits[param.name] ?? Infinity);
}

/**
 * The values (from a URL, say) that fit `kind`'s catalogue schema: numbers held to [minimum, maximum] (and to
 * `limits`), anything of the wrong type or unknown dropped, so that its default applies.
 */
export function validParams(kind, values, limits = {}) {
  const valid = {};
  for (const param of kind.params) {
    if (!Object.hasOwn(values, param.name)) continue;
    const value = values[param.name];
    const low = param.minimum ?? -Infinity;
    const high = maximumOf(param, limits);
    const held = (number) => Math.min(high, Math.max(low, number));
    if (value === null && param.optional) valid[param.name] = null;
    else if (param.type === "int" && Number.isInteger(value)) valid[param.name] = held(value);
    else if (param.type === "float" && Number.isFinite(value)) valid[param.name] = held(value);
    else if (param.type === "bool" && typeof value === "boolean") valid[param.name] = value;
    else if (param.type === "choice" && param.choices.includes(value)) valid[param.name] = value;
    else if (param.type === "pair" && Number.isInteger(value)) valid[param.name] = held(value);
    else if (param.type === "pair" && Array.isArray(value) && value.length === 2 && value.every(Number.isInteger)) {
      valid[param.name] = value.map(held);
    }
  }
  return valid;
}

/**
 * Build one control per parameter of `kind` (skipping `hidden` names) into `container`.
 * values: the non-default values to start from; limits: {name: maximum} that narrow the catalogue's
 * ranges for the lab (e.g. at most 16 output channels); onInput(name, values) on every change,
 * `values` being the non-default values; idPrefix: the start of the controls' element ids (several sets of
 * controls on one page need different ones). Returns {values(), showError(name, text), clearErrors(), names}.
 */
export function createParamControls(container, kind, values,
  { onInput = () => {}, hidden = [], limits = {}, idPrefix = "param" } = {}) {
  const current = {};
  const rows = new Map();
  const params = kind.params.filter((p) => !hidden.includes(p.name));
  const nonDefault = () => Object.fromEntries(params
    .filter((p) => !same(current[p.name], p.default)).map((p) => [p.name, current[p.name]]));
  // a control whose "auto" stands for another setting follows that setting's value (control.follow)
  const tell = (name, value) => {
    for (const row of rows.values()) row.control.follow?.(name, value);
  };
  const changed = (name, value) => {
    current[name] = value;
    tell(name, value);
    onInput(name, nonDefault());
  };
  container.replaceChildren();
  if (!params.length) container.append(element("p", { class: "muted" }, "This layer has no settings."));
  for (const param of params) {
    current[param.name] = param.name in values ? values[param.name] : param.default;
    const maximum = maximumOf(param, limits);
    const row = controlFor({ ...param, maximum, autoIs: autoSetting(param, params) }, current[param.name],
      (value) => changed(param.name, value), `${idPrefix}-${param.name}`);
    row.dataset.param = param.name;
    rows.set(param.name, row);
    container.append(row);
  }
  for (const [name, value] of Object.entries(current)) tell(name, value);
  return {
    names: params.map((p) => p.name),
    values: nonDefault,
    showError(name, text) {
      const row = rows.get(name);
      if (!row) return false;
      row.querySelector(".error").textContent = text;
      return true;
    },
    clearErrors() {
      for (const row of rows.values()) row.querySelector(".error").textContent = "";
    },
  };
}

function controlFor(param, value, onChange, id) {
  const row = element("div", { class: "param" });
  const label = element("label", { for: id, class: "param-name" }, param.name.replace(/_/g, " "));
  const help = element("span", { class: "help muted", id: `${id}-help` }, param.help);
  const error = element("p", { class: "error", role: "alert", id: `${id}-error` });
  const build = { bool: boolControl, choice: choiceControl, pair: pairControl }[param.type]
    ?? (param.type === "float" && isWide(param) ? numberControl : sliderControl);
  const control = build(param, value, onChange, id);
  row.control = control;
  // a pair's "h ≠ w" and "auto" boxes sit under its name, so every slider has the same width
  row.append(element("div", { class: "param-name-cell" }, label, ...(control.options ? [control.options] : [])),
    control, help, error);
  for (const field of control.querySelectorAll("input, select")) {
    field.setAttribute("aria-describedby", `${id}-help ${id}-error`);
  }
  return row;
}

/** The name of the setting whose value `param`'s "auto" stands for, or null (see AUTO_IS). */
function autoSetting(param, params) {
  const name = AUTO_IS[param.name];
  return param.optional && params.some((p) => p.name === name) ? name : null;
}

function isWide({ minimum, maximum }) {
  return minimum > 0 && maximum / minimum > WIDE_FLOAT_RANGE;
}

function boolControl(param, value, onChange, id) {
  const box = element("input", { type: "checkbox", id });
  box.checked = Boolean(value);
  box.addEventListener("change", () => onChange(box.checked));
  return element("span", { class: "param-control" }, box);
}

function choiceControl(param, value, onChange, id) {
  const select = element("select", { id }, ...param.choices.map((c) => element("option", { value: c }, String(c))));
  select.value = value;
  select.addEventListener("change", () => onChange(select.value));
  return element("span", { class: "param-control" }, select);
}

function numberControl(param, value, onChange, id) {
  const field = element("input", { type: "number", id, min: param.minimum, max: param.maximum, step: "any",
    value: String(value) });
  let used = value; // the last number the layer took
  field.addEventListener("input", () => {
    const number = Number(field.value);
    if (field.value !== "" && Number.isFinite(number)) {
      used = number;
      onChange(number);
    }
  });
  // a field left empty or half typed ("-", "1e") shows the number the layer still uses
  field.addEventListener("change", () => {
    if (field.value === "" || !Number.isFinite(Number(field.value))) field.value = String(used);
  });
  return element("span", { class: "param-control" }, field);
}

/** A range input and an <output> showing its value; floats step in hundredths of their range. */
function slider(param, value, id, label) {
  const float = param.type === "float";
  const step = float ? (param.maximum - param.minimum) / 100 : 1;
  const range = element("input", { type: "range", id, min: param.minimum, max: param.maximum, step: String(step),
    value: String(value) });
  if (label) range.setAttribute("aria-label", label);
  const shown = element("output", { for: id, class: "param-value" }, formatValue(value));
  return { range, shown, read: () => (float ? Number(range.value) : Math.round(Number(range.value))) };
}

function sliderControl(param, value, onChange, id) {
  const { range, shown, read } = slider(param, value, id);
  range.addEventListener("input", () => {
    shown.textContent = formatValue(read());
    onChange(read());
  });
  return element("span", { class: "param-control" }, range, shown);
}

/**
 * A pair: one slider for both sides, or two (height, width) after "h ≠ w" is ticked. An optional pair
 * (a pool's stride) also has "auto" (None: the kernel size); with param.autoIs (the setting auto stands for),
 * control.follow(name, value) is told each setting's change and keeps the sliders at that setting's value
 * while auto is ticked.
 */
function pairControl(param, value, onChange, id) {
  const auto = value === null || value === undefined;
  let [height, width] = pairOf(auto ? param.minimum : value);
  const first = slider(param, height, id, `${param.name.replace(/_/g, " ")}${height !== width ? " height" : ""}`);
  const second = slider(param, width, `${id}-width`, `${param.name.replace(/_/g, " ")} width`);
  const name = param.name.replace(/_/g, " ");
  // named for its setting: every pair has an "h ≠ w" box, and a screen reader lists them side by side
  const split = element("input",
    { type: "checkbox", id: `${id}-split`, "aria-label": `${name}: h ≠ w (a different height and width)` });
  split.checked = height !== width;
  const automatic = element("input", { type: "checkbox", id: `${id}-auto`, "aria-label": `${name}: auto` });
  automatic.checked = auto;
  const value_ = () => {
    if (automatic.checked) return null;
    return split.checked && height !== width ? [height, width] : height;
  };
  const refresh = () => {
    secondRow.hidden = !split.checked || automatic.checked;
    first.range.disabled = automatic.checked;
    first.range.setAttribute("aria-label", `${param.name.replace(/_/g, " ")}${split.checked ? " height" : ""}`);
    first.shown.textContent = automatic.checked ? "auto" : formatValue(split.checked ? height : value_());
  };
  first.range.addEventListener("input", () => {
    height = first.read();
    if (!split.checked) width = height;
    second.range.value = String(width);
    second.shown.textContent = formatValue(width);
    refresh();
    onChange(value_());
  });
  second.range.addEventListener("input", () => {
    width = second.read();
    second.shown.textContent = formatValue(width);
    onChange(value_());
  });
  split.addEventListener("change", () => {
    if (!split.checked) {
      width = height;
      second.range.value = String(width);
    }
    refresh();
    onChange(value_());
  });
  automatic.addEventListener("change", () => {
    refresh();
    onChange(value_());
  });
  const secondRow = element("span", { class: "param-second" }, element("span", { class: "muted" }, "width"),
    second.range, second.shown);
  const options = element("span", { class: "param-options" },
    element("label", { for: split.id, title: "a different height and width" }, split, "h ≠ w"));
  if (param.optional) {
    options.append(element("label", { for: automatic.id, title: param.help }, automatic, "auto"));
  }
  const control = element("span", { class: "param-control param-pair" },
    element("span", { class: "param-first" }, first.range, first.shown), secondRow);
  control.options = options;
  if (param.autoIs) {
    // auto is the other setting's value: shown on the sliders, and where they start once auto is unticked
    control.follow = (name, value) => {
      if (name !== param.autoIs || !automatic.checked) return;
      [height, width] = pairOf(value);
      first.range.value = String(height);
      second.range.value = String(width);
      second.shown.textContent = formatValue(width);
      split.checked = height !== width;
      refresh();
    };
  }
  refresh();
  return control;
}
