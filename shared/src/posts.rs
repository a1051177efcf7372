//! Posts: text plus one video, published to one or more platform targets.

use serde::{Deserialize, Serialize};

use crate::ids::{PostId, UserId};

/// The platforms Reelay can post to. Only X today; the engine is platform-neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Twitter,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Twitter => "twitter",
        }
    }

    /// Parses a platform name from a request: "twitter", or "x" as users call it now.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            // "x" is what users call it now; "twitter" is what the API paths say.
            "twitter" | "x" => Some(Platform::Twitter),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    /// Created; waiting for the video to arrive in S3.
    AwaitingUpload,
    /// The video arrived and was refused before any upload (see `rejection`).
    Rejected,
    /// Upload jobs exist and at least one is still running.
    Processing,
    Published,
    /// Every target ended; at least one failed.
    Failed,
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
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub version: u64,
}

/// A new post id: time-ordered (so ids sort like creation times) and fixed-length (so one id is
/// never a prefix of another in key queries).
pub fn new_post_id(now_ms: i64) -> PostId {
    let random = uuid::Uuid::new_v4().simple().to_string();
    PostId::parse(&format!("{:013}-{}", now_ms.max(0), &random[..12]))
        .unwrap_or_else(|_| unreachable!("digits, '-' and hex always form a valid post id"))
}
