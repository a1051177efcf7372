//! How a YouTube call failed, and what Reelay does about it (docs/research/youtube.md §2, §3,
//! §5). Google's errors come in one envelope,
//! `{"error":{"code","message","errors":[{"message","domain","reason"}]}}`; decisions are taken
//! on `reason` only, because `message` may carry HTML (the recorded `quotaExceeded` body does).

use serde::Deserialize;
use thiserror::Error;

use super::quota::next_quota_reset_ms;

/// Google's "try again in 24 hours" for `uploadLimitExceeded` (§3, YouTube developer news
/// quoted in GNOME/shotwell#5019).
const UPLOAD_LIMIT_WAIT_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum YouTubeError {
    /// YouTube answered with an error status. `reason` and `domain` are the first entry of
    /// `errors[]` (absent when the body is not Google's envelope).
    #[error("YouTube answered {status} {}: {message}", reason.as_deref().unwrap_or("(no reason)"))]
    Api {
        status: u16,
        reason: Option<String>,
        domain: Option<String>,
        message: String,
    },
    /// The upload session is gone (404 on the session URI, §2): its bytes are lost and only a new
    /// session can help.
    #[error("the upload session is gone (YouTube answered {status})")]
    SessionGone { status: u16 },
    /// No answer: the connection failed, dropped or timed out. The call may or may not have had
    /// its effect, so a chunk is followed by a status query before anything is sent again.
    #[error("the request to YouTube failed: {0}")]
    Network(String),
    /// An answer that breaks the protocol (no `Location`, a `Range` that cannot be read, a
    /// session URI on another host).
    #[error("YouTube's answer could not be used: {0}")]
    Protocol(String),
}

/// What the engine does about a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YouTubeFailure {
    /// 5xx, 429, a dropped connection: ask the session where it stands, then resume (§2).
    Transient,
    /// 401: the access token was refused; refresh it once.
    Unauthorized,
    /// The project's daily quota is spent (403 `quotaExceeded`, §3): nothing helps until it
    /// resets at midnight Pacific time.
    QuotaExceeded { retry_at_ms: i64 },
    /// The channel uploaded as many videos as YouTube allows in 24 hours (400
    /// `uploadLimitExceeded`, §3).
    UploadLimit { retry_at_ms: i64 },
    /// The token lacks a scope (403 `insufficientPermissions`): the user must reconnect.
    MissingPermission,
    /// The session is gone: start a new one from byte 0.
    SessionGone,
    /// Anything else: YouTube refuses this video or its metadata. Permanent.
    Rejected { reason: String },
}

impl YouTubeError {
    /// The failure class, judged at `now_ms` (the quota's reset is computed from it).
    pub fn classify(&self, now_ms: i64) -> YouTubeFailure {
        match self {
            YouTubeError::Network(_) => YouTubeFailure::Transient,
            YouTubeError::SessionGone { .. } => YouTubeFailure::SessionGone,
            // An answer Reelay cannot read says nothing about the session; asking again is safe.
            YouTubeError::Protocol(_) => YouTubeFailure::Transient,
            YouTubeError::Api { status, reason, .. } => {
                let reason = reason.as_deref().unwrap_or("");
                match (*status, reason) {
                    (403, "quotaExceeded") | (429, "quotaExceeded") => {
                        YouTubeFailure::QuotaExceeded {
                            retry_at_ms: next_quota_reset_ms(now_ms),
                        }
                    }
                    (_, "uploadLimitExceeded") => YouTubeFailure::UploadLimit {
                        retry_at_ms: now_ms + UPLOAD_LIMIT_WAIT_MS,
                    },
                    (401, _) => YouTubeFailure::Unauthorized,
                    (403, "insufficientPermissions") => YouTubeFailure::MissingPermission,
                    // Google's per-user and per-second limits: short, so a backoff is enough.
                    (403, "rateLimitExceeded" | "userRateLimitExceeded") => {
                        YouTubeFailure::Transient
                    }
                    (429, _) | (500..=599, _) => YouTubeFailure::Transient,
                    (_, "") => YouTubeFailure::Rejected {
                        reason: format!("http_{status}"),
                    },
                    (_, reason) => YouTubeFailure::Rejected {
                        reason: reason.to_owned(),
                    },
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<WireErrorItem>,
}

#[derive(Deserialize)]
struct WireErrorItem {
    reason: Option<String>,
    domain: Option<String>,
}

/// Reads an error answer. A body that is not Google's envelope keeps its status and a short,
/// cleaned excerpt as the message.
pub fn api_error(status: u16, body: &[u8]) -> YouTubeError {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => {
            let first = envelope.error.errors.into_iter().next();
            YouTubeError::Api {
                status,
                reason: first.as_ref().and_then(|e| e.reason.clone()),
                domain: first.and_then(|e| e.domain),
                message: envelope.error.message,
            }
        }
        Err(_) => YouTubeError::Api {
            status,
            reason: None,
            domain: None,
            message: excerpt(body),
        },
    }
}

/// The first 200 characters of a body, on one line: enough to recognise, too short to carry a
/// whole page into a post's failure reason.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded body (§3), HTML and all.
    const QUOTA: &str = r#"{"error":{"code":403,"message":"The request cannot be completed because you have exceeded your \u003ca href=\"/youtube/v3/getting-started#quota\"\u003equota\u003c/a\u003e.","errors":[{"message":"The request cannot be completed because you have exceeded your \u003ca href=\"/youtube/v3/getting-started#quota\"\u003equota\u003c/a\u003e.","domain":"youtube.quota","reason":"quotaExceeded"}]}}"#;

    #[test]
    fn quota_exceeded_waits_for_midnight_pacific() {
        let error = api_error(403, QUOTA.as_bytes());
        // 2026-12-03 07:41 UTC → 2026-12-03 08:00 UTC.
        assert_eq!(
            error.classify(1_796_283_660_000),
            YouTubeFailure::QuotaExceeded {
                retry_at_ms: 1_796_284_800_000
            }
        );
    }

    #[test]
    fn upload_limit_is_a_400_that_waits_a_day() {
        let body = br#"{"error":{"code":400,"message":"The user has exceeded the number of videos they may upload.","errors":[{"domain":"youtube.video","reason":"uploadLimitExceeded","message":"The user has exceeded the number of videos they may upload."}]}}"#;
        assert_eq!(
            api_error(400, body).classify(1_000),
            YouTubeFailure::UploadLimit {
                retry_at_ms: 1_000 + UPLOAD_LIMIT_WAIT_MS
            }
        );
    }

    #[test]
    fn other_refusals_keep_googles_reason() {
        let body = br#"{"error":{"code":400,"message":"bad","errors":[{"domain":"youtube.video","reason":"invalidTitle","message":"bad"}]}}"#;
        assert_eq!(
            api_error(400, body).classify(0),
            YouTubeFailure::Rejected {
                reason: "invalidTitle".into()
            }
        );
        assert_eq!(
            api_error(502, b"<html>Bad Gateway</html>").classify(0),
            YouTubeFailure::Transient
        );
        assert_eq!(
            api_error(401, b"{}").classify(0),
            YouTubeFailure::Unauthorized
        );
    }
}
