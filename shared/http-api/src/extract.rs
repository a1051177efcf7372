//! What a route reads from the request, as typed extractors whose rejections are problem JSON,
//! and `ApiError`, the one place a problem becomes an HTTP answer.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use reelay_shared::accounts::connect::ConnectError;
use reelay_shared::api::posts::{self, NewPost, PostChanges, PostsError};
use reelay_shared::ids::UserId;
use reelay_shared::problem::{Problem, PROBLEM_CONTENT_TYPE};

/// A refused request: problem JSON, and `Retry-After` when waiting helps.
#[derive(Debug)]
pub struct ApiError {
    pub problem: Problem,
    pub retry_after_secs: Option<u64>,
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self {
            problem,
            retry_after_secs: None,
        }
    }
}

impl From<PostsError> for ApiError {
    fn from(err: PostsError) -> Self {
        let retry_after_secs = err.retry_after_secs();
        Self {
            problem: posts::problem(err),
            retry_after_secs,
        }
    }
}

impl From<ConnectError> for ApiError {
    fn from(err: ConnectError) -> Self {
        err.to_problem().into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Self {
            problem,
            retry_after_secs,
        } = self;
        tracing::info!(status = problem.status, kind = %problem.kind, detail = %problem.detail, retry_after = retry_after_secs, "request refused");
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, problem.to_json()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(secs) = retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The caller's user id: the JWT `sub` that API Gateway's authorizer verified and put in the
/// request context. Never read from a header or the body.
pub struct Caller(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let sub = match parts.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .and_then(|jwt| jwt.claims.get("sub"))
                .cloned(),
            _ => None,
        };
        sub.and_then(|sub| UserId::parse(&sub).ok())
            .map(Caller)
            .ok_or_else(|| {
                Problem::unauthorized("Sign in first: this route needs a valid bearer token.")
                    .into()
            })
    }
}

/// The body of `POST /api/posts`, parsed field by field (`posts::parse_new_post`) so each
/// problem names its field and rule; no `Content-Type` is required, as before.
pub struct NewPostBody(pub NewPost);

impl<S: Send + Sync> FromRequest<S> for NewPostBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| PostsError::BadJson(None))?;
        Ok(Self(posts::parse_new_post(&body)?))
    }
}

/// The body of `PATCH /api/posts/{id}`, parsed as `NewPostBody` is (`posts::parse_post_changes`).
pub struct PostChangesBody(pub PostChanges);

impl<S: Send + Sync> FromRequest<S> for PostChangesBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| PostsError::BadJson(None))?;
        Ok(Self(posts::parse_post_changes(&body)?))
    }
}

/// Whether the client asked for JSON rather than a redirect.
pub fn wants_json(parts: &axum::http::HeaderMap) -> bool {
    parts
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A typed query string; one that cannot be read is `invalid_query`.
pub struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| {
                Problem::new(
                    400,
                    "invalid_query",
                    "Bad Request",
                    format!("The query string could not be read: {}.", e.body_text()),
                )
                .into()
            })
    }
}

/// The `{id}` of a post's path, as given; the route checks it names one of the caller's posts.
pub struct PostIdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PostIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let path = parts.uri.path().to_owned();
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PostIdPath(p.0))
            .map_err(|_| Problem::not_found(format!("There is no resource at {path}.")).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(event: serde_json::Value) -> Parts {
        let req = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
        req.into_parts().0
    }

    fn sample() -> serde_json::Value {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/apigw-health.json"
        ))
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[tokio::test]
    async fn the_caller_comes_only_from_the_authorizer_claims() {
        let Caller(user) = Caller::from_request_parts(&mut parts(sample()), &())
            .await
            .unwrap_or_else(|e| panic!("{:?}", e.problem));
        assert_eq!(user.as_str(), "user-sample-1");

        // No claims: a header or a query naming a user changes nothing.
        let mut anonymous = sample();
        anonymous["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        anonymous["headers"]["x-user-id"] = "user-sample-1".into();
        anonymous["rawQueryString"] = "sub=user-sample-1".into();
        let refused = Caller::from_request_parts(&mut parts(anonymous), &())
            .await
            .err()
            .expect("refused");
        assert_eq!(
            (refused.problem.status, refused.problem.kind.as_str()),
            (401, "unauthorized")
        );
        let response = refused.into_response();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            PROBLEM_CONTENT_TYPE
        );
    }

    #[test]
    fn quota_refusals_carry_retry_after() {
        let response = ApiError::from(PostsError::QuotaContended).into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let response = ApiError::from(PostsError::Changed).into_response();
        assert_eq!(response.status(), 409);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}
