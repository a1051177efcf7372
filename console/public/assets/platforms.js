// Platforms: X and YouTube, each connected or not, the account, the permissions it granted,
// health in plain words, and Connect / Reconnect / Disconnect. A platform this deployment has not
// set up (YouTube without a Google OAuth client) is shown as not enabled, with no Connect.

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

/// The permissions Reelay asks Google for, to post to YouTube.
export const YOUTUBE_SCOPES = [
  ['https://www.googleapis.com/auth/youtube.upload', 'Upload videos'],
  ['https://www.googleapis.com/auth/youtube.readonly', "See your channel's name"],
];

/// Every platform the console knows, in the order it lists them: its name, the permissions it
/// needs, how its account is named, and the ids its card uses (X's are the ones the console's
/// browser test reads).
export const PLATFORMS = [
  { key: 'twitter', name: 'X', logo: '𝕏', scopes: SCOPES, what: 'account', id: 'x' },
  { key: 'youtube', name: 'YouTube', logo: '▶', scopes: YOUTUBE_SCOPES, what: 'channel', id: 'youtube' },
];

export function platformInfo(key) {
  return PLATFORMS.find((p) => p.key === key) || null;
}

/// The name people know a platform by ("X", "YouTube"); an unknown one as the API spells it.
export function platformName(key) {
  return platformInfo(key)?.name || key;
}

/// "X", "X and YouTube", "X or YouTube": the names of `keys`.
export function platformNames(keys, joiner = 'and') {
  const names = [...new Set(keys)].map(platformName);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} ${joiner} ${names[names.length - 1]}` : names[0] || '';
}

/// The account as people see it: X's @handle, YouTube's channel title.
export function accountLabel(key, account) {
  return key === 'twitter' ? `@${account.username}` : account.name || account.username;
}

export function missingScopes(granted, key = 'twitter') {
  return (platformInfo(key)?.scopes || []).filter(([scope]) => !granted.includes(scope));
}

/// One sentence saying whether Reelay can post with this account, and what to do if not.
/// `enabled` is false when this deployment has not set the platform up.
export function health(account, key = 'twitter', enabled = true) {
  const { name, what } = platformInfo(key) || { name: key, what: 'account' };
  if (!enabled) return { ok: false, off: true, words: `${name} is not enabled on this Reelay: its operator has not set it up.` };
  if (!account) return { ok: false, words: `${name} is not connected. Connect it to post videos.` };
  const missing = missingScopes(account.scopes || [], key);
  if (missing.length) {
    const names = missing.map(([scope, label]) => `'${label}' (${scope})`).join(', ');
    return { ok: false, words: `${name} needs reconnecting: approve ${names}.` };
  }
  if (account.status === 'needs_reconnect') {
    return { ok: false, words: `${name} needs reconnecting. ${account.reason || ''}`.trim() };
  }
  return { ok: true, words: `Ready: Reelay can post videos to this ${what}.` };
}

/// The caller's connections by platform, and which platforms this deployment has set up. A
/// server from before YouTube sends no `available`: X only.
export async function loadPlatforms() {
  const { platforms = [], available } = await api('GET', '/api/platforms');
  const accounts = {};
  for (const p of platforms) accounts[p.platform] = p;
  const enabled = {};
  for (const p of available || [{ platform: 'twitter', enabled: true }]) enabled[p.platform] = p.enabled !== false;
  return { accounts, enabled };
}

/// Starts connecting a platform: the API sets this browser's binding cookie and names the
/// platform's consent page (X's, or Google's for YouTube); it sends the browser back to this
/// page afterwards.
export async function connect(key, button) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    const returnTo = `${location.origin}/#/platforms`;
    const { authorize_url: url } = await api('GET', `/api/auth/platforms/${key}/connect?return_to=${encodeURIComponent(returnTo)}`);
    location.assign(url);
  } catch (err) {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    toast(`Could not start connecting ${platformName(key)}: ${err.message}`, 'error');
  }
}

function badgeFor(account, state) {
  if (state.off) return h('span', { class: 'badge neutral', text: 'Not enabled' });
  if (!account) return h('span', { class: 'badge neutral', text: 'Not connected' });
  return h('span', { class: `badge ${state.ok ? 'ok' : 'warn'}`, text: state.ok ? 'Connected' : 'Needs reconnecting' });
}

