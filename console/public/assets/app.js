// Reelay's console: sign-in, then three views by hash route (#/platforms, #/new, #/posts,
// #/posts/{id}). Plain ES modules, no build step except the twitter-text bundle.

import { getConfig, hooks } from './api.js';
import { session, signIn, completeSignIn, signOut } from './auth.js';
import { h, show, toast, clearToast } from './ui.js';
import { platformsView, platformInfo } from './platforms.js';
import { composeView } from './compose.js';
import { postsView, postView } from './posts.js';

let config = { sign_in: null };

function signInView(message) {
  const nav = document.getElementById('nav');
  nav.hidden = true;
  document.getElementById('who').replaceChildren();
  if (!config.sign_in) {
    show(h('section', { class: 'card hero' },
      h('h1', { text: 'Sign-in is not configured' }),
      h('p', { text: 'This deployment of Reelay has no sign-in service (CONSOLE_SIGN_IN_URL and CONSOLE_CLIENT_ID are not set), so the console cannot be used. Locally, start it with `reelay-local up`.' })));
    return;
  }
  const button = h('button', { type: 'button', class: 'primary large', text: 'Sign in', onclick: () => signIn(config.sign_in, location.hash && location.hash !== '#/' ? location.hash : '#/platforms') });
  show(h('section', { class: 'card hero' },
    h('h1', { text: 'Post your videos to X' }),
    h('p', { class: 'lead', text: 'Reelay uploads your video to X, and to YouTube where it is enabled, waits for each to process it, and publishes it, with every step shown here.' }),
    message && h('div', { class: 'notice error', role: 'alert', text: message }),
    button));
}

function header(s) {
  const nav = document.getElementById('nav');
  nav.hidden = false;
  const who = document.getElementById('who');
  who.replaceChildren(
    h('span', { class: 'signed-in' }, h('span', { class: 'muted', text: 'Signed in as ' }), h('strong', { 'data-testid': 'signed-in-as', text: s.name })),
    h('button', { type: 'button', class: 'link', text: 'Sign out', onclick: () => signOut(config.sign_in) }));
}

function markNav(route) {
  for (const a of document.querySelectorAll('#nav a')) {
    const here = route.startsWith(a.getAttribute('href'));
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

async function route() {
  const s = session();
  if (!s) { signInView(); return; }
  header(s);
  const hash = location.hash || '#/platforms';
  markNav(hash);
  const title = (t) => { document.title = `${t} · Reelay`; };
  const match = /^#\/posts\/([A-Za-z0-9-]+)$/.exec(hash);
  if (match) { title('Post'); return postView(match[1]); }
  switch (hash) {
    case '#/new': title('New post'); return composeView();
    case '#/posts': title('Posts'); return postsView();
    case '#/platforms': title('Platforms'); return platformsView();
    default: location.replace('#/platforms'); return undefined;
  }
}

/// Why connecting failed, for the errors a person can act on (others are named by their code).
const CONNECT_ERRORS = {
  consent_denied: (name) => `${name} was not connected: the permission was not given. Try again and allow Reelay.`,
  no_youtube_channel: () => 'YouTube was not connected: this Google account has no YouTube channel. Create one on YouTube, then connect again.',
  missing_scopes: (name) => `${name} was not connected: some permissions were not given. Try again and allow all of them.`,
};

/// After connecting a platform, the callback sends the browser back with
/// `?platform=twitter|youtube&result=active|needs_reconnect|error&error=<code>`.
function connectOutcome() {
  const params = new URLSearchParams(location.search);
  const platform = platformInfo(params.get('platform'));
  if (!platform || !params.has('result')) return;
  history.replaceState(null, '', `${location.pathname}${location.hash || '#/platforms'}`);
  const { name } = platform;
  const result = params.get('result');
  const error = params.get('error') || 'error';
  if (result === 'active') toast(`${name} is connected.`);
  else if (result === 'needs_reconnect') toast(`${name} is connected, but some permissions are missing: see below.`, 'error');
  else toast(CONNECT_ERRORS[error]?.(name) || `${name} was not connected (${error}). Try again.`, 'error');
}

async function start() {
  try {
    config = await getConfig();
  } catch (err) {
    show(h('div', { class: 'notice error', role: 'alert', text: err.message }));
    return;
  }
  hooks.unauthorized = () => signInView('Your session has ended. Please sign in again.');
  connectOutcome();
  if (config.sign_in) {
    try {
      // On a sign-in's return this also puts the hash the user started from back in the URL.
      await completeSignIn(config.sign_in);
    } catch (err) {
      signInView(err.message);
      window.addEventListener('hashchange', route);
      return;
    }
  }
  window.addEventListener('hashchange', () => { clearToast(); route(); });
  // The link of the page already shown starts it afresh (no hashchange fires for it).
  document.getElementById('nav').addEventListener('click', (e) => {
    if (e.target.closest('a')?.getAttribute('href') === location.hash) route();
  });
  await route();
}

start();
