// Scheduled posts (issue 15): the "Publish at" time is the browser's local time, sent as RFC 3339
// with the browser's offset, and checked here against the API's range (shared/src/schedule.rs)
// so a time the API would refuse is named before anything is sent.

/// The API's range: at least a minute ahead, at most 14 days (X keeps an upload about 15 days).
export const MIN_AHEAD_MS = 60 * 1000;
export const MAX_AHEAD_MS = 14 * 24 * 60 * 60 * 1000;

const pad = (n) => String(n).padStart(2, '0');

/// A datetime-local input's value for `date`, in local time, to the minute.
export function inputValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/// The time a datetime-local input holds, or null when it is empty or unreadable. Its value has
/// no offset, which ECMAScript reads as local time.
export function inputDate(input) {
  if (!input.value) return null;
  const date = new Date(input.value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/// `date` as RFC 3339 with the browser's offset, e.g. `2026-12-01T10:30:00+01:00`.
export function rfc3339Local(date) {
  const offset = -date.getTimezoneOffset();
  const abs = Math.abs(offset);
  return `${inputValue(date)}:${pad(date.getSeconds())}${offset >= 0 ? '+' : '-'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/// Why `date` cannot be scheduled now, in plain words, or null when it can.
export function scheduleProblem(date, now = Date.now()) {
  if (!date) return 'Choose the date and time to publish at.';
  const ahead = date.getTime() - now;
  if (ahead < MIN_AHEAD_MS) return 'The publishing time must be at least a minute from now.';
  if (ahead > MAX_AHEAD_MS) return 'The publishing time can be at most 14 days from now: X keeps an uploaded video about 15 days.';
  return null;
}

/// Sets a datetime-local input's picker bounds to the range as of now.
export function bound(input, now = Date.now()) {
  input.min = inputValue(new Date(now + MIN_AHEAD_MS + 60 * 1000));
  input.max = inputValue(new Date(now + MAX_AHEAD_MS));
}

/// The browser's time zone, for the words beside a time input.
export function zoneName() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
}
