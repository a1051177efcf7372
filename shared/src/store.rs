//! Persistence of posts and upload jobs: the ports the domain uses, and their DynamoDB adapter.
//!
//! Item layout in the one table (`resources::table`):
//! | item | pk | sk | gsi1pk / gsi1sk |
//! | --- | --- | --- | --- |
//! | post | `USER#{user}` | `POST#{post}` | `USER#{user}#POSTS` / `{created_ms:013}#{post}` |
//! | upload job | `USER#{user}` | `POST#{post}#TARGET#{platform}` | — |
//! | quota ledger | `USER#{user}` | `QUOTA` | — |
//! | account, OAuth state | see `accounts` | | |
//!
//! A post and its jobs share a partition and a key prefix, so one Query returns both; post ids
//! are fixed-length, so one post's prefix never matches another's. Posts list newest first
//! through the index.
//!
//! A non-final job also carries the sweep index's keys (`gsi2pk` = `SWEEP#{shard}`, `gsi2sk` =
//! its `sweep_due_at_ms`, zero-padded): a sparse index, since a job's final save drops them, that
//! the reconciler queries for jobs whose next step is overdue (`SweepIndex`) instead of scanning.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use base64::Engine;
use thiserror::Error;

use crate::ids::{PostId, UserId};
use crate::jobs::UploadJob;
use crate::posts::{Platform, Post};
use crate::quota::QuotaLedger;
use crate::resources::table;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A conditional write lost: someone else changed the item first.
    #[error("the item changed since it was read")]
    Conflict,
    #[error("the stored item could not be read: {0}")]
    Corrupt(String),
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> Self {
        StoreError::Unavailable(Box::new(e))
    }
}

/// A page of a user's posts, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct PostPage {
    pub posts: Vec<Post>,
    /// Opaque; pass back to get the next page. Only meaningful for the same user.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait PostStore: Send + Sync {
    async fn create_post(&self, post: &Post) -> Result<(), StoreError>;
    async fn get_post(&self, user: &UserId, post: &PostId) -> Result<Option<Post>, StoreError>;
    /// Saves `post` if its stored version is still `post.version - 1`.
    async fn save_post(&self, post: &Post) -> Result<(), StoreError>;
    async fn list_posts(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<PostPage, StoreError>;
    /// A post and all its upload jobs, read together.
    async fn post_with_jobs(
        &self,
        user: &UserId,
        post: &PostId,
    ) -> Result<Option<(Post, Vec<UploadJob>)>, StoreError>;
    /// Saves `post` (version-checked as in `save_post`) and creates `jobs` in one transaction;
    /// fails with `Conflict` if the post changed or any job already exists.
    async fn start_jobs(&self, post: &Post, jobs: &[UploadJob]) -> Result<(), StoreError>;
}

