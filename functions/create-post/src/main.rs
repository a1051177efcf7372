use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use reelay_create_post::{handle, App, CreatePostConfig};
use reelay_shared::{aws::AwsClients, config::ProcessEnv};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = CreatePostConfig::from_env(&ProcessEnv)?;
    let app = App {
        aws: AwsClients::from_env().await,
        config,
    };
    let app = &app;
    run(service_fn(move |event: LambdaEvent<S3Event>| {
        handle(app, event)
    }))
    .await
}
