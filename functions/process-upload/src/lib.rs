//! process-upload: the SQS consumer that advances upload jobs, reporting partial batch failures
//! so that only the failed messages come back (and, after N receives, reach the DLQ).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use reelay_shared::aws::AwsClients;
use reelay_shared::config::{
    BucketConfig, ConfigError, Env, KeyConfig, QueueConfig, TableConfig, XConfig,
};
use reelay_shared::messages::JobMessage;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
    pub key: KeyConfig,
    pub x: XConfig,
}

impl WorkerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            key: KeyConfig::from_env(env)?,
            x: XConfig::from_env(env)?,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            BucketConfig::VARS,
            QueueConfig::VARS,
            KeyConfig::VARS,
            XConfig::VARS,
        ]
        .concat()
    }
}

pub struct App {
    pub config: WorkerConfig,
    pub aws: AwsClients,
    pub http: reqwest::Client,
}

#[tracing::instrument(skip_all, fields(messages = event.payload.records.len(), deadline_ms = event.context.deadline))]
pub async fn handle(
    _app: &App,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut response = SqsBatchResponse::default();
    for message in event.payload.records {
        let id = message.message_id.clone().unwrap_or_default();
        match JobMessage::parse(message.body.as_deref().unwrap_or("")) {
            Ok(job) => {
                // The upload engine lands with issue 6; until then the message is acknowledged.
                tracing::info!(message_id = %id, post_id = %job.post_id, platform = %job.platform, "job message received");
            }
            Err(err) => {
                // Retrying cannot fix a malformed body; reporting it sends it to the DLQ after N receives,
                // where an operator can see it, instead of dropping it silently.
                tracing::warn!(message_id = %id, error = %err, "malformed job message");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    Ok(response)
}
