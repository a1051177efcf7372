// Checks that the twitter-text the console runs in the browser (public/vendor/twitter-text.js,
// the official npm package bundled by `npm run build`) counts posts exactly as the API's
// shared/x-text does.
//
// Usage: node tests/text-agreement.mjs <cases.json>
// where cases.json is [{"text", "weighted_length", "valid"}], x-text's answers for each text
// (written by shared/http-api/tests/text_agreement.rs from x-text's golden corpus). Exits 1 and
// lists the differences when any text is counted differently, 2 when it cannot run.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [casesPath] = process.argv.slice(2);
if (!casesPath) {
  console.error('usage: node tests/text-agreement.mjs <cases.json>');
  process.exit(2);
}
const bundle = fileURLToPath(new URL('../public/vendor/twitter-text.js', import.meta.url));
let parseTweet;
try {
  ({ parseTweet } = await import(bundle));
} catch (err) {
  console.error(`cannot load ${bundle} (run make setup): ${err.message}`);
  process.exit(2);
}

const cases = JSON.parse(readFileSync(casesPath, 'utf8'));
if (!Array.isArray(cases) || cases.length === 0) {
  console.error('no cases to compare');
  process.exit(2);
}
const differences = [];
for (const c of cases) {
  const js = parseTweet(c.text);
  if (js.weightedLength !== c.weighted_length || js.valid !== c.valid) {
    differences.push(`${JSON.stringify(c.text)}: twitter-text ${js.weightedLength}/${js.valid}, x-text ${c.weighted_length}/${c.valid}`);
  }
}
if (differences.length) {
  console.error(`${differences.length} of ${cases.length} texts are counted differently:`);
  for (const d of differences.slice(0, 40)) console.error(`  ${d}`);
  process.exit(1);
}
console.log(`${cases.length} texts: twitter-text (browser bundle) and x-text agree on weighted length and validity`);
