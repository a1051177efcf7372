//! The worker's token provider with an identity provider that does not rotate refresh tokens
//! (Google: a refresh answers a new access token and no `refresh_token`,
//! docs/research/youtube.md §1). RFC 6749 §6 lets a server keep the refresh token; the client
//! must then keep using the one it has. A provider that stored "no refresh token" after the
//! first refresh would ask the user to reconnect two hours later.
//!
//! Runs against moto (DynamoDB, KMS) and the YouTube emulator's Google endpoints. The account
//! row is labelled with X's platform because YouTube accounts are not a `Platform` yet
//! (issue 17); the label only names the KMS encryption context and the key.

use std::sync::Arc;
use std::time::Duration;

use oauth2::PkceCodeChallenge;
use reelay_local::harness::{aws_clients_for, moto_endpoint};
use reelay_local::stack::{Stack, StackSpec};
use reelay_local::youtube::{follow_authorize, param};
use reelay_shared::accounts::cipher::{KmsTokenCipher, TokenCipher};
use reelay_shared::accounts::oauth::{OAuthApp, OAuthAppConfig};
use reelay_shared::accounts::store::{AccountStore, DynamoAccountStore, NewConnection};
use reelay_shared::accounts::tokens::{TokenProvider, TokenSource};
use reelay_shared::accounts::{AccountStatus, Platform};
use reelay_shared::clock::{Clock, ManualClock, SystemClock};
use reelay_shared::config::YouTubeConfig;
use reelay_shared::http_client::build_http_client;
use reelay_shared::ids::UserId;
use reelay_shared::platforms::youtube::YouTubeClient;
use reelay_shared::secret::Secret;
use reelay_shared::secret_store::SecretsManagerSource;
use url::Url;
use youtube_emulator::{Emulator, OAuthClient, PublishingStatus};

const CLIENT_ID: &str = "reelay-tokens.apps.googleusercontent.com";
const REDIRECT: &str = "http://127.0.0.1:3000/api/auth/platforms/youtube/callback";

#[tokio::test]
async fn a_refresh_that_returns_no_refresh_token_keeps_the_stored_one() {
    let aws = aws_clients_for(&moto_endpoint()).await;
    let stack = Stack::create(&aws, StackSpec::unique("yt-tokens"))
        .await
        .expect("stack");
    let emu = Emulator::spawn(Default::default()).await.unwrap();
    emu.admin()
        .register_client(OAuthClient {
            client_id: CLIENT_ID.into(),
            client_secret: "s3cret".into(),
            redirect_uris: vec![REDIRECT.into()],
            publishing_status: PublishingStatus::Production,
        })
        .unwrap();
    let base = Url::parse(emu.base_url()).unwrap();
    let http = build_http_client(Duration::from_secs(10)).unwrap();
    // The app as a function builds it: YouTubeConfig from the environment, the client secret
    // read once from Secrets Manager.
    let secret_arn = aws
        .secretsmanager
        .create_secret()
        .name(format!("{}-google-client-secret", stack.table_name))
        .secret_string("s3cret")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("GOOGLE_CLIENT_ID", CLIENT_ID.to_owned()),
        ("GOOGLE_CLIENT_SECRET_ARN", secret_arn),
        ("GOOGLE_REDIRECT_URI", REDIRECT.to_owned()),
        (
            "GOOGLE_AUTHORIZE_URL",
            base.join("/o/oauth2/v2/auth").unwrap().to_string(),
        ),
        ("GOOGLE_TOKEN_URL", base.join("/token").unwrap().to_string()),
        (
            "GOOGLE_REVOKE_URL",
            base.join("/revoke").unwrap().to_string(),
        ),
        ("YOUTUBE_API_BASE_URL", base.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut config = YouTubeConfig::from_env(&env)
        .unwrap()
        .expect("YouTube is configured");
    config
        .read_client_secret(&SecretsManagerSource::new(aws.secretsmanager.clone()))
        .await
        .unwrap();
    let app = OAuthApp::for_provider(http.clone(), &OAuthAppConfig::from(&config)).unwrap();

    // Connect: the browser's part, then the code exchange.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let back = follow_authorize(&http, app.authorize_url("st", challenge)).await;
    let code = param(&back, "code").unwrap();
    let grant = app
        .exchange_code(&Secret::new(code), &Secret::new(verifier.secret().clone()))
        .await
        .unwrap();
    let original_refresh = grant.tokens.refresh_token.clone().expect("a refresh token");

    let store = Arc::new(DynamoAccountStore::new(
        aws.dynamodb.clone(),
        stack.table_name.clone(),
    ));
    let cipher = Arc::new(KmsTokenCipher::new(
        aws.kms.clone(),
        stack.kms_key_id.clone(),
    ));
    let user = UserId::parse("yt-tokens-user").unwrap();
    let now = SystemClock.now_ms() / 1000;
    store
        .save_connection(&NewConnection {
            user_id: user.clone(),
            platform: Platform::YouTube,
            x_user_id: "UCemulatorChannel000001".into(),
            username: "Emulator Channel".into(),
            name: "Emulator Channel".into(),
            scopes: grant.scopes.clone(),
            status: AccountStatus::Active,
            access_expires_at: now as u64 + 3599,
            tokens: cipher
                .encrypt(&user, Platform::YouTube, &grant.tokens)
                .await
                .unwrap(),
            now: now as u64,
        })
        .await
        .unwrap();

    // Two hours on: the access token has expired, so the provider refreshes.
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms() + 2 * 3600 * 1000));
    let provider = TokenProvider::new(store.clone(), cipher.clone(), app.clone(), clock.clone());
    let first = provider.access_token(&user).await.expect("refreshed");
    assert_ne!(first.access_token, grant.tokens.access_token);

    let account = store
        .get_account(&user, Platform::YouTube)
        .await
        .unwrap()
        .unwrap();
    let stored = cipher
        .decrypt(&user, Platform::YouTube, &account.tokens)
        .await
        .unwrap();
    assert_eq!(
        stored.refresh_token.as_ref(),
        Some(&original_refresh),
        "the refresh token Google kept is still stored"
    );

    // Two more hours: it refreshes again with the same refresh token, and the account is fine.
    clock.advance_ms(2 * 3600 * 1000);
    let second = provider.access_token(&user).await.expect("refreshed again");
    assert_ne!(second.access_token, first.access_token);
    let account = store
        .get_account(&user, Platform::YouTube)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status, AccountStatus::Active);
    // The new access token works at YouTube.
    let youtube = YouTubeClient::new(http, base);
    assert_eq!(
        youtube
            .video_state(&second.access_token, "novideo0001")
            .await
            .unwrap(),
        None
    );
}
