//! Port of twitter-text 3.1.0's `extractUrlsWithIndices` (JS) and its regexes.
//!
//! The reference regex is case-insensitive; we match against an ASCII-lowercased copy (same
//! byte offsets) with lowercase patterns instead, so `ſ` or the Kelvin sign don't fold into
//! ASCII as they would under Rust's Unicode `(?i)` (JS's non-Unicode `i` doesn't fold them).
//! Non-ASCII TLDs get `(?i:...)` so `РФ` still matches `рф` as in JS.
//!
//! Rust's `regex` has no lookahead. The reference's TLD lookahead `(?=[^0-9a-zA-Z@+-]|$)` is
//! emulated by consuming that character into the `la` group and ending the domain before it;
//! port, path and query are then matched from the domain's end in a second pass. This is
//! equivalent because that tail is all-optional, so it never makes the reference backtrack
//! into the domain.

use std::sync::LazyLock;

use regex::Regex;

use crate::generated::{CCTLDS, GTLDS};
use crate::{Entity, Utf16Index};

const MAX_URL_LENGTH: usize = 4096;
const MAX_TCO_SLUG_LENGTH: usize = 40;
const MAX_DOMAIN_LABEL_LENGTH: usize = 63;
const DEFAULT_PROTOCOL: &str = "https://";

/// `validUrlPrecedingChars`.
const PRECEDING: &str = r"(?:[^A-Za-z0-9@＠$\#＃\x{FFFE}\x{FEFF}\x{FFFF}]|[\x{202A}-\x{202E}\x{061C}\x{200E}\x{200F}\x{2066}\x{2067}\x{2068}\x{2069}]|^)";
/// `validDomainChars`: not punctuation, space, invalid or directional.
const DOMAIN_CHAR: &str = r"[^/!'\#%&()*+,\\\-./:;<=>?@\[\]\^_{|}~$\x{09}-\x{0D}\x{20}\x{85}\x{A0}\x{1680}\x{180E}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FFFE}\x{FEFF}\x{FFFF}\x{202A}-\x{202E}\x{061C}\x{200E}\x{200F}\x{2066}\x{2067}\x{2068}\x{2069}]";
/// `latinAccentChars`.
const LATIN: &str = r"\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{FF}\x{100}-\x{24F}\x{253}\x{254}\x{256}\x{257}\x{259}\x{25B}\x{263}\x{268}\x{26F}\x{272}\x{289}\x{28B}\x{2BB}\x{300}-\x{36F}\x{1E00}-\x{1EFF}";
/// `validUrlQueryChars` and `validUrlQueryEndingChars`.
const QUERY: &str = r"\?[a-z0-9!?*'@();:&=+$/%\#\[\]\-_.,~|]*[a-z0-9\-_&=\#/]";
/// The TLD lookahead's class.
const AFTER_TLD: &str = r"[^0-9a-zA-Z@+\-]";
const PUNYCODE_TLD: &str = r"xn--[\-0-9a-z]+";

fn tld_alternation() -> String {
    GTLDS
        .iter()
        .chain(CCTLDS)
        .map(|tld| {
            let escaped = regex::escape(tld);
            if tld.is_ascii() {
                escaped
            } else {
                format!("(?i:{escaped})")
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// `extractUrl` up to the end of the domain (groups: before, proto, domain, la).
static URL_HEAD: LazyLock<Regex> = LazyLock::new(|| {
    let d = DOMAIN_CHAR;
    let subdomain = format!(r"(?:(?:{d}(?:[_\-]|{d})*)?{d}\.)");
    let domain_name = format!(r"(?:(?:{d}(?:-|{d})*)?{d}\.)");
    let tlds = tld_alternation();
    let pattern = format!(
        r"(?P<before>{PRECEDING})(?P<proto>https?://)?(?P<domain>{subdomain}*{domain_name}(?:(?:{tlds})(?P<la>{AFTER_TLD}|$)|{PUNYCODE_TLD}))"
    );
    Regex::new(&pattern).expect("URL pattern compiles")
});

/// `extractUrl` after the domain: port, path and query (groups: path).
static URL_TAIL: LazyLock<Regex> = LazyLock::new(|| {
    let general = format!(r"[a-z\x{{400}}-\x{{4FF}}0-9!*';:=+,.$/%\#\[\]\-\x{{2013}}_~@|&{LATIN}]");
    let balanced = format!(r"\((?:{general}+|(?:{general}*\({general}+\){general}*))\)");
    let ending = format!(r"[+\-a-z\x{{400}}-\x{{4FF}}0-9=_\#/{LATIN}]|(?:{balanced})");
    let path = format!(r"(?:(?:{general}*(?:{balanced}{general}*)*{ending})|(?:@{general}+/))");
    let pattern = format!(r"^(?::[0-9]+)?(?P<path>/{path}*)?(?:{QUERY})?");
    Regex::new(&pattern).expect("URL tail pattern compiles")
});

/// `validAsciiDomain` (groups: la).
static ASCII_DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    let tlds = tld_alternation();
    let pattern =
        format!(r"(?:[\-a-z0-9{LATIN}]+\.)+(?:(?:{tlds})(?P<la>{AFTER_TLD}|$)|{PUNYCODE_TLD})");
    Regex::new(&pattern).expect("ASCII domain pattern compiles")
});

/// `validTcoUrl` (groups: 1 = slug).
static TCO_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^https?://t\.co/([a-z0-9]+)(?:{QUERY})?")).expect("t.co pattern compiles")
});

