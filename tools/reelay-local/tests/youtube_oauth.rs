//! Google's OAuth 2.0 for YouTube through Reelay's one OAuth flow (`accounts::oauth::OAuthApp`
//! with `Provider::Google`), against the YouTube emulator's authorize, token and revoke
//! endpoints: the authorize URL asks for what Google needs to issue a refresh token, the code
//! exchange returns one, a refresh keeps it (Google does not rotate), and a revoked or expired
//! refresh token reads as `invalid_grant`, the signal for "reconnect YouTube".

use oauth2::PkceCodeChallenge;
use reelay_local::youtube::{follow_authorize, google_app, param};
use reelay_shared::accounts::oauth::{OAuthApp, OAuthError, Provider, TokenGrant, YOUTUBE_SCOPES};
use reelay_shared::http_client::build_http_client;
use reelay_shared::platforms::youtube::{Channel, YouTubeClient, YouTubeFailure};
use reelay_shared::secret::Secret;
use std::time::Duration;
use url::Url;
use youtube_emulator::{
    Consent, Emulator, GoogleUser, OAuthClient, PublishingStatus, TESTING_REFRESH_SECS,
    UPLOAD_SCOPE,
};

const CLIENT_ID: &str = "reelay-test.apps.googleusercontent.com";
const REDIRECT: &str = "https://reelay.example/api/auth/platforms/youtube/callback";

struct Env {
    emu: Emulator,
    app: OAuthApp,
    http: reqwest::Client,
}

async fn env(status: PublishingStatus) -> Env {
    let emu = Emulator::spawn(Default::default()).await.unwrap();
    emu.admin()
        .register_client(OAuthClient {
            client_id: CLIENT_ID.into(),
            client_secret: "google-test-secret".into(),
            redirect_uris: vec![REDIRECT.into()],
            publishing_status: status,
        })
        .unwrap();
    let base = Url::parse(emu.base_url()).unwrap();
    let http = build_http_client(Duration::from_secs(10)).unwrap();
    let app = google_app(
        http.clone(),
        &base,
        CLIENT_ID,
        "google-test-secret",
        REDIRECT,
    );
    Env { emu, app, http }
}

