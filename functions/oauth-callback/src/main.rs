use lambda_http::{run, service_fn, Error, Request};
use reelay_oauth_callback::{handle, App, CallbackConfig};
use reelay_shared::{aws::AwsClients, config::ProcessEnv, http_client::build_http_client};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = CallbackConfig::from_env(&ProcessEnv)?;
    let app = App {
        http: build_http_client(config.x.request_timeout)?,
        aws: AwsClients::from_env().await,
        config,
    };
    let app = &app;
    run(service_fn(move |req: Request| handle(app, req))).await
}
