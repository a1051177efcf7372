//! create-post: runs on S3 ObjectCreated under `uploads/`, turns the object into a post and
//! enqueues its upload jobs.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::LambdaEvent;
use reelay_shared::aws::AwsClients;
use reelay_shared::config::{BucketConfig, ConfigError, Env, QueueConfig, TableConfig};
use reelay_shared::ids::UploadKey;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct CreatePostConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
}

impl CreatePostConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [TableConfig::VARS, BucketConfig::VARS, QueueConfig::VARS].concat()
    }
}

pub struct App {
    pub config: CreatePostConfig,
    pub aws: AwsClients,
}

/// What happened to each object in the event; returned so callers (the local runner, tests) can see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectOutcome {
    pub bucket: String,
    pub key: String,
    pub size: i64,
    pub result: String,
}

#[tracing::instrument(skip_all, fields(records = event.payload.records.len()))]
pub async fn handle(
    _app: &App,
    event: LambdaEvent<S3Event>,
) -> Result<Vec<ObjectOutcome>, lambda_runtime::Error> {
    let mut outcomes = Vec::new();
    for record in event.payload.records {
        let bucket = record.s3.bucket.name.unwrap_or_default();
        let raw_key = record.s3.object.key.unwrap_or_default();
        let size = record.s3.object.size.unwrap_or(0);
        let (key, result) = match UploadKey::decode_event_key(&raw_key) {
            Err(err) => (raw_key, format!("rejected: {err}")),
            Ok(key) => {
                let result = match UploadKey::parse(&key) {
                    // Post creation and the pre-flight check land with issue 5.
                    Ok(upload) => format!("received upload for post {}", upload.post_id),
                    Err(err) => format!("rejected: {err}"),
                };
                (key, result)
            }
        };
        tracing::info!(%bucket, %key, size, %result, "object created");
        outcomes.push(ObjectOutcome {
            bucket,
            key,
            size,
            result,
        });
    }
    Ok(outcomes)
}
