//! Shared set-up for the local stack and the integration tests: one moto server per process
//! (or the one `make test` started), SDK clients aimed at it, and nothing that can reach AWS.

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use reelay_shared::aws::AwsClients;

use crate::moto::{repo_root, MotoServer};

/// SDK configuration for an emulator endpoint: fixed test credentials and region, so the SDK never
/// looks for real credentials or asks the EC2 metadata service.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

pub async fn aws_clients_for(endpoint: &str) -> AwsClients {
    AwsClients::from_config(&sdk_config_for(endpoint).await)
}

static MOTO: OnceLock<Result<MotoServer, String>> = OnceLock::new();

/// The moto endpoint tests use: `AWS_ENDPOINT_URL` when the caller (e.g. `make test`) started one,
/// otherwise one server started for this process on first use.
pub fn moto_endpoint() -> String {
    if let Some(endpoint) = endpoint_from_env() {
        return endpoint;
    }
    match MOTO.get_or_init(|| MotoServer::start(&repo_root()).map_err(|e| e.to_string())) {
        Ok(server) => server.endpoint.clone(),
        Err(err) => panic!("cannot start moto for the tests: {err}"),
    }
}

/// For the CLI: the caller's `AWS_ENDPOINT_URL` if set, else a moto server owned by the caller
/// (dropping it stops the server).
pub fn moto_endpoint_or_start() -> Result<(Option<MotoServer>, String), crate::moto::MotoError> {
    if let Some(endpoint) = endpoint_from_env() {
        return Ok((None, endpoint));
    }
    let server = MotoServer::start(&repo_root())?;
    let endpoint = server.endpoint.clone();
    Ok((Some(server), endpoint))
}

/// The SDK's own endpoint override, when the caller set one (e.g. `make test`'s moto).
fn endpoint_from_env() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
}
