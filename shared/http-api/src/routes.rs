//! The routes: each handler takes typed extractors, calls `reelay_shared`, and answers a typed
//! body or an `ApiError`. Its `#[utoipa::path]` is its part of the OpenAPI document; the problem
//! responses are added from `reelay_shared::api::contract`.

use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{extract::State as With, Json};
use reelay_shared::accounts::binding;
use reelay_shared::accounts::cipher::KmsTokenCipher;
use reelay_shared::accounts::connect::{
    connector_for, return_to_allowed, ConnectError, ConnectPorts, Connector,
};
use reelay_shared::accounts::Platform;
use reelay_shared::api::contract;
use reelay_shared::api::posts::PostsService;
use reelay_shared::api::views::{
    AuthorizeUrl, AvailablePlatform, Health, PlatformList, PostCreated, PostDetail, PostList,
    Retried,
};
use reelay_shared::clock::SystemClock;
use reelay_shared::problem::Problem;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::console::{self, ConsoleSettings};
use crate::extract::{
    wants_json, ApiError, Caller, NewPostBody, Params, PostChangesBody, PostIdPath,
};
use crate::State;

type App = Arc<State>;

fn api() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(openapi_json))
        .routes(routes!(connect))
        .routes(routes!(disconnect))
        .routes(routes!(platforms))
        .routes(routes!(create_post, list_posts))
        .routes(routes!(get_post, update_post, cancel_post))
        .routes(routes!(retry_post))
        .routes(routes!(console_page))
        .routes(routes!(console_config))
        // Catch-alls (axum's `{*path}`), which `routes!` cannot register: the same handlers'
        // `#[utoipa::path]` (with `{path}`) document them, through `ConsoleFiles`.
        .route("/assets/{*path}", axum::routing::get(console_asset))
        .route("/vendor/{*path}", axum::routing::get(console_vendor))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(console_asset, console_vendor))]
struct ConsoleFiles;

/// The router `handle` runs. Unknown paths and methods answer problem JSON, after the caller
/// check, as every API route does.
pub fn router(state: App) -> axum::Router {
    let (router, _) = api().split_for_parts();
    router
        .fallback(async |_: Caller, uri: Uri| {
            ApiError::from(Problem::not_found(format!(
                "There is no resource at {}.",
                uri.path()
            )))
        })
        .method_not_allowed_fallback(async |_: Caller, method: Method, uri: Uri| {
            ApiError::from(Problem::method_not_allowed(format!(
                "{method} is not supported on {}.",
                uri.path()
            )))
        })
        .with_state(state)
}

/// The OpenAPI 3.1 document of these routes and the OAuth callback's.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut routes = api().split_for_parts().1;
    routes.merge(<ConsoleFiles as utoipa::OpenApi>::openapi());
    contract::finish(routes)
}

/// The document as served (and as committed in `docs/openapi.json`).
pub fn openapi_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = openapi()
            .to_pretty_json()
            .unwrap_or_else(|_| "{}".to_owned());
        text.push('\n');
        text
    })
}

/// The API is up and the caller's token was accepted.
#[utoipa::path(get, path = "/api/health", tag = "meta", security(("bearer" = [])), responses((status = 200, body = Health, description = "Up; the token is valid.")))]
async fn health(Caller(user): Caller) -> Json<Health> {
    Json(Health {
        status: "ok",
        user_id: user.as_str().to_owned(),
    })
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", security(("bearer" = [])), responses((status = 200, description = "The OpenAPI document.", content_type = "application/json")))]
async fn openapi_json(_: Caller) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_text()).into_response()
}

/// `platform`'s connect flow over this container's clients (cheap clones sharing one pool).
fn connector(app: &State, platform: Platform) -> Result<Connector, ConnectError> {
    let ports = ConnectPorts {
        store: Arc::new(app.accounts.clone()),
        cipher: Arc::new(KmsTokenCipher::new(
            app.aws.kms.clone(),
            app.config.key.kms_key_id.clone(),
        )),
        clock: Arc::new(SystemClock),
        pkce: app.pkce_key.clone(),
    };
    connector_for(
        platform,
        &app.http,
        &app.config.x,
        app.config.youtube.as_ref(),
        ports,
    )
}