/// The caller's newest posts of a time window, for per-user limits (`quota`).
#[async_trait]
pub trait RecentPosts: Send + Sync {
    /// Up to `limit` of `user`'s posts created at or after `since_ms`, newest first: one bounded
    /// query of the posts index, never a scan.
    async fn posts_created_since(
        &self,
        user: &UserId,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<Post>, StoreError>;
}

/// Each user's quota ledger (`quota::QuotaLedger`), read and written whole.
#[async_trait]
pub trait QuotaLedgers: Send + Sync {
    /// The user's ledger, read consistently; `None` if they have none.
    async fn quota_ledger(&self, user: &UserId) -> Result<Option<QuotaLedger>, StoreError>;
    /// Stores `ledger` if the stored one is still at `ledger.version - 1` (absent for version 1),
    /// else `Conflict`; DynamoDB's TTL drops it after `expires_at_secs`.
    async fn save_quota_ledger(
        &self,
        ledger: &QuotaLedger,
        expires_at_secs: i64,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait JobStore: Send + Sync {
    async fn get_job(
        &self,
        user: &UserId,
        post: &PostId,
        platform: Platform,
    ) -> Result<Option<UploadJob>, StoreError>;
    /// Saves `job` if its stored version is still `job.version - 1`: the caller bumps the version.
    async fn save_job(&self, job: &UploadJob) -> Result<(), StoreError>;
}

/// The DynamoDB adapter of both stores.
#[derive(Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

fn post_sk(post: &PostId) -> String {
    format!("POST#{post}")
}

/// The quota ledger's sort key: outside the `POST#` prefix, so post queries never meet it.
const QUOTA_SK: &str = "QUOTA";

fn job_sk(post: &PostId, platform: Platform) -> String {
    format!("POST#{post}#TARGET#{}", platform.as_str())
}

fn posts_index_pk(user: &UserId) -> String {
    format!("USER#{user}#POSTS")
}

fn posts_index_sk(post: &Post) -> String {
    format!("{:013}#{}", post.created_at_ms.max(0), post.post_id)
}

type Item = HashMap<String, AttributeValue>;

fn post_item(post: &Post) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(post).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.insert(table::PARTITION_KEY.into(), s(user_pk(&post.user_id)));
    item.insert(table::SORT_KEY.into(), s(post_sk(&post.post_id)));
    item.insert(
        table::POSTS_BY_USER_PARTITION_KEY.into(),
        s(posts_index_pk(&post.user_id)),
    );
    item.insert(
        table::POSTS_BY_USER_SORT_KEY.into(),
        s(posts_index_sk(post)),
    );
    item.insert("kind".into(), s("post"));
    Ok(item)
}

fn job_item(job: &UploadJob) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(job).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.insert(table::PARTITION_KEY.into(), s(user_pk(&job.user_id)));
    item.insert(
        table::SORT_KEY.into(),
        s(job_sk(&job.post_id, job.platform)),
    );
    item.insert("kind".into(), s("job"));
    // Only non-final jobs are in the sweep index; the save that makes a job final drops it.
    if let Some(due) = job.sweep_due_at_ms() {
        item.insert(
            table::SWEEP_PARTITION_KEY.into(),
            s(sweep_pk(sweep_shard(&JobKey::of(job)))),
        );
        item.insert(table::SWEEP_SORT_KEY.into(), s(sweep_sk(due)));
    }
    Ok(item)
}

// ---------------------------------------------------------------- the sweep index

/// Names one upload job: its post and platform target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobKey {
    pub user_id: UserId,
    pub post_id: PostId,
    pub platform: Platform,
}

impl JobKey {
    pub fn of(job: &UploadJob) -> Self {
        Self {
            user_id: job.user_id.clone(),
            post_id: job.post_id.clone(),
            platform: job.platform,
        }
    }
}

/// Where the reconciler finds jobs whose next step is overdue, without scanning the table.
#[async_trait]
pub trait SweepIndex: Send + Sync {
    /// Non-final jobs whose `sweep_due_at_ms` is at or before `due_by_ms`, most overdue first
    /// within each shard, at most `limit`. The index is eventually consistent and the jobs may
    /// have moved since: read each job before acting on it.
    async fn overdue_jobs(&self, due_by_ms: i64, limit: usize) -> Result<Vec<JobKey>, StoreError>;
}

/// The index partition a job's entry lives in: FNV-1a of its key, so the choice is stable
/// across builds (std's hasher promises no such thing). Readers query every shard, so the
/// function may change as long as `SWEEP_SHARDS` bounds it.
fn sweep_shard(key: &JobKey) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let parts = [
        key.user_id.as_str(),
        "/",
        key.post_id.as_str(),
        "/",
        key.platform.as_str(),
    ];
    for byte in parts.iter().flat_map(|p| p.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % table::SWEEP_SHARDS
}

fn sweep_pk(shard: u32) -> String {
    format!("SWEEP#{shard}")
}

fn sweep_sk(due_ms: i64) -> String {
    format!("{:013}", due_ms.max(0))
}

