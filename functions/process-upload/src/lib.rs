//! process-upload: the SQS consumer that advances upload jobs through the engine
//! (`reelay_shared::engine`), reporting partial batch failures so that only the failed messages
//! come back (and, after maxReceiveCount receives, reach the DLQ).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use reelay_shared::accounts::cipher::KmsTokenCipher;
use reelay_shared::accounts::oauth::{OAuthError, XOAuth};
use reelay_shared::accounts::store::DynamoAccountStore;
use reelay_shared::accounts::tokens::{TokenSettings, XTokenProvider};
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::{Clock, SystemClock};
use reelay_shared::config::{
    AlertsConfig, BucketConfig, ConfigError, Env, KeyConfig, QueueConfig, TableConfig, XConfig,
};
use reelay_shared::engine::{Engine, EngineSettings, Invocation, Outcome};
use reelay_shared::messages::JobMessage;
use reelay_shared::ports::{
    CrashSwitch, Credentials, MediaPlatform, NoCrashes, OperatorAlerts, WorkQueue,
};
use reelay_shared::s3::S3Blobs;
use reelay_shared::sns::SnsAlerts;
use reelay_shared::sqs::SqsQueue;
use reelay_shared::store::DynamoStore;
use reelay_shared::x::XClient;
use reelay_shared::x_platform::{XCredentials, XPlatform};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
    pub key: KeyConfig,
    pub x: XConfig,
    pub alerts: AlertsConfig,
}

impl WorkerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            key: KeyConfig::from_env(env)?,
            x: XConfig::from_env(env)?,
            alerts: AlertsConfig::from_env(env)?,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            BucketConfig::VARS,
            QueueConfig::VARS,
            KeyConfig::VARS,
            XConfig::VARS,
            AlertsConfig::VARS,
        ]
        .concat()
    }
}

/// The engine's adapters, built once per container.
pub struct App {
    pub store: DynamoStore,
    pub blobs: S3Blobs,
    pub queue: Arc<dyn WorkQueue>,
    pub platform: Arc<dyn MediaPlatform>,
    pub credentials: Arc<dyn Credentials>,
    pub clock: Arc<dyn Clock>,
    pub crashes: Arc<dyn CrashSwitch>,
    pub alerts: Arc<dyn OperatorAlerts>,
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
    /// The container's start: reads the X client secret (it refreshes tokens with it) once from
    /// `secrets`, then wires everything (`new`). An unreadable secret fails the start, with an
    /// error naming its ARN.
    pub async fn cold_start(
        mut config: WorkerConfig,
        aws: &AwsClients,
        http: reqwest::Client,
        secrets: &dyn reelay_shared::secret_store::SecretSource,
    ) -> Result<Self, StartError> {
        config.x.read_client_secret(secrets).await?;
        Ok(Self::new(&config, aws, http)?)
    }

    /// The production wiring: DynamoDB, S3, SQS, X, and the token provider over KMS. The
    /// config's client secret must have been read (`cold_start`).
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
        let oauth = XOAuth::new(http.clone(), &config.x)?;
        // A refresh is started only when X's answer can arrive within the invocation: the HTTP
        // client's timeout, plus KMS and DynamoDB (see `TokenSettings::refresh_time_needed`).
        let token_settings = TokenSettings {
            refresh_time_needed: config.x.request_timeout + Duration::from_secs(5),
            ..TokenSettings::default()
        };
        let tokens = Arc::new(
            XTokenProvider::new(accounts, cipher, oauth, Arc::new(SystemClock))
                .with_settings(token_settings),
        );
        Ok(Self {
            store: DynamoStore::new(aws.dynamodb.clone(), &config.table.table_name),
            blobs: S3Blobs::new(aws.s3.clone()),
            queue: Arc::new(SqsQueue::new(aws.sqs.clone(), &config.queue.queue_url)),
            platform: Arc::new(XPlatform::new(XClient::new(http, &config.x))),
            credentials: Arc::new(XCredentials::new(tokens)),
            clock: Arc::new(SystemClock),
            crashes: Arc::new(NoCrashes),
            alerts: Arc::new(SnsAlerts::new(aws.sns.clone(), &config.alerts.topic_arn)),
            settings: EngineSettings::default(),
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
            clock: self.clock.as_ref(),
            crashes: self.crashes.as_ref(),
            alerts: self.alerts.as_ref(),
            settings: self.settings.clone(),
        }
    }
}

/// Kept free at the end of an invocation for the batch response, after the engine's own margin.
const HANDLER_RESERVE_MS: i64 = 500;

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
        if !process(&engine, &message, &event.context.request_id, deadline_ms).await {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

/// Handles one message; false means "report it as failed so SQS delivers it again".
async fn process(
    engine: &Engine<'_>,
    message: &SqsMessage,
    request_id: &str,
    deadline_ms: i64,
) -> bool {
    let receive_count: u32 = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let job = match JobMessage::parse(message.body.as_deref().unwrap_or("")) {
        Ok(job) => job,
        Err(err) => {
            // Retrying cannot fix a malformed body; failing it sends it to the DLQ, where an
            // operator sees it, rather than dropping it silently.
            tracing::error!(error = %err, "malformed job message");
            return false;
        }
    };
    let invocation = Invocation {
        id: format!(
            "{request_id}/{}",
            message.message_id.as_deref().unwrap_or("")
        ),
        deadline_ms,
        receive_count,
    };
    // The engine fits every call before the deadline itself; this is the backstop that keeps
    // Lambda's timeout from ever firing (a killed invocation fails its whole batch and reports
    // nothing): the message is reported failed and comes back after the visibility timeout.
    let left_ms = deadline_ms - engine.clock.now_ms() - HANDLER_RESERVE_MS;
    let advanced = match u64::try_from(left_ms) {
        Ok(ms) if ms > 0 => {
            tokio::time::timeout(Duration::from_millis(ms), engine.advance(&job, &invocation))
                .await
                .ok()
        }
        _ => None,
    };
    let reason = match advanced {
        Some(Ok(Outcome::Retry(reason))) => reason.to_owned(),
        Some(Ok(outcome)) => {
            tracing::info!(?outcome, "message handled");
            return true;
        }
        Some(Err(err)) => {
            tracing::error!(error = %err, error_source = ?std::error::Error::source(&err), "advancing the job failed");
            err.to_string()
        }
        None => {
            tracing::error!("the invocation ran out of time; the message comes back later");
            "the invocation ran out of time".to_owned()
        }
    };
    // This was the last receive SQS allows before the DLQ: fail the job with the reason now, or
    // it would stay "processing" for ever.
    if receive_count >= engine.settings.max_receive_count {
        match engine
            .settler()
            .fail_on_last_receive(&job, &reason, &invocation)
            .await
        {
            Ok(verdict) => tracing::warn!(?verdict, "last receive before the DLQ"),
            Err(err) => {
                tracing::error!(error = %err, "could not mark the job failed before the DLQ")
            }
        }
    }
    false
}
