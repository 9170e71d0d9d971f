/**
 * A small element builder. Text always goes in as text (never parsed as HTML), so log lines,
 * error messages and group names cannot inject markup — the CSP forbids inline script anyway.
 */

/**
 * Creates an element: `h('div.card.wide', { dataset: { id } }, 'text', child)`.
 * Attributes: `class`, `dataset`, `on<Event>` handlers, `hidden`, anything else as an attribute.
 * @param {string} tag `name`, `name.class1.class2` or `name#id.class`
 * @param {Record<string, unknown> | null} [attributes]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attributes, ...children) {
  const [nameAndId, ...classes] = tag.split('.');
  const [name, id] = nameAndId.split('#');
  const element = document.createElement(name || 'div');
  if (id) element.id = id;
  if (classes.length) element.classList.add(...classes);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'class') element.classList.add(...String(value).split(/\s+/).filter(Boolean));
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(key, '');
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

/** Appends children (strings become text nodes; null, undefined and false are skipped). */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces an element's children. */
export function replaceChildren(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** Sets text only when it changed (keeps selection and avoids layout work). */
export function setText(element, text) {
  const value = String(text ?? '');
  if (element.textContent !== value) element.textContent = value;
}

/**
 * Sets the one class of a family (e.g. `level-` + WARNING), removing the family's others.
 * @param {Element} element
 * @param {string} prefix
 * @param {string | null | undefined} value
 */
export function setModifier(element, prefix, value) {
  for (const name of [...element.classList]) if (name.startsWith(prefix)) element.classList.remove(name);
  if (value) element.classList.add(`${prefix}${value}`);
}

/**
 * Calls `render` at most once per animation frame, however often it is scheduled.
 * @param {() => void} render
 * @returns {() => void} schedule
 */
export function frameScheduler(render) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      render();
    });
  };
}

/** Shows a short message under a form; `kind` is ok, error or info. */
export function showMessage(element, text, kind) {
  setText(element, text);
  setModifier(element, 'message-', kind);
}