function scopeList(platform, account) {
  const granted = account.scopes || [];
  return h('div', { class: 'scopes' },
    h('h3', { text: 'Permissions' }),
    h('ul', { class: 'scope-list' },
      platform.scopes.map(([scope, label]) => {
        const has = granted.includes(scope);
        return h('li', { class: has ? 'granted' : 'missing' },
          h('span', { class: 'mark', 'aria-hidden': 'true', text: has ? '✓' : '✕' }),
          `${label} `, h('code', { text: scope }),
          h('span', { class: 'visually-hidden', text: has ? ' (granted)' : ' (not granted)' }));
      })),
    h('p', { class: 'muted small', text: `Connected ${formatTime(account.connected_at < 1e12 ? account.connected_at * 1000 : account.connected_at)}` }));
}

function actionsFor(platform, account, state) {
  if (state.off) return null;
  const { key, name } = platform;
  const connectButton = h('button', {
    class: account && state.ok ? 'secondary' : 'primary',
    type: 'button',
    text: account ? `Reconnect ${name}` : `Connect ${name}`,
    onclick: (e) => connect(key, e.currentTarget),
  });
  const disconnectButton = account && h('button', {
    class: 'danger',
    type: 'button',
    text: 'Disconnect',
    'aria-label': `Disconnect ${name}`,
    onclick: async (e) => {
      if (!confirm(`Disconnect ${accountLabel(key, account)}? Reelay will stop posting to ${name} until you connect it again.`)) return;
      e.currentTarget.disabled = true;
      try {
        await api('DELETE', `/api/auth/platforms/${key}`);
        toast(`${name} is disconnected.`);
      } catch (err) {
        toast(`Could not disconnect ${name}: ${err.message}`, 'error');
      }
      platformsView();
    },
  });
  return h('div', { class: 'actions' }, connectButton, disconnectButton);
}

/// One platform's card. X's keeps the class `platform`: the console's browser test reads its
/// badge as the one `.platform .badge`.
function platformCard(platform, account, enabled) {
  const state = health(account, platform.key, enabled);
  const heading = `${platform.id}-heading`;
  return h('section', { class: `card platform-card${platform.key === 'twitter' ? ' platform' : ''}`, 'aria-labelledby': heading, 'data-platform': platform.key },
    h('div', { class: 'platform-head' },
      h('span', { class: 'platform-logo', 'data-platform': platform.key, 'aria-hidden': 'true', text: platform.logo }),
      h('div', {},
        h('h2', { id: heading, text: platform.name }),
        account
          ? h('p', { class: 'account' }, h('strong', { text: account.name }), platform.key === 'twitter' ? ` @${account.username}` : null)
          : h('p', { class: 'account muted', text: state.off ? 'Not enabled on this Reelay' : 'Not connected' })),
      badgeFor(account, state)),
    h('p', { class: `health ${state.ok ? 'ok' : state.off ? 'off' : 'warn'}`, role: state.ok || state.off ? null : 'alert', 'data-testid': `${platform.id}-health`, text: state.words }),
    account && !state.off && scopeList(platform, account),
    actionsFor(platform, account, state));
}

export async function platformsView() {
  show(h('h1', { text: 'Platforms' }), h('p', { class: 'muted', text: 'Loading your connections…' }));
  let loaded;
  try {
    loaded = await loadPlatforms();
  } catch (err) {
    show(h('h1', { text: 'Platforms' }), errorBox(err));
    return;
  }
  show(
    h('h1', { text: 'Platforms' }),
    h('p', { class: 'lead', text: 'Where Reelay posts your videos.' }),
    h('div', { class: 'platform-cards' },
      PLATFORMS.map((p) => platformCard(p, loaded.accounts[p.key] || null, Boolean(loaded.enabled[p.key])))),
  );
}

export function errorBox(err) {
  const words = err instanceof ApiError && err.status === 0
    ? err.message
    : `Something went wrong: ${err.message}`;
  return h('div', { class: 'notice error', role: 'alert', text: words });
}
