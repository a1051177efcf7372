//! How Reelay classifies X's answers, in one place, so the upload engine and the token provider
//! decide retries from one enum rather than from status codes scattered around.
//!
//! X answers errors in several shapes (research/x-api.md §7): v2 problem JSON
//! (`type`, `title`, `detail`, sometimes `errors[]`), v1.1-style `{"errors":[{code,message}]}`,
//! a bare `{code, message}`, and OAuth's `{error, error_description}`. Bodies are parsed leniently:
//! whatever carries X's own words becomes `detail`; a body we cannot read still gives a status.

use std::time::Duration;

use thiserror::Error;

/// Why X answered 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenKind {
    /// The token lacks a scope (e.g. tokens issued before `media.write`, research §1) or the
    /// access level (v1.1 code 453, §7). Only a new consent can fix it.
    MissingScope,
    /// "You are not allowed to create a Tweet with duplicate content." (§5): permanent.
    Duplicate,
    Other,
}

#[derive(Debug, Error)]
pub enum XError {
    /// 429. `reset_at_epoch` is X's `x-rate-limit-reset` (epoch seconds) when it sent one.
    #[error("X rate limit reached: {detail}")]
    RateLimited {
        reset_at_epoch: Option<u64>,
        detail: String,
    },
    /// 401: the access token is expired, revoked or unknown (§7): refresh once.
    #[error("X refused the access token: {detail}")]
    Unauthorized { detail: String },
    #[error("X forbade the request: {detail}")]
    Forbidden { detail: String, kind: ForbiddenKind },
    /// X does not know the media id (never had it, or it expired): the problem type
    /// `resource-not-found` for a media resource, as X answers unknown media ids (OAS problem
    /// types; Reelay's emulator plays it), or "Your media IDs are invalid." when a post names
    /// such media (v1.1 code 324, §7). Only a new upload can help.
    #[error("X does not know the media: {detail}")]
    MediaGone { status: u16, detail: String },
    /// Any other 4xx: the request itself is wrong or refers to something gone; permanent.
    #[error("X rejected the request ({status}): {detail}")]
    Rejected { status: u16, detail: String },
    /// 5xx: X's side; retry with backoff (§7: 500/502/503/504 are retryable).
    #[error("X failed ({status}): {detail}")]
    ServerError { status: u16, detail: String },
    /// No complete answer: connect error, reset, timeout, truncated body. Retryable. `detail`
    /// never contains a URL (reqwest's message is taken without it).
    #[error("could not reach X: {detail}")]
    Transport { detail: String, timed_out: bool },
    /// A 2xx whose body is not the documented shape.
    #[error("X answered {status} with a body Reelay cannot read: {detail}")]
    UnexpectedBody { status: u16, detail: String },
}

impl XError {
    /// Whether sending the same request again later can succeed. `Unauthorized` is not: the
    /// caller must refresh the token first (`TokenSource::refresh_after_unauthorized`).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            XError::RateLimited { .. } | XError::ServerError { .. } | XError::Transport { .. }
        )
    }

    /// A stable snake_case code, recorded on jobs and shown to clients.
    pub fn code(&self) -> &'static str {
        match self {
            XError::RateLimited { .. } => "x_rate_limited",
            XError::Unauthorized { .. } => "x_unauthorized",
            XError::Forbidden {
                kind: ForbiddenKind::MissingScope,
                ..
            } => "x_missing_scope",
            XError::Forbidden {
                kind: ForbiddenKind::Duplicate,
                ..
            } => "x_duplicate_post",
            XError::Forbidden { .. } => "x_forbidden",
            XError::MediaGone { .. } => "x_media_gone",
            XError::Rejected { .. } => "x_rejected",
            XError::ServerError { .. } => "x_server_error",
            XError::Transport {
                timed_out: true, ..
            } => "x_timeout",
            XError::Transport { .. } => "x_unreachable",
            XError::UnexpectedBody { .. } => "x_unexpected_body",
        }
    }

    /// X's own words about the failure.
    pub fn detail(&self) -> &str {
        match self {
            XError::RateLimited { detail, .. }
            | XError::Unauthorized { detail }
            | XError::Forbidden { detail, .. }
            | XError::Rejected { detail, .. }
            | XError::MediaGone { detail, .. }
            | XError::ServerError { detail, .. }
            | XError::Transport { detail, .. }
            | XError::UnexpectedBody { detail, .. } => detail,
        }
    }

    /// For a 429: how long from `now_epoch` until X's window resets, if X said.
    pub fn retry_after(&self, now_epoch: u64) -> Option<Duration> {
        match self {
            XError::RateLimited {
                reset_at_epoch: Some(reset),
                ..
            } => Some(Duration::from_secs(reset.saturating_sub(now_epoch))),
            _ => None,
        }
    }

    /// A failed send or body read. reqwest's `Display` includes the URL; it is dropped here.
    pub(crate) fn transport(err: reqwest::Error) -> Self {
        let timed_out = err.is_timeout();
        let kind = if timed_out {
            "timed out"
        } else if err.is_connect() {
            "connection failed"
        } else if err.is_body() || err.is_decode() {
            "the answer was cut off"
        } else {
            "the request failed"
        };
        let cause = std::error::Error::source(&err)
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        XError::Transport {
            detail: format!("{kind}{cause}"),
            timed_out,
        }
    }
}

