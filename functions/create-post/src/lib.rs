//! create-post: runs on S3 ObjectCreated under `uploads/` and hands each object to intake
//! (`reelay_shared::intake`), which turns it into a post's upload jobs or refuses it. This crate
//! reads the configuration, builds the adapters and maps S3's event in and the outcomes out.

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use lambda_runtime::LambdaEvent;
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::SystemClock;
use reelay_shared::config::{
    BucketConfig, ConfigError, Env, FitQueueConfig, QueueConfig, SegmentConfig, TableConfig,
};
use reelay_shared::intake::{CreatedObject, Intake};
use reelay_shared::s3::S3Blobs;
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::DynamoStore;

pub use reelay_shared::intake::{
    IntakeError, ObjectOutcome, Verdict, DEFAULT_SEGMENT_SIZE, RESEND_AFTER_MS,
};

#[derive(Debug, Clone)]
pub struct CreatePostConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
    pub fit_queue: FitQueueConfig,
    pub segments: SegmentConfig,
}

impl CreatePostConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            fit_queue: FitQueueConfig::from_env(env)?,
            segments: SegmentConfig::from_env(env)?,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            BucketConfig::VARS,
            QueueConfig::VARS,
            FitQueueConfig::VARS,
            SegmentConfig::VARS,
        ]
        .concat()
    }
}

pub struct App {
    pub config: CreatePostConfig,
    pub aws: AwsClients,
}

#[tracing::instrument(skip_all, fields(records = event.payload.records.len()))]
pub async fn handle(
    app: &App,
    event: LambdaEvent<S3Event>,
) -> Result<Vec<ObjectOutcome>, lambda_runtime::Error> {
    let store = DynamoStore::new(app.aws.dynamodb.clone(), &app.config.table.table_name);
    let queue = SqsQueue::new(app.aws.sqs.clone(), &app.config.queue.queue_url);
    let fit_queue = SqsQueue::new(app.aws.sqs.clone(), &app.config.fit_queue.fit_queue_url);
    let blobs = S3Blobs::new(app.aws.s3.clone());
    let intake = Intake {
        bucket: &app.config.bucket.bucket_name,
        posts: &store,
        queue: &queue,
        fit_queue: &fit_queue,
        objects: &blobs,
        clock: &SystemClock,
        segment_size: app.config.segments.segment_size_bytes,
    };
    let mut outcomes = Vec::new();
    let mut first_error = None;
    for record in event.payload.records {
        match intake.receive(created_object(&record)).await {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => {
                tracing::error!(error = %err, cause = ?std::error::Error::source(&err), "object not processed; the event will be retried");
                first_error.get_or_insert(err);
            }
        }
    }
    // Every step is idempotent, so a retry of the whole event is safe for the records that passed.
    match first_error {
        Some(err) => Err(err.into()),
        None => Ok(outcomes),
    }
}

/// The record's object; missing fields become empty, which intake ignores or refuses by name.
fn created_object(record: &S3EventRecord) -> CreatedObject {
    CreatedObject {
        bucket: record.s3.bucket.name.clone().unwrap_or_default(),
        raw_key: record.s3.object.key.clone().unwrap_or_default(),
        size: record.s3.object.size.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn segment_size_is_configurable_and_bounded() {
        let mut env: HashMap<String, String> = [
            ("TABLE_NAME", "t"),
            ("BUCKET_NAME", "b"),
            ("QUEUE_URL", "q"),
            ("FIT_QUEUE_URL", "f"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            CreatePostConfig::from_env(&env)
                .unwrap()
                .segments
                .segment_size_bytes,
            DEFAULT_SEGMENT_SIZE
        );
        env.insert("SEGMENT_SIZE_BYTES".into(), "65536".into());
        assert_eq!(
            CreatePostConfig::from_env(&env)
                .unwrap()
                .segments
                .segment_size_bytes,
            65536
        );
        for bad in ["0", "6000000", "lots"] {
            env.insert("SEGMENT_SIZE_BYTES".into(), bad.into());
            let err = CreatePostConfig::from_env(&env).unwrap_err();
            assert!(err.to_string().contains("SEGMENT_SIZE_BYTES"), "{err}");
        }
        assert!(CreatePostConfig::vars().contains(&"SEGMENT_SIZE_BYTES"));
    }
}
