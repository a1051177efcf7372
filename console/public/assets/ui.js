// Small DOM helpers: elements are built with h(), never from HTML strings, so text from the API
// or the user can never become markup.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/// Replaces the main region with a view and moves focus to its heading, so keyboard and screen
/// reader users land on the new page.
export function show(...children) {
  const main = document.getElementById('main');
  main.replaceChildren();
  append(main, children);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

let toastTimer;
/// A short message in the polite live region (screen readers announce it).
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  el.classList.add('visible');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('visible'), 6000);
}

/// A message about one page does not follow the user to the next.
export function clearToast() {
  document.getElementById('toast').classList.remove('visible');
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '';
  const units = ['bytes', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatTime(ms) {
  if (!ms) return '';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

/// A labelled progress bar: a native <progress> (announced with its value) and the words beside it.
export function progressBar(label, value, max, words) {
  const id = `p-${Math.random().toString(36).slice(2, 9)}`;
  const bar = h('progress', { id, max: String(max) });
  if (value !== null && value !== undefined) bar.value = Math.min(value, max);
  return h('div', { class: 'progress' },
    h('div', { class: 'progress-label' },
      h('label', { for: id, text: label }),
      h('span', { class: 'progress-words', text: words })),
    bar);
}
