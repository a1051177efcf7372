//! fit-video: the SQS consumer of fit-video's queue. Each message names a job whose video X
//! would refuse as it is; `reelay_shared::fitter` converts it with ffmpeg and hands the job to
//! the upload. This crate reads the configuration, builds the adapters and maps SQS's event in
//! and partial batch failures out (a failed message comes back; after maxReceiveCount receives it
//! reaches the DLQ, where the reconciler fails its job with a reason).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::{Clock, SystemClock};
use reelay_shared::config::{
    BucketConfig, ConfigError, Env, FitConfig, QueueConfig, SegmentConfig, TableConfig,
};
use reelay_shared::engine::Invocation;
use reelay_shared::ffmpeg::Ffmpeg;
use reelay_shared::fitter::{FitOutcome, FitSettings, Fitter, Transcoder, VideoFiles};
use reelay_shared::messages::JobMessage;
use reelay_shared::ports::WorkQueue;
use reelay_shared::s3::S3Blobs;
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::DynamoStore;
use tracing::Instrument;

#[derive(Debug, Clone)]
pub struct FitVideoConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    /// The work queue: a fitted job's first upload message goes there.
    pub queue: QueueConfig,
    pub segments: SegmentConfig,
    pub fit: FitConfig,
}

impl FitVideoConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            segments: SegmentConfig::from_env(env)?,
            fit: FitConfig::from_env(env)?,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            BucketConfig::VARS,
            QueueConfig::VARS,
            SegmentConfig::VARS,
            FitConfig::VARS,
        ]
        .concat()
    }
}

/// The adapters, built once per container.
pub struct App {
    pub store: DynamoStore,
    pub files: Arc<dyn VideoFiles>,
    pub transcoder: Arc<dyn Transcoder>,
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
    pub settings: FitSettings,
}

impl App {
    /// The production wiring: DynamoDB, S3, SQS and the ffmpeg binaries the configuration names.
    pub fn new(config: &FitVideoConfig, aws: &AwsClients) -> Self {
        Self {
            store: DynamoStore::new(aws.dynamodb.clone(), &config.table.table_name),
            files: Arc::new(S3Blobs::new(aws.s3.clone())),
            transcoder: Arc::new(Ffmpeg {
                ffmpeg: config.fit.ffmpeg_path.clone(),
                ffprobe: config.fit.ffprobe_path.clone(),
            }),
            queue: Arc::new(SqsQueue::new(aws.sqs.clone(), &config.queue.queue_url)),
            clock: Arc::new(SystemClock),
            settings: FitSettings {
                work_dir: config.fit.work_dir.clone(),
                megapixels_per_sec: config.fit.megapixels_per_sec,
                segment_size: config.segments.segment_size_bytes,
                ..FitSettings::default()
            },
        }
    }

    pub fn fitter(&self) -> Fitter<'_> {
        Fitter {
            jobs: &self.store,
            posts: &self.store,
            files: self.files.as_ref(),
            transcoder: self.transcoder.as_ref(),
            queue: self.queue.as_ref(),
            clock: self.clock.as_ref(),
            settings: self.settings.clone(),
        }
    }
}

#[tracing::instrument(skip_all, fields(messages = event.payload.records.len(), request_id = %event.context.request_id))]
pub async fn handle(
    app: &App,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let fitter = app.fitter();
    let invocation_id = event.context.request_id.clone();
    let deadline_ms = event.context.deadline as i64;
    let mut response = SqsBatchResponse::default();
    for message in event.payload.records {
        let id = message.message_id.clone().unwrap_or_default();
        let invocation = Invocation {
            id: invocation_id.clone(),
            deadline_ms,
            receive_count: receive_count(&message),
        };
        let span = tracing::info_span!("message", message_id = %id);
        if !fit_one(&fitter, &message, &invocation)
            .instrument(span)
            .await
        {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

/// Whether the message is done with (acknowledged); false sends it back.
async fn fit_one(fitter: &Fitter<'_>, message: &SqsMessage, invocation: &Invocation) -> bool {
    let body = message.body.as_deref().unwrap_or("");
    let Ok(job_message) = JobMessage::parse(body) else {
        // Failed, as process-upload fails one: after its receives it waits in the DLQ for an
        // operator, who sees it there (the reconciler leaves malformed dead letters alone).
        tracing::error!(body_bytes = body.len(), "malformed fit message");
        return false;
    };
    match fitter.fit(&job_message, invocation).await {
        Ok(FitOutcome::Retry(why)) => {
            tracing::info!(why, "message sent back");
            false
        }
        Ok(outcome) => {
            tracing::info!(?outcome, "fit message handled");
            true
        }
        Err(err) => {
            tracing::warn!(error = %err, cause = ?std::error::Error::source(&err), "fit attempt failed; the message comes back");
            false
        }
    }
}

/// SQS's `ApproximateReceiveCount`; 1 if absent.
fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}
