//! The layer every X endpoint goes through: faults, bearer auth, access
//! level, credits, scopes, per-user 15-minute and per-app/per-user 24-hour
//! limits with X's headers, and call counting.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::config::MissingScopeAnswer;
use crate::faults::{self, Action, DropWhen, KillSwitch, Phase, TruncatedBody};
use crate::problem::{self, ApiError};
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

fn set(h: &mut HeaderMap, name: &'static str, v: u64) {
    h.insert(HeaderName::from_static(name), HeaderValue::from(v));
}

impl RateHeaders {
    fn apply(self, headers: &mut HeaderMap) {
        set(headers, "x-rate-limit-limit", u64::from(self.limit));
        set(headers, "x-rate-limit-remaining", u64::from(self.remaining));
        set(headers, "x-rate-limit-reset", self.reset);
    }
}

/// Whose 24-hour cap a header reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DailyScope {
    App,
    User,
}

/// `x-app-limit-24hour-*` / `x-user-limit-24hour-*` (the names
/// PLhery/node-twitter-api-v2 #495 and #553 report from X).
#[derive(Debug, Clone, Copy)]
struct DailyHeaders {
    scope: DailyScope,
    limit: u32,
    remaining: u32,
    reset: u64,
}

impl DailyHeaders {
    fn apply(self, headers: &mut HeaderMap) {
        let [limit, remaining, reset] = match self.scope {
            DailyScope::App => [
                "x-app-limit-24hour-limit",
                "x-app-limit-24hour-remaining",
                "x-app-limit-24hour-reset",
            ],
            DailyScope::User => [
                "x-user-limit-24hour-limit",
                "x-user-limit-24hour-remaining",
                "x-user-limit-24hour-reset",
            ],
        };
        set(headers, limit, u64::from(self.limit));
        set(headers, remaining, u64::from(self.remaining));
        set(headers, reset, self.reset);
    }
}

/// Every limit header an answer carries.
#[derive(Debug, Clone, Copy)]
struct LimitHeaders {
    rate: RateHeaders,
    app: Option<DailyHeaders>,
    user: Option<DailyHeaders>,
}

