//! AWS SDK clients, built once per container from one `aws_config` load.
//!
//! Endpoints come from the SDK's own variables (`AWS_ENDPOINT_URL`, or per service
//! `AWS_ENDPOINT_URL_S3` ...), so there is no local switch here. When an endpoint is overridden we
//! also force path-style S3 addressing: emulators on `localhost` cannot serve
//! `bucket.localhost` virtual hosts (research/local-aws.md).

use aws_config::{BehaviorVersion, SdkConfig};

#[derive(Clone, Debug)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub kms: aws_sdk_kms::Client,
    pub sns: aws_sdk_sns::Client,
    /// EventBridge Scheduler: the one-time schedules that wake scheduled posts (`scheduler`).
    pub scheduler: aws_sdk_scheduler::Client,
    /// Read at cold start only (`secret_store`).
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    /// The configuration's credentials, for the one signature the SDK does not make: S3's POST
    /// policy (`s3::S3Blobs::presign_post`). The clients do not expose theirs.
    pub credentials: Option<aws_sdk_s3::config::SharedCredentialsProvider>,
}

impl AwsClients {
    /// Loads the SDK configuration from the environment and builds every client from it.
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::from_config(&config)
    }

    pub fn from_config(config: &SdkConfig) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            scheduler: aws_sdk_scheduler::Client::new(config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
            credentials: config.credentials_provider(),
        }
    }
}
