use lambda_http::{run, service_fn, Error, Request};
use reelay_oauth_callback::{handle, App, CallbackConfig};
use reelay_shared::accounts::tokens::ErrorChain;
use reelay_shared::secret_store::SecretsManagerSource;
use reelay_shared::{aws::AwsClients, config::ProcessEnv, http_client::build_http_client};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = CallbackConfig::from_env(&ProcessEnv)?;
    let http = build_http_client(config.x.request_timeout)?;
    let aws = AwsClients::from_env().await;
    let secrets = SecretsManagerSource::new(aws.secretsmanager.clone());
    let app = App::cold_start(config, aws, http, &secrets)
        .await
        .inspect_err(|e| tracing::error!(error = %ErrorChain(e), "cold start failed"))?;
    let app = &app;
    run(service_fn(move |req: Request| handle(app, req))).await
}
