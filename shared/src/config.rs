//! Typed configuration, read once at cold start.
//!
//! Every function reads only the pieces it needs, and a missing or malformed variable fails the
//! start with an error that names it. Endpoints are configuration too: AWS endpoints come from the
//! SDK's own `AWS_ENDPOINT_URL` (read by `aws-config`), X's from the `X_*` variables below, so the
//! same binary talks to AWS and X in production and to moto and the X emulator locally.

use std::collections::HashMap;
use std::time::Duration;

use thiserror::Error;
use url::Url;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where configuration values come from: the process environment in Lambda, a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.is_empty())
    }
}

fn required(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    env.var(name).ok_or(ConfigError::Missing(name))
}

fn url_or(env: &dyn Env, name: &'static str, default: &str) -> Result<Url, ConfigError> {
    let raw = env.var(name).unwrap_or_else(|| default.to_owned());
    Url::parse(&raw).map_err(|e| ConfigError::Invalid {
        name,
        reason: e.to_string(),
    })
}

/// A client secret set in the environment: refused rather than used (issue 12: secrets live only
/// in Secrets Manager), naming the variable and the ARN variable to use instead, never the value.
fn refuse_plain_secret(
    env: &dyn Env,
    name: &'static str,
    arn_name: &str,
) -> Result<(), ConfigError> {
    match env.var(name) {
        None => Ok(()),
        Some(_) => Err(ConfigError::Invalid {
            name,
            reason: format!(
                "the client secret is not read from the environment: store it in Secrets \
                 Manager, set {arn_name} to its ARN and remove {name}"
            ),
        }),
    }
}

fn secs_or(env: &dyn Env, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
    match env.var(name) {
        None => Ok(Duration::from_secs(default)),
        Some(raw) => {
            raw.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("expected whole seconds, got {raw:?}"),
                })
        }
    }
}

/// The DynamoDB table that holds states, accounts, posts and jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    pub table_name: String,
}

impl TableConfig {
    pub const VARS: &'static [&'static str] = &["TABLE_NAME"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required(env, "TABLE_NAME")?,
        })
    }
}

/// The bucket videos are uploaded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    pub bucket_name: String,
}

impl BucketConfig {
    pub const VARS: &'static [&'static str] = &["BUCKET_NAME"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bucket_name: required(env, "BUCKET_NAME")?,
        })
    }
}

/// The work queue that drives upload jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub queue_url: String,
}

impl QueueConfig {
    pub const VARS: &'static [&'static str] = &["QUEUE_URL"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            queue_url: required(env, "QUEUE_URL")?,
        })
    }
}

/// fit-video's queue: jobs whose video must be converted before upload (issue 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitQueueConfig {
    pub fit_queue_url: String,
}

impl FitQueueConfig {
    pub const VARS: &'static [&'static str] = &["FIT_QUEUE_URL"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            fit_queue_url: required(env, "FIT_QUEUE_URL")?,
        })
    }
}

/// EventBridge Scheduler's one-time schedules that wake scheduled posts (issue 15,
/// `scheduler::EventBridgeWakeUps`): the stack's schedule group, the role the scheduler assumes
/// to send, and the work queue's ARN (a schedule's target is an ARN, not a URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    pub group_name: String,
    pub role_arn: String,
    pub queue_arn: String,
}

impl SchedulerConfig {
    pub const VARS: &'static [&'static str] = &[
        "SCHEDULE_GROUP_NAME",
        "SCHEDULER_ROLE_ARN",
        "WORK_QUEUE_ARN",
    ];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            group_name: required(env, "SCHEDULE_GROUP_NAME")?,
            role_arn: required(env, "SCHEDULER_ROLE_ARN")?,
            queue_arn: required(env, "WORK_QUEUE_ARN")?,
        })
    }
}

/// The SNS topic that tells the operator about problems only they can fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    pub topic_arn: String,
}

