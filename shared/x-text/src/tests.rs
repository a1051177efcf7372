use serde_json::Value;

use crate::{parse_post, parse_with, weighted_length, ParsedPost, MAX_WEIGHTED_LENGTH, V2, V3};

/// X's published cases: twitter/twitter-text `conformance/validate.yml` (weighted-length
/// groups; upstream blob 15191d0bbff1f624d6e55926c53959c9153b23ff, last changed in commit
/// 65e7e00da383fb77f5ab7fe3c0dc26b724e14035), taken from the copy in crates.io
/// `twitter_text_conformance` 0.3.1 whose weighted groups are identical. See the file's
/// `source` field and `data/generate.js`.
const VALIDATE: &str = include_str!("../tests/data/validate_weighted.json");

/// Checks one conformance group with `cfg`; returns the number of cases run.
fn run_group(group: &str, cfg: &crate::Config) -> usize {
    let doc: Value = serde_json::from_str(VALIDATE).unwrap();
    let cases = doc["tests"][group].as_array().unwrap();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want = &case["expected"];
        let got = parse_with(text, cfg);
        let what = case["description"].as_str().unwrap();
        assert_eq!(
            got.post.weighted_length as u64,
            want["weightedLength"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(got.post.valid, want["valid"].as_bool().unwrap(), "{what}");
        assert_eq!(
            got.post.permillage as u64,
            want["permillage"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(
            got.valid_range_end,
            want["validRangeEnd"].as_i64().unwrap(),
            "{what}"
        );
        assert_eq!(
            got.display_range_end as u64,
            want["displayRangeEnd"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(want["validRangeStart"].as_u64(), Some(0));
        assert_eq!(want["displayRangeStart"].as_u64(), Some(0));
    }
    cases.len()
}

#[test]
fn conformance_v3_discounted_emoji() {
    assert_eq!(
        run_group("WeightedTweetsWithDiscountedEmojiCounterTest", &V3),
        22
    );
}

#[test]
fn conformance_v3_directional_markers() {
    assert_eq!(run_group("UnicodeDirectionalMarkerCounterTest", &V3), 2);
}

#[test]
fn conformance_v2_weighted() {
    // The reference runners use the v2 config (no emoji discount) for this group.
    assert_eq!(run_group("WeightedTweetsCounterTest", &V2), 20);
}

/// 3,538 seeded posts (URL forms, scripts, emoji, bidi and invalid characters) and the
/// reference JS's answers; see `data/golden.js`.
#[test]
fn golden_corpus_matches_reference_js() {
    let n = check_golden(include_str!("../tests/data/golden.json"));
    assert!(n > 3000);
}

/// Differential check against any file in `golden.json`'s format, e.g. a bigger corpus made
/// with `data/golden.js`: `X_TEXT_GOLDEN=path cargo test -p x-text -- --ignored`.
#[test]
#[ignore = "needs X_TEXT_GOLDEN"]
fn external_golden_file() {
    let path = std::env::var("X_TEXT_GOLDEN").expect("X_TEXT_GOLDEN");
    check_golden(&std::fs::read_to_string(path).unwrap());
}

fn check_golden(json: &str) -> usize {
    let doc: Value = serde_json::from_str(json).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    for case in cases {
        let text = case[0].as_str().unwrap();
        let got = parse_with(text, &V3);
        let want = (
            case[1].as_u64().unwrap() as usize,
            case[2].as_bool().unwrap(),
            case[3].as_u64().unwrap() as usize,
            case[4].as_i64().unwrap(),
            case[5].as_u64().unwrap() as usize,
        );
        let have = (
            got.post.weighted_length,
            got.post.valid,
            got.post.permillage,
            got.valid_range_end,
            got.display_range_end,
        );
        if have != want {
            failures.push(format!("{text:?}: got {have:?}, want {want:?}"));
        }
    }
    let shown = failures
        .iter()
        .take(40)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{shown}",
        failures.len(),
        cases.len()
    );
    cases.len()
}

fn len(text: &str) -> usize {
    weighted_length(text)
}

#[test]
fn urls_with_and_without_scheme() {
    assert_eq!(len("example.com"), 23);
    assert_eq!(len("www.example.com"), 23);
    assert_eq!(len("EXAMPLE.COM/Path"), 23);
    assert_eq!(len("http://example.com"), 23);
    assert_eq!(
        len("https://example.com/a/very/long/path?with=query&and=more#fragment"),
        23
    );
    assert_eq!(len("en.wikipedia.org/wiki/Foo_(bar)"), 23);
    assert_eq!(
        len("see example.com and https://example.org/x"),
        4 + 23 + 5 + 23
    );
    // Not a scheme: `ftp://` is counted as text and a host after `/` is not linked.
    assert_eq!(len("ftp://example.com"), 17);
    // The TLD must not run into letters.
    assert_eq!(len("foo.barRT"), 9);
    assert_eq!(len("example.community"), 23);
}

#[test]
fn url_trailing_punctuation_is_text() {
    assert_eq!(len("example.com."), 24);
    assert_eq!(len("(example.com)"), 25);
    assert_eq!(len("http://example.com/path."), 24);
    assert_eq!(len("https://example.com/foo!?"), 25);
}

#[test]
fn tco_urls() {
    assert_eq!(len("t.co/abc123"), 23);
    assert_eq!(len("https://t.co/abc123"), 23);
    // A t.co link takes no extra path...
    assert_eq!(len("https://t.co/abc123/extra"), 23 + 6);
    // ...and a slug over 40 characters makes it no URL at all.
    let long = format!("https://t.co/{}", "a".repeat(41));
    assert_eq!(len(&long), long.len());
}

#[test]
fn ip_hosts_and_bad_hosts_are_not_urls() {
    assert_eq!(len("http://192.168.0.1/"), 19);
    assert_eq!(len("192.168.0.1"), 11);
    let long_label = format!("http://{}.com", "a".repeat(64));
    assert_eq!(len(&long_label), long_label.len());
    assert_eq!(len(&format!("http://{}.com", "a".repeat(63))), 23);
    // 30 distinct CJK characters punycode to more than 63 (reference: 69); 19 fit.
    assert_eq!(
        len("http://故人西辞黄鹤楼烟花三月下扬州孤帆远影碧空尽唯见长江天际流.com/x"),
        69
    );
    assert_eq!(len("http://故人西辞黄鹤楼烟花三月下扬州孤帆远影.com/x"), 23);
    assert_eq!(len("http://☃.net/"), 23);
}

#[test]
fn preceding_characters() {
    assert_eq!(len("@example.com"), 12);
    assert_eq!(len("#example.com"), 12);
    assert_eq!(len("$example.com"), 12);
    assert_eq!(len("xexample.com"), 23); // the domain just starts at `x`
    assert_eq!(len("-example.com"), 12); // no scheme: `-`, `_`, `.`, `/` disqualify
    assert_eq!(len("-https://example.com"), 24);
    assert_eq!(len("a example.com"), 25);
}

#[test]
fn cjk_weighs_two() {
    assert_eq!(len("中文"), 4);
    assert_eq!(len("日本語です"), 10);
    assert_eq!(len("한국어"), 6);
    assert_eq!(len("a中"), 3);
    assert_eq!(len(&"の".repeat(140)), 280);
    assert!(!parse_post(&"の".repeat(141)).valid);
}

#[test]
fn emoji_count_two_each() {
    assert_eq!(len("😀"), 2);
    assert_eq!(len("👍🏽"), 2); // skin tone
    assert_eq!(len("👨‍👩‍👧‍👦"), 2); // ZWJ family
    assert_eq!(len("🏳️‍🌈"), 2);
    assert_eq!(len("🇺🇸"), 2);
    assert_eq!(len("🇺🇸🇬🇧"), 4);
    assert_eq!(len("1️⃣"), 2);
    assert_eq!(len("1⃣"), 2);
    assert_eq!(len("❤️"), 2);
    // Bare text-default symbols keep their range weight.
    assert_eq!(len("©"), 1);
    assert_eq!(len("Copyright © 2026"), 16);
    assert_eq!(len("©️"), 2);
    assert_eq!(len(&"👨‍👩‍👧‍👦".repeat(140)), 280);
    assert!(parse_post(&"👨‍👩‍👧‍👦".repeat(140)).valid);
}

#[test]
fn nfc_first() {
    assert_eq!(len("e\u{301}"), 1);
    assert_eq!(len("café"), len("cafe\u{301}"));
}

#[test]
fn empty_and_invalid() {
    assert_eq!(
        parse_post(""),
        ParsedPost {
            weighted_length: 0,
            valid: false,
            permillage: 0
        }
    );
    assert!(parse_post(" ").valid);
    for bad in ['\u{FFFE}', '\u{FEFF}', '\u{FFFF}'] {
        let post = parse_post(&format!("ok{bad}"));
        assert!(!post.valid);
        assert_eq!(post.weighted_length, 4);
    }
}

#[test]
fn limit_and_very_long_text() {
    let max = "a".repeat(MAX_WEIGHTED_LENGTH);
    assert_eq!(
        parse_post(&max),
        ParsedPost {
            weighted_length: 280,
            valid: true,
            permillage: 1000
        }
    );
    let over = parse_post(&"a".repeat(MAX_WEIGHTED_LENGTH + 1));
    assert!(!over.valid);
    assert_eq!(over.permillage, 1003);
    let huge = "ab 中 😀 example.com/x ".repeat(20_000);
    let post = parse_post(&huge);
    assert_eq!(
        post.weighted_length,
        20_000 * (2 + 1 + 2 + 1 + 2 + 1 + 23 + 1)
    );
    assert!(!post.valid);
}

/// No panics on arbitrary input: seeded random strings from a pool that stresses the
/// matchers (URL pieces, surrogate-range emoji, combining marks, variation selectors).
#[test]
fn random_input_never_panics() {
    let pool: Vec<char> = "aZ09.:/?#@$-_()[]~ \n\u{301}\u{FE0F}\u{FE0E}\u{200D}\u{20E3}©中é☃😀👨🏽🇺🇸\u{E0067}\u{FFFE}\u{202E}。ſ\u{212A}".chars().collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let n = (next() % 60) as usize;
        let mut s: String = (0..n)
            .map(|_| pool[(next() % pool.len() as u64) as usize])
            .collect();
        if next() % 4 == 0 {
            s.push_str(".com");
        }
        if next() % 8 == 0 {
            // Any scalar value at all.
            s.extend((0..8).filter_map(|_| char::from_u32((next() % 0x11_0000) as u32)));
        }
        let post = parse_post(&s);
        assert!(post.weighted_length <= 2 * s.chars().count() + 23 * s.len());
    }
}
