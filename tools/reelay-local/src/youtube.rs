//! Test support for YouTube: Reelay's Google OAuth app pointed at a YouTube emulator, and the
//! browser's part of the authorize step (the emulator consents at once and redirects with a
//! code).

use url::Url;

use reelay_shared::accounts::oauth::{OAuthApp, OAuthAppConfig, Provider};
use reelay_shared::secret::Secret;

/// Reelay's Google OAuth app for a client registered at the emulator under `base`.
pub fn google_app(
    http: reqwest::Client,
    base: &Url,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
) -> OAuthApp {
    let at = |path: &str| base.join(path).expect("an emulator URL");
    OAuthApp::for_provider(
        http,
        &OAuthAppConfig {
            provider: Provider::Google,
            client_id: client_id.into(),
            client_secret: Some(Secret::new(client_secret)),
            secret_expected: true,
            redirect_uri: Url::parse(redirect_uri).expect("a redirect URI"),
            authorize_url: at("/o/oauth2/v2/auth"),
            token_url: at("/token"),
            revoke_url: at("/revoke"),
        },
    )
    .expect("a Google OAuth app")
}

/// Opens `authorize_url` as the browser would and returns the redirect's query pairs (`code`
/// and `state`, or `error`). Panics if the emulator does not redirect.
pub async fn follow_authorize(http: &reqwest::Client, authorize_url: Url) -> Vec<(String, String)> {
    let answer = http.get(authorize_url).send().await.expect("authorize");
    assert_eq!(
        answer.status(),
        reqwest::StatusCode::FOUND,
        "authorize redirects"
    );
    let location = answer.headers()["location"].to_str().expect("a Location");
    Url::parse(location)
        .expect("a redirect URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The value of `name` in query pairs.
pub fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}