/// The `{platform}` of a connect route: `twitter` (or `x`) or `youtube`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct PlatformPath {
    /// `twitter` or `youtube`.
    platform: String,
}

impl PlatformPath {
    fn platform(&self) -> Result<Platform, ApiError> {
        Platform::parse(&self.platform).ok_or_else(|| {
            ApiError::from(Problem::not_found(format!(
                "Reelay does not post to {:?}; the platforms are twitter and youtube.",
                self.platform
            )))
        })
    }
}

/// A connect error in `platform`'s words.
fn connect_error(platform: Platform) -> impl Fn(ConnectError) -> ApiError {
    move |err| ApiError::from(err.to_problem_for(platform))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ConnectQuery {
    /// Where the callback sends the browser back; must be one of `CONNECT_RETURN_URLS`.
    return_to: Option<String>,
}

/// Starts connecting a platform (`twitter` or `youtube`): its consent page (X's, or Google's
/// for YouTube), as a redirect or (with `Accept: application/json`) as JSON for an app that
/// navigates itself. Either way it sets the binding cookie the callback requires, so only this
/// browser can finish.
#[utoipa::path(get, path = "/api/auth/platforms/{platform}/connect", tag = "connect", params(PlatformPath, ConnectQuery), security(("bearer" = [])), responses(
    (status = 200, body = AuthorizeUrl, description = "With `Accept: application/json`.", headers(("set-cookie" = String, description = "The binding cookie, scoped to the callback's path."), ("cache-control" = String))),
    (status = 302, description = "To the platform's consent page.", headers(("location" = String), ("set-cookie" = String, description = "The binding cookie, scoped to the callback's path."), ("cache-control" = String))),
))]
async fn connect(
    With(app): With<App>,
    Caller(user): Caller,
    headers: HeaderMap,
    axum::extract::Path(path): axum::extract::Path<PlatformPath>,
    Params(query): Params<ConnectQuery>,
) -> Result<Response, ApiError> {
    let platform = path.platform()?;
    let failed = connect_error(platform);
    let return_to = query
        .return_to
        .map(|raw| {
            reqwest::Url::parse(&raw)
                .ok()
                .filter(|u| return_to_allowed(u, app.config.connect.return_urls.as_slice()))
                .ok_or(ConnectError::ReturnToNotAllowed)
        })
        .transpose()
        .map_err(&failed)?;
    let connector = connector(&app, platform).map_err(&failed)?;
    let started = connector
        .start(&user, return_to.as_ref())
        .await
        .map_err(&failed)?;
    let url = started.authorize_url.to_string();
    // Scoped to the callback's own path (the platform's redirect URI), the only route that
    // reads it; and the answer carries a one-time binding for this browser, so no cache may
    // keep it.
    let callback_path = match (platform, &app.config.youtube) {
        (Platform::YouTube, Some(youtube)) => youtube.redirect_uri.path(),
        _ => app.config.x.redirect_uri.path(),
    };
    let cookie = [
        (
            header::SET_COOKIE,
            binding::set_cookie(&started.binding, callback_path),
        ),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok(if wants_json(&headers) {
        (cookie, Json(AuthorizeUrl { authorize_url: url })).into_response()
    } else {
        (StatusCode::FOUND, [(header::LOCATION, url)], cookie).into_response()
    })
}

/// The caller's connections, never token material, and which platforms this deployment has
/// set up.
#[utoipa::path(get, path = "/api/platforms", tag = "connect", security(("bearer" = [])), responses((status = 200, body = PlatformList, description = "The connections (none: an empty list) and the platforms available.")))]
async fn platforms(
    With(app): With<App>,
    Caller(user): Caller,
) -> Result<Json<PlatformList>, ApiError> {
    let available = Platform::ALL
        .into_iter()
        .map(|platform| AvailablePlatform {
            platform: platform.as_str(),
            name: platform.display_name(),
            enabled: match platform {
                Platform::Twitter => true,
                Platform::YouTube => app.config.youtube.is_some(),
            },
        })
        .collect();
    Ok(Json(PlatformList {
        // Lists every platform's accounts: the connector's platform only names the flow.
        platforms: connector(&app, Platform::Twitter)?.list(&user).await?,
        available,
    }))
}

/// Disconnects a platform: revokes the tokens there (best effort) and forgets them. The other
/// platforms' connections are untouched.
#[utoipa::path(delete, path = "/api/auth/platforms/{platform}", tag = "connect", params(PlatformPath), security(("bearer" = [])), responses((status = 204, description = "Disconnected.")))]
async fn disconnect(
    With(app): With<App>,
    Caller(user): Caller,
    axum::extract::Path(path): axum::extract::Path<PlatformPath>,
) -> Result<StatusCode, ApiError> {
    let platform = path.platform()?;
    let failed = connect_error(platform);
    connector(&app, platform)
        .map_err(&failed)?
        .disconnect(&user)
        .await
        .map_err(&failed)?;
    Ok(StatusCode::NO_CONTENT)
}

fn posts(app: &State) -> PostsService<'_> {
    PostsService {
        store: &app.posts,
        accounts: &app.accounts,
        uploads: &app.blobs,
        queue: &app.queue,
        fit_queue: &app.fit_queue,
        clock: &SystemClock,
        limits: &app.config.quota.limits,
        bucket: &app.config.bucket.bucket_name,
    }
}

