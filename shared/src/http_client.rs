//! The one `reqwest::Client` a container uses for every call to X (OAuth included).

use std::time::Duration;

/// Builds the shared HTTP client: rustls, bounded timeouts, and no redirects. Redirects stay off
/// because the `oauth2` crate requires it (a token endpoint that redirects could leak the code,
/// an SSRF vector), and because X's API never answers a correct call with a redirect.
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