impl AlertsConfig {
    pub const VARS: &'static [&'static str] = &["OPERATOR_ALERTS_TOPIC_ARN"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: required(env, "OPERATOR_ALERTS_TOPIC_ARN")?,
        })
    }
}

/// The work queue's dead-letter queue, which the reconciler drains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterConfig {
    pub dlq_url: String,
}

impl DeadLetterConfig {
    pub const VARS: &'static [&'static str] = &["DLQ_URL"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            dlq_url: required(env, "DLQ_URL")?,
        })
    }
}

/// The KMS key that encrypts platform tokens at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConfig {
    pub kms_key_id: String,
}

impl KeyConfig {
    pub const VARS: &'static [&'static str] = &["KMS_KEY_ID"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            kms_key_id: required(env, "KMS_KEY_ID")?,
        })
    }
}

/// X's endpoints and this app's OAuth client. The URLs default to the real X.
#[derive(Clone, PartialEq, Eq)]
pub struct XConfig {
    pub client_id: String,
    /// Where the client secret is: the ARN of a Secrets Manager secret (`X_CLIENT_SECRET_ARN`).
    /// None for a public client. The environment never holds the secret itself (issue 12).
    pub client_secret_arn: Option<String>,
    /// Web apps are confidential clients: X wants HTTP Basic auth on the token endpoint. Read
    /// from `client_secret_arn` once at cold start (`read_client_secret`); `XOAuth::new` refuses
    /// a config whose secret has an ARN but was not read.
    pub client_secret: Option<crate::secret::Secret>,
    /// The callback URL registered in X's developer portal; must match exactly.
    pub redirect_uri: Url,
    pub authorize_url: Url,
    pub token_url: Url,
    pub revoke_url: Url,
    /// Base for `/2/...` API calls, media upload included (X serves both from api.x.com).
    pub api_base_url: Url,
    /// Per-request timeout for calls to X.
    pub request_timeout: Duration,
}

// Hand-written so the client secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for XConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XConfig")
            .field("client_id", &self.client_id)
            .field("client_secret_arn", &self.client_secret_arn)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("authorize_url", &self.authorize_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("revoke_url", &self.revoke_url.as_str())
            .field("api_base_url", &self.api_base_url.as_str())
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl XConfig {
    pub const VARS: &'static [&'static str] = &[
        "X_CLIENT_ID",
        "X_CLIENT_SECRET_ARN",
        "X_REDIRECT_URI",
        "X_AUTHORIZE_URL",
        "X_TOKEN_URL",
        "X_REVOKE_URL",
        "X_API_BASE_URL",
        "X_REQUEST_TIMEOUT_SECS",
    ];

    /// Reads the environment; the client secret itself is read afterwards, from Secrets
    /// Manager (`read_client_secret`).
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        // The secret in the environment was the old way (issue 12): refuse it rather than
        // quietly run as a public client that X would answer 401.
        refuse_plain_secret(env, "X_CLIENT_SECRET", "X_CLIENT_SECRET_ARN")?;
        Ok(Self {
            client_id: required(env, "X_CLIENT_ID")?,
            client_secret_arn: env.var("X_CLIENT_SECRET_ARN"),
            client_secret: None,
            redirect_uri: Url::parse(&required(env, "X_REDIRECT_URI")?).map_err(|e| {
                ConfigError::Invalid {
                    name: "X_REDIRECT_URI",
                    reason: e.to_string(),
                }
            })?,
            authorize_url: url_or(env, "X_AUTHORIZE_URL", "https://x.com/i/oauth2/authorize")?,
            token_url: url_or(env, "X_TOKEN_URL", "https://api.x.com/2/oauth2/token")?,
            revoke_url: url_or(env, "X_REVOKE_URL", "https://api.x.com/2/oauth2/revoke")?,
            api_base_url: url_or(env, "X_API_BASE_URL", "https://api.x.com")?,
            request_timeout: secs_or(env, "X_REQUEST_TIMEOUT_SECS", 30)?,
        })
    }

    /// Reads the client secret from `client_secret_arn`, once, at cold start. Nothing to read
    /// for a public client.
    pub async fn read_client_secret(
        &mut self,
        secrets: &dyn crate::secret_store::SecretSource,
    ) -> Result<(), crate::secret_store::SecretReadError> {
        if let Some(arn) = &self.client_secret_arn {
            self.client_secret = Some(secrets.read(arn).await?);
        }
        Ok(())
    }
}

