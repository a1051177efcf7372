//! The answer to a platform's redirect back to Reelay (the oauth-callback function's domain): the outcome
//! of `Connector::complete` becomes a redirect to the app, JSON, or a small HTML page, in plain
//! HTTP terms (status, headers, body) that the function maps onto Lambda's response type.
//!
//! The answer is a redirect to the app when `CONNECT_RETURN_URLS` is configured, JSON when the
//! client asks for it, or a small HTML page; when the browser's binding cookie was used, it also
//! clears the cookie (`binding`).

use url::Url;

use super::binding;
use super::connect::{return_to_allowed, CallbackOutcome, ConnectionView};
use super::Platform;
use crate::config::ConnectConfig;
use crate::problem::{Problem, PROBLEM_CONTENT_TYPE};

/// The callback's HTTP answer. It follows a one-time code exchange, so nothing in it may be
/// cached (`Cache-Control: no-store`, set by the function on every answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackReply {
    pub status: u16,
    /// `None` when there is no body.
    pub content_type: Option<&'static str>,
    pub body: String,
    /// The redirect target of a 302.
    pub location: Option<String>,
    /// A `Set-Cookie` value that clears the spent binding cookie.
    pub clear_cookie: Option<String>,
}

/// The one place the outcome becomes HTTP. `callback_path` is the path of the redirect URI (the
/// binding cookie's path); `wants_json` whether the client's `Accept` asks for JSON.
pub fn reply(
    config: &ConnectConfig,
    platform: Platform,
    callback_path: &str,
    outcome: CallbackOutcome,
    wants_json: bool,
) -> CallbackReply {
    let clear_cookie = outcome
        .binding_used
        .then(|| binding::clear_cookie(callback_path));
    CallbackReply {
        clear_cookie,
        ..answer(config, platform, outcome, wants_json)
    }
}

fn answer(
    config: &ConnectConfig,
    platform: Platform,
    outcome: CallbackOutcome,
    json: bool,
) -> CallbackReply {
    let problem = outcome
        .result
        .as_ref()
        .err()
        .map(|e| e.to_problem_for(platform));
    if json {
        return match (&outcome.result, &problem) {
            (Ok(view), _) => body(
                200,
                "application/json",
                serde_json::json!({ "connected": view }).to_string(),
            ),
            (_, Some(p)) => body(p.status, PROBLEM_CONTENT_TYPE, p.to_json()),
            (Err(_), None) => body(500, PROBLEM_CONTENT_TYPE, Problem::internal().to_json()),
        };
    }
    // Back to the app when it has a return address: the state's own (checked again against
    // the allow-list, in case the list changed), else the first configured one.
    let target = outcome
        .return_to
        .as_deref()
        .and_then(|r| Url::parse(r).ok())
        .filter(|u| return_to_allowed(u, &config.return_urls))
        .or_else(|| config.return_urls.first().cloned());
    if let Some(mut target) = target {
        {
            let mut q = target.query_pairs_mut();
            q.append_pair("platform", platform.as_str());
            match &outcome.result {
                Ok(view) => {
                    q.append_pair("result", view.status);
                }
                Err(e) => {
                    q.append_pair("result", "error");
                    q.append_pair("error", e.code());
                }
            }
        }
        return CallbackReply {
            status: 302,
            content_type: None,
            body: String::new(),
            location: Some(target.to_string()),
            clear_cookie: None,
        };
    }
    const HTML: &str = "text/html; charset=utf-8";
    let name = platform.display_name();
    let not_connected = format!("{name} was not connected");
    match (&outcome.result, problem) {
        (Ok(view), _) => body(200, HTML, success_page(platform, view)),
        (Err(_), Some(p)) => body(p.status, HTML, page(&not_connected, &p.detail)),
        (Err(_), None) => body(500, HTML, page(&not_connected, "Something went wrong.")),
    }
}

