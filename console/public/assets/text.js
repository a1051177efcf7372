// X's weighted character count, with the official twitter-text package (bundled into
// /vendor/twitter-text.js by `npm run build`; the same rules as the API's shared/x-text, checked
// by tests/text-agreement.mjs). Loaded lazily so a missing bundle is a clear message, not a
// blank page.

export const MAX_WEIGHTED_LENGTH = 280;

let loaded;
export function loadCounter() {
  loaded ??= import('/vendor/twitter-text.js').then(
    (module) => module.parseTweet,
    () => null,
  );
  return loaded;
}
