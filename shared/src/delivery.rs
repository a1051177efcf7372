//! One delivery of a work message to the worker (the process-upload function's domain): parse
//! the body, advance the job through the engine within the invocation's time, and on the last
//! receive SQS allows before the dead-letter queue, fail the job with the reason. The function
//! only maps SQS's batch in and the redeliveries out (partial batch responses).

use std::time::Duration;

use crate::engine::{Engine, Invocation, Outcome};
use crate::messages::JobMessage;

/// Kept free at the end of an invocation for the batch response, after the engine's own margin.
pub const HANDLER_RESERVE_MS: i64 = 500;

/// A message as SQS delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub message_id: &'a str,
    pub body: &'a str,
    /// SQS's `ApproximateReceiveCount` (1 on the first receive).
    pub receive_count: u32,
}

/// What SQS should do with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Handled (whatever the job's outcome): delete it.
    Done,
    /// Report it failed, so SQS delivers it again after the visibility timeout (or, after
    /// maxReceiveCount receives, moves it to the dead-letter queue).
    Redeliver,
}

/// Handles one message of the invocation `request_id`, which Lambda ends at `deadline_ms`.
pub async fn deliver(
    engine: &Engine<'_>,
    delivery: Delivery<'_>,
    request_id: &str,
    deadline_ms: i64,
) -> Settle {
    let job = match JobMessage::parse(delivery.body) {
        Ok(job) => job,
        Err(err) => {
            // Retrying cannot fix a malformed body; failing it sends it to the DLQ, where an
            // operator sees it, rather than dropping it silently.
            tracing::error!(error = %err, "malformed job message");
            return Settle::Redeliver;
        }
    };
    let invocation = Invocation {
        id: format!("{request_id}/{}", delivery.message_id),
        deadline_ms,
        receive_count: delivery.receive_count,
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
            return Settle::Done;
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
    if delivery.receive_count >= engine.settings.max_receive_count {
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
    Settle::Redeliver
}