/// The most useful text in an X error body (§7), bounded so a huge body cannot flood a log.
pub fn error_detail(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let s = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
    };
    let first_error = value
        .get("errors")
        .and_then(|e| e.as_array())
        .and_then(|e| e.first())
        .and_then(|e| s(e, "message"));
    let detail = s(&value, "detail");
    let text = match (detail, first_error) {
        // X's generic invalid-request `detail` says less than the first error's message (§3a,
        // PLH#591): keep both.
        (Some(d), Some(m)) if d != m => Some(format!("{d} {m}")),
        (Some(d), _) => Some(d),
        (None, Some(m)) => Some(m),
        (None, None) => s(&value, "error_description")
            .or_else(|| s(&value, "message"))
            .or_else(|| s(&value, "title"))
            .or_else(|| s(&value, "error")),
    }?;
    Some(bounded(&text))
}

fn bounded(text: &str) -> String {
    const MAX: usize = 500;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// v1.1 error codes in `errors[].code` (§7).
fn legacy_codes(body: &[u8]) -> Vec<i64> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errors").and_then(|e| e.as_array()).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.get("code").and_then(|c| c.as_i64()))
        .collect()
}

fn forbidden_kind(body: &[u8], detail: &str) -> ForbiddenKind {
    let codes = legacy_codes(body);
    let lower = detail.to_ascii_lowercase();
    let problem_type = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default();
    // Duplicate content (§5: about:blank body with this detail; v1.1 code 187).
    if codes.contains(&187) || lower.contains("duplicate content") {
        ForbiddenKind::Duplicate
    // Scope or access level: the client-forbidden problem type, a detail naming a scope, or
    // v1.1 code 453 "access level" (§7).
    } else if codes.contains(&453)
        || problem_type.ends_with("/client-forbidden")
        || lower.contains("scope")
        || lower.contains("access level")
    {
        ForbiddenKind::MissingScope
    } else {
        ForbiddenKind::Other
    }
}

/// Whether a 4xx says the media id is unknown or expired (see `XError::MediaGone`).
fn media_gone(body: &[u8], detail: &str) -> bool {
    let value = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let problems = std::iter::once(&value).chain(
        value
            .get("errors")
            .and_then(|e| e.as_array())
            .into_iter()
            .flatten(),
    );
    let not_found_media = problems.into_iter().any(|p| {
        let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        field("type").ends_with("/resource-not-found") && field("resource_type") == "media"
    });
    not_found_media
        || legacy_codes(body).contains(&324)
        || detail
            .to_ascii_lowercase()
            .contains("media ids are invalid")
}

