//! X's weighted post length, counted exactly like twitter-text 3.1.0's JS `parseTweet` with
//! the v3 configuration (280 max, scale 100, default weight 200, four weight-100 ranges,
//! every URL 23, every emoji sequence 2, NFC first).
//!
//! Why our own code: see `shared/research/tweet-length.md` (the twitter-text crates panic or
//! miscount). The rules here mirror the reference JS (npm twitter-text@3.1.0):
//! `parseTweet.js`, `extractUrlsWithIndices.js`, `lib/idna.js` and the `regexp/` files, and
//! the emoji parser it uses (npm twemoji-parser@11.0.2). Indices are UTF-16 code units as in
//! JS, so the reference's quirks (such as how far a scheme-less URL skips) carry over.
//!
//! Emoji: we port twemoji-parser's own regex (see `generated.rs`) rather than use a crate
//! such as `emojis` or `unic-emoji-char`: those follow newer or older Unicode data and
//! count differently from the reference (bare ©/®, post-2019 ZWJ sequences, flag pairs).
//!
//! Known divergences from the reference, all deliberate or unreachable in practice:
//! - Emoji newer than twemoji-parser 11.0.2's data (🫠, 🧑‍💻, 🐦‍🔥, ...) are weighed by their
//!   parts, exactly as the reference does; X's live counter may have newer data.
//! - A whitespace-only post is valid with length ≥ 1, as in the JS reference; the Java
//!   reference (and probably X's server) rejects it, so callers may want to trim first.
//! - Where punycode.js would throw (overflow on an absurdly long IDN label) the reference
//!   `parseTweet` throws; here that host simply isn't a URL.
//!
//! Cost: a few µs per ordinary post after a one-off ~10 ms regex build (release). Matching
//! is linear, but a pathological 100 KB input can take ~0.5 s, so cap input size first.

mod generated;
mod urls;

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// X's limit on a post's weighted length.
pub const MAX_WEIGHTED_LENGTH: usize = 280;

/// The result of [`parse_post`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedPost {
    /// X's `weightedLength`.
    pub weighted_length: usize,
    /// `0 < weighted_length <= 280` and no U+FFFE, U+FEFF or U+FFFF.
    pub valid: bool,
    /// `floor(weighted_length / 280 * 1000)`, as the reference computes it.
    pub permillage: usize,
}

/// X's `weightedLength` of `text`.
pub fn weighted_length(text: &str) -> usize {
    parse_post(text).weighted_length
}

/// Parses `text` like twitter-text's `parseTweet` with the v3 configuration.
pub fn parse_post(text: &str) -> ParsedPost {
    parse_with(text, &V3).post
}

/// A twitter-text configuration (`config/v2.json`, `config/v3.json`).
pub(crate) struct Config {
    max_weighted_length: usize,
    scale: u64,
    default_weight: u64,
    transformed_url_length: u64,
    /// Inclusive UTF-16 code unit ranges and their weights.
    ranges: &'static [(u32, u32, u64)],
    emoji_parsing: bool,
}

const RANGES: &[(u32, u32, u64)] = &[
    (0, 4351, 100),
    (8192, 8205, 100),
    (8208, 8223, 100),
    (8242, 8247, 100),
];

pub(crate) const V3: Config = Config {
    max_weighted_length: MAX_WEIGHTED_LENGTH,
    scale: 100,
    default_weight: 200,
    transformed_url_length: 23,
    ranges: RANGES,
    emoji_parsing: true,
};

/// v2: as v3 but emoji are weighed per code point. Used to run the v2 conformance cases.
#[cfg(test)]
pub(crate) const V2: Config = Config {
    emoji_parsing: false,
    ..V3
};

/// Everything `parseTweet` returns; the range fields are only checked by tests.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) post: ParsedPost,
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) valid_range_end: i64,
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) display_range_end: usize,
}

/// An entity found in the normalised text: start and length in UTF-16 code units.
pub(crate) type Entity = (usize, usize);

