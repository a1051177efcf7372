//! reconciler: the scheduled sweep of DESIGN §3's "nothing stays stuck"
//! (`reelay_shared::reconcile`). EventBridge invokes it every few minutes (template.yaml,
//! `ReconcileSchedule`); each invocation settles the DLQ's messages and re-drives jobs whose next
//! step is overdue.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::{Clock, SystemClock};
use reelay_shared::config::{
    ConfigError, DeadLetterConfig, Env, FitQueueConfig, QueueConfig, TableConfig,
};
use reelay_shared::engine::EngineSettings;
use reelay_shared::ports::WorkQueue;
use reelay_shared::reconcile::{
    settling_engine, DeadLetters, ReconcileSettings, Reconciler, SweepSummary,
};
use reelay_shared::sqs::{SqsDeadLetters, SqsQueue};
use reelay_shared::store::DynamoStore;

#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    pub table: TableConfig,
    pub queue: QueueConfig,
    pub fit_queue: FitQueueConfig,
    pub dead_letters: DeadLetterConfig,
}

impl ReconcilerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            fit_queue: FitQueueConfig::from_env(env)?,
            dead_letters: DeadLetterConfig::from_env(env)?,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            QueueConfig::VARS,
            FitQueueConfig::VARS,
            DeadLetterConfig::VARS,
        ]
        .concat()
    }
}

/// The sweep's adapters, built once per container.
pub struct App {
    pub store: DynamoStore,
    pub queue: Arc<dyn WorkQueue>,
    pub fit_queue: Arc<dyn WorkQueue>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub clock: Arc<dyn Clock>,
    pub settings: ReconcileSettings,
    /// The engine rules a dead letter is settled by (`max_receive_count` names the DLQ's limit
    /// in the failed job's reason).
    pub engine_settings: EngineSettings,
}

impl App {
    /// The production wiring: DynamoDB, the work queue and its DLQ on SQS.
    pub fn new(config: &ReconcilerConfig, aws: &AwsClients) -> Self {
        Self {
            store: DynamoStore::new(aws.dynamodb.clone(), &config.table.table_name),
            queue: Arc::new(SqsQueue::new(aws.sqs.clone(), &config.queue.queue_url)),
            fit_queue: Arc::new(SqsQueue::new(
                aws.sqs.clone(),
                &config.fit_queue.fit_queue_url,
            )),
            dead_letters: Arc::new(SqsDeadLetters::new(
                aws.sqs.clone(),
                &config.dead_letters.dlq_url,
            )),
            clock: Arc::new(SystemClock),
            settings: ReconcileSettings::default(),
            engine_settings: EngineSettings::default(),
        }
    }

    pub fn reconciler(&self) -> Reconciler<'_> {
        Reconciler {
            engine: settling_engine(
                &self.store,
                &self.store,
                self.queue.as_ref(),
                self.clock.as_ref(),
                self.engine_settings.clone(),
            ),
            fit_queue: self.fit_queue.as_ref(),
            index: &self.store,
            dead_letters: self.dead_letters.as_ref(),
            settings: self.settings.clone(),
        }
    }
}

#[derive(Debug)]
struct SweepIncomplete(SweepSummary);

impl std::fmt::Display for SweepIncomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the sweep met {} error(s); the next sweep tries again",
            self.0.errors
        )
    }
}

impl std::error::Error for SweepIncomplete {}

/// Runs one sweep. The scheduled event carries nothing the sweep needs; its time and id are
/// logged. A sweep that met errors (logged one by one) fails the invocation, so Lambda's
/// `Errors` metric shows it; EventBridge's retry of it is just an early sweep.
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, scheduled_at = ?event.payload.time, event_id = ?event.payload.id))]
pub async fn handle(
    app: &App,
    event: LambdaEvent<EventBridgeEvent>,
) -> Result<SweepSummary, lambda_runtime::Error> {
    let summary = app.reconciler().sweep().await;
    if summary.errors > 0 {
        return Err(Box::new(SweepIncomplete(summary)));
    }
    Ok(summary)
}
