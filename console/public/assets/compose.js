// New post: the text with X's weighted count live (for YouTube alone, its size as the video's
// description), where to post it (X, YouTube or both) and YouTube's title, privacy and
// made-for-kids, the video (checked here for type and size) and what to do if X would refuse it
// as it is (convert, cut, add bars), when to publish it (optional), the upload with a real
// progress bar, then the post's own page.

import { api, ApiError } from './api.js';
import { h, show, toast, formatBytes, formatTime, progressBar } from './ui.js';
import { loadCounter, MAX_WEIGHTED_LENGTH } from './text.js';
import { fileProblem, contentTypeOf, safeFileName, uploadToS3, ACCEPTED_TYPES, ACCEPTED_EXTENSIONS } from './upload.js';
import { loadPlatforms, health, platformNames } from './platforms.js';
import { inputDate, rfc3339Local, scheduleProblem, bound, zoneName } from './schedule.js';

/// YouTube's rules for a video's details, as the API checks them
/// (shared/src/platforms/youtube/metadata.rs).
const TITLE_MAX_CHARS = 100;
const DESCRIPTION_MAX_BYTES = 5000;
const PRIVACY = [
  ['private', 'Private: only you'],
  ['unlisted', 'Unlisted: anyone with the link'],
  ['public', 'Public: everyone'],
];

const bytesOf = (s) => new TextEncoder().encode(s).length;
const charsOf = (s) => [...s].length;
const hasAngleBrackets = (s) => /[<>]/.test(s);

/// The title YouTube gets when none is written: the text's first non-empty line, without < and
/// >, cut to 100 characters (as the API makes it).
export function defaultTitle(text) {
  const line = text.split(/\r?\n|\r/).map((l) => l.trim()).find((l) => l !== '') || '';
  return [...line.replace(/[<>]/g, '')].slice(0, TITLE_MAX_CHARS).join('').trim();
}

const TEXT_HELP = {
  x: 'Counted as X counts it: links are 23, most emoji and CJK characters 2.',
  both: "Counted as X counts it: links are 23, most emoji and CJK characters 2. On YouTube it is the video's description, without < or >.",
  youtube: "On YouTube the text is the video's description: at most 5,000 bytes (most accented letters are 2, emoji 4), without < or >.",
};

