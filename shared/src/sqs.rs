//! The SQS adapters of the work queue and of its dead-letter queue.

use async_trait::async_trait;

use crate::messages::JobMessage;
use crate::ports::{QueueError, WorkQueue};
use crate::reconcile::{DeadLetter, DeadLetters};

#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl WorkQueue for SqsQueue {
    #[tracing::instrument(skip(self, message), fields(post_id = %message.post_id), level = "debug")]
    async fn send(&self, message: &JobMessage, delay_secs: u32) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(message.to_body())
            // SQS allows delays of at most 15 minutes.
            .delay_seconds(delay_secs.min(900) as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError {
                detail: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
            })
    }
}

/// The SQS adapter of the dead-letter queue the reconciler drains.
#[derive(Clone)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

fn queue_error<E: std::error::Error + 'static>(e: &E) -> QueueError {
    QueueError {
        detail: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    #[tracing::instrument(skip(self), level = "debug")]
    async fn receive(&self, max: u32, hide_secs: u32) -> Result<Vec<DeadLetter>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            // A short long-poll: a plain (short) poll samples only some SQS servers and may
            // answer empty while a few messages wait.
            .wait_time_seconds(1)
            // SQS allows up to 12 hours.
            .visibility_timeout(hide_secs.min(43_200) as i32)
            .send()
            .await
            .map_err(|e| queue_error(&e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(DeadLetter {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                })
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(message_id = %letter.message_id), level = "debug")]
    async fn delete(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&letter.receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| queue_error(&e))
    }
}