/// Creates a draft post and answers with the presigned S3 form to upload its video with.
/// The post starts once the video arrives and passes its checks.
#[utoipa::path(post, path = "/api/posts", tag = "posts", request_body = reelay_shared::api::views::CreatePostRequest, security(("bearer" = [])), responses(
    (status = 201, body = PostCreated, description = "The draft; upload its video with `upload`.", headers(("location" = String, description = "The post: `/api/posts/{id}`."))),
))]
async fn create_post(
    With(app): With<App>,
    Caller(user): Caller,
    NewPostBody(new): NewPostBody,
) -> Result<Response, ApiError> {
    let created = posts(&app).create(&user, new).await?;
    let location = format!("/api/posts/{}", created.post_id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Posts per page, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `next_cursor` of the previous page, unchanged.
    cursor: Option<String>,
}

/// The caller's posts, newest first, a page at a time.
#[utoipa::path(get, path = "/api/posts", tag = "posts", params(ListQuery), security(("bearer" = [])), responses((status = 200, body = PostList, description = "A page of posts.")))]
async fn list_posts(
    With(app): With<App>,
    Caller(user): Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<PostList>, ApiError> {
    let page = reelay_shared::api::posts::parse_page(q.limit.as_deref(), q.cursor.as_deref())?;
    Ok(Json(posts(&app).list(&user, &page).await?))
}

/// One of the caller's posts with each target's phase, progress, result or error.
#[utoipa::path(get, path = "/api/posts/{id}", tag = "posts", params(("id" = String, Path, description = "The post's id.")), security(("bearer" = [])), responses((status = 200, body = PostDetail, description = "The post.")))]
async fn get_post(
    With(app): With<App>,
    Caller(user): Caller,
    PostIdPath(id): PostIdPath,
) -> Result<Json<PostDetail>, ApiError> {
    Ok(Json(posts(&app).get(&user, &id).await?))
}

/// Changes the post's text, its scheduled time, or both, until publishing starts. A target
/// waiting for the old time is woken to wait for the new one.
#[utoipa::path(patch, path = "/api/posts/{id}", tag = "posts", params(("id" = String, Path, description = "The post's id.")), request_body = reelay_shared::api::views::UpdatePostRequest, security(("bearer" = [])), responses((status = 200, body = PostDetail, description = "The changed post, as `GET /api/posts/{id}` answers.")))]
async fn update_post(
    With(app): With<App>,
    Caller(user): Caller,
    PostIdPath(id): PostIdPath,
    PostChangesBody(changes): PostChangesBody,
) -> Result<Json<PostDetail>, ApiError> {
    Ok(Json(posts(&app).update(&user, &id, changes).await?))
}

/// Cancels the post: nothing is published, and a target uploading or waiting for its time ends
/// `cancelled`. Too late once a target may have created the post on X (then delete it there).
/// Cancelling a cancelled post answers the same.
#[utoipa::path(delete, path = "/api/posts/{id}", tag = "posts", params(("id" = String, Path, description = "The post's id.")), security(("bearer" = [])), responses((status = 200, body = PostDetail, description = "The cancelled post, as `GET /api/posts/{id}` answers.")))]
async fn cancel_post(
    With(app): With<App>,
    Caller(user): Caller,
    PostIdPath(id): PostIdPath,
) -> Result<Json<PostDetail>, ApiError> {
    Ok(Json(posts(&app).cancel(&user, &id).await?))
}

/// Queues the post's failed targets again, those a retry can help (at most five times).
#[utoipa::path(post, path = "/api/posts/{id}/retry", tag = "posts", params(("id" = String, Path, description = "The post's id.")), security(("bearer" = [])), responses((status = 202, body = Retried, description = "The failed targets are queued again.")))]
async fn retry_post(
    With(app): With<App>,
    Caller(user): Caller,
    PostIdPath(id): PostIdPath,
) -> Result<(StatusCode, Json<Retried>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(posts(&app).retry(&user, &id).await?),
    ))
}

