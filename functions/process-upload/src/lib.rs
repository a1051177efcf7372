//! process-upload: the SQS consumer that hands each work message to `reelay_shared::delivery`
//! (which advances its job through the engine), reporting partial batch failures so that only
//! the failed messages come back (and, after maxReceiveCount receives, reach the DLQ).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use reelay_shared::accounts::cipher::KmsTokenCipher;
use reelay_shared::accounts::oauth::{OAuthApp, OAuthError};
use reelay_shared::accounts::store::DynamoAccountStore;
use reelay_shared::accounts::tokens::TokenProvider;
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::{Clock, SystemClock};
use reelay_shared::delivery::{deliver, Delivery, Settle};
use reelay_shared::engine::{Engine, EngineSettings, ResumableTarget};
use reelay_shared::platforms::youtube::platform::YouTubePlatform;
use reelay_shared::platforms::youtube::YouTubeClient;
use reelay_shared::ports::{
    CrashSwitch, Credentials, MediaPlatform, NoCrashes, OperatorAlerts, ResumablePlatform, WakeUps,
    WorkQueue,
};
use reelay_shared::posts::Platform;
use reelay_shared::s3::S3Blobs;
use reelay_shared::scheduler::EventBridgeWakeUps;
use reelay_shared::sns::SnsAlerts;
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::DynamoStore;
use reelay_shared::x::XClient;
use reelay_shared::x_platform::{TokenCredentials, XPlatform};

pub use reelay_shared::config::WorkerConfig;

/// The engine's adapters, built once per container.
pub struct App {
    pub store: DynamoStore,
    pub blobs: S3Blobs,
    pub queue: Arc<dyn WorkQueue>,
    pub platform: Arc<dyn MediaPlatform>,
    pub credentials: Arc<dyn Credentials>,
    /// YouTube's upload and the credentials of YouTube accounts, when configured.
    pub youtube: Option<(Arc<dyn ResumablePlatform>, Arc<dyn Credentials>)>,
    pub clock: Arc<dyn Clock>,
    pub crashes: Arc<dyn CrashSwitch>,
    pub alerts: Arc<dyn OperatorAlerts>,
    /// Wakes a scheduled post's job at its time: EventBridge Scheduler's one-time schedules.
    pub wake_ups: Arc<dyn WakeUps>,
    pub settings: EngineSettings,
}

/// Why process-upload could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Secret(#[from] reelay_shared::secret_store::SecretReadError),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
}

impl App {
    /// The container's start: reads the X client secret (it refreshes tokens with it), and
    /// Google's when YouTube is configured, once from `secrets`, then wires everything (`new`).
    /// An unreadable secret fails the start, with an error naming its ARN.
    pub async fn cold_start(
        mut config: WorkerConfig,
        aws: &AwsClients,
        http: reqwest::Client,
        secrets: &dyn reelay_shared::secret_store::SecretSource,
    ) -> Result<Self, StartError> {
        config.x.read_client_secret(secrets).await?;
        if let Some(youtube) = config.youtube.as_mut() {
            youtube.read_client_secret(secrets).await?;
        }
        Ok(Self::new(&config, aws, http)?)
    }

    /// The production wiring: DynamoDB, S3, SQS, EventBridge Scheduler, X, and the token
    /// provider over KMS. The config's client secret must have been read (`cold_start`).
    pub fn new(
        config: &WorkerConfig,
        aws: &AwsClients,
        http: reqwest::Client,
    ) -> Result<Self, OAuthError> {
        let accounts = Arc::new(DynamoAccountStore::new(
            aws.dynamodb.clone(),
            &config.table.table_name,
        ));
        let cipher = Arc::new(KmsTokenCipher::new(aws.kms.clone(), &config.key.kms_key_id));
        let credentials = |oauth, timeout| -> Arc<dyn Credentials> {
            let tokens =
                TokenProvider::for_worker(accounts.clone(), cipher.clone(), oauth, timeout);
            Arc::new(TokenCredentials::new(Arc::new(tokens)))
        };
        let x_credentials = credentials(
            OAuthApp::new(http.clone(), &config.x)?,
            config.x.request_timeout,
        );
        let youtube = match &config.youtube {
            Some(youtube) => Some((
                Arc::new(YouTubePlatform::new(
                    YouTubeClient::new(http.clone(), youtube.api_base_url.clone()),
                    Arc::new(SystemClock),
                )) as Arc<dyn ResumablePlatform>,
                credentials(
                    OAuthApp::for_provider(http.clone(), &youtube.into())?,
                    youtube.request_timeout,
                ),
            )),
            None => None,
        };
        Ok(Self {
            store: DynamoStore::new(aws.dynamodb.clone(), &config.table.table_name),
            blobs: S3Blobs::new(aws.s3.clone()),
            queue: Arc::new(SqsQueue::new(aws.sqs.clone(), &config.queue.queue_url)),
            platform: Arc::new(XPlatform::new(XClient::new(http, &config.x))),
            credentials: x_credentials,
            youtube,
            clock: Arc::new(SystemClock),
            crashes: Arc::new(NoCrashes),
            alerts: Arc::new(SnsAlerts::new(aws.sns.clone(), &config.alerts.topic_arn)),
            wake_ups: Arc::new(EventBridgeWakeUps::new(
                aws.scheduler.clone(),
                &config.scheduler,
            )),
            settings: EngineSettings {
                parallel_appends: config.appends.parallel_appends,
                ..EngineSettings::default()
            },
        })
    }

    pub fn engine(&self) -> Engine<'_> {
        Engine {
            jobs: &self.store,
            posts: &self.store,
            blobs: &self.blobs,
            queue: self.queue.as_ref(),
            platform: self.platform.as_ref(),
            credentials: self.credentials.as_ref(),
            resumable: self
                .youtube
                .iter()
                .map(|(upload, credentials)| ResumableTarget {
                    platform: Platform::YouTube,
                    upload: upload.as_ref(),
                    credentials: credentials.as_ref(),
                })
                .collect(),
            clock: self.clock.as_ref(),
            crashes: self.crashes.as_ref(),
            alerts: self.alerts.as_ref(),
            wake_ups: self.wake_ups.as_ref(),
            settings: self.settings.clone(),
        }
    }
}

#[tracing::instrument(skip_all, fields(messages = event.payload.records.len(), request_id = %event.context.request_id))]
pub async fn handle(
    app: &App,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let engine = app.engine();
    let deadline_ms = event.context.deadline as i64;
    let mut response = SqsBatchResponse::default();
    for message in event.payload.records {
        let id = message.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("message", message_id = %id);
        let _guard = span.enter();
        let delivery = Delivery {
            message_id: &id,
            body: message.body.as_deref().unwrap_or(""),
            receive_count: receive_count(&message),
        };
        let settle = deliver(&engine, delivery, &event.context.request_id, deadline_ms).await;
        if settle == Settle::Redeliver {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

/// SQS's `ApproximateReceiveCount`; 1 if absent.
fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}
