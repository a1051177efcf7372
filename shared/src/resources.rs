//! The shape of Reelay's AWS resources, in one place.
//!
//! `template.yaml` declares these resources for AWS and `reelay-local` creates them in moto; a test
//! in `tools/reelay-local` parses the template and checks it against these constants, so the two
//! cannot drift apart silently.

/// The single DynamoDB table (see DESIGN §4 and `store` for the item layout).
pub mod table {
    pub const PARTITION_KEY: &str = "pk";
    pub const SORT_KEY: &str = "sk";
    /// Epoch seconds; DynamoDB deletes expired items lazily (up to days late, never in moto),
    /// so readers must also check expiry themselves.
    pub const TTL_ATTRIBUTE: &str = "expires_at";
    /// Lists a user's posts newest first with one Query.
    pub const POSTS_BY_USER_INDEX: &str = "gsi1";
    pub const POSTS_BY_USER_PARTITION_KEY: &str = "gsi1pk";
    pub const POSTS_BY_USER_SORT_KEY: &str = "gsi1sk";
    /// The reconciler's sparse index of non-final upload jobs by when their next step is due
    /// (`UploadJob::sweep_due_at_ms`). Only non-final jobs carry its keys, so final jobs, posts,
    /// accounts and states never appear in it and a sweep reads only what may need repair.
    pub const SWEEP_INDEX: &str = "gsi2";
    /// `SWEEP#{shard}`: see `SWEEP_SHARDS`.
    pub const SWEEP_PARTITION_KEY: &str = "gsi2pk";
    /// The due time, epoch ms zero-padded to 13 digits, so string order is time order.
    pub const SWEEP_SORT_KEY: &str = "gsi2sk";
    /// A job's entry moves whenever its due time does: when a worker takes the lease and when
    /// it hands off (about two index writes per invocation; the checkpoints in between leave the
    /// keys alone, so DynamoDB does not touch the index). One index partition takes about 1000
    /// writes a second, and a throttled GSI throttles the table's own writes; one partition would
    /// do at today's worker concurrency, and spreading entries over a few by a hash of the job's
    /// key leaves room to grow for the price of a few more small Queries per sweep.
    pub const SWEEP_SHARDS: u32 = 4;
    /// Connected accounts by the platform user id they hold: keyed on the account's own
    /// `x_user_id`, which no other item carries, so only accounts are in it. Keys only. The
    /// callback reads it to find accounts stored before link items existed (issue 12; see
    /// `accounts::store`).
    pub const ACCOUNTS_BY_X_USER_INDEX: &str = "gsi3";
    pub const ACCOUNTS_BY_X_USER_KEY: &str = "x_user_id";
}

/// The work queue that drives upload jobs, and its dead-letter queue.
pub mod queue {
    /// The worker's Lambda timeout. Short on purpose: continuations carry long uploads.
    pub const WORKER_TIMEOUT_SECS: u32 = 60;
    /// AWS asks for a visibility timeout of at least 6x the function timeout for SQS event
    /// sources; it is also how long a crashed upload waits before its message comes back.
    pub const VISIBILITY_TIMEOUT_SECS: u32 = 6 * WORKER_TIMEOUT_SECS;
    /// Receives before a message moves to the DLQ. Continuations are new messages, so this counts
    /// failures of one step, not the length of an upload.
    pub const MAX_RECEIVE_COUNT: u32 = 5;
    /// DLQ messages are kept for the longest SQS allows, to leave time for a redrive.
    pub const DLQ_RETENTION_SECS: u32 = 14 * 24 * 3600;
}

/// The fit queue (issue 14): jobs whose video `fit-video` converts before the upload, with the
/// work queue's messages. Its dead letters go to the work queue's DLQ, which the reconciler
/// drains (`queue::DLQ_RETENTION_SECS`).
pub mod fit_queue {
    /// FitVideoFunction's Lambda timeout: Lambda's longest, as a conversion cannot be split.
    pub const TIMEOUT_SECS: u32 = 900;
    /// At least the function's timeout (Lambda refuses the event source otherwise), but not the
    /// 6x AWS recommends: a conversion that crashed or timed out comes back after this long, 16
    /// minutes rather than 90 (template.yaml, `FitQueue`, says what that costs).
    pub const VISIBILITY_TIMEOUT_SECS: u32 = TIMEOUT_SECS + 60;
    /// Receives before a message moves to the DLQ: a conversion that failed three times will not
    /// succeed on a fourth, and each may cost 15 minutes of two vCPUs.
    pub const MAX_RECEIVE_COUNT: u32 = 3;
}

/// Where videos live in the bucket: uploads at `uploads/{user_id}/{post_id}/{file}`, and the MP4s
/// `fit-video` makes of those X would refuse at `fitted/{user_id}/{post_id}/{platform}.mp4`.
pub mod bucket {
    pub const UPLOAD_PREFIX: &str = "uploads/";
    /// Only FitVideoFunction's role may write here (template.yaml, `UploadsBucketPolicy`).
    pub const FITTED_PREFIX: &str = "fitted/";
}
