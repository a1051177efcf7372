// Posts: newest first, each with live progress for every platform it goes to (X, YouTube): the
// upload, the platform's processing, the published link, or the error in plain words with what
// to do, or why it waits (a rate limit, YouTube's daily quota); and Retry where it can help.
// A scheduled post says when it will be published (and why it was late, if it was), and until
// it is being published it can be moved to another time or cancelled.
// Updates by polling with backoff: API Gateway HTTP APIs do not stream.

import { api } from './api.js';
import { h, show, toast, formatTime, formatBytes, progressBar } from './ui.js';
import { inputDate, inputValue, rfc3339Local, scheduleProblem, bound, zoneName } from './schedule.js';
import { platformName, platformNames } from './platforms.js';

const FINAL = new Set(['published', 'partially_published', 'failed', 'unconfirmed', 'rejected', 'cancelled']);
const STATUS_WORDS = {
  awaiting_upload: 'Waiting for the video',
  rejected: 'Rejected',
  scheduled: 'Scheduled',
  cancelled: 'Cancelled',
  processing: 'In progress',
  published: 'Published',
  partially_published: 'Partly published',
  failed: 'Failed',
  unconfirmed: 'Not confirmed',
};
/// A target's phase in words, with its platform's name where it matters.
const PHASE_WORDS = {
  fitting: () => 'Converting the video for X',
  queued: () => 'Waiting to start',
  initialized: (name) => `Sending the video to ${name}`,
  appending: (name) => `Sending the video to ${name}`,
  finalized: (name) => `Sent; ${name} is starting to process it`,
  processing: (name) => `${name} is processing the video`,
  ready: () => 'Uploaded; waiting for its time',
  publishing: () => 'Publishing the post',
  published: () => 'Published',
  failed: () => 'Failed',
  unconfirmed: () => 'Not confirmed',
  cancelled: () => 'Cancelled',
};
/// The link to a published target, in the words of its platform.
const LINK_WORDS = { twitter: 'View on X', youtube: 'Watch on YouTube' };
/// Where to look for a post Reelay could not confirm.
const PROFILE_WORDS = { twitter: 'your X profile', youtube: 'your channel in YouTube Studio' };

/// The platforms a post goes to: its own list, else its targets'.
function postPlatforms(post) {
  if (post.platforms?.length) return post.platforms;
  const targets = (post.targets || []).map((t) => t.platform);
  return targets.length ? targets : ['twitter'];
}

/// A message from the API as a sentence: a capital first, a full stop last.
function sentence(words = '') {
  const s = words.trim();
  if (!s) return s;
  return s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.');
}

/// What to do about a video X refuses as it is and Reelay did not convert, from the reason's
/// words (the pre-flight's or the conversion's): the New post form's options where they help.
function unusableAdvice(reason = '') {
  if (reason.includes('fit: false')) {
    return 'Create the post again with “Convert it for X” ticked: Reelay converts it to what X accepts.';
  }
  if (/X allows at most [\d.]+ s\b/.test(reason)) {
    return 'Create the post again with “Cut to at most … seconds” set to 140 or less, or shorten the video yourself.';
  }
  if (reason.includes('aspect ratio of')) {
    return 'Create the post again with “Add bars if it is too wide or too tall” ticked, or crop the video to between 1:3 and 3:1.';
  }
  if (reason.includes('X requires at least')) return 'X needs at least half a second of video: choose a longer one.';
  if (reason.includes('below X\'s minimum')) return 'The picture is too small for X: choose a video with a larger picture.';
  if (reason.includes('no video track')) return 'The file has no picture: choose a file that is a video.';
  if (/X allows at most [\d.]+ ?[MG]i?B/.test(reason)) return 'The file is too big: compress it or cut it shorter, then create the post again.';
  return 'Choose a different file (an MP4 with H.264 video and AAC audio plays everywhere) and create the post again.';
}

