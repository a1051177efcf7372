//! Secrets read from AWS Secrets Manager once per container, at cold start (issue 12).
//!
//! A function's environment holds only where a secret is (its ARN: `X_CLIENT_SECRET_ARN`,
//! `PKCE_KEY_SECRET_ARN`), never the secret itself: anyone with `lambda:GetFunctionConfiguration`
//! reads an environment, while a secret's value needs `secretsmanager:GetSecretValue` on that one
//! secret, which only the functions that use it are granted (template.yaml). The value is read
//! before the function serves anything and kept in a `Secret`, so it never reaches a log line or
//! `Debug` output; a read that fails stops the cold start with an error that names the ARN.

use async_trait::async_trait;
use thiserror::Error;

use crate::secret::Secret;

/// Why a secret could not be read. Names the secret's ARN, never its value.
#[derive(Debug, Error)]
pub enum SecretReadError {
    /// Secrets Manager refused or could not be reached: no such secret, no permission, throttled.
    #[error("cold start: reading secret {arn} from Secrets Manager failed")]
    Read {
        arn: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A binary secret, or one without a value.
    #[error("cold start: secret {arn} has no string value")]
    NoString { arn: String },
    #[error("cold start: secret {arn} is empty")]
    Empty { arn: String },
    /// The value is shorter than its use needs (lengths only, never content).
    #[error(
        "cold start: secret {arn} is too short for {what}: {len} bytes, at least {min} needed"
    )]
    TooShort {
        arn: String,
        what: &'static str,
        len: usize,
        min: usize,
    },
}

impl SecretReadError {
    /// The ARN the error is about.
    pub fn arn(&self) -> &str {
        match self {
            SecretReadError::Read { arn, .. }
            | SecretReadError::NoString { arn }
            | SecretReadError::Empty { arn }
            | SecretReadError::TooShort { arn, .. } => arn,
        }
    }
}

/// Where secrets are read from: Secrets Manager in Lambda (and moto locally), a map in tests.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The current string value of the secret `arn` (its `AWSCURRENT` version).
    async fn read(&self, arn: &str) -> Result<Secret, SecretReadError>;
}

/// The Secrets Manager adapter.
#[derive(Clone, Debug)]
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    #[tracing::instrument(skip(self))]
    async fn read(&self, arn: &str) -> Result<Secret, SecretReadError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| SecretReadError::Read {
                arn: arn.to_owned(),
                source: Box::new(e),
            })?;
        let value = output
            .secret_string
            .ok_or_else(|| SecretReadError::NoString {
                arn: arn.to_owned(),
            })?;
        if value.is_empty() {
            return Err(SecretReadError::Empty {
                arn: arn.to_owned(),
            });
        }
        tracing::info!("secret read");
        Ok(Secret::new(value))
    }
}

/// Secrets held in memory, by ARN: for domain tests.
#[derive(Default, Clone)]
pub struct MemorySecrets(pub std::collections::HashMap<String, Secret>);

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn read(&self, arn: &str) -> Result<Secret, SecretReadError> {
        match self.0.get(arn) {
            Some(s) if s.expose().is_empty() => Err(SecretReadError::Empty {
                arn: arn.to_owned(),
            }),
            Some(s) => Ok(s.clone()),
            None => Err(SecretReadError::Read {
                arn: arn.to_owned(),
                source: "ResourceNotFoundException: no such secret".into(),
            }),
        }
    }
}