// ---------------------------------------------------------------- the console (`console.rs`)
// No caller here: the app must load before the user can sign in, and API Gateway sends these
// routes without a token.

/// The console's files and settings, answered by `console::route`.
async fn console_answer(app: &State, uri: &Uri) -> Response {
    match console::route(&app.config.console, "GET", uri.path()) {
        Some(answer) => answer.map(axum::body::Body::new),
        None => ApiError::from(Problem::not_found(format!(
            "There is no resource at {}.",
            uri.path()
        )))
        .into_response(),
    }
}

/// The console's page (`index.html`).
#[utoipa::path(get, path = "/", tag = "console", security(()), responses((status = 200, description = "The console's page.", content_type = "text/html", headers(("content-security-policy" = String), ("cache-control" = String)))))]
async fn console_page(With(app): With<App>, uri: Uri) -> Response {
    console_answer(&app, &uri).await
}

/// The console's own scripts and styles.
#[utoipa::path(get, path = "/assets/{path}", tag = "console", security(()), params(("path" = String, Path, description = "A file under `console/public/assets`, e.g. `app.js`.")), responses((status = 200, description = "The file (JavaScript, CSS, SVG or PNG).", content(("text/javascript"), ("text/css"), ("image/svg+xml"), ("image/png")))))]
async fn console_asset(With(app): With<App>, uri: Uri) -> Response {
    console_answer(&app, &uri).await
}

/// Third-party code bundled for the console (twitter-text).
#[utoipa::path(get, path = "/vendor/{path}", tag = "console", security(()), params(("path" = String, Path, description = "A bundled file, e.g. `twitter-text.js`.")), responses((status = 200, description = "The bundle.", content_type = "text/javascript")))]
async fn console_vendor(With(app): With<App>, uri: Uri) -> Response {
    console_answer(&app, &uri).await
}

/// Where and how the console signs in (an authorization-code grant with PKCE), or `sign_in: null`.
#[utoipa::path(get, path = "/api/console/config", tag = "console", security(()), responses((status = 200, body = ConsoleSettings, description = "The sign-in settings.", headers(("cache-control" = String)))))]
async fn console_config(With(app): With<App>, uri: Uri) -> Response {
    console_answer(&app, &uri).await
}