/// What the user can do about a target's error.
function advice(error, phase, platform) {
  const name = platformName(platform);
  if (phase === 'unconfirmed') {
    return `${name} may have published it, but Reelay could not confirm. Check ${PROFILE_WORDS[platform] || `your ${name} account`} first; Retry looks for the post again before posting.`;
  }
  switch (error?.code) {
    case 'reconnect_required':
    case 'youtube_missing_permission':
      return h('span', {}, `Reconnect ${name} on `, h('a', { href: '#/platforms', text: 'Platforms' }), ', approving every permission, then press Retry.');
    case 'platform_not_enabled':
      return `${name} is not enabled on this Reelay any more: its operator has to set it up again before Retry can help.`;
    case 'media_processing_failed':
      return `${name} could not process this video. Export it as H.264 video with AAC audio and create a new post.`;
    case 'youtube_rejected':
      return error.retryable === false
        ? 'YouTube refused the video or its details for the reason above: change what it names and create a new post.'
        : 'YouTube refused the video or its details for the reason above. Press Retry to try again; if it is refused again, create a new post.';
    case 'video_unusable':
      return unusableAdvice(error.message);
    case 'fit_failed':
      return error.retryable === false
        ? 'Reelay could not convert this video for X. Export it again as MP4 (H.264 video, AAC audio) and create a new post.'
        : 'Reelay could not convert this video for X. Press Retry to try once more; if it fails again, export it as MP4 (H.264 video, AAC audio) and create a new post.';
    case 'fit_too_slow':
      return 'Press Retry to try again. If it is still too slow, create a new post with a shorter cut (“Cut to at most … seconds”) or a smaller video (1080p or less).';
    case 'fit_interrupted':
      return 'Press Retry to start the conversion again. If it keeps stopping, create a new post with a shorter or smaller video.';
    case 'source_changed':
      return 'The uploaded file changed after Reelay checked it: create a new post with the file you want to send.';
    default:
      return error?.retryable === false ? 'Retrying will not help: create a new post.' : 'Press Retry to try again.';
  }
}

/// Whether the post may still be moved or cancelled: nothing published, no target publishing (the
/// API says `too_late` then, and it has the last word).
export function canChange(post) {
  return !FINAL.has(post.status)
    && !(post.targets || []).some((t) => ['publishing', 'published', 'unconfirmed'].includes(t.phase));
}

export function canRetry(post) {
  return ['failed', 'unconfirmed', 'partially_published'].includes(post.status)
    && (post.targets || []).some((t) => (t.phase === 'failed' || t.phase === 'unconfirmed') && t.error?.retryable !== false);
}

/// A target's phase in words: a scheduled target yet to start waits for its time.
function phaseWords(t, name) {
  if (t.phase === 'queued' && t.publish_at && Date.parse(t.publish_at) > Date.now() && !t.waiting) {
    return t.platform === 'youtube' ? 'Waiting for its time: the upload starts then' : 'Waiting for its time';
  }
  return PHASE_WORDS[t.phase]?.(name) || t.phase;
}

/// The link to a published target: its `url`, or (from an older API) X's `tweet_url`.
function publishedLink(t, name) {
  const url = t.url || t.tweet_url;
  if (t.phase !== 'published' || !url) return null;
  return h('p', { class: 'published' }, 'Published: ',
    h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'published-link', text: LINK_WORDS[t.platform] || `View on ${name}` }),
    h('span', { class: 'visually-hidden', text: ' (opens in a new tab)' }));
}

