//! What the driver prepared and every case process needs: where moto, the bench's S3 and the X
//! emulator listen, the stack's names, the connected user, and the videos in S3.

use std::collections::HashMap;

use reelay_local::stack::{Stack, StackSpec};
use serde::{Deserialize, Serialize};

use crate::video::Video;

pub const CLIENT_ID: &str = "reelay-bench";
pub const CLIENT_SECRET: &str = "reelay-bench-secret";
pub const CALLBACK_PATH: &str = "/api/auth/platforms/twitter/callback";
pub const USER: &str = "bench-user";
/// The emulator's default user, who approves the test consent.
pub const X_USER_ID: &str = "1072250532645998596";
/// The worker's per-call timeout to X (`X_REQUEST_TIMEOUT_SECS`), the production default.
pub const X_REQUEST_TIMEOUT_SECS: u64 = 30;
/// Reelay's default segment size.
pub const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackNames {
    pub prefix: String,
    pub visibility_timeout_secs: u32,
    pub max_receive_count: u32,
    pub table_name: String,
    pub bucket_name: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub s3_events_queue_url: String,
    pub kms_key_id: String,
    #[serde(default)]
    pub alerts_topic_arn: String,
    #[serde(default)]
    pub operator_inbox_url: String,
    #[serde(default)]
    pub x_client_secret_arn: Option<String>,
    #[serde(default)]
    pub pkce_key_secret_arn: String,
    #[serde(default)]
    pub schedule_group_name: String,
    #[serde(default)]
    pub scheduler_role_arn: String,
    #[serde(default)]
    pub fit_queue_url: String,
    #[serde(default)]
    pub fit_queue_arn: String,
}

impl StackNames {
    pub fn of(stack: &Stack) -> Self {
        Self {
            prefix: stack.spec.prefix.clone(),
            visibility_timeout_secs: stack.spec.visibility_timeout_secs,
            max_receive_count: stack.spec.max_receive_count,
            table_name: stack.table_name.clone(),
            bucket_name: stack.bucket_name.clone(),
            queue_url: stack.queue_url.clone(),
            queue_arn: stack.queue_arn.clone(),
            dlq_url: stack.dlq_url.clone(),
            dlq_arn: stack.dlq_arn.clone(),
            fit_queue_url: stack.fit_queue_url.clone(),
            fit_queue_arn: stack.fit_queue_arn.clone(),
            s3_events_queue_url: stack.s3_events_queue_url.clone(),
            kms_key_id: stack.kms_key_id.clone(),
            alerts_topic_arn: stack.alerts_topic_arn.clone(),
            operator_inbox_url: stack.operator_inbox_url.clone(),
            x_client_secret_arn: stack.x_client_secret_arn.clone(),
            pkce_key_secret_arn: stack.pkce_key_secret_arn.clone(),
            schedule_group_name: stack.schedule_group_name.clone(),
            scheduler_role_arn: stack.scheduler_role_arn.clone(),
        }
    }

    pub fn stack(&self) -> Stack {
        let mut spec = StackSpec::new(self.prefix.clone());
        spec.visibility_timeout_secs = self.visibility_timeout_secs;
        spec.max_receive_count = self.max_receive_count;
        Stack {
            spec,
            table_name: self.table_name.clone(),
            bucket_name: self.bucket_name.clone(),
            queue_url: self.queue_url.clone(),
            queue_arn: self.queue_arn.clone(),
            dlq_url: self.dlq_url.clone(),
            dlq_arn: self.dlq_arn.clone(),
            fit_queue_url: self.fit_queue_url.clone(),
            fit_queue_arn: self.fit_queue_arn.clone(),
            s3_events_queue_url: self.s3_events_queue_url.clone(),
            kms_key_id: self.kms_key_id.clone(),
            alerts_topic_arn: self.alerts_topic_arn.clone(),
            operator_inbox_url: self.operator_inbox_url.clone(),
            x_client_secret_arn: self.x_client_secret_arn.clone(),
            // The bench measures X's upload; YouTube is off in its stack.
            google_client_secret_arn: None,
            pkce_key_secret_arn: self.pkce_key_secret_arn.clone(),
            schedule_group_name: self.schedule_group_name.clone(),
            scheduler_role_arn: self.scheduler_role_arn.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// moto: DynamoDB, SQS, KMS, SNS, Secrets Manager, EventBridge Scheduler.
    pub aws_endpoint: String,
    /// The bench's S3 (`crate::s3_server`), where the videos are; moto's when absent.
    #[serde(default)]
    pub s3_endpoint: Option<String>,
    pub emulator_url: String,
    pub redirect_uri: String,
    pub stack: StackNames,
    pub videos: Vec<Video>,
}

impl Setup {
    /// The functions' environment, as `template.yaml` and World set it.
    pub fn function_env(&self) -> HashMap<String, String> {
        let base = &self.emulator_url;
        let mut env = self.stack.stack().function_env();
        env.extend(
            [
                ("X_CLIENT_ID", CLIENT_ID.to_owned()),
                ("X_REDIRECT_URI", self.redirect_uri.clone()),
                ("X_AUTHORIZE_URL", format!("{base}/i/oauth2/authorize")),
                ("X_TOKEN_URL", format!("{base}/2/oauth2/token")),
                ("X_REVOKE_URL", format!("{base}/2/oauth2/revoke")),
                ("X_API_BASE_URL", base.clone()),
                ("X_REQUEST_TIMEOUT_SECS", X_REQUEST_TIMEOUT_SECS.to_string()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env
    }

    /// Clients for the stack: moto, and S3 where the videos are.
    pub async fn aws_clients(&self) -> reelay_shared::aws::AwsClients {
        crate::counting::clients(&self.aws_endpoint, self.s3_endpoint.as_deref(), None).await
    }

    pub fn video(&self, size_mib: u64) -> anyhow::Result<&Video> {
        self.videos
            .iter()
            .find(|v| v.size_mib == size_mib)
            .ok_or_else(|| anyhow::anyhow!("no {size_mib} MiB video in the setup"))
    }
}