/// `x-rate-limit-reset`: epoch seconds when the window resets (§6).
pub fn rate_limit_reset(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get("x-rate-limit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Classifies a non-2xx answer.
pub fn classify(status: u16, headers: &http::HeaderMap, body: &[u8]) -> XError {
    let detail = error_detail(body).unwrap_or_else(|| {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no error text")
            .to_owned()
    });
    match status {
        429 => XError::RateLimited {
            reset_at_epoch: rate_limit_reset(headers),
            detail,
        },
        401 => XError::Unauthorized { detail },
        403 => XError::Forbidden {
            kind: forbidden_kind(body, &detail),
            detail,
        },
        500..=599 => XError::ServerError { status, detail },
        400..=499 if media_gone(body, &detail) => XError::MediaGone { status, detail },
        _ => XError::Rejected { status, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn reads_every_shape_x_uses() {
        // Recorded bodies from research/x-api.md §5, §7, §3a and §1.
        let dup = br#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#;
        let e = classify(403, &headers(&[]), dup);
        assert!(matches!(
            e,
            XError::Forbidden {
                kind: ForbiddenKind::Duplicate,
                ..
            }
        ));
        assert_eq!(e.code(), "x_duplicate_post");
        assert!(e.detail().contains("duplicate content"));

        let level = br#"{"errors":[{"message":"You currently have access to a subset of X API V2 endpoints","code":453}]}"#;
        assert!(matches!(
            classify(403, &headers(&[]), level),
            XError::Forbidden {
                kind: ForbiddenKind::MissingScope,
                ..
            }
        ));

        let invalid = br#"{"errors":[{"message":"Requests with bodies must have content-type of application/json."}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#;
        let e = classify(400, &headers(&[]), invalid);
        assert!(matches!(e, XError::Rejected { status: 400, .. }));
        assert!(e.detail().contains("content-type of application/json"));

        let oauth = br#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#;
        assert_eq!(
            error_detail(oauth).as_deref(),
            Some("Value passed for the token was invalid.")
        );
        assert_eq!(
            error_detail(br#"{"code":88,"message":"Rate limit exceeded"}"#).as_deref(),
            Some("Rate limit exceeded")
        );
    }

    #[test]
    fn unreadable_bodies_still_classify_by_status() {
        let e = classify(503, &headers(&[]), b"<html>oops</html>");
        assert!(e.is_retryable());
        assert_eq!(e.detail(), "Service Unavailable");
        let e = classify(429, &headers(&[("x-rate-limit-reset", "1700000900")]), b"");
        assert!(matches!(
            e,
            XError::RateLimited {
                reset_at_epoch: Some(1_700_000_900),
                ..
            }
        ));
        assert_eq!(e.retry_after(1_700_000_000), Some(Duration::from_secs(900)));
        assert!(!classify(401, &headers(&[]), b"").is_retryable());
    }

    #[test]
    fn unknown_or_expired_media_is_told_apart() {
        let unknown = br#"{"title":"Not Found Error","type":"https://api.twitter.com/2/problems/resource-not-found","detail":"Could not find media with id: [1].","resource_type":"media","resource_id":"1","parameter":"id","value":"1","status":400}"#;
        assert!(matches!(
            classify(400, &headers(&[]), unknown),
            XError::MediaGone { status: 400, .. }
        ));
        let invalid = br#"{"errors":[{"parameters":{"media.media_ids":["1"]},"message":"Your media IDs are invalid."}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#;
        assert!(matches!(
            classify(400, &headers(&[]), invalid),
            XError::MediaGone { .. }
        ));
        // A user that does not exist is not media.
        let user = br#"{"errors":[{"type":"https://api.twitter.com/2/problems/resource-not-found","resource_type":"user","detail":"Could not find user"}]}"#;
        assert!(matches!(
            classify(400, &headers(&[]), user),
            XError::Rejected { .. }
        ));
        // A bare 404 (X's media endpoints have had 404 outages) is not "media gone".
        assert!(matches!(
            classify(404, &headers(&[]), b""),
            XError::Rejected { status: 404, .. }
        ));
    }

    #[test]
    fn long_details_are_bounded() {
        let body = serde_json::json!({ "detail": "é".repeat(1000) }).to_string();
        assert!(error_detail(body.as_bytes()).unwrap().len() < 520);
    }
}