function targetView(t) {
  const name = platformName(t.platform);
  const parts = [h('div', { class: 'target-head' },
    h('h3', { text: name }),
    h('span', { class: `phase phase-${t.phase}`, text: phaseWords(t, name) }))];
  // While the video is converted (and when converting failed) the target's bytes are the
  // original's, none of them sent: the upload bar would only say 0%.
  const fitted = t.fit && (t.fit.fitted_key || t.fit.sent === 'fitted');
  if (t.phase === 'fitting') {
    const pct = t.fit?.percent;
    parts.push(progressBar('Fitting for X', pct ?? null, 100, pct ? `${pct}% converted` : 'Starting'));
    if (t.fit?.reason) parts.push(h('p', { class: 'fit-note', 'data-testid': 'fit-reason', text: `Why: ${t.fit.reason}` }));
  } else if (fitted) {
    const changes = t.fit.changes || [];
    parts.push(h('p', { class: 'fit-note', 'data-testid': 'fit-note',
      text: changes.length ? `Converted for X: ${changes.join(' · ')}` : `Converted for X (${t.fit.reason}).` }));
  } else if (t.fit?.reason && t.phase === 'failed' && !t.error?.message?.includes(t.fit.reason)) {
    parts.push(h('p', { class: 'fit-note', 'data-testid': 'fit-reason', text: `Needed converting for X: ${t.fit.reason}` }));
  }
  if (t.phase !== 'published' && t.phase !== 'fitting' && (!t.fit || fitted) && t.bytes_total) {
    const pct = Math.floor((t.bytes_sent / t.bytes_total) * 100);
    parts.push(progressBar(`Upload to ${name}`, t.bytes_sent, t.bytes_total,
      `${pct}% · ${formatBytes(t.bytes_sent)} of ${formatBytes(t.bytes_total)}`));
  }
  if (['finalized', 'processing', 'publishing'].includes(t.phase) || (t.processing_percent != null && t.phase !== 'published')) {
    const pct = t.processing_percent;
    parts.push(progressBar(`${name} processing`, pct ?? null, 100, pct == null ? 'Starting' : `${pct}%`));
  }
  if (t.late) {
    parts.push(h('p', { class: 'notice info', 'data-testid': 'late', text: `Late: ${t.late}` }));
  }
  parts.push(publishedLink(t, name));
  if (t.error && (t.phase === 'failed' || t.phase === 'unconfirmed')) {
    parts.push(h('div', { class: 'notice error', 'data-testid': 'target-error' },
      h('p', { text: t.error.message }), h('p', { class: 'advice' }, advice(t.error, t.phase, t.platform))));
  } else if (t.waiting) {
    parts.push(h('p', { class: 'notice info', 'data-testid': 'target-waiting' }, `${sentence(t.waiting.message)} It continues on its own${t.waiting.until ? ` (around ${formatTime(Date.parse(t.waiting.until))})` : ''}.`));
  }
  return h('div', { class: 'target', 'data-platform': t.platform, 'data-phase': t.phase }, parts);
}

/// The time editor of a scheduled post: the current time (or an hour from now) to change, and
/// Save; Publish when ready (for a scheduled post); Keep. Open, it stops the card from being
/// redrawn under the user (`fill`).
function timeEditor(post, { onSave, onClose }) {
  const id = `publish-at-${post.post_id}`;
  const input = h('input', { type: 'datetime-local', id, step: '60', 'data-action': 'time-input', 'aria-describedby': `${id}-help ${id}-problem` });
  bound(input);
  input.value = inputValue(post.scheduled_at ? new Date(post.scheduled_at) : new Date(Date.now() + 3600 * 1000));
  const problem = h('p', { class: 'field-error', id: `${id}-problem`, role: 'alert' });
  const save = async (at, button) => {
    const words = at === null ? null : scheduleProblem(inputDate(input));
    if (words) {
      problem.textContent = words;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await onSave(at === null ? null : rfc3339Local(inputDate(input)));
      onClose();
    } catch (err) {
      problem.textContent = err.message;
      button.disabled = false;
    }
  };
  return h('div', { class: 'time-editor', 'data-editing': 'true' },
    h('label', { for: id, text: 'Publish at' }),
    h('div', { class: 'time-row' },
      input,
      h('button', { type: 'button', class: 'primary', 'data-action': 'save-time', text: 'Save time', onclick: (e) => save(undefined, e.currentTarget) }),
      post.scheduled_at && h('button', { type: 'button', 'data-action': 'unschedule', text: 'Publish when ready', onclick: (e) => save(null, e.currentTarget) }),
      h('button', { type: 'button', class: 'link', 'data-action': 'keep-time', text: 'Keep', onclick: onClose })),
    h('p', { class: 'muted small', id: `${id}-help`, text: `Your time (${zoneName()}), a minute to 14 days from now.` }),
    problem);
}

/// For a scheduled post: where its video is uploaded ahead of its time.
function uploadedAhead(post) {
  const ready = (post.targets || []).filter((t) => t.phase === 'ready').map((t) => t.platform);
  return ready.length ? ` · uploaded to ${platformNames(ready)}, waiting for its time` : '';
}

