//! Connecting X: `/api/auth/platforms/twitter/*` and `/api/platforms` (issue 4).
//!
//! - `GET /api/auth/platforms/twitter/connect[?return_to=URL]`: 302 to X's consent page, or
//!   `{"authorize_url": ...}` when the client sends `Accept: application/json` (a single-page app
//!   that navigates itself). Either way the answer sets the binding cookie (`accounts::binding`)
//!   that the callback requires from the browser, so only this browser can finish the connect.
//! - `GET /api/platforms`: the caller's connections, never token material.
//! - `DELETE /api/auth/platforms/twitter`: revoke at X (best effort) and forget the tokens.
//!
//! Every route acts only on the caller's own items: the user id comes from the authorizer.

use std::sync::Arc;

use lambda_http::{Request, RequestExt};
use reelay_shared::accounts::binding;
use reelay_shared::accounts::cipher::KmsTokenCipher;
use reelay_shared::accounts::connect::{return_to_allowed, ConnectError, Connector};
use reelay_shared::accounts::oauth::XOAuth;
use reelay_shared::accounts::store::DynamoAccountStore;
use reelay_shared::clock::SystemClock;
use reelay_shared::ids::UserId;
use reelay_shared::problem::Problem;
use reelay_shared::x::XClient;
use reqwest::Url;

use crate::{method_not_allowed, App, Reply};

const CONNECT: &str = "/api/auth/platforms/twitter/connect";
const DISCONNECT: &str = "/api/auth/platforms/twitter";
const PLATFORMS: &str = "/api/platforms";

pub async fn route(app: &App, req: &Request, user: &UserId) -> Result<Reply, Problem> {
    let path = req.uri().path().trim_end_matches('/');
    let method = req.method().as_str();
    let result = match (path, method) {
        (CONNECT, "GET") => start(app, req, user).await,
        (DISCONNECT, "DELETE") => disconnect(app, user).await,
        (PLATFORMS, "GET") => list(app, user).await,
        (CONNECT | DISCONNECT | PLATFORMS, _) => return Err(method_not_allowed(method, path)),
        _ => {
            return Err(Problem::not_found(format!(
                "There is no resource at {path}."
            )))
        }
    };
    result.map_err(|e| e.to_problem())
}

/// The connect flow over this container's clients. Built per request from handles the App
/// already owns (SDK clients and the `reqwest::Client` are cheap clones sharing one pool), so no
/// client is created here.
fn connector(app: &App) -> Result<Connector, ConnectError> {
    let oauth = XOAuth::new(app.http.clone(), &app.config.x).map_err(ConnectError::OAuth)?;
    Ok(Connector::new(
        Arc::new(DynamoAccountStore::new(
            app.aws.dynamodb.clone(),
            app.config.table.table_name.clone(),
        )),
        Arc::new(KmsTokenCipher::new(
            app.aws.kms.clone(),
            app.config.key.kms_key_id.clone(),
        )),
        oauth,
        XClient::new(app.http.clone(), &app.config.x),
        Arc::new(SystemClock),
        app.pkce_key.clone(),
    ))
}

fn wants_json(req: &Request) -> bool {
    req.headers()
        .get(lambda_http::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

#[tracing::instrument(skip(app, req), fields(user_id = %user))]
async fn start(app: &App, req: &Request, user: &UserId) -> Result<Reply, ConnectError> {
    let return_to = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("return_to"))
        .map(|raw| {
            Url::parse(raw)
                .ok()
                .filter(|u| return_to_allowed(u, app.config.connect.return_urls.as_slice()))
                .ok_or(ConnectError::ReturnToNotAllowed)
        })
        .transpose()?;
    let started = connector(app)?.start(user, return_to.as_ref()).await?;
    let url = started.authorize_url.as_str();
    let mut reply = if wants_json(req) {
        Reply::json(200, serde_json::json!({ "authorize_url": url }))
    } else {
        Reply::redirect(url)
    };
    // Scoped to the callback's own path (X_REDIRECT_URI), the only route that reads it.
    reply.headers.push((
        "set-cookie".to_owned(),
        binding::set_cookie(&started.binding, app.config.x.redirect_uri.path()),
    ));
    // The answer carries a one-time binding for this browser: no cache may keep it.
    reply
        .headers
        .push(("cache-control".to_owned(), "no-store".to_owned()));
    Ok(reply)
}

#[tracing::instrument(skip(app), fields(user_id = %user))]
async fn list(app: &App, user: &UserId) -> Result<Reply, ConnectError> {
    let platforms = connector(app)?.list(user).await?;
    Ok(Reply::json(
        200,
        serde_json::json!({ "platforms": platforms }),
    ))
}

#[tracing::instrument(skip(app), fields(user_id = %user))]
async fn disconnect(app: &App, user: &UserId) -> Result<Reply, ConnectError> {
    connector(app)?.disconnect(user).await?;
    Ok(Reply::no_content())
}
