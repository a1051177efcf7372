//! The layer every X endpoint goes through: faults, bearer auth, scopes,
//! per-user rate limits with X's headers, and call counting.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::faults::{self, Action, DropWhen, KillSwitch, Phase, TruncatedBody};
use crate::problem::ApiError;
use crate::state::{token_hash, RateWindow, Shared};

/// Which endpoint a route is, and what it needs.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub endpoint: &'static str,
    /// `None`: an OAuth endpoint, no bearer token (faults and counts only).
    pub scopes: Option<&'static [&'static str]>,
}

/// The caller, as found from its bearer token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
}

#[derive(Debug, Clone, Copy)]
struct RateHeaders {
    limit: u32,
    remaining: u32,
    reset: u64,
}

impl RateHeaders {
    fn apply(self, headers: &mut HeaderMap) {
        let set = |h: &mut HeaderMap, name: &'static str, v: u64| {
            h.insert(HeaderName::from_static(name), HeaderValue::from(v));
        };
        set(headers, "x-rate-limit-limit", u64::from(self.limit));
        set(headers, "x-rate-limit-remaining", u64::from(self.remaining));
        set(headers, "x-rate-limit-reset", self.reset);
    }
}

/// Runs the request in a task of its own and waits for it. When the client
/// drops the connection (its timeout fired), hyper drops this future, but
/// not the task: a request X has received runs to the end, as on a real
/// server, instead of stopping half-way (a media stuck in `finalizing`, a
/// post never created). The task's answer then goes nowhere.
pub async fn guard(
    State((shared, route)): State<(Arc<Shared>, Route)>,
    req: Request,
    next: Next,
) -> Response {
    let task = tokio::spawn(serve(shared.clone(), route, req, next));
    match task.await {
        Ok(resp) => resp,
        // The handler panicked: answer as X's servers do, with a 500.
        Err(_) => {
            count(&shared, route.endpoint, "500".to_string());
            ApiError::server_error(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
    }
}

async fn sleep_ms(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn serve(shared: Arc<Shared>, route: Route, mut req: Request, next: Next) -> Response {
    let kill = req
        .extensions()
        .get::<ConnectInfo<KillSwitch>>()
        .map(|c| c.0.clone());
    let plan = faults::plan(&mut shared.lock(), route.endpoint);
    sleep_ms(plan.latency_before_ms).await;

    let (before, after) = match plan.action {
        Some((action, Phase::Before)) => (Some(action), None),
        Some((action, Phase::After)) => (None, Some(action)),
        None => (None, None),
    };
    if let Some(action) = before {
        let limit = shared
            .lock()
            .config
            .rate_limits
            .get(route.endpoint)
            .map_or(0, |r| r.limit);
        let resp = apply_action(&shared, &action, None, kill.as_ref(), limit).await;
        return finish(&shared, route.endpoint, resp, &action);
    }

    let mut rate = None;
    if let Some(scopes) = route.scopes {
        match authenticate(&shared, req.headers(), route.endpoint, scopes) {
            Ok((user, headers)) => {
                rate = Some(headers);
                req.extensions_mut().insert(user);
            }
            Err((err, headers)) => {
                let mut resp = err.into_response();
                if let Some(h) = headers {
                    h.apply(resp.headers_mut());
                }
                count(&shared, route.endpoint, resp.status().as_u16().to_string());
                return resp;
            }
        }
    }

    let mut resp = next.run(req).await;
    if let Some(h) = rate {
        h.apply(resp.headers_mut());
    }
    // The work is done; only the answer is late (`latency` with `phase: after`).
    sleep_ms(plan.latency_after_ms).await;
    if let Some(action) = after {
        let limit = rate.map_or(0, |r| r.limit);
        let resp = apply_action(&shared, &action, Some(resp), kill.as_ref(), limit).await;
        return finish(&shared, route.endpoint, resp, &action);
    }
    count(&shared, route.endpoint, resp.status().as_u16().to_string());
    resp
}

fn count(shared: &Shared, endpoint: &str, status: String) {
    shared.lock().count_call(endpoint, &status);
}

fn finish(shared: &Shared, endpoint: &str, resp: Response, action: &Action) -> Response {
    let label = match action {
        Action::Drop(DropWhen::BeforeResponse) => "dropped".to_string(),
        Action::Drop(DropWhen::MidResponse) => "dropped_mid_response".to_string(),
        _ => resp.status().as_u16().to_string(),
    };
    count(shared, endpoint, label);
    resp
}

async fn apply_action(
    shared: &Shared,
    action: &Action,
    handled: Option<Response>,
    kill: Option<&KillSwitch>,
    limit: u32,
) -> Response {
    match action {
        Action::Fail(status) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            if status.is_server_error() {
                ApiError::server_error(status).into_response()
            } else {
                ApiError::blank(status, status.canonical_reason().unwrap_or("Error"))
                    .into_response()
            }
        }
        Action::RateLimit(secs) => {
            let mut resp = ApiError::too_many_requests().into_response();
            RateHeaders {
                limit,
                remaining: 0,
                reset: shared.clock.now_secs() + secs,
            }
            .apply(resp.headers_mut());
            resp
        }
        Action::Drop(DropWhen::BeforeResponse) => {
            if let Some(k) = kill {
                k.kill();
            }
            // Never reaches the client: the socket fails on first write.
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Action::SlowBody(ms) => {
            let (parts, body) = match handled {
                Some(resp) => resp.into_parts(),
                None => StatusCode::OK.into_response().into_parts(),
            };
            let full = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let (head, tail) = (full.slice(..full.len() / 2), full.slice(full.len() / 2..));
            let ms = *ms;
            let chunks = futures::stream::iter([Ok::<_, std::io::Error>(head)]).chain(
                futures::stream::once(async move {
                    sleep_ms(ms).await;
                    Ok(tail)
                }),
            );
            Response::from_parts(parts, Body::from_stream(chunks))
        }
        Action::Drop(DropWhen::MidResponse) => {
            let (mut parts, body) = match handled {
                Some(resp) => resp.into_parts(),
                None => {
                    let resp = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")])
                        .into_response();
                    resp.into_parts()
                }
            };
            let full = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            // Half the real body, or a bare `{"data":` when there is none.
            let head = if full.len() >= 2 {
                full.slice(..full.len() / 2)
            } else {
                bytes::Bytes::from_static(b"{\"data\":")
            };
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(
                parts,
                Body::from_stream(TruncatedBody::new(head, kill.cloned())),
            )
        }
    }
}

type AuthFailure = (ApiError, Option<RateHeaders>);

/// Bearer auth, then the rate limit, then scopes. X answers 401 without
/// rate-limit headers (no user is known), and counts every authenticated
/// request, failed or not, against the user's window.
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    endpoint: &str,
    scopes: &[&str],
) -> Result<(AuthUser, RateHeaders), AuthFailure> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or((ApiError::unauthorized(), None))?;
    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
    let access = inner
        .access_tokens
        .get(&token_hash(token))
        .filter(|t| !t.revoked && now_ms < t.expires_at_ms)
        .cloned()
        .ok_or((ApiError::unauthorized(), None))?;
    if inner.config.user(&access.user_id).is_none() {
        return Err((ApiError::unauthorized(), None));
    }

    let rate = match inner.config.rate_limits.get(endpoint).copied() {
        Some(limit) => {
            let now = now_ms / 1000;
            let window = inner
                .rate_windows
                .entry((access.user_id.clone(), endpoint.to_string()))
                .or_insert_with(|| RateWindow {
                    start_secs: now,
                    count: 0,
                });
            if now >= window.start_secs + limit.window_secs {
                *window = RateWindow {
                    start_secs: now,
                    count: 0,
                };
            }
            let reset = window.start_secs + limit.window_secs;
            if window.count >= limit.limit {
                let h = RateHeaders {
                    limit: limit.limit,
                    remaining: 0,
                    reset,
                };
                return Err((ApiError::too_many_requests(), Some(h)));
            }
            window.count += 1;
            RateHeaders {
                limit: limit.limit,
                remaining: limit.limit - window.count,
                reset,
            }
        }
        // An endpoint without a configured limit still carries the headers.
        None => RateHeaders {
            limit: u32::MAX,
            remaining: u32::MAX,
            reset: now_ms / 1000 + 900,
        },
    };

    let missing: Vec<&str> = scopes
        .iter()
        .copied()
        .filter(|s| !access.scopes.iter().any(|g| g == s))
        .collect();
    if !missing.is_empty() {
        return Err((ApiError::missing_scopes(&missing), Some(rate)));
    }
    Ok((
        AuthUser {
            user_id: access.user_id,
        },
        rate,
    ))
}