/// YouTube, through Google's OAuth 2.0 for web server apps (docs/research/youtube.md §1). Optional:
/// an operator who deploys Reelay for X only sets no `GOOGLE_CLIENT_ID`, and YouTube is off.
/// Google's web clients are confidential, so the secret is required, and is read from Secrets
/// Manager like X's, never from the environment.
#[derive(Clone)]
pub struct YouTubeConfig {
    pub client_id: String,
    /// The ARN of the Secrets Manager secret that holds the Google client secret.
    pub client_secret_arn: String,
    /// Read from `client_secret_arn` once at cold start (`read_client_secret`).
    pub client_secret: Option<crate::secret::Secret>,
    /// The redirect URI registered on the Google OAuth client; must match exactly.
    pub redirect_uri: Url,
    pub authorize_url: Url,
    pub token_url: Url,
    pub revoke_url: Url,
    /// Base of the upload and Data API hosts (`https://www.googleapis.com`).
    pub api_base_url: Url,
    /// Per-request timeout for calls to Google: a chunk is several MiB, so longer than X's.
    pub request_timeout: Duration,
}

// Hand-written so the client secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for YouTubeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YouTubeConfig")
            .field("client_id", &self.client_id)
            .field("client_secret_arn", &self.client_secret_arn)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("api_base_url", &self.api_base_url.as_str())
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl YouTubeConfig {
    pub const VARS: &'static [&'static str] = &[
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET_ARN",
        "GOOGLE_REDIRECT_URI",
        "GOOGLE_AUTHORIZE_URL",
        "GOOGLE_TOKEN_URL",
        "GOOGLE_REVOKE_URL",
        "YOUTUBE_API_BASE_URL",
        "YOUTUBE_REQUEST_TIMEOUT_SECS",
    ];

    /// `None` when YouTube is not configured (no `GOOGLE_CLIENT_ID`).
    pub fn from_env(env: &dyn Env) -> Result<Option<Self>, ConfigError> {
        refuse_plain_secret(env, "GOOGLE_CLIENT_SECRET", "GOOGLE_CLIENT_SECRET_ARN")?;
        let Some(client_id) = env.var("GOOGLE_CLIENT_ID") else {
            return Ok(None);
        };
        Ok(Some(Self {
            client_id,
            client_secret_arn: required(env, "GOOGLE_CLIENT_SECRET_ARN")?,
            client_secret: None,
            redirect_uri: Url::parse(&required(env, "GOOGLE_REDIRECT_URI")?).map_err(|e| {
                ConfigError::Invalid {
                    name: "GOOGLE_REDIRECT_URI",
                    reason: e.to_string(),
                }
            })?,
            authorize_url: url_or(
                env,
                "GOOGLE_AUTHORIZE_URL",
                "https://accounts.google.com/o/oauth2/v2/auth",
            )?,
            token_url: url_or(
                env,
                "GOOGLE_TOKEN_URL",
                "https://oauth2.googleapis.com/token",
            )?,
            revoke_url: url_or(
                env,
                "GOOGLE_REVOKE_URL",
                "https://oauth2.googleapis.com/revoke",
            )?,
            api_base_url: url_or(env, "YOUTUBE_API_BASE_URL", "https://www.googleapis.com")?,
            request_timeout: secs_or(env, "YOUTUBE_REQUEST_TIMEOUT_SECS", 60)?,
        }))
    }

    /// Reads the client secret, once, at cold start.
    pub async fn read_client_secret(
        &mut self,
        secrets: &dyn crate::secret_store::SecretSource,
    ) -> Result<(), crate::secret_store::SecretReadError> {
        self.client_secret = Some(secrets.read(&self.client_secret_arn).await?);
        Ok(())
    }
}

