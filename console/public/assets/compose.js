// New post: the text with X's weighted count live, the platform, the video (checked here for
// type and size) and what to do if X would refuse it as it is (convert, cut, add bars), when to
// publish it (optional), the upload with a real progress bar, then the post's own page.

import { api, ApiError } from './api.js';
import { h, show, toast, formatBytes, formatTime, progressBar } from './ui.js';
import { loadCounter, MAX_WEIGHTED_LENGTH } from './text.js';
import { fileProblem, contentTypeOf, safeFileName, uploadToS3, ACCEPTED_TYPES, ACCEPTED_EXTENSIONS } from './upload.js';
import { twitterAccount, health } from './platforms.js';
import { inputDate, rfc3339Local, scheduleProblem, bound, zoneName } from './schedule.js';

export async function composeView() {
  show(h('h1', { text: 'New post' }), h('p', { class: 'muted', text: 'Loading…' }));
  const [parseTweet, account] = await Promise.all([loadCounter(), twitterAccount().catch(() => null)]);
  const xHealth = health(account);

  const text = h('textarea', { id: 'post-text', name: 'text', rows: '5', required: true, 'aria-describedby': 'text-count text-help', placeholder: 'What is this video about?' });
  const count = h('span', { id: 'text-count', class: 'count', text: `0 / ${MAX_WEIGHTED_LENGTH}` });
  const meter = h('div', { class: 'meter', 'aria-hidden': 'true' }, h('span'));
  const textProblem = h('p', { class: 'field-error', id: 'text-problem', role: 'alert' });

  let textOk = false;
  const recount = () => {
    if (!parseTweet) return;
    const parsed = parseTweet(text.value);
    const used = parsed.weightedLength;
    const left = MAX_WEIGHTED_LENGTH - used;
    count.textContent = `${used} / ${MAX_WEIGHTED_LENGTH}`;
    count.dataset.state = left < 0 ? 'over' : left <= 20 ? 'near' : 'ok';
    meter.firstChild.style.width = `${Math.min(100, (used / MAX_WEIGHTED_LENGTH) * 100)}%`;
    meter.dataset.state = count.dataset.state;
    const empty = text.value.trim() === '';
    textOk = parsed.valid && !empty;
    textProblem.textContent = left < 0
      ? `${-left} over X's limit: shorten the text (links count as 23, most emoji and CJK characters as 2).`
      : !parsed.valid && !empty ? 'This text has characters X does not accept.' : '';
    text.setAttribute('aria-invalid', String(!textOk && !empty));
  };
  text.addEventListener('input', recount);

  const platformX = h('input', { type: 'checkbox', id: 'platform-twitter', name: 'platforms', value: 'twitter', checked: xHealth.ok, disabled: !xHealth.ok });
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
  const trimProblem = () => (fit.checked && Number.isNaN(trimValue())
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

  const submit = h('button', { type: 'submit', class: 'primary', text: 'Post video' });
  const formProblem = h('div', { class: 'notice error', role: 'alert', hidden: true });
  const progressSlot = h('div', { class: 'upload-progress', 'aria-live': 'polite' });

  const form = h('form', { class: 'card compose', novalidate: true, 'aria-labelledby': 'compose-heading' },
    h('div', { class: 'field' },
      h('div', { class: 'label-row' }, h('label', { for: 'post-text', text: 'Text' }), count),
      text, meter,
      h('p', { class: 'muted small', id: 'text-help', text: 'Counted as X counts it: links are 23, most emoji and CJK characters 2.' }),
      textProblem),
    h('fieldset', { class: 'field' },
      h('legend', { text: 'Post to' }),
      h('div', { class: 'choice' }, platformX,
        h('label', { for: 'platform-twitter' }, 'X', account ? h('span', { class: 'muted', text: ` @${account.username}` }) : null)),
      !xHealth.ok && h('p', { class: 'field-error' }, `${xHealth.words} `, h('a', { href: '#/platforms', text: 'Go to Platforms' }))),
    h('div', { class: 'field' },
      h('label', { for: 'post-video', text: 'Video' }), file, fileInfo, fileProblemLine),
    h('fieldset', { class: 'field fit-options', 'aria-describedby': 'fit-help' },
      h('legend', { text: 'If X would refuse this video' }),
      h('p', { class: 'muted small', id: 'fit-help', text: 'Phone videos are often HEVC, 4K, 10-bit or HDR, over 60 fps, or WebM, which X does not take as they are.' }),
      h('div', { class: 'choice' }, fit, h('label', { for: 'fit-convert', text: 'Convert it for X' })),
      h('p', { class: 'muted small option-help', id: 'fit-convert-help', text: 'Reelay converts it to what X accepts before sending it. Untick to have such a video rejected with the reason instead.' }),
      h('div', { class: 'trim-row' },
        h('label', { for: 'fit-trim' }, 'Cut to at most', h('span', { class: 'visually-hidden', text: ' this many seconds' })),
        trim, h('span', { 'aria-hidden': 'true', text: 'seconds' })),
      h('p', { class: 'muted small option-help', id: 'fit-trim-help', text: `Optional, ${TRIM_MIN} to ${TRIM_MAX}. X takes at most ${TRIM_MAX} seconds: a longer video is rejected unless it is cut.` }),
      trimProblemLine,
      h('div', { class: 'choice' }, pad, h('label', { for: 'fit-pad', text: 'Add bars if it is too wide or too tall' })),
      h('p', { class: 'muted small option-help', id: 'fit-pad-help', text: 'X takes shapes from 1:3 (tall) to 3:1 (wide). Outside that, Reelay adds black bars instead of rejecting it.' })),
    h('div', { class: 'field' },
      h('label', { for: 'publish-at' }, 'Publish at', h('span', { class: 'muted', text: ' (optional)' })),
      publishAt,
      h('p', { class: 'muted small', id: 'publish-at-help', text: `Your time (${zoneName()}), a minute to 14 days from now. Leave it empty to publish as soon as the video is ready. Reelay sends the video to X ahead and publishes on the minute.` }),
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
    if (!parseTweet) problems.push('The character counter did not load, so the text cannot be checked. Reload the page; if it persists the console was built without `make setup`.');
    else if (!textOk) problems.push(text.value.trim() === '' ? 'Write the text of the post.' : textProblem.textContent);
    if (!platformX.checked) problems.push(xHealth.ok ? 'Choose where to post.' : xHealth.words);
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
    const body = {
      text: text.value,
      platforms: ['twitter'],
      file_name: safeFileName(chosen, type),
      content_type: type,
    };
    // The API's defaults (convert; no cut; no bars) are left out; a cut or bars only with convert.
    if (!fit.checked) body.fit = false;
    else {
      const secs = trimValue();
      if (secs !== null) body.trim_to_secs = secs;
      if (pad.checked) body.pad = true;
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
    toast(scheduledAt
      ? `Video uploaded. Reelay sends it to X ahead and publishes it at ${formatTime(scheduledAt.getTime())}.`
      : 'Video uploaded. Reelay is checking it and sending it to X.');
    location.hash = `#/posts/${created.post_id}`;
  });

  show(h('h1', { id: 'compose-heading', text: 'New post' }),
    h('p', { class: 'lead', text: 'Write the text, choose a video, and Reelay posts it to X.' }),
    !parseTweet && h('div', { class: 'notice error', role: 'alert', text: "The character counter (twitter-text) did not load: this build of the console is missing /vendor/twitter-text.js. Run `make setup` and rebuild the API." }),
    form);
  formProblem.tabIndex = -1;
}
