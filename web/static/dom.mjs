// Building the pages: elements from data with text nodes only (a learnware's
// name or a server message is never parsed as HTML), and the few widgets
// every page shares.

// h('a', {href: '#/x', class: 'btn'}, 'text', child...): attributes starting
// with "on" are listeners; null/false children are skipped; arrays flattened.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A message a person can act on: role="alert" for errors so screen readers say it.
export function notice(kind, text, ...more) {
  return h('div', {class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status'}, text, ...more);
}

let nextId = 0;
// A labelled form control: h('label', for) + the control, in one block.
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++nextId}`;
  return h('div', {class: 'field'}, h('label', {for: control.id}, label), control,
           hint ? h('small', {class: 'hint'}, hint) : null);
}

export function button(text, onclick, attrs = {}) {
  return h('button', {type: 'button', onclick, ...attrs}, text);
}

// Pages of `total` items: previous / "page p of n" / next.
export function pager(page, pageSize, total, go) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  if (pages <= 1) return null;
  return h('nav', {class: 'pager', 'aria-label': 'pages'},
           button('← Previous', () => go(page - 1), {disabled: page <= 1}),
           h('span', {}, `page ${page} of ${pages} (${total})`),
           button('Next →', () => go(page + 1), {disabled: page >= pages}));
}

export function table(headers, rows, caption) {
  return h('div', {class: 'table-wrap', tabindex: 0},
           h('table', {},
             caption ? h('caption', {}, caption) : null,
             h('thead', {}, h('tr', {}, headers.map((t) => h('th', {scope: 'col'}, t)))),
             h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c)))))));
}

export function badge(status) {
  return h('span', {class: `badge s-${String(status).replace(/[^a-z_]/g, '')}`}, String(status).replace('_', ' '));
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; ++i; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function when(text) {
  if (!text) return '';
  const d = new Date(text);
  return isNaN(d) ? text : d.toLocaleString();
}

// Saves a Blob under `name` through a temporary link.
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', {href: url, download: name});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