/// Where the server key of the PKCE verifiers is (`accounts::pkce`): the ARN of a Secrets
/// Manager secret, read once at cold start by the connect route and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkceConfig {
    pub key_secret_arn: String,
}

impl PkceConfig {
    pub const VARS: &'static [&'static str] = &["PKCE_KEY_SECRET_ARN"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            key_secret_arn: required(env, "PKCE_KEY_SECRET_ARN")?,
        })
    }
}

/// Where the browser goes after connecting X. `CONNECT_RETURN_URLS` is a comma-separated
/// allow-list for a connect's `return_to` (an open redirect otherwise); the first entry is also
/// where the callback sends the browser when the connect gave none. Optional: without it the
/// callback answers with a small page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectConfig {
    pub return_urls: Vec<Url>,
}

impl ConnectConfig {
    pub const VARS: &'static [&'static str] = &["CONNECT_RETURN_URLS"];

    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let raw = env.var("CONNECT_RETURN_URLS").unwrap_or_default();
        let return_urls = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                Url::parse(s).map_err(|e| ConfigError::Invalid {
                    name: "CONNECT_RETURN_URLS",
                    reason: format!("{s:?}: {e}"),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { return_urls })
    }
}

/// The web console's sign-in (issue 13): the OAuth 2.0 authorization server the browser signs in
/// with (Cognito's hosted UI domain in AWS, the local gateway's sign-in page locally) and the
/// console's public app client. `CONSOLE_SIGN_IN_URL` is the base under which `oauth2/authorize`,
/// `oauth2/token` and `logout` live. Optional: without both the console says sign-in is not
/// configured; one without the other is a mistake and fails the start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsoleConfig {
    pub sign_in: Option<ConsoleSignIn>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSignIn {
    /// Always ends with `/`, so the endpoints join under it.
    pub base_url: Url,
    pub client_id: String,
}

impl ConsoleSignIn {
    fn endpoint(&self, path: &str) -> Url {
        // `base_url` ends with '/', and `path` is one of ours: joining cannot fail.
        self.base_url
            .join(path)
            .unwrap_or_else(|_| self.base_url.clone())
    }
    pub fn authorize_url(&self) -> Url {
        self.endpoint("oauth2/authorize")
    }
    pub fn token_url(&self) -> Url {
        self.endpoint("oauth2/token")
    }
    pub fn logout_url(&self) -> Url {
        self.endpoint("logout")
    }
}

impl ConsoleConfig {
    pub const VARS: &'static [&'static str] = &["CONSOLE_SIGN_IN_URL", "CONSOLE_CLIENT_ID"];

    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let url = env.var("CONSOLE_SIGN_IN_URL");
        let client_id = env.var("CONSOLE_CLIENT_ID");
        let (url, client_id) = match (url, client_id) {
            (None, None) => return Ok(Self::default()),
            (Some(_), None) => return Err(ConfigError::Missing("CONSOLE_CLIENT_ID")),
            (None, Some(_)) => return Err(ConfigError::Missing("CONSOLE_SIGN_IN_URL")),
            (Some(url), Some(id)) => (url, id),
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name: "CONSOLE_SIGN_IN_URL",
            reason,
        };
        let mut base_url = Url::parse(&url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base_url.scheme(), "https" | "http") || base_url.cannot_be_a_base() {
            return Err(invalid(format!(
                "expected an http(s) base URL, got {url:?}"
            )));
        }
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        Ok(Self {
            sign_in: Some(ConsoleSignIn {
                base_url,
                client_id,
            }),
        })
    }
}

