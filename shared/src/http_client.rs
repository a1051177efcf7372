//! The one `reqwest::Client` a container uses for every call to X (OAuth included).

use std::time::Duration;

/// Builds the shared HTTP client: rustls, bounded timeouts, and no redirects. Redirects stay off
/// because the `oauth2` crate requires it (a token endpoint that redirects could leak the code,
/// an SSRF vector), and because X's API never answers a correct call with a redirect.
/// What went wrong with a request that got no usable answer, without the URL that reqwest's
/// `Display` includes (a URL may carry a credential: a YouTube session URI). Shared by every
/// platform client and the OAuth exchange so a failure reads the same wherever it happens.
pub fn transport_detail(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "the answer was cut off"
    } else {
        "the request failed"
    };
    let cause = std::error::Error::source(err)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    format!("{kind}{cause}")
}

pub fn build_http_client(request_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(request_timeout)
        .pool_idle_timeout(Duration::from_secs(50))
        .user_agent(concat!("reelay/", env!("CARGO_PKG_VERSION")))
        .build()
}