export async function composeView() {
  show(h('h1', { text: 'New post' }), h('p', { class: 'muted', text: 'Loading…' }));
  const [parseTweet, { accounts, enabled }] = await Promise.all([
    loadCounter(),
    loadPlatforms().catch(() => ({ accounts: {}, enabled: { twitter: true } })),
  ]);
  const account = accounts.twitter || null;
  const xHealth = health(account, 'twitter', enabled.twitter !== false);
  const youtube = accounts.youtube || null;
  const ytHealth = health(youtube, 'youtube', Boolean(enabled.youtube));

  const text = h('textarea', { id: 'post-text', name: 'text', rows: '5', required: true, 'aria-describedby': 'text-count text-help', placeholder: 'What is this video about?' });
  const count = h('span', { id: 'text-count', class: 'count', text: `0 / ${MAX_WEIGHTED_LENGTH}` });
  const meter = h('div', { class: 'meter', 'aria-hidden': 'true' }, h('span'));
  const textProblem = h('p', { class: 'field-error', id: 'text-problem', role: 'alert' });

  const platformX = h('input', { type: 'checkbox', id: 'platform-twitter', name: 'platforms', value: 'twitter', checked: xHealth.ok, disabled: !xHealth.ok, 'aria-describedby': xHealth.ok ? null : 'platform-twitter-why' });
  // YouTube is chosen at first only when it is the one platform ready.
  const platformYouTube = h('input', { type: 'checkbox', id: 'platform-youtube', name: 'platforms', value: 'youtube', checked: ytHealth.ok && !xHealth.ok, disabled: !ytHealth.ok, 'aria-describedby': ytHealth.ok ? null : 'platform-youtube-why' });
  /// Why a platform cannot be chosen, and where to fix it (nothing to fix when not enabled).
  const whyNot = (state, id, quiet) => !state.ok && h('p', { class: quiet ? 'muted small platform-why' : 'field-error', id },
    state.words, state.off ? null : [' ', h('a', { href: '#/platforms', text: 'Go to Platforms' })]);
  /// X's rules while X is chosen (or nothing is yet); for YouTube alone, a description's.
  const xRules = () => platformX.checked || !platformYouTube.checked;

  // YouTube's details of the video: the title (empty: the text's first line), who can watch,
  // and whether it is made for kids (YouTube requires creators to say).
  const title = h('input', { type: 'text', id: 'youtube-title', name: 'youtube_title', autocomplete: 'off', 'aria-describedby': 'youtube-title-count youtube-title-help youtube-title-problem' });
  const titleCount = h('span', { id: 'youtube-title-count', class: 'count', text: `0 / ${TITLE_MAX_CHARS}` });
  const titleProblemLine = h('p', { class: 'field-error', id: 'youtube-title-problem', role: 'alert' });
  const privacy = h('select', { id: 'youtube-privacy', name: 'youtube_privacy', 'aria-describedby': 'youtube-privacy-help' },
    PRIVACY.map(([value, words]) => h('option', { value, text: words, selected: value === 'private' })));
  const kids = h('input', { type: 'checkbox', id: 'youtube-kids', name: 'youtube_made_for_kids', 'aria-describedby': 'youtube-kids-help' });
  const titleProblem = () => {
    if (!platformYouTube.checked) return '';
    const chosen = title.value.trim();
    if (chosen === '') {
      return text.value.trim() !== '' && defaultTitle(text.value) === ''
        ? "Write a title for YouTube: the text's first line has none to give." : '';
    }
    const chars = charsOf(chosen);
    if (chars > TITLE_MAX_CHARS) return `The YouTube title has ${chars} characters; YouTube takes at most ${TITLE_MAX_CHARS}.`;
    if (hasAngleBrackets(chosen)) return 'YouTube does not allow < or > in a title: remove them.';
    return '';
  };
  const retitle = () => {
    const chars = charsOf(title.value.trim());
    titleCount.textContent = `${chars} / ${TITLE_MAX_CHARS}`;
    titleCount.dataset.state = chars > TITLE_MAX_CHARS ? 'over' : chars > TITLE_MAX_CHARS - 10 ? 'near' : 'ok';
    title.placeholder = defaultTitle(text.value) || "The text's first line";
    const problem = titleProblem();
    titleProblemLine.textContent = problem;
    title.setAttribute('aria-invalid', String(Boolean(problem)));
  };
  title.addEventListener('input', retitle);

  let textOk = false;
  /// Shows `used` of `max` in the counter and its meter; returns what is left.
  const showCount = (used, max, unit, near) => {
    const left = max - used;
    count.textContent = `${used} / ${max}${unit}`;
    count.dataset.state = left < 0 ? 'over' : left <= near ? 'near' : 'ok';
    meter.firstChild.style.width = `${Math.min(100, (used / max) * 100)}%`;
    meter.dataset.state = count.dataset.state;
    return left;
  };
  const recount = () => {
    const empty = text.value.trim() === '';
    const problems = [];
    let valid = !empty;
    let counted = true;
    if (xRules()) {
      if (parseTweet) {
        const parsed = parseTweet(text.value);
        const left = showCount(parsed.weightedLength, MAX_WEIGHTED_LENGTH, '', 20);
        valid = valid && parsed.valid;
        if (left < 0) problems.push(`${-left} over X's limit: shorten the text (links count as 23, most emoji and CJK characters as 2).`);
        else if (!parsed.valid && !empty) problems.push('This text has characters X does not accept.');
      } else {
        showCount(0, MAX_WEIGHTED_LENGTH, '', 20);
        valid = false;
        counted = false;
      }
    } else {
      const left = showCount(bytesOf(text.value), DESCRIPTION_MAX_BYTES, ' bytes', 250);
      if (left < 0) problems.push(`${-left} bytes over YouTube's limit for a description: shorten the text (most accented letters count as 2 bytes, emoji as 4).`);
    }
    if (platformYouTube.checked) {
      const bytes = bytesOf(text.value);
      if (xRules() && bytes > DESCRIPTION_MAX_BYTES) problems.push(`As YouTube's description the text is ${bytes} bytes; YouTube takes at most ${DESCRIPTION_MAX_BYTES}: shorten it.`);
      if (hasAngleBrackets(text.value)) problems.push("YouTube does not allow < or > in a video's description: remove them from the text.");
    }
    textOk = valid && problems.length === 0;
    textProblem.textContent = problems.join(' ');
    if (counted || problems.length) text.setAttribute('aria-invalid', String(!textOk && !empty));
    retitle();
  };
  text.addEventListener('input', recount);

  const file = h('input', { type: 'file', id: 'post-video', name: 'video', accept: [...Object.keys(ACCEPTED_TYPES), ...Object.keys(ACCEPTED_EXTENSIONS)].join(','), 'aria-describedby': 'video-help video-problem', required: true });
  const fileInfo = h('p', { class: 'file-info muted', id: 'video-help', text: 'MP4, MOV, WebM or MKV, up to 512 MB. X takes videos up to 140 seconds.' });
  const fileProblemLine = h('p', { class: 'field-error', id: 'video-problem', role: 'alert' });
  file.addEventListener('change', () => {
    const chosen = file.files[0];
    const problem = chosen ? fileProblem(chosen) : null;
    fileProblemLine.textContent = problem || '';
    file.setAttribute('aria-invalid', String(Boolean(problem)));
    if (chosen && !problem) fileInfo.textContent = `${chosen.name} · ${formatBytes(chosen.size)}`;
  });

  // If X would refuse the video as it is: convert it (fit), cut it (trim_to_secs), add bars (pad).
  const TRIM_MIN = 0.5;
  const TRIM_MAX = 140;
  const fit = h('input', { type: 'checkbox', id: 'fit-convert', name: 'fit', checked: true, 'aria-describedby': 'fit-convert-help' });
  const trim = h('input', { type: 'number', id: 'fit-trim', name: 'trim_to_secs', min: String(TRIM_MIN), max: String(TRIM_MAX), step: '0.1', inputmode: 'decimal', 'aria-describedby': 'fit-trim-help fit-trim-problem' });
  const pad = h('input', { type: 'checkbox', id: 'fit-pad', name: 'pad', 'aria-describedby': 'fit-pad-help' });
  const trimProblemLine = h('p', { class: 'field-error', id: 'fit-trim-problem', role: 'alert' });
  /// The cut asked for: null when empty, NaN when it is not a number of seconds X could take.
  const trimValue = () => {
    if (trim.value.trim() === '' && !trim.validity.badInput) return null;
    const secs = Number(trim.value);
    return trim.value.trim() !== '' && Number.isFinite(secs) && secs >= TRIM_MIN && secs <= TRIM_MAX ? secs : NaN;
  };
  const trimProblem = () => (platformX.checked && fit.checked && Number.isNaN(trimValue())
    ? `“Cut to at most” must be a number of seconds from ${TRIM_MIN} to ${TRIM_MAX}, or empty.` : '');
  const recheckTrim = () => {
    const problem = trimProblem();
    trimProblemLine.textContent = problem;
    trim.setAttribute('aria-invalid', String(Boolean(problem)));
  };
  // Checked on submit; while typing, a problem already shown follows the value (shown on blur it
  // would move the form under the pointer as the user clicks on).
  trim.addEventListener('input', () => { if (trimProblemLine.textContent) recheckTrim(); });
  const syncFit = () => {
    trim.disabled = !fit.checked;
    pad.disabled = !fit.checked;
    recheckTrim();
  };
  fit.addEventListener('change', syncFit);

  // When to publish: empty is as soon as the video is ready.
  const publishAt = h('input', { type: 'datetime-local', id: 'publish-at', name: 'scheduled_at', step: '60', 'aria-describedby': 'publish-at-help publish-at-problem' });
  bound(publishAt);
  const publishAtProblemLine = h('p', { class: 'field-error', id: 'publish-at-problem', role: 'alert' });
  const publishAtProblem = () => (publishAt.value || publishAt.validity.badInput ? scheduleProblem(inputDate(publishAt)) || '' : '');
  const recheckPublishAt = () => {
    const problem = publishAtProblem();
    publishAtProblemLine.textContent = problem;
    publishAt.setAttribute('aria-invalid', String(Boolean(problem)));
  };
  publishAt.addEventListener('input', () => { if (publishAtProblemLine.textContent) recheckPublishAt(); });
  const publishAtHelp = h('p', { class: 'muted small', id: 'publish-at-help' });
  const textHelp = h('p', { class: 'muted small', id: 'text-help' });

  const fitOptions = h('fieldset', { class: 'field fit-options', 'aria-describedby': 'fit-help' },
    h('legend', { text: 'For X: if X would refuse this video' }),
    h('p', { class: 'muted small', id: 'fit-help', text: 'Phone videos are often HEVC, 4K, 10-bit or HDR, over 60 fps, or WebM, which X does not take as they are. YouTube gets the video as it is.' }),
    h('div', { class: 'choice' }, fit, h('label', { for: 'fit-convert', text: 'Convert it for X' })),
    h('p', { class: 'muted small option-help', id: 'fit-convert-help', text: 'Reelay converts it to what X accepts before sending it. Untick to have such a video rejected with the reason instead.' }),
    h('div', { class: 'trim-row' },
      h('label', { for: 'fit-trim' }, 'Cut to at most', h('span', { class: 'visually-hidden', text: ' this many seconds' })),
      trim, h('span', { 'aria-hidden': 'true', text: 'seconds' })),
    h('p', { class: 'muted small option-help', id: 'fit-trim-help', text: `Optional, ${TRIM_MIN} to ${TRIM_MAX}. X takes at most ${TRIM_MAX} seconds: a longer video is rejected unless it is cut.` }),
    trimProblemLine,
    h('div', { class: 'choice' }, pad, h('label', { for: 'fit-pad', text: 'Add bars if it is too wide or too tall' })),
    h('p', { class: 'muted small option-help', id: 'fit-pad-help', text: 'X takes shapes from 1:3 (tall) to 3:1 (wide). Outside that, Reelay adds black bars instead of rejecting it.' }));

  const youtubeOptions = h('fieldset', { class: 'field youtube-options' },
    h('legend', { text: 'For YouTube' }),
    h('div', { class: 'label-row' }, h('label', { for: 'youtube-title', text: 'Title' }), titleCount),
    title,
    h('p', { class: 'muted small option-help', id: 'youtube-title-help', text: `Optional: at most ${TITLE_MAX_CHARS} characters, without < or >. Left empty, it is the text's first line.` }),
    titleProblemLine,
    h('label', { for: 'youtube-privacy', class: 'block-label', text: 'Privacy' }),
    privacy,
    h('p', { class: 'muted small option-help', id: 'youtube-privacy-help', text: 'Private unless you choose otherwise: you can change it later in YouTube Studio.' }),
    h('div', { class: 'choice' }, kids, h('label', { for: 'youtube-kids', text: 'Made for kids' })),
    h('p', { class: 'muted small option-help', id: 'youtube-kids-help', text: 'YouTube requires you to say whether a video is made for children; if it is, YouTube turns off comments and some other features on it.' }));

  /// Shows what applies to the platforms chosen: X's options, YouTube's, and the words about them.
  const syncPlatforms = () => {
    fitOptions.hidden = !platformX.checked;
    youtubeOptions.hidden = !platformYouTube.checked;
    textHelp.textContent = TEXT_HELP[!platformYouTube.checked ? 'x' : platformX.checked ? 'both' : 'youtube'];
    publishAtHelp.textContent = `Your time (${zoneName()}), a minute to 14 days from now. Leave it empty to publish as soon as the video is ready.`
      + (platformX.checked ? ' Reelay sends the video to X ahead and publishes on the minute.' : '')
      + (platformYouTube.checked ? ' The upload to YouTube starts at that time; the video appears once YouTube has processed it.' : '');
    recount();
    recheckTrim();
  };
  platformX.addEventListener('change', syncPlatforms);
  platformYouTube.addEventListener('change', syncPlatforms);

  const submit = h('button', { type: 'submit', class: 'primary', text: 'Post video' });
  const formProblem = h('div', { class: 'notice error', role: 'alert', hidden: true });
  const progressSlot = h('div', { class: 'upload-progress', 'aria-live': 'polite' });

  const form = h('form', { class: 'card compose', novalidate: true, 'aria-labelledby': 'compose-heading' },
    h('div', { class: 'field' },
      h('div', { class: 'label-row' }, h('label', { for: 'post-text', text: 'Text' }), count),
      text, meter,
      textHelp,
      textProblem),
    h('fieldset', { class: 'field' },
      h('legend', { text: 'Post to' }),
      h('div', { class: 'choice' }, platformX,
        h('label', { for: 'platform-twitter' }, 'X', account ? h('span', { class: 'muted', text: ` @${account.username}` }) : null)),
      whyNot(xHealth, 'platform-twitter-why', false),
      h('div', { class: 'choice' }, platformYouTube,
        h('label', { for: 'platform-youtube' }, 'YouTube', youtube ? h('span', { class: 'muted', text: ` ${youtube.name}` }) : null)),
      whyNot(ytHealth, 'platform-youtube-why', ytHealth.off || !youtube)),
    youtubeOptions,
    h('div', { class: 'field' },
      h('label', { for: 'post-video', text: 'Video' }), file, fileInfo, fileProblemLine),
    fitOptions,
    h('div', { class: 'field' },
      h('label', { for: 'publish-at' }, 'Publish at', h('span', { class: 'muted', text: ' (optional)' })),
      publishAt,
      publishAtHelp,
      publishAtProblemLine),
    formProblem,
    progressSlot,
    h('div', { class: 'actions' }, submit));

  // A listed problem goes once the user changes what it was about.
  form.addEventListener('input', () => { formProblem.hidden = true; });
  form.addEventListener('change', () => { formProblem.hidden = true; });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formProblem.hidden = true;
    recount();
    const chosen = file.files[0];
    const problems = [];
    if (!parseTweet && xRules()) problems.push('The character counter did not load, so the text cannot be checked. Reload the page; if it persists the console was built without `make setup`.');
    else if (!textOk) problems.push(text.value.trim() === '' ? 'Write the text of the post.' : textProblem.textContent);
    if (!platformX.checked && !platformYouTube.checked) problems.push(xHealth.ok || ytHealth.ok ? 'Choose where to post.' : xHealth.words);
    retitle();
    if (titleProblem()) problems.push(titleProblem());
    const fp = fileProblem(chosen);
    if (fp) problems.push(fp);
    recheckTrim();
    if (trimProblem()) problems.push(trimProblem());
    recheckPublishAt();
    if (publishAtProblem()) problems.push(publishAtProblem());
    if (problems.length) {
      formProblem.replaceChildren(h('ul', {}, problems.map((p) => h('li', { text: p }))));
      formProblem.hidden = false;
      formProblem.focus?.();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Posting…';
    const type = contentTypeOf(chosen);
    const platforms = [platformX, platformYouTube].filter((box) => box.checked).map((box) => box.value);
    const body = {
      text: text.value,
      platforms,
      file_name: safeFileName(chosen, type),
      content_type: type,
    };
    // X's options. The API's defaults (convert; no cut; no bars) are left out; a cut or bars only
    // with convert.
    if (platformX.checked && !fit.checked) body.fit = false;
    else if (platformX.checked) {
      const secs = trimValue();
      if (secs !== null) body.trim_to_secs = secs;
      if (pad.checked) body.pad = true;
    }
    // YouTube's: an empty title is left out (the API takes the text's first line, as shown).
    if (platformYouTube.checked) {
      body.youtube = { privacy: privacy.value, made_for_kids: kids.checked };
      if (title.value.trim()) body.youtube.title = title.value.trim();
    }
    const scheduledAt = publishAt.value ? inputDate(publishAt) : null;
    if (scheduledAt) body.scheduled_at = rfc3339Local(scheduledAt);
    let created;
    try {
      created = await api('POST', '/api/posts', body);
    } catch (err) {
      submit.disabled = false;
      submit.textContent = 'Post video';
      const fix = err instanceof ApiError && err.type?.startsWith('platform_')
        ? h('a', { href: '#/platforms', text: ' Go to Platforms.' }) : null;
      formProblem.replaceChildren(h('p', {}, err.message, fix));
      formProblem.hidden = false;
      return;
    }
    const bar = progressBar('Uploading video', 0, chosen.size, `0 of ${formatBytes(chosen.size)}`);
    bar.dataset.testid = 'upload-progress';
    progressSlot.replaceChildren(bar);
    const progress = bar.querySelector('progress');
    const words = bar.querySelector('.progress-words');
    try {
      await uploadToS3(created.upload, chosen, (sent, total) => {
        progress.max = total;
        progress.value = sent;
        words.textContent = `${Math.floor((sent / total) * 100)}% · ${formatBytes(sent)} of ${formatBytes(total)}`;
      });
    } catch (err) {
      submit.disabled = false;
      submit.textContent = 'Post video';
      formProblem.replaceChildren(h('p', { text: `The video was not uploaded: ${err.message}. Try again; the draft post expires on its own.` }));
      formProblem.hidden = false;
      return;
    }
    progress.value = progress.max;
    words.textContent = 'Uploaded';
    const names = platformNames(platforms);
    toast(scheduledAt
      ? (platformYouTube.checked
        ? `Video uploaded. Reelay posts it to ${names} at ${formatTime(scheduledAt.getTime())}.`
        : `Video uploaded. Reelay sends it to X ahead and publishes it at ${formatTime(scheduledAt.getTime())}.`)
      : `Video uploaded. Reelay is checking it and sending it to ${names}.`);
    location.hash = `#/posts/${created.post_id}`;
  });

  syncPlatforms();
  show(h('h1', { id: 'compose-heading', text: 'New post' }),
    h('p', { class: 'lead', text: enabled.youtube ? 'Write the text, choose a video and where it goes, and Reelay posts it to X, YouTube or both.' : 'Write the text, choose a video, and Reelay posts it to X.' }),
    !parseTweet && h('div', { class: 'notice error', role: 'alert', text: "The character counter (twitter-text) did not load: this build of the console is missing /vendor/twitter-text.js. Run `make setup` and rebuild the API." }),
    form);
  formProblem.tabIndex = -1;
}
