use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use reelay_fit_video::{handle, App, FitVideoConfig};
use reelay_shared::{aws::AwsClients, config::ProcessEnv};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = FitVideoConfig::from_env(&ProcessEnv)?;
    let aws = AwsClients::from_env().await;
    let app = App::new(&config, &aws);
    let app = &app;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        handle(app, event)
    }))
    .await
}
