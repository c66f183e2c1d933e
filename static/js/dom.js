// Building page elements, and their words, in code.

/**
 * document.createElement with attributes and children (strings become text). An attribute whose value is null,
 * undefined or false is left out, and true sets it empty (hidden: true); anything else is set as a string.
 */
export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

/** "1 step", "3 steps": a count and its noun, plural unless the count is 1. */
export function counted(count, noun, plural = `${noun}s`) {
  return `${count} ${count === 1 ? noun : plural}`;
}
