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
    /// The body names a missing scope (a `missing_scopes` list or a detail that says "scope").
    /// Real X rarely says so: its usual answer to a token without a scope is the generic
    /// `about:blank` "Forbidden" (research, Corrections: PLH#588, #265), which is `Other` here;
    /// the caller tells the two apart from the scopes X granted (`x_platform`).
    MissingScope,
    /// The app's X access does not include the endpoint: the `client-forbidden` problem with
    /// `reason: "client-not-enrolled"`, or v1.1 code 453 "You currently have access to a subset
    /// of X API V2 endpoints" (§7). The operator must change the app's access; the user's
    /// consent cannot help.
    NotEnrolled,
    /// "You are not allowed to create a Tweet with duplicate content." (§5): permanent.
    Duplicate,
    Other,
}

#[derive(Debug, Error)]
pub enum XError {
    /// A 429. `reset_at_epoch` is when X said the exhausted window resets, in epoch seconds: the
    /// 24-hour window's reset when a 24-hour cap is used up (`daily`), else the 15-minute
    /// window's `x-rate-limit-reset`.
    #[error("X rate limit reached: {detail}")]
    RateLimited {
        reset_at_epoch: Option<u64>,
        /// A 24-hour cap (`x-user-limit-24hour-*` / `x-app-limit-24hour-*`) is used up, not the
        /// 15-minute window.
        daily: bool,
        detail: String,
    },
    /// 402: the app's pay-per-use X credits are used up (research, Corrections). The operator
    /// must buy credits; nothing the user does helps.
    #[error("X wants payment: {detail}")]
    PaymentRequired { detail: String },
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
            XError::RateLimited { daily: true, .. } => "x_daily_limit",
            XError::RateLimited { .. } => "x_rate_limited",
            XError::Unauthorized { .. } => "x_unauthorized",
            XError::Forbidden {
                kind: ForbiddenKind::MissingScope,
                ..
            } => "x_missing_scope",
            XError::Forbidden {
                kind: ForbiddenKind::NotEnrolled,
                ..
            } => "x_app_not_enrolled",
            XError::Forbidden {
                kind: ForbiddenKind::Duplicate,
                ..
            } => "x_duplicate_post",
            XError::PaymentRequired { .. } => "x_credits_depleted",
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
            | XError::PaymentRequired { detail }
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
        XError::Transport {
            detail: crate::http_client::transport_detail(&err),
            timed_out: err.is_timeout(),
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
    let value = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let field = |k: &str| value.get(k).and_then(|t| t.as_str()).unwrap_or_default();
    let names_scopes = value
        .get("missing_scopes")
        .and_then(|m| m.as_array())
        .is_some_and(|m| !m.is_empty());
    // Duplicate content (§5: about:blank body with this detail; v1.1 code 187).
    if codes.contains(&187) || lower.contains("duplicate content") {
        ForbiddenKind::Duplicate
    } else if names_scopes || lower.contains("scope") {
        ForbiddenKind::MissingScope
    // The app's access: `client-forbidden` (its `reason` is "client-not-enrolled" in every
    // recorded body), or v1.1 code 453 / "access level" (§7).
    } else if field("reason") == "client-not-enrolled"
        || field("type").ends_with("/client-forbidden")
        || codes.contains(&453)
        || lower.contains("access level")
        || lower.contains("subset of x api")
    {
        ForbiddenKind::NotEnrolled
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
    header_u64(headers, "x-rate-limit-reset")
}

fn header_u64(headers: &http::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The latest reset among the 24-hour caps that are used up (`x-user-limit-24hour-*`,
/// `x-app-limit-24hour-*`, beside the 15-minute `x-rate-limit-*`: research, Corrections, PLH#495,
/// #553). `None` when no 24-hour cap is at 0.
pub fn daily_limit_reset(headers: &http::HeaderMap) -> Option<u64> {
    ["x-user-limit-24hour", "x-app-limit-24hour"]
        .iter()
        .filter(|prefix| header_u64(headers, &format!("{prefix}-remaining")) == Some(0))
        .filter_map(|prefix| header_u64(headers, &format!("{prefix}-reset")))
        .max()
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
        429 => match daily_limit_reset(headers) {
            Some(reset) => XError::RateLimited {
                reset_at_epoch: Some(reset),
                daily: true,
                detail,
            },
            None => XError::RateLimited {
                reset_at_epoch: rate_limit_reset(headers),
                daily: false,
                detail,
            },
        },
        402 => XError::PaymentRequired { detail },
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

        // v1.1 code 453 is the app's access level, not the user's consent (§7).
        let level = br#"{"errors":[{"message":"You currently have access to a subset of X API V2 endpoints","code":453}]}"#;
        assert!(matches!(
            classify(403, &headers(&[]), level),
            XError::Forbidden {
                kind: ForbiddenKind::NotEnrolled,
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
    fn real_x_forbidden_shapes_are_told_apart() {
        // Real X's answer to a token without the endpoint's scope (PLH#588, #265): nothing in it
        // says "scope", so the body alone classifies it as Other (x_platform decides from the
        // granted scopes).
        let generic =
            br#"{"title":"Forbidden","type":"about:blank","status":403,"detail":"Forbidden"}"#;
        let e = classify(403, &headers(&[]), generic);
        assert!(matches!(
            e,
            XError::Forbidden {
                kind: ForbiddenKind::Other,
                ..
            }
        ));
        assert_eq!(e.detail(), "Forbidden");
        // The app's access does not include the endpoint: the operator's problem.
        let enrolment = br#"{"client_id":"123","detail":"When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.","registration_url":"https://developer.twitter.com/en/docs/projects/overview","title":"Client Forbidden","required_enrollment":"Appropriate Level of API Access","reason":"client-not-enrolled","type":"https://api.twitter.com/2/problems/client-forbidden"}"#;
        let e = classify(403, &headers(&[]), enrolment);
        assert!(matches!(
            e,
            XError::Forbidden {
                kind: ForbiddenKind::NotEnrolled,
                ..
            }
        ));
        assert_eq!(e.code(), "x_app_not_enrolled");
        // The emulator's older, chosen shape names the scopes: still a missing scope.
        let named = br#"{"title":"Forbidden","type":"https://api.twitter.com/2/problems/client-forbidden","detail":"Missing scopes","missing_scopes":["media.write"],"status":403}"#;
        assert!(matches!(
            classify(403, &headers(&[]), named),
            XError::Forbidden {
                kind: ForbiddenKind::MissingScope,
                ..
            }
        ));
    }

    #[test]
    fn payment_and_daily_caps_are_their_own_answers() {
        let e = classify(
            402,
            &headers(&[]),
            br#"{"title":"Payment Required","status":402}"#,
        );
        assert!(matches!(e, XError::PaymentRequired { .. }));
        assert_eq!(e.code(), "x_credits_depleted");
        assert!(!e.is_retryable());

        // The 15-minute window still has room; the user's 24-hour cap is used up: wait for the
        // 24-hour reset, not the 15-minute one.
        let h = headers(&[
            ("x-rate-limit-remaining", "99"),
            ("x-rate-limit-reset", "1700000900"),
            ("x-user-limit-24hour-limit", "2"),
            ("x-user-limit-24hour-remaining", "0"),
            ("x-user-limit-24hour-reset", "1700086400"),
            ("x-app-limit-24hour-remaining", "9000"),
            ("x-app-limit-24hour-reset", "1700050000"),
        ]);
        let e = classify(429, &h, b"");
        assert!(matches!(
            e,
            XError::RateLimited {
                reset_at_epoch: Some(1_700_086_400),
                daily: true,
                ..
            }
        ));
        assert_eq!(e.code(), "x_daily_limit");
        // Only the 15-minute window: its reset.
        let h = headers(&[
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1700000900"),
            ("x-user-limit-24hour-remaining", "5"),
            ("x-user-limit-24hour-reset", "1700086400"),
        ]);
        assert!(matches!(
            classify(429, &h, b""),
            XError::RateLimited {
                reset_at_epoch: Some(1_700_000_900),
                daily: false,
                ..
            }
        ));
    }

    #[test]
    fn long_details_are_bounded() {
        let body = serde_json::json!({ "detail": "é".repeat(1000) }).to_string();
        assert!(error_detail(body.as_bytes()).unwrap().len() < 520);
    }
}
