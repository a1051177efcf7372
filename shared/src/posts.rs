//! Posts: text plus one video, published to one or more platform targets.

use serde::{Deserialize, Serialize};

use crate::ids::{PostId, UserId};
use crate::x_text;

/// The platforms Reelay can post to. Each has its folder under `crate::platforms` and its own
/// upload protocol (`Platform::protocol`); the engine drives both protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Twitter,
    #[serde(rename = "youtube")]
    YouTube,
}

/// How a platform takes a video (the engine has one state machine for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadProtocol {
    /// X: INIT, APPENDs of numbered segments in any order, FINALIZE, processing, then a post
    /// created apart from the upload (`engine.rs`).
    Segmented,
    /// YouTube: one resumable session whose server says how many bytes it holds; the video
    /// exists once the last byte is in (`engine/resumable.rs`).
    Resumable,
}

impl Platform {
    /// Every platform, in the order the product lists them.
    pub const ALL: [Platform; 2] = [Platform::Twitter, Platform::YouTube];

    /// The name in API paths, keys and the KMS encryption context: never changes.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Twitter => "twitter",
            Platform::YouTube => "youtube",
        }
    }

    /// The platform whose stored name (`as_str`) is `name`; aliases such as "x" are for
    /// requests only.
    pub fn from_stored(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The name people know it by, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            Platform::Twitter => "X",
            Platform::YouTube => "YouTube",
        }
    }

    pub fn protocol(self) -> UploadProtocol {
        match self {
            Platform::Twitter => UploadProtocol::Segmented,
            Platform::YouTube => UploadProtocol::Resumable,
        }
    }

    /// Parses a platform name from a request: "twitter", or "x" as users call it now, or
    /// "youtube".
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            // "x" is what users call it now; "twitter" is what the API paths say.
            "twitter" | "x" => Some(Platform::Twitter),
            "youtube" => Some(Platform::YouTube),
            _ => None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a post stands as a whole, derived from its targets once it has any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    /// Created; waiting for the video to arrive in S3.
    AwaitingUpload,
    /// The video arrived and was refused before any upload (see `rejection`).
    Rejected,
    /// Upload jobs exist and at least one is still running.
    Processing,
    /// To be published at `scheduled_at`, not yet due: the upload runs ahead (or waits to start
    /// so that X still holds the media at the time) and the post is created on the second.
    Scheduled,
    /// The user cancelled it before it was published: nothing was, or will be, posted.
    Cancelled,
    Published,
    /// Every target ended; at least one published and at least one failed (or is unconfirmed):
    /// each target says which.
    PartiallyPublished,
    /// Every target ended; at least one failed.
    Failed,
    /// Every target ended, none failed, and X may hold a post Reelay could not confirm: the
    /// post says which, with the media key, and a retry looks again before posting.
    Unconfirmed,
}

/// A post's wishes for a video X would refuse as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitRequest {
    /// Convert what X would refuse (on by default: X re-encodes every upload anyway); `false`
    /// rejects such a video with the reason instead.
    #[serde(default = "fit_by_default")]
    pub enabled: bool,
    /// Cut the video to at most this many seconds (X allows at most 140).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim_to_secs: Option<f64>,
    /// Add bars to a video whose aspect ratio is outside X's 1:3 to 3:1, instead of refusing it.
    #[serde(default)]
    pub pad: bool,
}

fn fit_by_default() -> bool {
    true
}

impl Default for FitRequest {
    fn default() -> Self {
        Self {
            enabled: true,
            trim_to_secs: None,
            pad: false,
        }
    }
}

/// A post's choices for the platforms that take any, one field per platform (X takes none
/// beyond `fit`). Copied to each job when it is created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub youtube: Option<crate::platforms::youtube::YouTubeOptions>,
}

/// What the pre-flight check learnt about the video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub size_bytes: u64,
    pub media_type: String,
    pub media_category: String,
    pub duration_secs: f64,
    pub width: u32,
    pub height: u32,
}

