//! The parts of the API's OpenAPI document that are not read off a route's handler: the
//! document's head, the bearer scheme, the OAuth callback (its own Lambda, but part of the same
//! public contract), and which problems each operation answers (`OPERATION_PROBLEMS`), added to
//! each operation as `application/problem+json` responses grouped by status.
//!
//! The function crate derives the routes' operations from its handlers and passes them to
//! `finish`; its tests check that every operation has an entry here and the reverse.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi as _};

use crate::api::problems::problem_type;
use crate::api::views::CallbackConnected;
use crate::problem::{Problem, PROBLEM_CONTENT_TYPE};

/// The name of the bearer scheme operations refer to.
pub const BEARER: &str = "bearer";

/// Where the document is served; `docs/openapi.json` is a copy.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// X's OAuth callback (its redirect URI's path).
pub const X_CALLBACK_PATH: &str = "/api/auth/platforms/twitter/callback";
/// Google's OAuth callback for YouTube.
pub const YOUTUBE_CALLBACK_PATH: &str = "/api/auth/platforms/youtube/callback";

/// Problems every operation behind the JWT authorizer can answer.
const AUTHED: &[&str] = &["unauthorized", "internal_error"];

/// Which problems each operation answers, besides `AUTHED` for operations with a bearer scheme.
/// (`method_not_allowed` and `not_found` for unknown paths are answered by no operation; they
/// are in the `Problem` schema's list.)
pub const OPERATION_PROBLEMS: &[(&str, &str, &[&str])] = &[
    ("get", "/api/health", &[]),
    ("get", "/", &[]),
    ("get", "/assets/{path}", &["not_found"]),
    ("get", "/vendor/{path}", &["not_found", "console_not_built"]),
    ("get", "/api/console/config", &[]),
    ("get", OPENAPI_PATH, &[]),
    ("get", "/api/platforms", &[]),
    (
        "get",
        "/api/auth/platforms/{platform}/connect",
        &["return_to_not_allowed", "not_found", "platform_not_enabled"],
    ),
    (
        "delete",
        "/api/auth/platforms/{platform}",
        &["not_connected", "not_found", "platform_not_enabled"],
    ),
    (
        "get",
        YOUTUBE_CALLBACK_PATH,
        &[
            "missing_state",
            "missing_code",
            "unknown_state",
            "expired_state",
            "code_rejected",
            "connect_other_browser",
            "consent_denied",
            "missing_scopes",
            "no_youtube_channel",
            "platform_not_enabled",
            "x_account_linked_elsewhere",
            "internal_error",
            "x_unavailable",
        ],
    ),
    (
        "get",
        X_CALLBACK_PATH,
        &[
            "missing_state",
            "missing_code",
            "unknown_state",
            "expired_state",
            "code_rejected",
            "connect_other_browser",
            "consent_denied",
            "missing_scopes",
            "x_account_linked_elsewhere",
            "internal_error",
            "x_unavailable",
        ],
    ),
    (
        "post",
        "/api/posts",
        &[
            "invalid_json",
            "required",
            "type",
            "unknown_field",
            "text_empty",
            "text_too_long",
            "text_invalid_characters",
            "platforms_empty",
            "platform_unknown",
            "file_name_format",
            "content_type_unsupported",
            "trim_range",
            "fit_disabled",
            "youtube_options",
            "scheduled_at_format",
            "scheduled_at_range",
            "platform_not_connected",
            "platform_needs_reconnect",
            "post_quota_exceeded",
            "uploads_in_flight_exceeded",
            "too_many_concurrent_requests",
        ],
    ),
    (
        "get",
        "/api/posts",
        &["invalid_query", "limit_range", "cursor_invalid"],
    ),
    ("get", "/api/posts/{id}", &["not_found"]),
    (
        "patch",
        "/api/posts/{id}",
        &[
            "not_found",
            "invalid_json",
            "required",
            "type",
            "unknown_field",
            "text_empty",
            "text_too_long",
            "text_invalid_characters",
            "scheduled_at_format",
            "scheduled_at_range",
            "cancelled",
            "too_late",
            "post_changed",
        ],
    ),
    (
        "delete",
        "/api/posts/{id}",
        &["not_found", "too_late", "post_changed"],
    ),
    (
        "post",
        "/api/posts/{id}/retry",
        &[
            "not_found",
            "cancelled",
            "nothing_to_retry",
            "not_retryable",
            "retry_limit_reached",
            "post_changed",
            "uploads_in_flight_exceeded",
            "too_many_concurrent_requests",
        ],
    ),
];

/// X redirects the user's browser here after its consent page. Served by the separate OAuth
/// callback Lambda, without the JWT authorizer: the user is the one who started connecting, and
/// only the browser holding the binding cookie set by `connect` can finish.
///
/// The answer is a redirect back to the app when the deployment configures return addresses
/// (`CONNECT_RETURN_URLS`, with `platform`, `result` and on failure `error` = the problem's
/// `type` in the query), JSON when the client sends `Accept: application/json`, else a small
/// HTML page. Problems are answered as an HTML page with the problem's detail, or problem JSON.
#[utoipa::path(
    get,
    path = "/api/auth/platforms/twitter/callback",
    tag = "connect",
    operation_id = "oauth_callback",
    params(
        ("state" = Option<String>, Query, description = "The one-time state the connect route issued."),
        ("code" = Option<String>, Query, description = "X's authorization code (lives 30 seconds)."),
        ("error" = Option<String>, Query, description = "X's OAuth error, e.g. `access_denied`."),
        ("error_description" = Option<String>, Query, description = "X's words for the error."),
    ),
    responses(
        (status = 200, description = "X is connected: an HTML page, or JSON with `Accept: application/json`.",
            content((CallbackConnected = "application/json"), (String = "text/html")),
            headers(("set-cookie" = String, description = "Clears the binding cookie."))),
        (status = 302, description = "Back to the app (when return addresses are configured).",
            headers(("location" = String, description = "The app's address with `platform`, `result` and maybe `error`."))),
    ),
    security(())
)]
#[allow(dead_code)]
fn oauth_callback() {}