fn body(status: u16, content_type: &'static str, body: String) -> CallbackReply {
    CallbackReply {
        status,
        content_type: Some(content_type),
        body,
        location: None,
        clear_cookie: None,
    }
}

fn success_page(platform: Platform, view: &ConnectionView) -> String {
    let name = platform.display_name();
    // X's accounts go by @handle; a YouTube channel by its title.
    let account = match platform {
        Platform::Twitter => format!("@{}", view.username),
        Platform::YouTube => view.username.clone(),
    };
    match &view.reason {
        None => page(
            &format!("{name} is connected"),
            &format!("Reelay can now post to {account}. You can close this window."),
        ),
        Some(reason) => page(
            &format!("{name} is connected, but Reelay cannot post yet"),
            &format!("{account}: {reason}"),
        ),
    }
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::connect::ConnectError;

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }

    fn view(reason: Option<&str>) -> ConnectionView {
        ConnectionView {
            platform: "twitter",
            x_user_id: "42".into(),
            username: "<alice>".into(),
            name: "Alice".into(),
            scopes: vec![],
            status: if reason.is_some() {
                "needs_reconnect"
            } else {
                "active"
            },
            reason: reason.map(str::to_owned),
            connected_at: 1_800_000_000,
        }
    }

    fn outcome(result: Result<ConnectionView, ConnectError>, used: bool) -> CallbackOutcome {
        CallbackOutcome {
            result,
            return_to: Some("https://app.example/done?x=1".into()),
            binding_used: used,
        }
    }

    fn config(urls: &[&str]) -> ConnectConfig {
        ConnectConfig {
            return_urls: urls.iter().map(|u| Url::parse(u).unwrap()).collect(),
        }
    }

    #[test]
    fn without_return_urls_the_browser_gets_a_page_and_a_client_json() {
        let none = config(&[]);
        let ok = reply(
            &none,
            Platform::Twitter,
            "/cb",
            outcome(Ok(view(None)), true),
            false,
        );
        assert_eq!(
            (ok.status, ok.content_type),
            (200, Some("text/html; charset=utf-8"))
        );
        assert!(ok.body.contains("@&lt;alice&gt;"), "{}", ok.body);
        assert_eq!(ok.clear_cookie, Some(binding::clear_cookie("/cb")));

        let failed = reply(
            &none,
            Platform::Twitter,
            "/cb",
            outcome(Err(ConnectError::MissingState), false),
            true,
        );
        let problem = ConnectError::MissingState.to_problem();
        assert_eq!(failed.status, problem.status);
        assert_eq!(failed.content_type, Some(PROBLEM_CONTENT_TYPE));
        assert_eq!(failed.body, problem.to_json());
        assert_eq!(failed.clear_cookie, None, "an unused binding is left alone");

        let json = reply(
            &none,
            Platform::Twitter,
            "/cb",
            outcome(Ok(view(Some("grant media.write"))), false),
            true,
        );
        let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert_eq!(body["connected"]["status"], "needs_reconnect");
    }

    #[test]
    fn with_return_urls_the_browser_goes_back_to_an_allowed_one() {
        let allowed = config(&["https://app.example/done", "https://other.example/"]);
        let ok = reply(
            &allowed,
            Platform::Twitter,
            "/cb",
            outcome(Ok(view(None)), true),
            false,
        );
        assert_eq!(
            (ok.status, ok.content_type, ok.body.as_str()),
            (302, None, "")
        );
        assert_eq!(
            ok.location.as_deref(),
            Some("https://app.example/done?x=1&platform=twitter&result=active")
        );
        assert!(ok.clear_cookie.is_some());

        // A return address the allow-list no longer holds: the first configured one instead.
        let changed = config(&["https://other.example/"]);
        let failed = reply(
            &changed,
            Platform::Twitter,
            "/cb",
            outcome(Err(ConnectError::MissingState), false),
            false,
        );
        assert_eq!(
            failed.location.as_deref(),
            Some("https://other.example/?platform=twitter&result=error&error=missing_state")
        );
    }
}
