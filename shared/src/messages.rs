//! Messages on the work queue. One message asks a worker to advance one upload job.

use serde::{Deserialize, Serialize};

use crate::ids::{PostId, UserId};

/// Asks process-upload to advance the job of `post_id` for `platform`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub user_id: UserId,
    pub post_id: PostId,
    pub platform: String,
}

impl JobMessage {
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
