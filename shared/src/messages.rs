//! Messages on the work queue. One message asks a worker to take one step of one upload job.

use serde::{Deserialize, Serialize};

use crate::ids::{PostId, UserId};
use crate::posts::Platform;

/// Asks process-upload to advance the job of `post_id` for `platform`. `step_token` names the
/// step this message is for: only a message carrying the job's current token may advance it, so
/// duplicates and stale messages are recognised and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub user_id: UserId,
    pub post_id: PostId,
    pub platform: Platform,
    pub step_token: String,
}

impl JobMessage {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    pub fn to_body(&self) -> String {
        // A struct of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A fresh step token.
pub fn new_step_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
