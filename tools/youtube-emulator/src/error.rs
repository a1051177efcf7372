//! Google's JSON error envelope (`docs/research/youtube.md` §5):
//! `{"error":{"code","message","errors":[{"domain","reason","message"}]}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub domain: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// Extra members of `error` (e.g. `"status":"UNAUTHENTICATED"`).
    extra: Option<(&'static str, &'static str)>,
    www_authenticate: bool,
    /// No answer at all: the connection is closed instead (the `drop` fault).
    drop_connection: bool,
}

impl ApiError {
    pub fn new(status: u16, domain: &'static str, reason: &'static str, message: &str) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            domain,
            reason,
            message: message.to_string(),
            extra: None,
            www_authenticate: false,
            drop_connection: false,
        }
    }

    /// Not an answer: the connection closes before any byte of one is sent (the `drop` fault).
    pub fn dropped() -> Self {
        let mut e = Self::new(500, "global", "dropped", "dropped");
        e.drop_connection = true;
        e
    }

    /// 400 `badRequest`-class error in `youtube.video` (reason documented
    /// for videos.insert, domain chosen).
    pub fn video(reason: &'static str, message: &str) -> Self {
        Self::new(400, "youtube.video", reason, message)
    }

    /// 400 with a reason this emulator chose (not in the research file).
    pub fn chosen(reason: &'static str, message: &str) -> Self {
        Self::new(400, "global", reason, message)
    }

    /// 401 for a missing, unknown or revoked token (research §5).
    pub fn unauthorized() -> Self {
        let mut e = Self::new(
            401,
            "global",
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential.",
        );
        e.extra = Some(("status", "UNAUTHENTICATED"));
        e.www_authenticate = true;
        e
    }

    /// 403 `insufficientPermissions` for a token without any scope the method accepts
    /// (research §5 documents the reason; the message and `PERMISSION_DENIED` are chosen, after
    /// Google's other APIs).
    pub fn insufficient_scope() -> Self {
        let mut e = Self::new(
            403,
            "global",
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        );
        e.extra = Some(("status", "PERMISSION_DENIED"));
        e
    }

    /// 403 `quotaExceeded`, body as recorded in research §3.
    pub fn quota_exceeded() -> Self {
        Self::new(
            403,
            "youtube.quota",
            "quotaExceeded",
            "The request cannot be completed because you have exceeded your \
             <a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
        )
    }

    /// 404 on an unknown or expired session URI (research §2; body chosen).
    pub fn not_found() -> Self {
        Self::new(404, "global", "notFound", "Not Found")
    }

    /// A fault's plain failure status (body chosen).
    pub fn fault(status: u16) -> Self {
        let reason = match status {
            500 => "backendError",
            503 => "backendError",
            429 => "rateLimitExceeded",
            _ => "faultInjected",
        };
        Self::new(status, "global", reason, "Injected fault")
    }

    pub fn body(&self) -> Value {
        let mut inner = json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "errors": [{
                "message": self.message,
                "domain": self.domain,
                "reason": self.reason,
            }],
        });
        if self.www_authenticate {
            inner["errors"][0]["locationType"] = json!("header");
            inner["errors"][0]["location"] = json!("Authorization");
        }
        if let Some((k, v)) = self.extra {
            inner[k] = json!(v);
        }
        json!({ "error": inner })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.drop_connection {
            // A body that fails before its first byte makes hyper abort the connection with the
            // head still unsent, so the client sees the connection closed and no status.
            let failing = futures::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "connection dropped by fault",
                ))
            });
            return Response::new(axum::body::Body::from_stream(failing));
        }
        let mut resp = (self.status, Json(self.body())).into_response();
        if self.www_authenticate {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
                ),
            );
        }
        resp
    }
}