/// The job a sweep-index entry (table keys projected) points at.
fn job_key_from_index(item: &Item) -> Option<JobKey> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let user = text(table::PARTITION_KEY)?.strip_prefix("USER#")?;
    let rest = text(table::SORT_KEY)?.strip_prefix("POST#")?;
    let (post, platform) = rest.rsplit_once("#TARGET#")?;
    Some(JobKey {
        user_id: UserId::parse(user).ok()?,
        post_id: PostId::parse(post).ok()?,
        platform: Platform::parse(platform)?,
    })
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The condition for a versioned save: the stored version is the one the caller read.
fn version_condition(new_version: u64) -> (String, HashMap<String, AttributeValue>) {
    let previous = new_version.saturating_sub(1);
    (
        "#v = :previous".to_owned(),
        HashMap::from([(
            ":previous".to_owned(),
            AttributeValue::N(previous.to_string()),
        )]),
    )
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn put_versioned(&self, item: Item, version: u64) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if version <= 1 {
            request = request.condition_expression("attribute_not_exists(pk)");
        } else {
            let (condition, values) = version_condition(version);
            request = request
                .condition_expression(condition)
                .expression_attribute_names("#v", "version")
                .set_expression_attribute_values(Some(values));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => Err(StoreError::Conflict),
                _ => Err(StoreError::unavailable(err)),
            },
        }
    }

    async fn get(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(table::PARTITION_KEY, s(pk))
            .key(table::SORT_KEY, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::unavailable)?;
        Ok(out.item)
    }
}

