use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use reelay_process_upload::{handle, App, WorkerConfig};
use reelay_shared::accounts::tokens::ErrorChain;
use reelay_shared::secret_store::SecretsManagerSource;
use reelay_shared::{aws::AwsClients, config::ProcessEnv, http_client::build_http_client};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = WorkerConfig::from_env(&ProcessEnv)?;
    let http = build_http_client(config.x.request_timeout)?;
    let aws = AwsClients::from_env().await;
    let secrets = SecretsManagerSource::new(aws.secretsmanager.clone());
    let app = App::cold_start(config, &aws, http, &secrets)
        .await
        .inspect_err(|e| tracing::error!(error = %ErrorChain(e), "cold start failed"))?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        handle(app, event)
    }))
    .await
}