/// A match of a pattern whose TLD lookahead was consumed into `la`: its real end.
fn end_before_lookahead(caps: &regex::Captures<'_>) -> usize {
    caps.name("la")
        .map_or_else(|| caps.get(0).expect("group 0").end(), |la| la.start())
}

fn len16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// URL entities in `text` (already NFC): UTF-16 start and the UTF-16 length the reference
/// skips (`url.length`).
pub(crate) fn extract(text: &str, index: &Utf16Index) -> Vec<Entity> {
    let mut urls = Vec::new();
    if !text.contains('.') {
        return urls;
    }
    let lower = text.to_ascii_lowercase();
    let mut pos = 0;
    while let Some(head) = URL_HEAD.captures_at(&lower, pos) {
        let before = head.name("before").map_or("", |m| m.as_str());
        let proto = head.name("proto");
        let domain_start = head.name("domain").expect("domain group").start();
        let domain_end = end_before_lookahead(&head);
        let tail = URL_TAIL
            .captures(&lower[domain_end..])
            .expect("the URL tail pattern matches the empty string");
        let url_start = proto.map_or(domain_start, |p| p.start());
        let url_end = domain_end + tail.get(0).expect("group 0").end();
        let has_path = tail.name("path").is_some();
        // The reference resumes after the whole match, even when it rejects it.
        pos = url_end;

        let url = &text[url_start..url_end];
        let domain = &text[domain_start..domain_end];
        let protocol = proto.map_or(DEFAULT_PROTOCOL, |p| p.as_str());
        if !is_valid_url(url, protocol, domain, &lower[domain_start..domain_end]) {
            continue;
        }
        let start16 = index.at(url_start);
        if proto.is_none() {
            if before.ends_with(['-', '_', '.', '/']) {
                continue;
            }
            // Only the ASCII-only domains inside count, each as its own URL.
            let lower_domain = &lower[domain_start..domain_end];
            let mut last: Option<(usize, usize)> = None;
            let mut search = 0;
            let mut ascii_end = 0;
            while let Some(caps) = ASCII_DOMAIN.captures_at(lower_domain, search) {
                let m_start = caps.get(0).expect("group 0").start();
                let m_end = end_before_lookahead(&caps);
                search = m_end;
                // `domain.indexOf(asciiDomain, asciiEndPosition)`.
                let found = &domain[m_start..m_end];
                let at = domain[ascii_end..]
                    .find(found)
                    .map_or(m_start, |i| i + ascii_end);
                ascii_end = at + found.len();
                last = Some((at, ascii_end));
                urls.push((start16 + len16(&domain[..at]), len16(found)));
            }
            let Some((at, end)) = last else { continue };
            if has_path {
                // `url.replace(domain, asciiDomain)`: the skip length is the shortened URL's.
                let len = len16(url) - len16(domain) + len16(&domain[at..end]);
                if let Some(entry) = urls.last_mut() {
                    entry.1 = len;
                }
            }
        } else {
            let mut url_len = len16(url);
            if let Some(tco) = TCO_URL.captures(&lower[url_start..url_end]) {
                if tco.get(1).expect("slug").len() > MAX_TCO_SLUG_LENGTH {
                    continue;
                }
                url_len = tco.get(0).expect("group 0").len();
            }
            urls.push((start16, url_len));
        }
    }
    urls
}

/// `isValidUrl`: the host must pass `idna.toAscii` and the URL must fit 4096 units.
fn is_valid_url(url: &str, protocol: &str, domain: &str, lower_domain: &str) -> bool {
    // lib/idna.js returns the domain unchanged when valid, so only the check matters.
    if !idna_labels_valid(domain, lower_domain) {
        return false;
    }
    len16(protocol) + len16(url) <= MAX_URL_LENGTH
}

/// twitter-text's `lib/idna.js` `toAscii` validity.
fn idna_labels_valid(domain: &str, lower_domain: &str) -> bool {
    if domain.starts_with("xn--") && !ASCII_DOMAIN.is_match(lower_domain) {
        return false;
    }
    domain.split('.').all(|label| {
        punycode_to_ascii_len(label).is_some_and(|len| (1..=MAX_DOMAIN_LABEL_LENGTH).contains(&len))
    })
}

/// Length of punycode.js 1.4.1 `toASCII(label)`: it also splits on the ideographic and
/// fullwidth full stops, and encodes each part holding anything outside U+0020..U+007E.
/// `None` where punycode.js would throw (overflow).
fn punycode_to_ascii_len(label: &str) -> Option<usize> {
    let mut total = 0;
    for (i, part) in label
        .split(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'])
        .enumerate()
    {
        total += usize::from(i > 0);
        if part.chars().all(|c| (' '..='~').contains(&c)) {
            total += part.len();
        } else {
            total += "xn--".len() + idna::punycode::encode_str(part)?.len();
        }
    }
    Some(total)
}
