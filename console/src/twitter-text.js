// The entry esbuild bundles into public/vendor/twitter-text.js (npm run build): the official
// twitter-text package as one browser ES module, exporting only what the console uses.
import twitterText from 'twitter-text';

export const parseTweet = (text) => twitterText.parseTweet(text);
export const configs = twitterText.configs;
