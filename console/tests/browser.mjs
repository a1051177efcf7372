// The console in a real browser: Debian's headless Chromium driven by playwright-core over the
// DevTools protocol. Started by tools/reelay-local/tests/console.rs, which runs the local world
// (moto, the X emulator, the gateway with its sign-in page) and answers this script's requests
// for changes only the test may make (X withdrawing a permission) over stdin/stdout:
// this script prints `@@step <name>` and waits for a line `ok` on stdin.
//
// Environment: CONSOLE_URL (the gateway's `/`), GOOD_VIDEO, BAD_VIDEO (141 s: X allows 140),
// NOT_A_VIDEO (a text file), SCREENSHOTS (a folder), CHROMIUM (default /usr/bin/chromium).
// Every check throws with what it saw; the exit code is 0 only when the whole journey passed.

import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const CONSOLE_URL = env('CONSOLE_URL');
const GOOD_VIDEO = env('GOOD_VIDEO');
const BAD_VIDEO = env('BAD_VIDEO');
const NOT_A_VIDEO = env('NOT_A_VIDEO');
const SCREENSHOTS = env('SCREENSHOTS');
const USER = 'ada';
const TIMEOUT = 90_000;

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function askTheTest(step) {
  console.log(`@@step ${step}`);
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'ok') throw new Error(`the test did not do ${step}: ${value}`);
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

const log = (message) => console.log(`browser: ${message}`);

