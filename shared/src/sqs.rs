//! The SQS adapter of the work queue.

use async_trait::async_trait;

use crate::messages::JobMessage;
use crate::ports::{QueueError, WorkQueue};

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