/// Per-user limits on creating posts (`quota`): `MAX_POSTS_PER_DAY` (rolling 24 hours) and
/// `MAX_UPLOADS_IN_FLIGHT` (posts not yet final). Optional; the defaults are `quota`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaConfig {
    pub limits: crate::quota::QuotaLimits,
}

impl QuotaConfig {
    pub const VARS: &'static [&'static str] = &["MAX_POSTS_PER_DAY", "MAX_UPLOADS_IN_FLIGHT"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        // Zero would refuse every post: a mistake, not a setting.
        fn limit(env: &dyn Env, name: &'static str, default: u32) -> Result<u32, ConfigError> {
            let Some(raw) = env.var(name) else {
                return Ok(default);
            };
            match raw.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(ConfigError::Invalid {
                    name,
                    reason: format!("expected a whole number of at least 1, got {raw:?}"),
                }),
            }
        }
        Ok(Self {
            limits: crate::quota::QuotaLimits {
                posts_per_day: limit(
                    env,
                    "MAX_POSTS_PER_DAY",
                    crate::quota::DEFAULT_MAX_POSTS_PER_DAY,
                )?,
                uploads_in_flight: limit(
                    env,
                    "MAX_UPLOADS_IN_FLIGHT",
                    crate::quota::DEFAULT_MAX_UPLOADS_IN_FLIGHT,
                )?,
            },
        })
    }
}

/// What process-upload reads from the environment, once, at cold start.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub table: TableConfig,
    pub bucket: BucketConfig,
    pub queue: QueueConfig,
    pub key: KeyConfig,
    pub x: XConfig,
    /// YouTube, when the operator set it up (issue 17).
    pub youtube: Option<YouTubeConfig>,
    pub alerts: AlertsConfig,
    /// Scheduled posts' wake-ups (issue 15).
    pub scheduler: SchedulerConfig,
    /// Segments in flight at once (issue 16).
    pub appends: AppendConfig,
}