mkdirSync(SCREENSHOTS, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'reelay-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1200, height: 860 },
  // Half an hour off UTC, so "Publish at" must carry the browser's real offset (+05:30).
  timezoneId: 'Asia/Kolkata',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(TIMEOUT);
const consoleErrors = [];
page.on('console', (m) => {
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
});
page.on('pageerror', (e) => consoleErrors.push(String(e)));
// Failed requests of the console's own origin (the sign-in page's favicon is the gateway's
// business, not the console's).
page.on('response', (r) => {
  if (r.status() >= 400 && r.url().startsWith(CONSOLE_URL) && !r.url().includes('/__local/')) {
    consoleErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  }
});

async function shot(name) {
  await page.waitForTimeout(300); // the toast's slide and the bars' transitions settle
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  log(`screenshot ${name}.png`);
}

/// Records every value a progress bar labelled `label` shows (polled in the page every 50 ms),
/// so the test can say the bar moved rather than only that it ended full.
async function recordBar(label) {
  await page.evaluate((label) => {
    window.__bars ??= {};
    const seen = (window.__bars[label] = []);
    setInterval(() => {
      for (const div of document.querySelectorAll('.progress')) {
        if (div.querySelector('label')?.textContent !== label) continue;
        const bar = div.querySelector('progress');
        if (!bar.hasAttribute('value')) continue;
        const v = `${bar.value}/${bar.max}`;
        if (seen[seen.length - 1] !== v) seen.push(v);
      }
    }, 50);
  }, label);
}
const barValues = (label) => page.evaluate((label) => window.__bars?.[label] || [], label);

/// Values strictly between empty and full: the bar showed progress, not just a start and an end.
function partial(values) {
  return values.map((v) => v.split('/').map(Number)).filter(([v, max]) => v > 0 && v < max);
}

async function connectX() {
  // The API names X's consent page; the emulator consents and sends the browser to the
  // callback, which sends it back here with the outcome in the query.
  const back = page.waitForURL((url) => url.href.startsWith(CONSOLE_URL) && url.searchParams.has('result'), { waitUntil: 'commit' });
  await page.getByRole('button', { name: /^(Connect|Reconnect) X$/ }).click();
  await back;
  check(new URL(page.url()).searchParams.get('result') === 'active', `the callback says the account is active: ${page.url()}`);
  await page.getByTestId('x-health').waitFor();
}

async function newPost(text, file) {
  await page.getByRole('link', { name: 'New post' }).first().click();
  await page.getByLabel('Text').fill(text);
  await page.getByLabel('Video').setInputFiles(file);
}

async function submitAndOpenPost() {
  await page.getByRole('button', { name: 'Post video' }).click();
  // On to the post's page, or the form says why not (then fail at once, with its words).
  const refused = page.locator('form.compose .notice.error:not([hidden])');
  const refusal = refused.waitFor().then(() => refused.textContent(), () => null);
  await Promise.race([
    page.waitForURL(/#\/posts\/[0-9]+-[0-9a-f]+$/),
    refusal.then((words) => {
      if (words === null) return new Promise(() => {}); // the page moved on: no refusal
      throw new Error(`the post was not created and uploaded: ${words}`);
    }),
  ]);
  const id = new URL(page.url()).hash.split('/')[2];
  log(`post ${id} created`);
  return id;
}

try {
  // ---- Sign in: the console sends the browser to the sign-in page (authorization code + PKCE).
  await page.goto(CONSOLE_URL);
  await page.getByRole('heading', { name: 'Post your videos to X' }).waitFor();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('User name').fill(USER);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.href.startsWith(CONSOLE_URL) && url.hash === '#/platforms');
  const who = await page.getByTestId('signed-in-as').textContent();
  check(who === USER, `signed in as ${USER}, the page says ${who}`);
  check(!page.url().includes('code='), `the sign-in code is left in the URL: ${page.url()}`);
  log(`signed in as ${who}`);

  // ---- Platforms: not connected, then connect X through the emulator's consent.
  let health = await page.getByTestId('x-health').textContent();
  check(health.includes('not connected'), `a new user has X not connected: ${health}`);
  await connectX();
  health = await page.getByTestId('x-health').textContent();
  check(health.startsWith('Ready'), `after connecting, X is ready: ${health}`);
  check(await page.locator('.scope-list .missing').count() === 0, 'every permission granted');
  log('X connected');

  // ---- New post: the live count (twitter-text), the browser's file checks.
  await page.getByRole('link', { name: 'New post' }).first().click();
  const text = page.getByLabel('Text');
  await text.fill('Launch day 🎉 https://example.com/launch');
  let count = await page.locator('#text-count').textContent();
  // 11 + an emoji (2) + a space + a link (23) = 37 by X's rules.
  check(count === '37 / 280', `the weighted count of the launch text is 37: ${count}`);
  await text.fill('x'.repeat(285));
  count = await page.locator('#text-count').textContent();
  check(count === '285 / 280', `285 characters: ${count}`);
  check((await page.locator('#text-problem').textContent()).includes('5 over'), 'the text says it is 5 over');
  await page.getByLabel('Video').setInputFiles(NOT_A_VIDEO);
  const fileProblem = await page.locator('#video-problem').textContent();
  check(fileProblem.includes('Choose an MP4 or MOV video'), `a text file is refused in the browser: ${fileProblem}`);
  await page.getByRole('button', { name: 'Post video' }).click();
  check(page.url().endsWith('#/new'), 'an invalid form is not sent');
  check(await page.getByRole('alert').filter({ hasText: 'over X' }).count() > 0, 'the form lists the text problem');

  // ---- A good video: the upload's progress, X's progress, the published link.
  await newPost('Launch day 🎉 https://example.com/launch', GOOD_VIDEO);
  await shot('new-post');
  // The upload goes from this browser straight to S3 (moto); slowed so its bar has something
  // to show, as a real uplink would.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 3 * 1024 * 1024,
  });
  await recordBar('Uploading video');
  const firstPost = await submitAndOpenPost();
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const uploadSeen = await barValues('Uploading video');
  check(partial(uploadSeen).length >= 2, `the upload bar moved through partial values: ${uploadSeen.join(' ')}`);
  log(`upload bar: ${uploadSeen.join(' ')}`);

  await recordBar('Upload to X');
  await recordBar('X processing');
  await page.locator('.target .progress').first().waitFor();
  await shot('post-in-progress');
  const link = page.getByTestId('published-link');
  await link.waitFor({ timeout: TIMEOUT });
  const toX = await barValues('Upload to X');
  const processing = await barValues('X processing');
  log(`Upload to X bar: ${toX.join(' ')}; X processing bar: ${processing.join(' ')}`);
  check(partial(toX).length >= 2, `the upload-to-X bar moved through partial values: ${toX.join(' ')}`);
  check(processing.length >= 1, `X's processing was shown: ${processing.join(' ')}`);
  const href = await link.getAttribute('href');
  check(/^https:\/\/(x|twitter)\.com\/.+\/status\/\d+$/.test(href), `the published link is a post's URL: ${href}`);
  check((await page.getByTestId('post-status').textContent()) === 'Published', 'the post says Published');
  await shot('post');
  log(`published: ${href}`);

  // ---- A bad video: it passes the browser's checks (an MP4) but not Reelay's: rejected, why.
  await newPost('Too long for X', BAD_VIDEO);
  await submitAndOpenPost();
  const rejection = page.getByTestId('rejection');
  await rejection.waitFor();
  const why = await rejection.textContent();
  check(why.includes('141.0 s; X allows at most 140 s'), `the rejection gives its reason: ${why}`);
  check((await page.getByTestId('post-status').textContent()) === 'Rejected', 'the post says Rejected');
  log(`rejected: ${why}`);

  // ---- X takes 'Upload media' away: the post fails, the account needs reconnecting.
  await askTheTest('withdraw-media-write');
  await newPost('Second clip', GOOD_VIDEO);
  const thirdPost = await submitAndOpenPost();
  const error = page.getByTestId('target-error');
  await error.waitFor();
  const errorText = await error.textContent();
  check(errorText.includes('media.write') && errorText.includes('Reconnect X on Platforms'), `the error says what to do: ${errorText}`);
  check(await page.getByRole('button', { name: 'Retry' }).count() === 1, 'a Retry button is offered');
  log(`failed: ${errorText}`);

  await page.getByRole('link', { name: 'Platforms' }).first().click();
  await page.getByTestId('x-health').waitFor();
  health = await page.getByTestId('x-health').textContent();
  check(health.startsWith('X needs reconnecting'), `Platforms says X needs reconnecting: ${health}`);
  check((await page.locator('.platform .badge').textContent()) === 'Needs reconnecting', 'the badge says so');
  await shot('platforms-needs-reconnecting');
  await connectX();
  health = await page.getByTestId('x-health').textContent();
  check(health.startsWith('Ready'), `after reconnecting, X is ready: ${health}`);
  await shot('platforms');
  log('X reconnected');

  // ---- Retry from the list: the failed post goes through.
  await page.getByRole('link', { name: 'Posts' }).first().click();
  const failedCard = page.locator(`[data-post-id="${thirdPost}"]`);
  await failedCard.getByRole('button', { name: 'Retry' }).click();
  await failedCard.getByTestId('published-link').waitFor({ timeout: TIMEOUT });
  log(`retried ${thirdPost}: published`);
  const cards = await page.locator('.posts > li').evaluateAll((els) => els.map((e) => e.dataset.postId));
  check(cards.length === 3 && cards[0] === thirdPost && cards[2] === firstPost, `newest first: ${cards}`);
  const statuses = await page.getByTestId('post-status').allTextContents();
  check(statuses.join(',') === 'Published,Rejected,Published', `the list's statuses: ${statuses}`);
  await shot('posts');

  // ---- A scheduled post (issue 15): "Publish at" is checked here and sent as RFC 3339 with this
  // browser's offset; the post says when; its time can be changed, and it can be cancelled. Its
  // video never reaches S3 (the upload is cut off here), so nothing can go to X whatever the time.
  const inPage = (fn, arg) => page.evaluate(fn, arg);
  const localInput = (ms) => inPage(async (ms) => (await import('/assets/schedule.js')).inputValue(new Date(ms)), ms);
  const shownTime = (value) => inPage((value) => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(value)), value);
  await newPost('Later today', GOOD_VIDEO);
  const publishAt = page.getByLabel('Publish at');
  await publishAt.fill(await localInput(Date.now() - 3600_000));
  await page.getByRole('button', { name: 'Post video' }).click();
  check(page.url().endsWith('#/new'), 'a time in the past is not sent');
  const timeProblem = await page.locator('#publish-at-problem').textContent();
  check(timeProblem.includes('at least a minute from now'), `the form says the time is too soon: ${timeProblem}`);
  const firstTime = await localInput(Date.now() + 2 * 3600_000);
  await publishAt.fill(firstTime);
  const cutUpload = (route) => (route.request().method() === 'POST' ? route.abort() : route.continue());
  const notConsole = (url) => !url.href.startsWith(CONSOLE_URL);
  await page.route(notConsole, cutUpload);
  const created = page.waitForResponse((r) => r.url().endsWith('/api/posts') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Post video' }).click();
  const createdResponse = await created;
  const sentAt = createdResponse.request().postDataJSON().scheduled_at;
  check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\+05:30$/.test(sentAt), `scheduled_at is sent with the browser's offset: ${sentAt}`);
  check(sentAt.startsWith(firstTime), `scheduled_at is the time chosen (${firstTime}): ${sentAt}`);
  check(createdResponse.status() === 201, `the scheduled post is created: ${createdResponse.status()}`);
  const scheduledPost = (await createdResponse.json()).post_id;
  await page.locator('form.compose .notice.error:not([hidden])').filter({ hasText: 'was not uploaded' }).waitFor();
  await page.unroute(notConsole, cutUpload);
  log(`scheduled ${scheduledPost} for ${sentAt}`);

  await page.getByRole('link', { name: 'Posts' }).first().click();
  const scheduledCard = page.locator(`[data-post-id="${scheduledPost}"]`);
  await scheduledCard.getByTestId('post-status').filter({ hasText: 'Scheduled' }).waitFor();
  let when = await scheduledCard.getByTestId('schedule').textContent();
  check(when.includes(`Scheduled for ${await shownTime(sentAt)}`), `the card says when, in local time: ${when}`);
  await scheduledCard.getByRole('button', { name: 'Change time' }).click();
  const secondTime = await localInput(Date.now() + 26 * 3600_000);
  await scheduledCard.getByLabel('Publish at').fill(secondTime);
  await scheduledCard.getByRole('button', { name: 'Save time' }).click();
  const secondShown = `Scheduled for ${await shownTime(secondTime)}`;
  await scheduledCard.getByTestId('schedule').filter({ hasText: secondShown }).waitFor();
  const stored = await inPage(async (id) => (await import('/assets/api.js')).api('GET', `/api/posts/${id}`), scheduledPost);
  const expected = await inPage((v) => new Date(v).toISOString().replace('.000Z', 'Z'), secondTime);
  check(stored.scheduled_at === expected && stored.status === 'scheduled', `the API holds the new time ${expected}: ${JSON.stringify(stored)}`);
  await shot('post-scheduled');
  log(`moved ${scheduledPost} to ${stored.scheduled_at}`);

  page.once('dialog', (dialog) => dialog.accept());
  await scheduledCard.getByRole('button', { name: 'Cancel post' }).click();
  await scheduledCard.getByTestId('post-status').filter({ hasText: 'Cancelled' }).waitFor();
  when = await scheduledCard.getByTestId('cancelled').textContent();
  check(when.includes('nothing was posted to X'), `the card says it was cancelled: ${when}`);
  check(await scheduledCard.getByRole('button', { name: 'Cancel post' }).count() === 0, 'a cancelled post offers no Cancel');
  check(await scheduledCard.getByRole('button', { name: 'Change time' }).count() === 0, 'nor a new time');
  log(`cancelled ${scheduledPost}`);

  check(consoleErrors.length === 0, `no errors in the page's console: ${consoleErrors.join(' | ')}`);
  console.log(`@@published ${firstPost} ${thirdPost}`);
  log('journey passed');
} catch (err) {
  console.error(`browser: ${err.stack || err}`);
  console.error(`browser: page URL ${page.url()}`);
  await page.screenshot({ path: join(SCREENSHOTS, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`browser: page text: ${(await page.locator('body').innerText().catch(() => '')).slice(0, 2000)}`);
  if (consoleErrors.length) console.error(`browser: page console errors: ${consoleErrors.join(' | ')}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit(process.exitCode ?? 0);
}