impl Env {
    /// Runs the browser's part: opens the authorize URL and reads the code off the redirect.
    async fn connect(&self) -> TokenGrant {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let url = self.app.authorize_url("state-123", challenge);
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(param(&query, "access_type").as_deref(), Some("offline"));
        assert_eq!(param(&query, "prompt").as_deref(), Some("consent"));
        assert_eq!(
            param(&query, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert_eq!(
            param(&query, "scope").as_deref(),
            Some(YOUTUBE_SCOPES.join(" ").as_str())
        );
        let back = follow_authorize(&self.http, url).await;
        assert_eq!(param(&back, "state").as_deref(), Some("state-123"));
        let code = param(&back, "code").expect("a code on the redirect");
        self.app
            .exchange_code(&Secret::new(code), &Secret::new(verifier.secret().clone()))
            .await
            .expect("the code exchange")
    }

    fn youtube(&self) -> YouTubeClient {
        YouTubeClient::new(self.http.clone(), Url::parse(self.emu.base_url()).unwrap())
    }
}

#[tokio::test]
async fn connecting_gets_a_refresh_token_that_does_not_rotate() {
    let env = env(PublishingStatus::Production).await;
    let grant = env.connect().await;
    let refresh = grant.tokens.refresh_token.clone().expect("offline access");
    let mut scopes = grant.scopes.clone();
    scopes.sort();
    let mut asked = YOUTUBE_SCOPES.to_vec();
    asked.sort();
    assert_eq!(scopes, asked);
    assert!(grant.expires_in_secs.is_some());

    let renewed = env.app.refresh(&refresh).await.unwrap();
    assert!(
        renewed.tokens.refresh_token.is_none(),
        "Google keeps the refresh token"
    );
    assert_ne!(renewed.tokens.access_token, grant.tokens.access_token);
    // The new access token works on the API; the same refresh token still refreshes.
    let state = env
        .youtube()
        .video_state(&renewed.tokens.access_token, "nosuchvideo")
        .await
        .unwrap();
    assert_eq!(state, None);
    env.app.refresh(&refresh).await.unwrap();
}

#[tokio::test]
async fn a_revoked_refresh_token_is_invalid_grant() {
    let env = env(PublishingStatus::Production).await;
    let grant = env.connect().await;
    env.app.revoke(&grant.tokens).await.unwrap();
    // One call: revoking Google's refresh token ends its access tokens too.
    assert_eq!(env.emu.admin().records().oauth.revoked.len(), 1);
    let refresh = grant.tokens.refresh_token.unwrap();
    let error = env.app.refresh(&refresh).await.unwrap_err();
    assert!(error.is_invalid_grant(), "{error:?}");
    assert!(
        matches!(&error, OAuthError::Rejected { provider: Provider::Google, error, .. } if error == "invalid_grant"),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("Google refused"), "{error}");
    let api = env
        .youtube()
        .video_state(&grant.tokens.access_token, "nosuchvideo")
        .await
        .unwrap_err();
    assert!(api.to_string().contains("401"), "{api}");
}

#[tokio::test]
async fn a_testing_apps_refresh_token_dies_after_seven_days() {
    let env = env(PublishingStatus::Testing).await;
    let grant = env.connect().await;
    let refresh = grant.tokens.refresh_token.unwrap();
    env.emu.admin().advance_clock(TESTING_REFRESH_SECS - 60);
    env.app
        .refresh(&refresh)
        .await
        .expect("still within 7 days");
    env.emu.admin().advance_clock(120);
    let error = env.app.refresh(&refresh).await.unwrap_err();
    assert!(error.is_invalid_grant(), "{error:?}");
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_by_google() {
    let env = env(PublishingStatus::Production).await;
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let back = follow_authorize(&env.http, env.app.authorize_url("s", challenge)).await;
    let code = param(&back, "code").unwrap();
    let (_, other) = PkceCodeChallenge::new_random_sha256();
    let error = env
        .app
        .exchange_code(&Secret::new(code), &Secret::new(other.secret().clone()))
        .await
        .unwrap_err();
    assert!(error.is_invalid_grant(), "{error:?}");
}

#[tokio::test]
async fn the_connection_is_named_after_the_users_channel() {
    let env = env(PublishingStatus::Production).await;
    env.emu.admin().set_user(GoogleUser {
        channel_id: "UCsunsetClips0000000001".into(),
        title: "Sunset Clips".into(),
    });
    let grant = env.connect().await;
    let channel = env
        .youtube()
        .my_channel(&grant.tokens.access_token)
        .await
        .unwrap();
    assert_eq!(
        channel,
        Some(Channel {
            id: "UCsunsetClips0000000001".into(),
            title: "Sunset Clips".into()
        })
    );
}

#[tokio::test]
async fn a_grant_without_the_read_scope_cannot_poll_processing() {
    // Granular consent: the user unticks "view your YouTube account".
    let env = env(PublishingStatus::Production).await;
    env.emu.admin().set_consent(Consent {
        deny: false,
        grant_scopes: Some(vec![UPLOAD_SCOPE.into()]),
    });
    let grant = env.connect().await;
    assert_eq!(grant.scopes, vec![UPLOAD_SCOPE.to_string()]);
    let youtube = env.youtube();
    let token = &grant.tokens.access_token;
    for error in [
        youtube.my_channel(token).await.unwrap_err(),
        youtube
            .video_state(token, "anyvideo0001")
            .await
            .unwrap_err(),
    ] {
        assert_eq!(
            error.classify(0),
            YouTubeFailure::MissingPermission,
            "{error:?}"
        );
    }
}