impl LimitHeaders {
    fn apply(self, headers: &mut HeaderMap) {
        self.rate.apply(headers);
        for d in [self.app, self.user].into_iter().flatten() {
            d.apply(headers);
        }
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
            Err(resp) => {
                count(&shared, route.endpoint, resp.status().as_u16().to_string());
                return *resp;
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
        let limit = rate.map_or(0, |r| r.rate.limit);
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

/// Endpoints billed against pay-per-use credits. `users_me` is left out:
/// two public reports of depleted credits saw `GET /2/users/me` answer 200
/// while timelines and `POST /2/tweets` answered 402 (see README).
fn billed(endpoint: &str) -> bool {
    endpoint != "users_me"
}

fn refuse(err: ApiError, headers: Option<LimitHeaders>) -> Box<Response> {
    let mut resp = err.into_response();
    if let Some(h) = headers {
        h.apply(resp.headers_mut());
    }
    Box::new(resp)
}

/// Advances one fixed window (it starts at its first request) and reports
/// it; `count` false only reads it.
fn window(
    windows: &mut HashMap<(String, String), RateWindow>,
    key: (String, String),
    limit: u32,
    window_secs: u64,
    now: u64,
) -> (u32, u64) {
    let w = windows.entry(key).or_insert_with(|| RateWindow {
        start_secs: now,
        count: 0,
    });
    if now >= w.start_secs + window_secs {
        *w = RateWindow {
            start_secs: now,
            count: 0,
        };
    }
    (limit.saturating_sub(w.count), w.start_secs + window_secs)
}

fn bump(windows: &mut HashMap<(String, String), RateWindow>, key: &(String, String)) {
    if let Some(w) = windows.get_mut(key) {
        w.count = w.count.saturating_add(1);
    }
}

/// Bearer auth, then X's refusals that come before any limit (the app's
/// access level, pay-per-use credits, the token's scopes), then the 15-minute
/// and 24-hour limits. X answers 401, 402 and those 403s without rate-limit
/// headers, and counts every other authenticated request, failed or not,
/// against the windows.
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    endpoint: &str,
    scopes: &[&str],
) -> Result<(AuthUser, LimitHeaders), Box<Response>> {
    let unauthorized = || Box::new(ApiError::unauthorized().into_response());
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or_else(unauthorized)?;
    let now_ms = shared.clock.now_ms();
    let mut inner = shared.lock();
    let access = inner
        .access_tokens
        .get(&token_hash(token))
        .filter(|t| !t.revoked && now_ms < t.expires_at_ms)
        .cloned()
        .ok_or_else(unauthorized)?;
    if inner.config.user(&access.user_id).is_none() {
        return Err(unauthorized());
    }
    let cfg = &inner.config;
    if cfg.not_enrolled_endpoints.iter().any(|e| e == endpoint) {
        return Err(Box::new(problem::client_not_enrolled(&cfg.app_id)));
    }
    if cfg.credits_depleted && billed(endpoint) {
        return Err(Box::new(problem::credits_depleted(&cfg.account_id)));
    }
    let missing: Vec<&str> = scopes
        .iter()
        .copied()
        .filter(|s| !access.scopes.iter().any(|g| g == s))
        .collect();
    let answer = cfg.missing_scope_answer;
    if !missing.is_empty() && answer == MissingScopeAnswer::Generic {
        return Err(Box::new(problem::generic_forbidden()));
    }

    let now = now_ms / 1000;
    let rate_limit = cfg.rate_limits.get(endpoint).copied();
    let daily = cfg.daily_limits.get(endpoint).copied();
    let inner = &mut *inner;
    let rate_key = (access.user_id.clone(), endpoint.to_string());
    let (rate_left, rate_reset) = match rate_limit {
        Some(l) => window(
            &mut inner.rate_windows,
            rate_key.clone(),
            l.limit,
            l.window_secs,
            now,
        ),
        // An endpoint without a configured limit still carries the headers.
        None => (u32::MAX, now + 900),
    };
    let rate_cap = rate_limit.map_or(u32::MAX, |l| l.limit);
    let mut daily_keys = Vec::new();
    let mut daily_state = |scope: DailyScope, owner: String, cap: Option<u32>, secs: u64| {
        cap.map(|cap| {
            let key = (owner, endpoint.to_string());
            let (left, reset) = window(&mut inner.daily_windows, key.clone(), cap, secs, now);
            daily_keys.push(key);
            DailyHeaders {
                scope,
                limit: cap,
                remaining: left,
                reset,
            }
        })
    };
    let (app, user) = match daily {
        Some(d) => (
            daily_state(
                DailyScope::App,
                format!("app:{}", access.client_id),
                d.app,
                d.window_secs,
            ),
            daily_state(
                DailyScope::User,
                format!("user:{}", access.user_id),
                d.user,
                d.window_secs,
            ),
        ),
        None => (None, None),
    };
    let mut limits = LimitHeaders {
        rate: RateHeaders {
            limit: rate_cap,
            remaining: rate_left,
            reset: rate_reset,
        },
        app,
        user,
    };
    // The 15-minute window first; a request it refuses counts nowhere.
    if rate_limit.is_some() && rate_left == 0 {
        return Err(refuse(ApiError::too_many_requests(), Some(limits)));
    }
    if rate_limit.is_some() {
        bump(&mut inner.rate_windows, &rate_key);
        limits.rate.remaining -= 1;
    }
    // Then the 24-hour caps: a request one of them refuses has used the
    // 15-minute window but no daily allowance.
    let used_up = [limits.app, limits.user]
        .into_iter()
        .flatten()
        .any(|d| d.remaining == 0);
    if used_up {
        return Err(refuse(ApiError::too_many_requests(), Some(limits)));
    }
    for key in &daily_keys {
        bump(&mut inner.daily_windows, key);
    }
    for d in [&mut limits.app, &mut limits.user].into_iter().flatten() {
        d.remaining -= 1;
    }

    if !missing.is_empty() {
        return Err(refuse(ApiError::missing_scopes(&missing), Some(limits)));
    }
    Ok((
        AuthUser {
            user_id: access.user_id,
        },
        limits,
    ))
}