impl WorkerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_env(env)?,
            bucket: BucketConfig::from_env(env)?,
            queue: QueueConfig::from_env(env)?,
            key: KeyConfig::from_env(env)?,
            x: XConfig::from_env(env)?,
            youtube: YouTubeConfig::from_env(env)?,
            alerts: AlertsConfig::from_env(env)?,
            scheduler: SchedulerConfig::from_env(env)?,
            appends: AppendConfig::from_env(env)?,
        })
    }

    pub fn vars() -> Vec<&'static str> {
        [
            TableConfig::VARS,
            BucketConfig::VARS,
            QueueConfig::VARS,
            KeyConfig::VARS,
            XConfig::VARS,
            YouTubeConfig::VARS,
            AlertsConfig::VARS,
            SchedulerConfig::VARS,
            AppendConfig::VARS,
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn youtube_is_off_without_a_google_client_id_and_never_takes_a_plain_secret() {
        assert!(YouTubeConfig::from_env(&env(&[])).unwrap().is_none());
        let err = YouTubeConfig::from_env(&env(&[
            ("GOOGLE_CLIENT_ID", "id"),
            ("GOOGLE_CLIENT_SECRET", "plain"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("GOOGLE_CLIENT_SECRET_ARN"),
            "{err}"
        );
        assert!(!err.to_string().contains("plain"), "{err}");
        let err = YouTubeConfig::from_env(&env(&[
            ("GOOGLE_CLIENT_ID", "id"),
            ("GOOGLE_REDIRECT_URI", "https://r.example/cb"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("GOOGLE_CLIENT_SECRET_ARN"),
            "{err}"
        );
    }

    #[test]
    fn youtube_defaults_are_googles_hosts() {
        let config = YouTubeConfig::from_env(&env(&[
            ("GOOGLE_CLIENT_ID", "id.apps.googleusercontent.com"),
            (
                "GOOGLE_CLIENT_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:g",
            ),
            (
                "GOOGLE_REDIRECT_URI",
                "https://r.example/api/auth/platforms/youtube/callback",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            config.authorize_url.as_str(),
            "https://accounts.google.com/o/oauth2/v2/auth"
        );
        assert_eq!(
            config.token_url.as_str(),
            "https://oauth2.googleapis.com/token"
        );
        assert_eq!(
            config.revoke_url.as_str(),
            "https://oauth2.googleapis.com/revoke"
        );
        assert_eq!(config.api_base_url.as_str(), "https://www.googleapis.com/");
        let shown = format!(
            "{:?}",
            YouTubeConfig {
                client_secret: Some(crate::secret::Secret::new("hunter2")),
                ..config
            }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn missing_variable_is_named() {
        let err = TableConfig::from_env(&env(&[])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("TABLE_NAME"));
        assert_eq!(
            err.to_string(),
            "environment variable TABLE_NAME is not set"
        );
    }

    #[test]
    fn empty_variable_counts_as_missing() {
        let err = QueueConfig::from_env(&env(&[("QUEUE_URL", "")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("QUEUE_URL"));
    }

    #[test]
    fn scheduler_needs_its_group_role_and_queue() {
        let all = [
            ("SCHEDULE_GROUP_NAME", "reelay-wake-ups"),
            (
                "SCHEDULER_ROLE_ARN",
                "arn:aws:iam::123456789012:role/scheduler",
            ),
            ("WORK_QUEUE_ARN", "arn:aws:sqs:us-east-1:123456789012:work"),
        ];
        assert_eq!(
            SchedulerConfig::from_env(&env(&all)).unwrap(),
            SchedulerConfig {
                group_name: "reelay-wake-ups".into(),
                role_arn: "arn:aws:iam::123456789012:role/scheduler".into(),
                queue_arn: "arn:aws:sqs:us-east-1:123456789012:work".into(),
            }
        );
        for (i, missing) in SchedulerConfig::VARS.iter().enumerate() {
            let mut partial = all.to_vec();
            partial.remove(i);
            assert_eq!(
                SchedulerConfig::from_env(&env(&partial)).unwrap_err(),
                ConfigError::Missing(missing)
            );
            partial.insert(i, (missing, ""));
            assert_eq!(
                SchedulerConfig::from_env(&env(&partial)).unwrap_err(),
                ConfigError::Missing(missing),
                "an empty {missing} counts as missing"
            );
        }
    }

    #[test]
    fn x_urls_default_to_the_real_x() {
        let cfg = XConfig::from_env(&env(&[
            ("X_CLIENT_ID", "cid"),
            ("X_REDIRECT_URI", "https://app.example/cb"),
        ]))
        .unwrap();
        assert_eq!(
            cfg.authorize_url.as_str(),
            "https://x.com/i/oauth2/authorize"
        );
        assert_eq!(cfg.token_url.as_str(), "https://api.x.com/2/oauth2/token");
        assert_eq!(cfg.api_base_url.as_str(), "https://api.x.com/");
        assert_eq!(cfg.client_secret, None);
    }

    #[test]
    fn bad_url_and_bad_number_are_named() {
        let err = XConfig::from_env(&env(&[
            ("X_CLIENT_ID", "cid"),
            ("X_REDIRECT_URI", "not a url"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "X_REDIRECT_URI",
                ..
            }
        ));
        let err = XConfig::from_env(&env(&[
            ("X_CLIENT_ID", "cid"),
            ("X_REDIRECT_URI", "https://app.example/cb"),
            ("X_REQUEST_TIMEOUT_SECS", "soon"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("X_REQUEST_TIMEOUT_SECS"));
    }

    #[tokio::test]
    async fn the_client_secret_is_read_from_its_arn_and_debug_hides_it() {
        let mut cfg = XConfig::from_env(&env(&[
            ("X_CLIENT_ID", "cid"),
            ("X_CLIENT_SECRET_ARN", "arn:aws:secretsmanager:r:1:secret:x"),
            ("X_REDIRECT_URI", "https://app.example/cb"),
        ]))
        .unwrap();
        assert_eq!(cfg.client_secret, None, "not read from the environment");
        let mut secrets = crate::secret_store::MemorySecrets::default();
        secrets.0.insert(
            "arn:aws:secretsmanager:r:1:secret:x".into(),
            crate::secret::Secret::new("s3cr3t-value"),
        );
        cfg.read_client_secret(&secrets).await.unwrap();
        assert_eq!(
            cfg.client_secret.as_ref().map(|s| s.expose()),
            Some("s3cr3t-value")
        );
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(
            shown.contains("arn:aws:secretsmanager:r:1:secret:x"),
            "{shown}"
        );

        let mut missing = cfg.clone();
        missing.client_secret_arn = Some("arn:gone".into());
        let err = missing.read_client_secret(&secrets).await.unwrap_err();
        assert_eq!(err.arn(), "arn:gone");
    }

    #[test]
    fn console_sign_in_is_optional_but_needs_both_variables() {
        assert_eq!(
            ConsoleConfig::from_env(&env(&[])).unwrap(),
            ConsoleConfig::default()
        );
        assert_eq!(
            ConsoleConfig::from_env(&env(&[("CONSOLE_CLIENT_ID", "c")])).unwrap_err(),
            ConfigError::Missing("CONSOLE_SIGN_IN_URL")
        );
        assert_eq!(
            ConsoleConfig::from_env(&env(&[("CONSOLE_SIGN_IN_URL", "https://a.example")]))
                .unwrap_err(),
            ConfigError::Missing("CONSOLE_CLIENT_ID")
        );
        let err = ConsoleConfig::from_env(&env(&[
            ("CONSOLE_SIGN_IN_URL", "mailto:me@example.com"),
            ("CONSOLE_CLIENT_ID", "c"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("CONSOLE_SIGN_IN_URL"), "{err}");
    }

    #[test]
    fn console_endpoints_join_under_the_base_with_or_without_a_slash() {
        for base in [
            "http://127.0.0.1:9/__local/auth",
            "http://127.0.0.1:9/__local/auth/",
        ] {
            let cfg = ConsoleConfig::from_env(&env(&[
                ("CONSOLE_SIGN_IN_URL", base),
                ("CONSOLE_CLIENT_ID", "console"),
            ]))
            .unwrap();
            let sign_in = cfg.sign_in.unwrap();
            assert_eq!(
                sign_in.authorize_url().as_str(),
                "http://127.0.0.1:9/__local/auth/oauth2/authorize"
            );
            assert_eq!(
                sign_in.token_url().as_str(),
                "http://127.0.0.1:9/__local/auth/oauth2/token"
            );
            assert_eq!(
                sign_in.logout_url().as_str(),
                "http://127.0.0.1:9/__local/auth/logout"
            );
        }
        let cognito = ConsoleConfig::from_env(&env(&[
            (
                "CONSOLE_SIGN_IN_URL",
                "https://reelay.auth.us-east-1.amazoncognito.com",
            ),
            ("CONSOLE_CLIENT_ID", "abc"),
        ]))
        .unwrap();
        assert_eq!(
            cognito.sign_in.unwrap().token_url().as_str(),
            "https://reelay.auth.us-east-1.amazoncognito.com/oauth2/token"
        );
    }

    #[test]
    fn parallel_appends_default_to_four_and_refuse_out_of_range_values() {
        assert_eq!(
            AppendConfig::from_env(&env(&[])).unwrap().parallel_appends,
            4
        );
        let one = AppendConfig::from_env(&env(&[("PARALLEL_APPENDS", "1")])).unwrap();
        assert_eq!(one.parallel_appends, 1);
        for bad in ["0", "17", "four", "-1"] {
            let err = AppendConfig::from_env(&env(&[("PARALLEL_APPENDS", bad)])).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("PARALLEL_APPENDS") && text.contains("1 to 16"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_client_secret_in_the_environment_is_refused() {
        let err = XConfig::from_env(&env(&[
            ("X_CLIENT_ID", "cid"),
            ("X_CLIENT_SECRET", "s3cr3t-value"),
            ("X_REDIRECT_URI", "https://app.example/cb"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("X_CLIENT_SECRET_ARN"), "{text}");
        assert!(!text.contains("s3cr3t-value"), "{text}");
    }
}

/// `SEGMENT_SIZE_BYTES`: the preferred APPEND segment size (default 4 MiB, 1 KiB to 5,000,000),
/// grown per video if needed to fit X's 1000 segments. create-post sets it on jobs of videos
/// uploaded as they are, fit-video on jobs of videos it converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentConfig {
    pub segment_size_bytes: u64,
}

impl SegmentConfig {
    pub const VARS: &'static [&'static str] = &["SEGMENT_SIZE_BYTES"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        use crate::intake::{DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE};
        let segment_size_bytes = match env.var("SEGMENT_SIZE_BYTES") {
            None => DEFAULT_SEGMENT_SIZE,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|n| (MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(n))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "SEGMENT_SIZE_BYTES",
                    reason: format!(
                        "expected a byte count from {MIN_SEGMENT_SIZE} to {MAX_SEGMENT_SIZE}, got {raw:?}"
                    ),
                })?,
        };
        Ok(Self { segment_size_bytes })
    }
}

/// `PARALLEL_APPENDS`: segments process-upload sends at once (default 4, 1 to 16; 1 sends them
/// one after the other). Each one in flight holds one segment in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendConfig {
    pub parallel_appends: u32,
}

impl AppendConfig {
    pub const VARS: &'static [&'static str] = &["PARALLEL_APPENDS"];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        use crate::engine::{DEFAULT_PARALLEL_APPENDS, MAX_PARALLEL_APPENDS};
        let parallel_appends = match env.var("PARALLEL_APPENDS") {
            None => DEFAULT_PARALLEL_APPENDS,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PARALLEL_APPENDS).contains(n))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "PARALLEL_APPENDS",
                    reason: format!(
                        "expected a number of segments from 1 to {MAX_PARALLEL_APPENDS}, got {raw:?}"
                    ),
                })?,
        };
        Ok(Self { parallel_appends })
    }
}

/// fit-video's tools and sizing (issue 14; README "Fitting videos").
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// `FFMPEG_PATH` / `FFPROBE_PATH`: the binaries (default: `ffmpeg` / `ffprobe` on `PATH`).
    pub ffmpeg_path: std::path::PathBuf,
    pub ffprobe_path: std::path::PathBuf,
    /// `FIT_WORK_DIR`: where the source and the result are written (default: the temp dir,
    /// Lambda's `/tmp`).
    pub work_dir: std::path::PathBuf,
    /// `FIT_MEGAPIXELS_PER_SEC`: the measured conversion speed at the function's memory size.
    pub megapixels_per_sec: f64,
}

impl FitConfig {
    pub const VARS: &'static [&'static str] = &[
        "FFMPEG_PATH",
        "FFPROBE_PATH",
        "FIT_WORK_DIR",
        "FIT_MEGAPIXELS_PER_SEC",
    ];
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let megapixels_per_sec = match env.var("FIT_MEGAPIXELS_PER_SEC") {
            None => crate::fitter::DEFAULT_MEGAPIXELS_PER_SEC,
            Some(raw) => raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or_else(|| ConfigError::Invalid {
                    name: "FIT_MEGAPIXELS_PER_SEC",
                    reason: format!("expected a positive number, got {raw:?}"),
                })?,
        };
        let path = |name: &str, default: &str| {
            std::path::PathBuf::from(env.var(name).unwrap_or_else(|| default.to_owned()))
        };
        Ok(Self {
            ffmpeg_path: path("FFMPEG_PATH", "ffmpeg"),
            ffprobe_path: path("FFPROBE_PATH", "ffprobe"),
            work_dir: env
                .var("FIT_WORK_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
            megapixels_per_sec,
        })
    }
}
