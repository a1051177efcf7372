// Platforms: X connected or not, the account, the permissions X granted, health in plain words,
// and Connect / Reconnect / Disconnect.

import { api, ApiError } from './api.js';
import { h, show, toast, formatTime } from './ui.js';

/// The permissions Reelay asks X for, in the words X's consent page uses.
export const SCOPES = [
  ['tweet.read', 'Read posts'],
  ['tweet.write', 'Post for you'],
  ['users.read', 'Read your profile'],
  ['offline.access', 'Stay connected'],
  ['media.write', 'Upload media'],
];

export function missingScopes(granted) {
  return SCOPES.filter(([scope]) => !granted.includes(scope));
}

/// One sentence saying whether Reelay can post with this account, and what to do if not.
export function health(account) {
  if (!account) return { ok: false, words: 'X is not connected. Connect it to post videos.' };
  const missing = missingScopes(account.scopes || []);
  if (missing.length) {
    const names = missing.map(([scope, label]) => `'${label}' (${scope})`).join(', ');
    return { ok: false, words: `X needs reconnecting: approve ${names}.` };
  }
  if (account.status === 'needs_reconnect') {
    return { ok: false, words: `X needs reconnecting. ${account.reason || ''}`.trim() };
  }
  return { ok: true, words: 'Ready: Reelay can post videos to this account.' };
}

export async function twitterAccount() {
  const { platforms } = await api('GET', '/api/platforms');
  return platforms.find((p) => p.platform === 'twitter') || null;
}

/// Starts connecting X: the API sets this browser's binding cookie and names X's consent page;
/// X sends the browser back to this page afterwards.
export async function connectX(button) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    const returnTo = `${location.origin}/#/platforms`;
    const { authorize_url: url } = await api('GET', `/api/auth/platforms/twitter/connect?return_to=${encodeURIComponent(returnTo)}`);
    location.assign(url);
  } catch (err) {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    toast(`Could not start connecting X: ${err.message}`, 'error');
  }
}

export async function platformsView() {
  show(h('h1', { text: 'Platforms' }), h('p', { class: 'muted', text: 'Loading your connections…' }));
  let account;
  try {
    account = await twitterAccount();
  } catch (err) {
    show(h('h1', { text: 'Platforms' }), errorBox(err));
    return;
  }
  const state = health(account);
  const connectButton = h('button', {
    class: account ? 'secondary' : 'primary',
    type: 'button',
    text: account ? 'Reconnect X' : 'Connect X',
    onclick: (e) => connectX(e.currentTarget),
  });
  if (account && !state.ok) connectButton.className = 'primary';
  const disconnectButton = account && h('button', {
    class: 'danger',
    type: 'button',
    text: 'Disconnect',
    onclick: async (e) => {
      if (!confirm(`Disconnect @${account.username}? Reelay will stop posting to X until you connect it again.`)) return;
      e.currentTarget.disabled = true;
      try {
        await api('DELETE', '/api/auth/platforms/twitter');
        toast('X is disconnected.');
      } catch (err) {
        toast(`Could not disconnect X: ${err.message}`, 'error');
      }
      platformsView();
    },
  });

  const granted = account?.scopes || [];
  show(
    h('h1', { text: 'Platforms' }),
    h('p', { class: 'lead', text: 'Where Reelay posts your videos.' }),
    h('section', { class: 'card platform', 'aria-labelledby': 'x-heading', 'data-platform': 'twitter' },
      h('div', { class: 'platform-head' },
        h('span', { class: 'platform-logo', 'aria-hidden': 'true', text: '𝕏' }),
        h('div', {},
          h('h2', { id: 'x-heading', text: 'X' }),
          account
            ? h('p', { class: 'account' }, h('strong', { text: account.name }), ` @${account.username}`)
            : h('p', { class: 'account muted', text: 'Not connected' })),
        h('span', { class: `badge ${account ? (state.ok ? 'ok' : 'warn') : 'neutral'}`, text: account ? (state.ok ? 'Connected' : 'Needs reconnecting') : 'Not connected' })),
      h('p', { class: `health ${state.ok ? 'ok' : 'warn'}`, role: state.ok ? null : 'alert', 'data-testid': 'x-health', text: state.words }),
      account && h('div', { class: 'scopes' },
        h('h3', { text: 'Permissions' }),
        h('ul', { class: 'scope-list' },
          SCOPES.map(([scope, label]) => {
            const has = granted.includes(scope);
            return h('li', { class: has ? 'granted' : 'missing' },
              h('span', { class: 'mark', 'aria-hidden': 'true', text: has ? '✓' : '✕' }),
              `${label} `, h('code', { text: scope }),
              h('span', { class: 'visually-hidden', text: has ? ' (granted)' : ' (not granted)' }));
          })),
        h('p', { class: 'muted small', text: `Connected ${formatTime(account.connected_at < 1e12 ? account.connected_at * 1000 : account.connected_at)}` })),
      h('div', { class: 'actions' }, connectButton, disconnectButton)),
  );
}

export function errorBox(err) {
  const words = err instanceof ApiError && err.status === 0
    ? err.message
    : `Something went wrong: ${err.message}`;
  return h('div', { class: 'notice error', role: 'alert', text: words });
}