impl From<&video_preflight::Checked> for VideoInfo {
    fn from(checked: &video_preflight::Checked) -> Self {
        let facts = &checked.facts;
        Self {
            size_bytes: facts.size_bytes,
            media_type: facts.media_type.to_owned(),
            media_category: checked.category.as_str().to_owned(),
            duration_secs: facts.duration_secs,
            width: facts.width,
            height: facts.height,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub user_id: UserId,
    pub post_id: PostId,
    pub text: String,
    pub platforms: Vec<Platform>,
    pub status: PostStatus,
    /// Why the video was refused, in words a person can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoInfo>,
    /// What to do with a video X would refuse as it is (issue 14).
    #[serde(default)]
    pub fit: FitRequest,
    /// Per-platform choices (YouTube's title, privacy, ...).
    #[serde(default)]
    pub options: PlatformOptions,
    /// When to create the post (epoch ms); `None` publishes as soon as the upload is done
    /// (issue 15). The jobs read it, and the text, from here until they start publishing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at_ms: Option<i64>,
    /// When the user cancelled the post (`DELETE /api/posts/{id}`); its jobs end `cancelled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub version: u64,
}

impl Post {
    /// A post as `POST /api/posts` leaves it: awaiting its upload, with no object or verdict
    /// yet, at version 1.
    pub fn draft(
        user_id: UserId,
        post_id: PostId,
        text: String,
        platforms: Vec<Platform>,
        now_ms: i64,
    ) -> Self {
        Self {
            user_id,
            post_id,
            text,
            platforms,
            status: PostStatus::AwaitingUpload,
            rejection: None,
            object_key: None,
            video: None,
            fit: FitRequest::default(),
            options: PlatformOptions::default(),
            scheduled_at_ms: None,
            cancelled_at_ms: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            version: 1,
        }
    }
}

/// A new post id: time-ordered (so ids sort like creation times) and fixed-length (so one id is
/// never a prefix of another in key queries).
pub fn new_post_id(now_ms: i64) -> PostId {
    let random = uuid::Uuid::new_v4().simple().to_string();
    PostId::parse(&format!("{:013}-{}", now_ms.max(0), &random[..12]))
        .unwrap_or_else(|_| unreachable!("digits, '-' and hex always form a valid post id"))
}

/// Whether `raw` has the shape `new_post_id` mints (13 digits, '-', 12 hex digits). Only such ids
/// are stored: their fixed length keeps one post's key prefix from matching another's.
pub fn minted_post_id(raw: &str) -> Option<PostId> {
    let (millis, random) = raw.split_once('-')?;
    let minted = millis.len() == 13
        && millis.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 12
        && random
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    minted.then(|| PostId::parse(raw).ok()).flatten()
}

/// Longer texts are refused before counting: no valid post comes near it, and counting is linear
/// but not free.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Why X would refuse a post's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextProblem {
    #[error("text must not be empty or only whitespace")]
    Empty,
    #[error("text is {0} bytes; X allows at most {max} weighted characters", max = x_text::MAX_WEIGHTED_LENGTH)]
    TooManyBytes(usize),
    #[error("text is {0} weighted characters; X allows at most {max} (each URL counts 23, CJK characters and emoji count 2)", max = x_text::MAX_WEIGHTED_LENGTH)]
    TooLong(usize),
    #[error("text contains a character X refuses (U+FFFE, U+FEFF or U+FFFF)")]
    InvalidCharacters,
}

impl TextProblem {
    /// A stable name for the rule, for problem JSON.
    pub fn rule(&self) -> &'static str {
        match self {
            TextProblem::Empty => "text_empty",
            TextProblem::TooManyBytes(_) | TextProblem::TooLong(_) => "text_too_long",
            TextProblem::InvalidCharacters => "text_invalid_characters",
        }
    }
}

/// Checks a post's text by X's rules (twitter-text v3 weighted length, via `x_text`).
pub fn check_text(text: &str) -> Result<(), TextProblem> {
    // twitter-text's JS counts whitespace-only text as valid; X's server refuses an empty post.
    if text.trim().is_empty() {
        return Err(TextProblem::Empty);
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(TextProblem::TooManyBytes(text.len()));
    }
    let parsed = x_text::parse_post(text);
    if parsed.weighted_length > x_text::MAX_WEIGHTED_LENGTH {
        return Err(TextProblem::TooLong(parsed.weighted_length));
    }
    if !parsed.valid {
        return Err(TextProblem::InvalidCharacters);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_only() {
        let minted = new_post_id(1_795_615_200_000);
        assert_eq!(minted_post_id(minted.as_str()), Some(minted));
        for bad in [
            "p1",
            "1795615200000-0123456789aB",
            "1795615200000-0123456789a",
            "x795615200000-0123456789ab",
        ] {
            assert!(minted_post_id(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn text_rules() {
        assert_eq!(check_text("hello"), Ok(()));
        assert_eq!(check_text(&"a".repeat(280)), Ok(()));
        assert_eq!(check_text(&"a".repeat(281)), Err(TextProblem::TooLong(281)));
        assert_eq!(
            check_text(&"漢".repeat(141)),
            Err(TextProblem::TooLong(282))
        );
        assert_eq!(check_text(" \n "), Err(TextProblem::Empty));
        assert_eq!(
            check_text("bad \u{FFFE}"),
            Err(TextProblem::InvalidCharacters)
        );
        assert_eq!(
            check_text(&"a".repeat(MAX_TEXT_BYTES + 1))
                .unwrap_err()
                .rule(),
            "text_too_long"
        );
    }
}