/// Where a partly published post went, and where it did not.
function partlyWords(post) {
  const targets = post.targets || [];
  const done = targets.filter((t) => t.phase === 'published').map((t) => t.platform);
  const notDone = targets.filter((t) => t.phase !== 'published').map((t) => t.platform);
  if (!done.length || !notDone.length) return 'Some platforms have the post and some do not: see each below.';
  return `Published on ${platformNames(done)}, not on ${platformNames(notDone, 'or')}: see below what to do.`;
}

function postBody(post, { detail, onRetry, onCancel, onReschedule, editing, setEditing }) {
  const parts = [
    h('div', { class: 'post-head' },
      detail
        ? h('p', { class: 'post-text', text: post.text })
        : h('a', { class: 'post-text', href: `#/posts/${post.post_id}`, text: post.text }),
      h('span', { class: `badge status-${post.status}`, 'data-testid': 'post-status', text: STATUS_WORDS[post.status] || post.status })),
    h('p', { class: 'muted small' }, formatTime(post.created_at_ms),
      post.video ? ` · ${formatBytes(post.video.size_bytes)}${post.video.duration_secs ? ` · ${Math.round(post.video.duration_secs)} s` : ''}` : ''),
  ];
  if (post.scheduled_at && post.status !== 'cancelled') {
    const at = formatTime(Date.parse(post.scheduled_at));
    parts.push(h('p', { class: 'schedule', 'data-testid': 'schedule' },
      post.status === 'published' ? `Scheduled for ${at}` : h('strong', { text: `Scheduled for ${at}` }),
      post.status === 'scheduled' ? uploadedAhead(post) : ''));
  }
  if (post.status === 'cancelled') {
    parts.push(h('p', { class: 'muted', 'data-testid': 'cancelled', text: `Cancelled${post.cancelled_at ? ` ${formatTime(Date.parse(post.cancelled_at))}` : ''}: nothing was posted to ${platformNames(postPlatforms(post), 'or')}.` }));
  }
  if (post.status === 'partially_published') {
    parts.push(h('p', { class: 'notice info', 'data-testid': 'partly' }, partlyWords(post)));
  }
  const noTargets = !(post.targets || []).length;
  if (post.status === 'awaiting_upload' || (post.status === 'scheduled' && noTargets && !post.video)) {
    parts.push(h('p', { class: 'muted', text: 'Waiting for the video to arrive. If the upload did not finish, create the post again.' }));
  }
  if (post.status === 'rejected') {
    parts.push(h('div', { class: 'notice error', 'data-testid': 'rejection' },
      h('p', { text: /^this video cannot be posted/i.test(post.rejection || '') ? post.rejection : `The video was not sent to ${platformNames(postPlatforms(post), 'or')}: ${post.rejection || 'it did not pass the checks.'}` }),
      h('p', { class: 'advice' }, `${unusableAdvice(post.rejection || '')} `, h('a', { href: '#/new', text: 'Start a new post' }))));
  }
  for (const t of post.targets || []) parts.push(targetView(t));
  if (canRetry(post)) {
    parts.push(h('div', { class: 'actions' }, h('button', {
      type: 'button', class: 'primary', 'data-action': 'retry', text: 'Retry',
      onclick: (e) => onRetry(post, e.currentTarget),
    })));
  }
  if (canChange(post)) {
    parts.push(editing
      ? timeEditor(post, { onSave: (at) => onReschedule(post, at), onClose: () => setEditing(false) })
      : h('div', { class: 'actions' },
        h('button', { type: 'button', 'data-action': 'reschedule', text: post.scheduled_at ? 'Change time' : 'Schedule', onclick: () => setEditing(true) }),
        h('button', { type: 'button', class: 'danger', 'data-action': 'cancel', text: 'Cancel post', onclick: (e) => onCancel(post, e.currentTarget) })));
  }
  if (detail && post.targets?.some((t) => t.recent_attempts?.length)) {
    const several = post.targets.length > 1;
    parts.push(h('details', { class: 'attempts' }, h('summary', { text: 'Recent attempts' }),
      post.targets.filter((t) => t.recent_attempts?.length).map((t) => [
        several && h('h4', { text: platformName(t.platform) }),
        h('ol', {}, t.recent_attempts.map((a) => h('li', {}, h('time', { text: formatTime(a.at_ms) }), ` ${a.step}: ${a.outcome}`)))])));
  }
  return parts;
}

