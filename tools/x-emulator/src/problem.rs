//! X-shaped error bodies, built in one place.
//!
//! v2 API errors are problem JSON (research §7). We use the
//! `https://api.twitter.com/2/problems/` host because that is the host in
//! the most recent recorded body (PLhery/node-twitter-api-v2#591, 2025);
//! clients should match on the path suffix.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const PROBLEM_BASE: &str = "https://api.twitter.com/2/problems/";
const INVALID_DETAIL: &str = "One or more parameters to your request was invalid.";

/// An error answered to the client. Everything the emulator rejects ends
/// here, so no bad input becomes a panic or a non-X body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    /// `application/problem+json` for v2 problems (OAS), plain JSON for the
    /// OAuth endpoints.
    pub problem: bool,
}

impl ApiError {
    fn problem(status: StatusCode, body: Value) -> Self {
        ApiError {
            status,
            body,
            problem: true,
        }
    }

    /// 400 invalid-request with one `errors[]` message, the shape of X's
    /// recorded validation errors (research §3a timeline, PLH#591).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::invalid_with(message, None)
    }

    /// As `invalid`, naming the offending parameter the way X does
    /// (`"parameters":{"name":["value"]}`).
    pub fn invalid_param(message: impl Into<String>, name: &str, value: &str) -> Self {
        Self::invalid_with(message, Some(json!({ name: [value] })))
    }

    fn invalid_with(message: impl Into<String>, parameters: Option<Value>) -> Self {
        let mut error = json!({ "message": message.into() });
        if let Some(p) = parameters {
            error["parameters"] = p;
        }
        Self::problem(
            StatusCode::BAD_REQUEST,
            json!({
                "errors": [error],
                "title": "Invalid Request",
                "detail": INVALID_DETAIL,
                "type": format!("{PROBLEM_BASE}invalid-request"),
            }),
        )
    }

    /// X's recorded answer to a body without a JSON content type (PLH#591).
    pub fn not_json() -> Self {
        Self::invalid("Requests with bodies must have content-type of application/json.")
    }

    /// Unknown or foreign media ids; one body for both so the emulator does
    /// not reveal whose media exists (status chosen by us, see README).
    pub fn media_not_found(id: &str) -> Self {
        Self::problem(
            StatusCode::BAD_REQUEST,
            json!({
                "title": "Not Found Error",
                "type": format!("{PROBLEM_BASE}resource-not-found"),
                "detail": format!("Could not find media with id: [{id}]."),
                "resource_type": "media",
                "resource_id": id,
                "parameter": "id",
                "value": id,
                "status": 400,
            }),
        )
    }

    /// Generic problems carrying only the HTTP status (`about:blank`), as
    /// X's 401/403/429 bodies do.
    pub fn blank(status: StatusCode, detail: &str) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        Self::problem(
            status,
            json!({
                "title": title,
                "type": "about:blank",
                "status": status.as_u16(),
                "detail": detail,
            }),
        )
    }

    pub fn unauthorized() -> Self {
        Self::blank(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    pub fn too_many_requests() -> Self {
        Self::blank(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
    }

    /// Missing OAuth 2.0 scopes, the emulator's former answer, kept behind
    /// `missing_scope_answer: "client_forbidden"`. Not X's body: X answers
    /// `generic_forbidden()`.
    pub fn missing_scopes(missing: &[&str]) -> Self {
        Self::problem(
            StatusCode::FORBIDDEN,
            json!({
                "title": "Client Forbidden",
                "type": format!("{PROBLEM_BASE}client-forbidden"),
                "status": 403,
                "reason": "missing-scopes",
                "detail": format!(
                    "This request requires the OAuth 2.0 scope(s) [{}], which the access token was not granted.",
                    missing.join(", ")
                ),
                "missing_scopes": missing,
            }),
        )
    }

    /// OAuth endpoint errors: `{"error","error_description"}`.
    pub fn oauth(status: StatusCode, error: &str, description: &str) -> Self {
        ApiError {
            status,
            body: json!({ "error": error, "error_description": description }),
            problem: false,
        }
    }

    /// X's recorded bad/expired/reused code answer (research §1). X also
    /// sends `errors`, an array of one object whose fields the record
    /// (PLH#496: `errors: [ [Object] ]`) does not show; its `message` is
    /// chosen.
    pub fn invalid_code() -> Self {
        let description = "Value passed for the authorization code was invalid.";
        let mut e = Self::oauth(StatusCode::BAD_REQUEST, "invalid_request", description);
        e.body["errors"] = json!([{ "message": description }]);
        e
    }

    /// X's answer to a bad or spent refresh token (research §1).
    pub fn invalid_token() -> Self {
        Self::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Value passed for the token was invalid.",
        )
    }

    /// X's answer when a confidential client omits Basic auth (PLH#319).
    pub fn missing_basic() -> Self {
        Self::oauth(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Missing valid authorization header",
        )
    }

    /// Opaque 5xx used by fault injection.
    pub fn server_error(status: StatusCode) -> Self {
        let title = status.canonical_reason().unwrap_or("Server Error");
        Self::problem(
            status,
            json!({ "title": title, "type": "about:blank", "status": status.as_u16(), "detail": title }),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        let content_type = if self.problem {
            "application/problem+json"
        } else {
            "application/json"
        };
        let mut resp = (self.status, bytes).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp
    }
}

/// X's answer to a token without a required scope, byte for byte:
/// `application/problem+json`, 93 bytes (the `content-length` recorded in
/// PLhery/node-twitter-api-v2 #588, media upload 2025, and #265, users/me
/// 2022, is 93: the body pretty-printed with two-space indents), no
/// rate-limit headers.
pub const GENERIC_FORBIDDEN: &str = "{\n  \"title\": \"Forbidden\",\n  \"type\": \"about:blank\",\n  \"status\": 403,\n  \"detail\": \"Forbidden\"\n}";

/// A body sent exactly as given, with its content type.
fn raw(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Missing scope, as X answers it (see `GENERIC_FORBIDDEN`).
pub fn generic_forbidden() -> Response {
    raw(
        StatusCode::FORBIDDEN,
        "application/problem+json",
        GENERIC_FORBIDDEN.to_string(),
    )
}

fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The app's access does not include the endpoint. X's recorded body, keys
/// in the recorded order (xdevplatform/twitter-api-java-sdk#64, POST
/// /2/tweets, 2023; #67; xdevplatform/samples#160, 2024). Content type not
/// recorded: problem JSON chosen.
pub fn client_not_enrolled(client_id: &str) -> Response {
    let body = format!(
        "{{\"client_id\":{},\"detail\":\"When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.\",\"registration_url\":\"https://developer.twitter.com/en/docs/projects/overview\",\"title\":\"Client Forbidden\",\"required_enrollment\":\"Appropriate Level of API Access\",\"reason\":\"client-not-enrolled\",\"type\":\"https://api.twitter.com/2/problems/client-forbidden\"}}",
        quoted(client_id)
    );
    raw(StatusCode::FORBIDDEN, "application/problem+json", body)
}

/// Pay-per-use credits used up: X's 402 as recorded in 2026. The body is
/// the one public clients logged (`title` CreditsDepleted, `detail` "Your
/// enrolled account [id] does not have any credits to fulfill this
/// request.", `type` …/2/problems/credits); with a 19-digit account id it is
/// 185 bytes, the `content-length` tryethernal/ethernal #1289ff recorded
/// for POST /2/tweets, with `content-type: application/json; charset=utf-8`.
pub fn credits_depleted(account_id: &str) -> Response {
    let detail = format!(
        "Your enrolled account [{account_id}] does not have any credits to fulfill this request."
    );
    let body = format!(
        "{{\"title\":\"CreditsDepleted\",\"detail\":{},\"type\":\"https://api.twitter.com/2/problems/credits\"}}",
        quoted(&detail)
    );
    raw(
        StatusCode::PAYMENT_REQUIRED,
        "application/json; charset=utf-8",
        body,
    )
}

/// networknt-style schema messages, the wording X's v2 JSON validation uses
/// (e.g. "$.x: is missing but it is required"). Exact wording UNCONFIRMED.
pub mod schema {
    pub fn unknown_field(path: &str) -> String {
        format!("{path}: is not defined in the schema and the schema does not allow additional properties")
    }
    pub fn missing(path: &str) -> String {
        format!("{path}: is missing but it is required")
    }
    pub fn wrong_type(path: &str, found: &str, expected: &str) -> String {
        format!("{path}: {found} found, {expected} expected")
    }
    pub fn not_in_enum(path: &str, allowed: &[&str]) -> String {
        format!(
            "{path}: does not have a value in the enumeration [{}]",
            allowed.join(", ")
        )
    }
    pub fn maximum(path: &str, max: impl std::fmt::Display) -> String {
        format!("{path}: must have a maximum value of {max}")
    }
    pub fn minimum(path: &str, min: impl std::fmt::Display) -> String {
        format!("{path}: must have a minimum value of {min}")
    }

    /// JSON type name as the validator prints it.
    pub fn type_name(v: &serde_json::Value) -> &'static str {
        match v {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        }
    }
}