pub(crate) fn parse_with(text: &str, cfg: &Config) -> Parsed {
    let normalized: String = text.nfc().collect();
    let units: Vec<u16> = normalized.encode_utf16().collect();
    let index = Utf16Index::new(&normalized);

    // Like the reference, later entities with the same start replace earlier ones.
    let mut url_at = std::collections::HashMap::new();
    for (start, len) in urls::extract(&normalized, &index) {
        url_at.insert(start, len);
    }
    let mut emoji_at = std::collections::HashMap::new();
    if cfg.emoji_parsing {
        for (start, len) in extract_emoji(&normalized, &index) {
            emoji_at.insert(start, len);
        }
    }

    let max_scaled = cfg.max_weighted_length as u64 * cfg.scale;
    let mut weighted: u64 = 0;
    let mut valid_display_index = 0usize;
    let mut valid = true;
    let mut i = 0usize;
    while i < units.len() {
        if let Some(&len) = url_at.get(&i) {
            weighted += cfg.transformed_url_length * cfg.scale;
            i += len - 1;
        } else if let Some(&len) = emoji_at.get(&i) {
            weighted += cfg.default_weight;
            i += len - 1;
        } else {
            if is_surrogate_pair(&units, i) {
                i += 1;
            }
            weighted += char_weight(units[i], cfg);
        }
        // The reference tests only the last code unit of each step.
        if valid {
            valid = !matches!(units.get(i), Some(0xFFFE | 0xFEFF | 0xFFFF));
        }
        if valid && weighted <= max_scaled {
            valid_display_index = i;
        }
        i += 1;
    }

    let weighted_length = (weighted / cfg.scale) as usize;
    let valid = valid && weighted_length > 0 && weighted_length <= cfg.max_weighted_length;
    // JS: Math.floor((weightedLength / maxWeightedTweetLength) * 1000), in doubles.
    let permillage =
        ((weighted_length as f64 / cfg.max_weighted_length as f64) * 1000.0).floor() as usize;
    let original_len = text.encode_utf16().count();
    let offset = original_len as i64 - units.len() as i64;
    Parsed {
        post: ParsedPost {
            weighted_length,
            valid,
            permillage,
        },
        valid_range_end: valid_display_index as i64 + offset,
        display_range_end: original_len.saturating_sub(1),
    }
}

fn is_surrogate_pair(units: &[u16], i: usize) -> bool {
    i + 1 < units.len()
        && (0xD800..=0xDBFF).contains(&units[i])
        && (0xDC00..=0xDFFF).contains(&units[i + 1])
}

fn char_weight(unit: u16, cfg: &Config) -> u64 {
    let unit = u32::from(unit);
    cfg.ranges
        .iter()
        .find(|(start, end, _)| (*start..=*end).contains(&unit))
        .map_or(cfg.default_weight, |r| r.2)
}

/// Maps byte offsets of a `str` to UTF-16 offsets.
pub(crate) struct Utf16Index(Vec<usize>);

impl Utf16Index {
    fn new(s: &str) -> Self {
        let mut map = vec![0; s.len() + 1];
        let mut units = 0;
        for (byte, ch) in s.char_indices() {
            map[byte] = units;
            units += ch.len_utf16();
        }
        map[s.len()] = units;
        Utf16Index(map)
    }

    /// UTF-16 offset of byte offset `byte`, which must be a char boundary.
    pub(crate) fn at(&self, byte: usize) -> usize {
        self.0[byte]
    }
}

static EMOJI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(generated::EMOJI_PATTERN).expect("emoji pattern compiles"));

/// twemoji-parser's `parse`: every emoji match, scanning left to right.
fn extract_emoji(text: &str, index: &Utf16Index) -> Vec<Entity> {
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(caps) = EMOJI.captures_at(text, pos) {
        let m = caps.get(0).expect("group 0 always matches");
        // Emulates `(?!\ufe0e)`: no other alternative can match at this start, so move on.
        let lookahead_fails = ["nofe0e0", "nofe0e1"]
            .iter()
            .filter_map(|name| caps.name(name))
            .any(|g| text[g.end()..].starts_with('\u{FE0E}'));
        if lookahead_fails {
            pos = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let start = index.at(m.start());
        found.push((start, index.at(m.end()) - start));
        pos = m.end();
    }
    found
}

#[cfg(test)]
mod tests;