/// Polls `load` until `isDone`: every second while things change, backing off to 15 s while they
/// do not (a post waiting on X's rate limit or its 24-hour cap may wait for hours); paused while the tab is hidden; idle when done until `kick`ed (after a retry); stops
/// for good when the view is left.
function poller(load, isDone) {
  let unchanged = 0;
  let timer = null;
  let left = false;
  let lastKey = '';
  const schedule = (ms) => { clearTimeout(timer); timer = setTimeout(tick, ms); };
  async function tick() {
    timer = null;
    if (left) return;
    if (document.hidden) { schedule(1000); return; }
    let key = lastKey;
    try {
      key = await load();
    } catch (err) {
      if (err.status === 401 || err.status === 404) return;
    }
    if (left || isDone()) return;
    // Every second while things change and for three polls after; then backing off.
    unchanged = key !== lastKey ? 0 : unchanged + 1;
    lastKey = key;
    schedule(unchanged < 3 ? 1000 : Math.min(Math.round(1000 * 1.5 ** (unchanged - 2)), 15000));
  }
  const leave = () => { left = true; clearTimeout(timer); };
  window.addEventListener('hashchange', leave, { once: true });
  return {
    start: () => tick(),
    kick: () => { if (!left) { unchanged = 0; schedule(0); } },
    stop: leave,
  };
}

async function retry(post, button, after) {
  button.disabled = true;
  button.textContent = 'Retrying…';
  try {
    await api('POST', `/api/posts/${post.post_id}/retry`);
    const failed = (post.targets || []).filter((t) => t.phase === 'failed' || t.phase === 'unconfirmed').map((t) => t.platform);
    toast(`Retrying: Reelay is sending the video to ${platformNames(failed.length ? failed : postPlatforms(post))} again.`);
  } catch (err) {
    toast(`Could not retry: ${err.message}`, 'error');
    button.disabled = false;
    button.textContent = 'Retry';
  }
  after();
}

/// Cancels a post (after asking): nothing is posted; its targets end cancelled.
async function cancel(post, button, after) {
  const where = platformNames(postPlatforms(post), 'or');
  if (!window.confirm(`Cancel this post? Nothing will be posted to ${where}.`)) return;
  button.disabled = true;
  button.textContent = 'Cancelling…';
  try {
    await api('DELETE', `/api/posts/${post.post_id}`);
    toast(`Cancelled: nothing will be posted to ${where}.`);
  } catch (err) {
    toast(`Could not cancel: ${err.message}`, 'error');
    button.disabled = false;
    button.textContent = 'Cancel post';
  }
  after();
}

/// Moves a post to another time (`at`, RFC 3339), or to as soon as it is ready (`null`).
async function reschedule(post, at) {
  await api('PATCH', `/api/posts/${post.post_id}`, { scheduled_at: at });
  toast(at ? `Scheduled for ${formatTime(Date.parse(at))}.` : 'It will be published as soon as the video is ready.');
}

/// Re-renders a card, keeping keyboard focus on the same action if it had it. A card whose time
/// editor is open is left alone, so a poll does not take the input from under the user; closing
/// the editor redraws it.
function fill(card, parts, { force = false } = {}) {
  if (!force && card.querySelector('[data-editing]')) return;
  const focused = card.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  card.replaceChildren(...parts);
  if (focused) card.querySelector(`[data-action="${focused}"]`)?.focus();
}

function announce(previous, post) {
  if (!previous || previous.status === post.status) return;
  if (post.status === 'published') toast(`Published on ${platformNames(postPlatforms(post))}.`);
  else if (post.status === 'partially_published') toast(partlyWords(post), 'error');
  else if (post.status === 'failed') toast('A post failed: see what to do below.', 'error');
  else if (post.status === 'rejected') toast('A video was rejected: see why below.', 'error');
}