/// Google redirects the user's browser here after its consent page for YouTube; as X's
/// callback otherwise (the same Lambda, binding cookie and answers), and the account is the
/// Google account's YouTube channel (a Google account without one is refused:
/// `no_youtube_channel`).
#[utoipa::path(
    get,
    path = "/api/auth/platforms/youtube/callback",
    tag = "connect",
    operation_id = "youtube_oauth_callback",
    params(
        ("state" = Option<String>, Query, description = "The one-time state the connect route issued."),
        ("code" = Option<String>, Query, description = "Google's authorization code."),
        ("error" = Option<String>, Query, description = "Google's OAuth error, e.g. `access_denied`."),
        ("error_description" = Option<String>, Query, description = "Google's words for the error."),
    ),
    responses(
        (status = 200, description = "YouTube is connected: an HTML page, or JSON with `Accept: application/json`.",
            content((CallbackConnected = "application/json"), (String = "text/html")),
            headers(("set-cookie" = String, description = "Clears the binding cookie."))),
        (status = 302, description = "Back to the app (when return addresses are configured).",
            headers(("location" = String, description = "The app's address with `platform`, `result` and maybe `error`."))),
    ),
    security(())
)]
#[allow(dead_code)]
fn youtube_oauth_callback() {}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Reelay API",
        description = "Post a video to X and YouTube: connect the accounts, create a post, upload \
            its video with the presigned form, and watch each target's progress. Every route but \
            the OAuth callbacks and the console's sits behind API Gateway's JWT authorizer; the \
            caller is the token's `sub`. Errors are RFC 9457 problem details (`Problem`).",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(oauth_callback, youtube_oauth_callback),
    components(schemas(Problem)),
    modifiers(&BearerScheme),
    tags(
        (name = "meta", description = "Health and this document."),
        (name = "connect", description = "Connecting X and YouTube (OAuth 2.0 with PKCE)."),
        (name = "posts", description = "Posts and their per-platform progress."),
        (name = "console", description = "The web console, served by the API function without a token."),
    )
)]
struct Contract;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT from the configured issuer (Cognito, or the local sign-in page), \
                         verified by API Gateway.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole document: `routes` (the operations derived from the function's handlers) with the
/// head, the callback and every operation's problem responses.
pub fn finish(routes: OpenApi) -> OpenApi {
    let mut doc = Contract::openapi();
    doc.merge(routes);
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, operation) in [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ] {
            if let Some(operation) = operation {
                add_problems(method, path, operation);
            }
        }
    }
    doc
}

/// The problems `OPERATION_PROBLEMS` lists for the operation, one response per status.
pub fn problems_of(method: &str, path: &str, operation: &Operation) -> Option<Vec<&'static str>> {
    let (_, _, own) = OPERATION_PROBLEMS
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)?;
    let authed = operation.security.as_ref().is_some_and(|s| {
        s.iter()
            .any(|r| serde_json::to_value(r).is_ok_and(|v| v.get(BEARER).is_some()))
    });
    let mut kinds: Vec<&'static str> = own.to_vec();
    if authed {
        kinds.extend(AUTHED.iter().filter(|k| !own.contains(k)));
    }
    Some(kinds)
}

fn add_problems(method: &str, path: &str, operation: &mut Operation) {
    let Some(kinds) = problems_of(method, path, operation) else {
        return;
    };
    let html = path == X_CALLBACK_PATH || path == YOUTUBE_CALLBACK_PATH;
    let mut by_status: std::collections::BTreeMap<u16, Vec<&str>> = Default::default();
    for kind in kinds {
        if let Some(t) = problem_type(kind) {
            by_status.entry(t.status).or_default().push(kind);
        }
    }
    for (status, kinds) in by_status {
        let listed = kinds
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        // API Gateway's JWT authorizer refuses a missing or bad token itself, before the
        // function, with `{"message":"Unauthorized"}`; the function's own 401 is the backstop.
        let gateway = if status == 401 {
            " API Gateway answers a missing or invalid token itself with `{\"message\":\"Unauthorized\"}` (application/json)."
        } else {
            ""
        };
        let mut response = ResponseBuilder::new()
            .description(format!("Problem `type`: {listed}.{gateway}"))
            .content(
                PROBLEM_CONTENT_TYPE,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            );
        if html {
            response = response.content(
                "text/html",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            );
        }
        if status == 429 {
            response = response.header(
                "retry-after",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Whole seconds to wait before trying again."))
                    .build(),
            );
        }
        let response: Response = response.build();
        operation
            .responses
            .responses
            .insert(status.to_string(), RefOr::T(response));
    }
}