#[async_trait]
impl RecentPosts for DynamoStore {
    async fn posts_created_since(
        &self,
        user: &UserId,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<Post>, StoreError> {
        // The index sort key starts with the zero-padded creation time, so the window is a key
        // range; `Limit` bounds each page and a page ends at 1 MB, hence the loop.
        let mut posts = Vec::new();
        let mut start: Option<Item> = None;
        while posts.len() < limit as usize {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(table::POSTS_BY_USER_INDEX)
                .key_condition_expression("#pk = :pk AND #sk >= :since")
                .expression_attribute_names("#pk", table::POSTS_BY_USER_PARTITION_KEY)
                .expression_attribute_names("#sk", table::POSTS_BY_USER_SORT_KEY)
                .expression_attribute_values(":pk", s(posts_index_pk(user)))
                .expression_attribute_values(":since", s(format!("{:013}", since_ms.max(0))))
                .scan_index_forward(false)
                .limit((limit as usize - posts.len()).min(100) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::unavailable)?;
            for item in out.items.unwrap_or_default() {
                posts.push(from_item::<Post>(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(posts)
    }
}

#[async_trait]
impl QuotaLedgers for DynamoStore {
    async fn quota_ledger(&self, user: &UserId) -> Result<Option<QuotaLedger>, StoreError> {
        self.get(user_pk(user), QUOTA_SK.to_owned())
            .await?
            .map(from_item)
            .transpose()
    }

    async fn save_quota_ledger(
        &self,
        ledger: &QuotaLedger,
        expires_at_secs: i64,
    ) -> Result<(), StoreError> {
        let mut item: Item =
            serde_dynamo::to_item(ledger).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert(table::PARTITION_KEY.into(), s(user_pk(&ledger.user_id)));
        item.insert(table::SORT_KEY.into(), s(QUOTA_SK));
        item.insert(
            table::TTL_ATTRIBUTE.into(),
            AttributeValue::N(expires_at_secs.to_string()),
        );
        item.insert("kind".into(), s("quota"));
        self.put_versioned(item, ledger.version).await
    }
}

#[async_trait]
impl PostStore for DynamoStore {
    async fn create_post(&self, post: &Post) -> Result<(), StoreError> {
        self.put_versioned(post_item(post)?, 1).await
    }

    async fn get_post(&self, user: &UserId, post: &PostId) -> Result<Option<Post>, StoreError> {
        self.get(user_pk(user), post_sk(post))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn save_post(&self, post: &Post) -> Result<(), StoreError> {
        self.put_versioned(post_item(post)?, post.version.max(2))
            .await
    }

    async fn list_posts(
        &self,
        user: &UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<PostPage, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(table::POSTS_BY_USER_INDEX)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", table::POSTS_BY_USER_PARTITION_KEY)
            .expression_attribute_values(":pk", s(posts_index_pk(user)))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 100) as i32);
        if let Some(cursor) = cursor.and_then(decode_cursor) {
            // The cursor carries only the index sort key and post id; the user's own partition is
            // put back here, so a cursor can never page through someone else's posts.
            let (index_sk, post_id) = cursor;
            query = query.set_exclusive_start_key(Some(HashMap::from([
                (
                    table::POSTS_BY_USER_PARTITION_KEY.to_owned(),
                    s(posts_index_pk(user)),
                ),
                (table::POSTS_BY_USER_SORT_KEY.to_owned(), s(index_sk)),
                (table::PARTITION_KEY.to_owned(), s(user_pk(user))),
                (table::SORT_KEY.to_owned(), s(format!("POST#{post_id}"))),
            ])));
        }
        let out = query.send().await.map_err(StoreError::unavailable)?;
        let posts = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<Post>, _>>()?;
        let next_cursor = out.last_evaluated_key.and(posts.last()).map(encode_cursor);
        Ok(PostPage { posts, next_cursor })
    }

    async fn post_with_jobs(
        &self,
        user: &UserId,
        post: &PostId,
    ) -> Result<Option<(Post, Vec<UploadJob>)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", table::PARTITION_KEY)
            .expression_attribute_names("#sk", table::SORT_KEY)
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":prefix", s(post_sk(post)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::unavailable)?;
        let mut found = None;
        let mut jobs = Vec::new();
        for item in out.items.unwrap_or_default() {
            match item
                .get("kind")
                .and_then(|k| k.as_s().ok())
                .map(String::as_str)
            {
                // `begins_with` on the key: keep only this post's items, never those of a post
                // whose id merely starts with this one.
                Some("post") => {
                    let candidate = from_item::<Post>(item)?;
                    if &candidate.post_id == post {
                        found = Some(candidate);
                    }
                }
                Some("job") => {
                    let job = from_item::<UploadJob>(item)?;
                    if &job.post_id == post {
                        jobs.push(job);
                    }
                }
                _ => {}
            }
        }
        Ok(found.map(|p| (p, jobs)))
    }

    async fn start_jobs(&self, post: &Post, jobs: &[UploadJob]) -> Result<(), StoreError> {
        let (condition, values) = version_condition(post.version);
        let mut items = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(post_item(post)?))
                    .condition_expression(condition)
                    .expression_attribute_names("#v", "version")
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(StoreError::unavailable)?,
            )
            .build()];
        for job in jobs {
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(job_item(job)?))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(StoreError::unavailable)?,
                    )
                    .build(),
            );
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(e) if e.is_transaction_canceled_exception() => Err(StoreError::Conflict),
                _ => Err(StoreError::unavailable(err)),
            },
        }
    }
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn get_job(
        &self,
        user: &UserId,
        post: &PostId,
        platform: Platform,
    ) -> Result<Option<UploadJob>, StoreError> {
        self.get(user_pk(user), job_sk(post, platform))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn save_job(&self, job: &UploadJob) -> Result<(), StoreError> {
        self.put_versioned(job_item(job)?, job.version).await
    }
}