export async function postsView() {
  const list = h('ol', { class: 'posts', 'aria-label': 'Your posts, newest first' });
  const empty = h('div', { class: 'card empty', hidden: true },
    h('p', { text: 'No posts yet.' }), h('a', { class: 'button primary', href: '#/new', text: 'Create your first post' }));
  const problem = h('div', { class: 'notice error', role: 'alert', hidden: true });
  show(h('div', { class: 'title-row' }, h('h1', { text: 'Posts' }), h('a', { class: 'button primary', href: '#/new', text: 'New post' })),
    problem, empty, list);

  const posts = new Map(); // post_id -> latest view (with targets)
  const cards = new Map();
  const editing = new Set(); // post ids whose time editor is open
  const refresh = (id) => { posts.delete(id); poll.kick(); };
  const render = (post, force = false) => {
    let card = cards.get(post.post_id);
    if (!card) {
      card = h('li', { class: 'card post', 'data-post-id': post.post_id });
      cards.set(post.post_id, card);
    }
    fill(card, postBody(post, {
      detail: false,
      onRetry: (p, b) => retry(p, b, () => refresh(p.post_id)),
      onCancel: (p, b) => cancel(p, b, () => refresh(p.post_id)),
      onReschedule: (p, at) => reschedule(p, at).then(() => refresh(p.post_id)),
      editing: editing.has(post.post_id),
      setEditing: (on) => {
        if (on) editing.add(post.post_id); else editing.delete(post.post_id);
        render(posts.get(post.post_id) || post, true);
        if (on) card.querySelector('[data-action="time-input"]')?.focus();
        else card.querySelector('[data-action="reschedule"]')?.focus();
      },
    }), { force });
    return card;
  };

  const load = async () => {
    const page = await api('GET', '/api/posts?limit=20');
    problem.hidden = true;
    const order = [];
    for (const summary of page.posts) {
      const known = posts.get(summary.post_id);
      // Targets come from the post itself; a final post's are fetched once.
      let full = known;
      if (!known || !FINAL.has(known.status) || known.status !== summary.status) {
        full = summary.status === 'awaiting_upload' || summary.status === 'rejected'
          ? { ...summary, targets: [] }
          : await api('GET', `/api/posts/${summary.post_id}`);
      }
      announce(known, full);
      posts.set(summary.post_id, full);
      order.push(render(full));
    }
    list.replaceChildren(...order);
    empty.hidden = page.posts.length > 0;
    return JSON.stringify([...posts.values()].map((p) => [p.post_id, p.status, p.scheduled_at, p.targets?.map((t) => [t.platform, t.phase, t.bytes_sent, t.processing_percent, t.fit?.percent, t.late, t.waiting?.code])]));
  };
  const poll = poller(async () => {
    try { return await load(); } catch (err) {
      problem.textContent = err.message;
      problem.hidden = false;
      throw err;
    }
  }, () => posts.size > 0 && [...posts.values()].every((p) => FINAL.has(p.status)));
  poll.start();
}

export async function postView(id) {
  const card = h('section', { class: 'card post detail', 'data-post-id': id, 'aria-live': 'off' });
  const problem = h('div', { class: 'notice error', role: 'alert', hidden: true });
  show(h('p', { class: 'back' }, h('a', { href: '#/posts', text: '← All posts' })), h('h1', { text: 'Post' }), problem, card);
  let post = null;
  let editing = false;
  const render = (force = false) => fill(card, postBody(post, {
    detail: true,
    onRetry: (p, b) => retry(p, b, () => { post = null; poll.kick(); }),
    onCancel: (p, b) => cancel(p, b, () => poll.kick()),
    onReschedule: (p, at) => reschedule(p, at).then(() => poll.kick()),
    editing,
    setEditing: (on) => {
      editing = on;
      render(true);
      card.querySelector(on ? '[data-action="time-input"]' : '[data-action="reschedule"]')?.focus();
    },
  }), { force });
  const poll = poller(async () => {
    try {
      const fresh = await api('GET', `/api/posts/${encodeURIComponent(id)}`);
      problem.hidden = true;
      announce(post, fresh);
      post = fresh;
      render();
      return JSON.stringify([post.status, post.scheduled_at, post.targets?.map((t) => [t.platform, t.phase, t.bytes_sent, t.processing_percent, t.fit?.percent, t.late, t.waiting?.code])]);
    } catch (err) {
      problem.textContent = err.status === 404 ? 'There is no such post.' : err.message;
      problem.hidden = false;
      if (err.status === 404) poll.stop();
      throw err;
    }
  }, () => post && FINAL.has(post.status));
  poll.start();
}
