//! What the API function reads from the environment, once, at cold start.

use crate::config::{
    BucketConfig, ConfigError, ConnectConfig, ConsoleConfig, Env, FitQueueConfig, KeyConfig,
    PkceConfig, QueueConfig, QuotaConfig, TableConfig, XConfig, YouTubeConfig,
};

/// Everything the API reads from the environment.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
    /// A retry of a conversion that never finished goes back to fit-video's queue.
    pub fit_queue: FitQueueConfig,
    pub key: KeyConfig,
    pub x: XConfig,
    /// YouTube's Google OAuth app; `None` when the operator has not set it up.
    pub youtube: Option<YouTubeConfig>,
    /// Where the PKCE key is (the connect route derives verifiers with it).
    pub pkce: PkceConfig,
    /// Where the browser may be sent back after connecting X (optional allow-list).
    pub connect: ConnectConfig,
    /// Per-user limits on `POST /api/posts` (optional, with defaults).
    pub quota: QuotaConfig,
    /// The web console's sign-in (optional).
    pub console: ConsoleConfig,
}

impl ApiConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            fit_queue: FitQueueConfig::from_env(env)?,
            key: KeyConfig::from_env(env)?,
            x: XConfig::from_env(env)?,
            youtube: YouTubeConfig::from_env(env)?,
            pkce: PkceConfig::from_env(env)?,
            connect: ConnectConfig::from_env(env)?,
            quota: QuotaConfig::from_env(env)?,
            console: ConsoleConfig::from_env(env)?,
        })
    }

    /// Every variable this function may read; the template test checks each is set for it.
    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            BucketConfig::VARS,
            QueueConfig::VARS,
            FitQueueConfig::VARS,
            KeyConfig::VARS,
            XConfig::VARS,
            YouTubeConfig::VARS,
            PkceConfig::VARS,
            ConnectConfig::VARS,
            QuotaConfig::VARS,
            ConsoleConfig::VARS,
        ]
        .concat()
    }
}