#[async_trait]
impl SweepIndex for DynamoStore {
    #[tracing::instrument(skip(self), level = "debug")]
    async fn overdue_jobs(&self, due_by_ms: i64, limit: usize) -> Result<Vec<JobKey>, StoreError> {
        // Each shard gets an equal share of the bound, so one busy shard cannot hide the others.
        let per_shard = limit.div_ceil(table::SWEEP_SHARDS as usize).max(1);
        let mut keys = Vec::new();
        for shard in 0..table::SWEEP_SHARDS {
            let mut found = 0;
            let mut start: Option<Item> = None;
            loop {
                let page = (per_shard - found).min(100) as i32;
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(table::SWEEP_INDEX)
                    .key_condition_expression("#pk = :pk AND #sk <= :due")
                    .expression_attribute_names("#pk", table::SWEEP_PARTITION_KEY)
                    .expression_attribute_names("#sk", table::SWEEP_SORT_KEY)
                    .expression_attribute_values(":pk", s(sweep_pk(shard)))
                    .expression_attribute_values(":due", s(sweep_sk(due_by_ms)))
                    .limit(page)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(StoreError::unavailable)?;
                for item in out.items.unwrap_or_default() {
                    found += 1;
                    match job_key_from_index(&item) {
                        Some(key) => keys.push(key),
                        None => tracing::warn!(shard, "a sweep-index entry that names no job"),
                    }
                }
                start = out.last_evaluated_key;
                if start.is_none() || found >= per_shard {
                    break;
                }
            }
        }
        keys.truncate(limit);
        Ok(keys)
    }
}

fn encode_cursor(post: &Post) -> String {
    let raw = format!("{}|{}", posts_index_sk(post), post.post_id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (index_sk, post_id) = raw.split_once('|')?;
    PostId::parse(post_id).ok()?;
    Some((index_sk.to_owned(), post_id.to_owned()))
}

/// Whether a cursor is one this store could have made (for a 400 instead of a silent first page).
pub fn is_valid_cursor(cursor: &str) -> bool {
    decode_cursor(cursor).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{Phase, SourceObject};
    use crate::posts::{new_post_id, PostStatus};

    fn job() -> UploadJob {
        let post = Post {
            user_id: UserId::parse("user-1").unwrap(),
            post_id: new_post_id(1_800_000_000_000),
            text: "hi".into(),
            platforms: vec![Platform::Twitter],
            status: PostStatus::Processing,
            rejection: None,
            object_key: None,
            video: None,
            fit: Default::default(),
            options: Default::default(),
            scheduled_at_ms: None,
            cancelled_at_ms: None,
            created_at_ms: 1_800_000_000_000,
            updated_at_ms: 1_800_000_000_000,
            version: 2,
        };
        let source = SourceObject {
            bucket: "b".into(),
            key: "k".into(),
            size_bytes: 10,
            media_type: "video/mp4".into(),
            media_category: "amplify_video".into(),
            etag: None,
            version_id: None,
        };
        UploadJob::new(&post, Platform::Twitter, source, 4, 1_800_000_000_000)
    }

    #[test]
    fn only_non_final_jobs_carry_the_sweep_index_keys() {
        let mut j = job();
        j.lease_until_ms = 1_800_000_060_000;
        let item = job_item(&j).unwrap();
        assert_eq!(
            item[table::SWEEP_SORT_KEY].as_s().unwrap(),
            "1800000060000",
            "due is the later of the step and the lease"
        );
        let pk = item[table::SWEEP_PARTITION_KEY].as_s().unwrap();
        let shard: u32 = pk.strip_prefix("SWEEP#").unwrap().parse().unwrap();
        assert!(shard < table::SWEEP_SHARDS);
        assert_eq!(job_key_from_index(&item), Some(JobKey::of(&j)));

        for phase in [Phase::Published, Phase::Failed, Phase::Unconfirmed] {
            j.phase = phase;
            let item = job_item(&j).unwrap();
            assert!(!item.contains_key(table::SWEEP_PARTITION_KEY), "{phase:?}");
            assert!(!item.contains_key(table::SWEEP_SORT_KEY), "{phase:?}");
        }
    }

    #[test]
    fn due_times_sort_as_strings_in_time_order() {
        assert!(sweep_sk(999) < sweep_sk(1_000));
        assert!(sweep_sk(-5) <= sweep_sk(0));
        assert!(sweep_sk(1_799_999_999_999) < sweep_sk(1_800_000_000_000));
    }

    #[test]
    fn shards_spread_jobs() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..64 {
            let mut j = job();
            j.post_id = new_post_id(1_800_000_000_000 + n);
            seen.insert(sweep_shard(&JobKey::of(&j)));
        }
        assert_eq!(seen.len(), table::SWEEP_SHARDS as usize);
    }
}
