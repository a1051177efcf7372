//! Connecting X, end to end against moto and the X emulator (issue 4): the connect flow through
//! the runner's HTTP routes, the token provider's refresh under races, disconnect, the error
//! answers, the log hygiene, and the X client's error classification.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use reelay_local::authorizer::LocalAuthorizer;
use reelay_local::harness::{aws_clients_for, moto_endpoint};
use reelay_local::runner::{Functions, Runner, RunnerConfig};
use reelay_local::stack::{Stack, StackSpec};
use reelay_shared::accounts::binding;
use reelay_shared::accounts::cipher::{KmsTokenCipher, TokenCipher, TokenPair};
use reelay_shared::accounts::connect::{
    AccountDirectory, CallbackParams, ConnectError, Connector, STATE_TTL_SECS,
};
use reelay_shared::accounts::oauth::XOAuth;
use reelay_shared::accounts::pkce::PkceKey;
use reelay_shared::accounts::store::{AccountStore, DynamoAccountStore};
use reelay_shared::accounts::tokens::{ErrorChain, TokenError, TokenProvider, TokenSource};
use reelay_shared::accounts::{AccountStatus, OAuthState, Platform};
use reelay_shared::aws::AwsClients;
use reelay_shared::clock::{Clock, ManualClock, SystemClock};
use reelay_shared::config::XConfig;
use reelay_shared::http_client::build_http_client;
use reelay_shared::ids::UserId;
use reelay_shared::secret::Secret;
use reelay_shared::secret_store::SecretsManagerSource;
use reelay_shared::x::{ForbiddenKind, ProcessingState, XClient, XError};
use serde_json::Value;
use url::Url;
use x_emulator::{
    DropWhen, Emulator, EmulatorConfig, FaultKind, FaultSpec, MintRequest, OAuthClient, Phase,
    RateLimit,
};

const REDIRECT_URI: &str = "http://127.0.0.1:3000/api/auth/platforms/twitter/callback";
const CLIENT_ID: &str = "reelay-connect-test";
const CLIENT_SECRET: &str = "connect-test-secret-5b7e1c";
/// The emulator's default consenting user (its README).
const X_USER_ID: &str = "1072250532645998596";
const X_USERNAME: &str = "ReelayTester";

struct World {
    aws: AwsClients,
    stack: Stack,
    emu: Emulator,
    runner: Runner,
    auth: LocalAuthorizer,
    /// The test's own client; redirects off so each hop is visible.
    http: reqwest::Client,
    /// The test plays one browser: the cookies Reelay set in it (`name=value`), sent back to
    /// the callback. Kept by hand: the client has no cookie store, and one would not send a
    /// `Secure` cookie over the runner's plain http (browsers do, to 127.0.0.1).
    cookies: Mutex<Vec<String>>,
    x_config: XConfig,
}

async fn world(label: &str) -> World {
    let aws = aws_clients_for(&moto_endpoint()).await;
    let stack = Stack::create(
        &aws,
        StackSpec::unique(label).with_x_client_secret(CLIENT_SECRET),
    )
    .await
    .expect("stack");
    let mut config = EmulatorConfig::default();
    config.clients.push(OAuthClient {
        client_id: CLIENT_ID.into(),
        client_secret: Some(CLIENT_SECRET.into()),
        redirect_uris: vec![REDIRECT_URI.into()],
    });
    // 50 concurrent users_me checks plus the flow's own exceed X's 75 per window (research §2).
    config.rate_limits.insert(
        "users_me".into(),
        RateLimit {
            limit: 1000,
            window_secs: 900,
        },
    );
    let emu = Emulator::start(config).await.expect("emulator");
    let mut env = stack.function_env();
    for (k, v) in [
        ("X_CLIENT_ID", CLIENT_ID.to_owned()),
        ("X_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("X_AUTHORIZE_URL", emu.authorize_url()),
        ("X_TOKEN_URL", emu.token_url()),
        ("X_REVOKE_URL", format!("{}/2/oauth2/revoke", emu.base_url)),
        ("X_API_BASE_URL", emu.base_url.clone()),
        ("X_REQUEST_TIMEOUT_SECS", "10".to_owned()),
    ] {
        env.insert(k.to_owned(), v);
    }
    // The test's own X clients read the client secret from Secrets Manager, as the functions do.
    let mut x_config = XConfig::from_env(&env).expect("x config");
    x_config
        .read_client_secret(&SecretsManagerSource::new(aws.secretsmanager.clone()))
        .await
        .expect("client secret");
    let functions = Functions::from_env(&env, &aws).await.expect("functions");
    let auth = LocalAuthorizer::random();
    let runner = Runner::start(
        functions,
        aws.clone(),
        &stack,
        auth.clone(),
        RunnerConfig::default(),
    )
    .await
    .expect("runner");
    World {
        aws,
        stack,
        emu,
        runner,
        auth,
        http: build_http_client(Duration::from_secs(10)).expect("http"),
        cookies: Mutex::new(Vec::new()),
        x_config,
    }
}

impl World {
    fn store(&self) -> Arc<DynamoAccountStore> {
        Arc::new(DynamoAccountStore::new(
            self.aws.dynamodb.clone(),
            self.stack.table_name.clone(),
        ))
    }

    fn cipher(&self) -> Arc<KmsTokenCipher> {
        Arc::new(KmsTokenCipher::new(
            self.aws.kms.clone(),
            self.stack.kms_key_id.clone(),
        ))
    }

    fn oauth(&self) -> XOAuth {
        XOAuth::new(self.http.clone(), &self.x_config).expect("oauth")
    }

    fn x(&self) -> XClient {
        XClient::new(self.http.clone(), &self.x_config)
    }

    /// The stack's PKCE key, read as the functions read it.
    async fn pkce_key(&self) -> PkceKey {
        PkceKey::read(
            &SecretsManagerSource::new(self.aws.secretsmanager.clone()),
            &self.stack.pkce_key_secret_arn,
        )
        .await
        .expect("PKCE key")
    }

    fn provider(&self, clock: Arc<dyn Clock>) -> TokenProvider {
        TokenProvider::new(self.store(), self.cipher(), self.oauth(), clock)
    }

    /// Applies an answer's `Set-Cookie`s to the browser, as a browser would.
    fn remember(&self, resp: &reqwest::Response) {
        let mut jar = self.cookies.lock().unwrap();
        for header in resp.headers().get_all("set-cookie") {
            let header = header.to_str().unwrap();
            let pair = header.split(';').next().unwrap().trim().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            jar.retain(|c| c.split('=').next() != Some(name.as_str()));
            if !header.to_ascii_lowercase().contains("max-age=0") {
                jar.push(pair);
            }
        }
    }

    /// Puts the binding of `state` in the browser, for states the test stored itself.
    fn hold_binding_of(&self, state: &str) {
        *self.cookies.lock().unwrap() = vec![format!(
            "{}={}",
            binding::COOKIE_NAME,
            binding::binding_for(state)
        )];
    }

    /// The browser's `name=value` binding cookie, for events built by hand.
    fn binding_cookie(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.starts_with(binding::COOKIE_NAME))
            .cloned()
            .expect("the connect route set the binding cookie")
    }

    async fn api(&self, method: reqwest::Method, path: &str, user: &str) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.runner.http_url))
            .bearer_auth(self.auth.mint(user))
            .header("accept", "application/json")
            .send()
            .await
            .expect("api call")
    }

    /// `GET .../connect` as JSON; returns X's authorize URL.
    async fn start_connect(&self, user: &str) -> Url {
        let resp = self
            .api(
                reqwest::Method::GET,
                "/api/auth/platforms/twitter/connect",
                user,
            )
            .await;
        assert_eq!(resp.status(), 200);
        self.remember(&resp);
        let body: Value = resp.json().await.unwrap();
        Url::parse(body["authorize_url"].as_str().unwrap()).unwrap()
    }

    /// Plays the browser at X: follows the authorize URL (with emulator consent overrides) and
    /// returns the query X redirects back with.
    async fn consent(&self, mut authorize: Url, overrides: &[(&str, &str)]) -> String {
        for (k, v) in overrides {
            authorize.query_pairs_mut().append_pair(k, v);
        }
        let resp = self.http.get(authorize).send().await.unwrap();
        assert_eq!(resp.status(), 302, "X answers consent with a redirect");
        let location = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT_URI));
        location.query().unwrap_or_default().to_owned()
    }

    /// The browser landing on Reelay's callback (unauthenticated), with its cookies.
    async fn callback(&self, query: &str) -> (u16, Value) {
        let cookies = self.cookies.lock().unwrap().join("; ");
        let mut request = self
            .http
            .get(format!(
                "{}/api/auth/platforms/twitter/callback?{query}",
                self.runner.http_url
            ))
            .header("accept", "application/json");
        if !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        let resp = request.send().await.unwrap();
        self.remember(&resp);
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn connect(&self, user: &str, overrides: &[(&str, &str)]) -> (u16, Value) {
        let authorize = self.start_connect(user).await;
        let query = self.consent(authorize, overrides).await;
        self.callback(&query).await
    }

    async fn platforms(&self, user: &str) -> Vec<Value> {
        let resp = self.api(reqwest::Method::GET, "/api/platforms", user).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["platforms"].as_array().cloned().unwrap_or_default()
    }

    async fn stored_tokens(&self, user: &UserId) -> TokenPair {
        let account = self
            .store()
            .get_account(user, Platform::Twitter)
            .await
            .unwrap()
            .expect("account stored");
        self.cipher()
            .decrypt(user, Platform::Twitter, &account.tokens)
            .await
            .expect("decrypt")
    }

    fn refreshes(&self) -> usize {
        self.emu
            .admin()
            .records()
            .tokens
            .iter()
            .filter(|t| t.event == "refreshed")
            .count()
    }
}

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A clock `secs` ahead of now: the stored access token looks expired without waiting.
fn clock_ahead(secs: i64) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(SystemClock.now_ms() + secs * 1000))
}

// ---- the flow -------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The whole journey with every log line of the runner, the handlers and the shared code
/// captured: connect, callback, replay, list, refresh, disconnect. Then no secret may appear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_stores_encrypted_tokens_refreshes_disconnects_and_never_logs_secrets() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    // Reelay's own crates at TRACE, everything else at DEBUG (Lambda runs at INFO). The AWS
    // SDK's TRACE level dumps raw response bodies (DynamoDB items, KMS plaintext) by design, so
    // it is not a level any deployment may use and is left out of this check.
    let filter = tracing_subscriber::EnvFilter::new(
        "debug,reelay_shared=trace,reelay_api=trace,reelay_oauth_callback=trace,reelay_local=trace",
    );
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Global, not thread-scoped: a scoped subscriber misses events whose callsites other test
    // threads registered first. Other tests' logs land here too, which only widens the check.
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");

    let w = world("connect-flow").await;
    let user = uid("alice");

    // Start: 302 to X by default, with the required scopes and S256 PKCE.
    let resp = w
        .http
        .get(format!(
            "{}/api/auth/platforms/twitter/connect",
            w.runner.http_url
        ))
        .bearer_auth(w.auth.mint("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    w.remember(&resp);
    let cookie = w.binding_cookie();
    let (_, binding_value) = cookie.split_once('=').unwrap();
    assert_eq!(
        binding_value.len(),
        43,
        "the redirect sets the binding cookie too"
    );
    let authorize = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert!(authorize.as_str().starts_with(&w.emu.authorize_url()));
    let q = authorize.query().unwrap().to_owned();
    let scopes = query_param(&q, "scope").unwrap();
    for s in [
        "tweet.read",
        "tweet.write",
        "users.read",
        "offline.access",
        "media.write",
    ] {
        assert!(scopes.split(' ').any(|x| x == s), "{s} requested");
    }
    assert_eq!(
        query_param(&q, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let state = query_param(&q, "state").unwrap();
    assert!(state.len() >= 22, "state carries at least 128 bits");

    // The state is stored bound to alice, with a 10-minute expiry.
    let item = w
        .aws
        .dynamodb
        .get_item()
        .table_name(&w.stack.table_name)
        .key("pk", AttributeValue::S(format!("OAUTH_STATE#{state}")))
        .key("sk", AttributeValue::S("STATE".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("state stored");
    assert_eq!(item["user_id"].as_s().unwrap(), "alice");
    let created: u64 = item["created_at"].as_n().unwrap().parse().unwrap();
    let expires: u64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert_eq!(expires - created, STATE_TTL_SECS);

    // X redirects back; the callback stores the account.
    let callback_query = w.consent(authorize, &[]).await;
    let code = query_param(&callback_query, "code").unwrap();
    let (status, body) = w.callback(&callback_query).await;
    assert_eq!(status, 200, "{body}");
    // The verifier X received (derived from the state, stored nowhere: see
    // `the_state_item_holds_no_pkce_verifier`).
    let verifier = w
        .emu
        .admin()
        .records()
        .code_verifiers
        .last()
        .cloned()
        .expect("X received a verifier");
    assert_eq!(body["connected"]["status"], "active");
    assert_eq!(body["connected"]["username"], X_USERNAME);

    // Replaying the same callback is refused and changes nothing.
    let (status, body) = w.callback(&callback_query).await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "unknown_state");

    // Stored: X identity, scopes, status; tokens only as ciphertext bound to alice.
    let account = w
        .store()
        .get_account(&user, Platform::Twitter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.x_user_id, X_USER_ID);
    assert_eq!(account.status, AccountStatus::Active);
    let first = w.stored_tokens(&user).await;
    let first_refresh = first
        .refresh_token
        .clone()
        .expect("offline.access gives a refresh token");
    let raw_item = w
        .aws
        .dynamodb
        .get_item()
        .table_name(&w.stack.table_name)
        .key("pk", AttributeValue::S("USER#alice".into()))
        .key("sk", AttributeValue::S("ACCOUNT#twitter".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let raw = format!("{raw_item:?}");
    assert!(!raw.contains(first.access_token.expose()));
    assert!(!raw.contains(first_refresh.expose()));
    let wrong_user = w
        .cipher()
        .decrypt(&uid("mallory"), Platform::Twitter, &account.tokens)
        .await;
    assert!(wrong_user.is_err(), "the ciphertext is bound to alice");
    assert_eq!(
        w.x().users_me(&first.access_token).await.unwrap().id,
        X_USER_ID
    );

    // Listing shows the connection, never token material.
    let listed = w.platforms("alice").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "active");
    let listed_text = serde_json::to_string(&listed).unwrap();
    assert!(!listed_text.contains(first.access_token.expose()));

    // Refresh when expired (a clock three hours ahead). A worker with too little time left in
    // its invocation does not start the refresh at all: cut off after X rotated the pair, it
    // would lose the only refresh token that still works.
    let provider = w.provider(clock_ahead(3 * 3600));
    assert!(matches!(
        provider
            .access_token_within(&user, std::time::Duration::from_secs(2))
            .await,
        Err(TokenError::Unavailable { .. })
    ));
    assert_eq!(w.refreshes(), 0);
    let token = provider.access_token(&user).await.unwrap();
    assert_eq!(w.refreshes(), 1);
    assert_eq!(token.token_version, account.token_version + 1);
    assert_ne!(token.access_token, first.access_token);
    assert!(w.x().users_me(&token.access_token).await.is_ok());
    assert!(matches!(
        w.x().users_me(&first.access_token).await,
        Err(XError::Unauthorized { .. })
    ));
    let second = w.stored_tokens(&user).await;

    // Disconnect: revoked at X, deleted here; a second disconnect finds nothing.
    let resp = w
        .api(
            reqwest::Method::DELETE,
            "/api/auth/platforms/twitter",
            "alice",
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert!(w
        .emu
        .admin()
        .records()
        .tokens
        .iter()
        .any(|t| t.event == "revoked"));
    assert!(matches!(
        w.x().users_me(&token.access_token).await,
        Err(XError::Unauthorized { .. })
    ));
    assert!(w.platforms("alice").await.is_empty());
    let resp = w
        .api(
            reqwest::Method::DELETE,
            "/api/auth/platforms/twitter",
            "alice",
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert!(matches!(
        provider.access_token(&user).await,
        Err(TokenError::NotConnected)
    ));

    w.runner.stop().await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("account connected"), "the flow was logged");
    assert!(text.contains("refreshed the X access token"));
    assert!(text.contains("tokens revoked"));
    for (what, secret) in [
        ("access token", first.access_token.expose()),
        ("refresh token", first_refresh.expose()),
        ("refreshed access token", second.access_token.expose()),
        (
            "refreshed refresh token",
            second.refresh_token.as_ref().unwrap().expose(),
        ),
        ("authorization code", code.as_str()),
        ("state", state.as_str()),
        ("binding cookie", binding_value),
        ("PKCE verifier", verifier.as_str()),
        ("client secret", CLIENT_SECRET),
    ] {
        assert!(!text.contains(secret), "the {what} appears in the logs");
    }
}

/// The state item as DynamoDB holds it.
async fn raw_state_item(
    w: &World,
    state: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    w.aws
        .dynamodb
        .get_item()
        .table_name(&w.stack.table_name)
        .key("pk", AttributeValue::S(format!("OAUTH_STATE#{state}")))
        .key("sk", AttributeValue::S("STATE".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("state stored")
}

/// Issue 12: the OAuth state item holds nothing of the PKCE verifier (it used to hold it in
/// plain text). The verifier X receives at the code exchange is derived from the state with the
/// server key read from Secrets Manager, and the exchange still proves it: X accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_item_holds_no_pkce_verifier() {
    let w = world("connect-no-verifier").await;
    let authorize = w.start_connect("nora").await;
    let state = query_param(authorize.query().unwrap(), "state").unwrap();
    let item = raw_state_item(&w, &state).await;

    let query = w.consent(authorize, &[]).await;
    let (status, body) = w.callback(&query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connected"]["status"], "active");

    let received = w.emu.admin().records().code_verifiers;
    assert_eq!(received.len(), 1, "one code exchange");
    let verifier = &received[0];
    assert_eq!(verifier.len(), 43, "base64url of a 32-byte HMAC");
    for (name, value) in &item {
        let text = match value {
            AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
            AttributeValue::B(b) => String::from_utf8_lossy(b.as_ref()).into_owned(),
            other => format!("{other:?}"),
        };
        assert!(
            !text.contains(verifier.as_str()),
            "the state item's {name} holds the PKCE verifier"
        );
        assert!(
            !name.to_ascii_lowercase().contains("verifier"),
            "the state item has a verifier attribute: {name}"
        );
    }
    assert!(!format!("{item:?}").contains(verifier.as_str()));
    // What X received is the derivation from the state and the stack's key.
    assert_eq!(w.pkce_key().await.verifier(&state).expose(), verifier);
}

/// A state item written before verifiers were derived (during the deploy that brings this in,
/// a connect started on the old code) keeps its verifier in `pkce_verifier`: the callback uses
/// it and the connect finishes; such items expire after their ten minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_written_by_the_previous_version_still_completes_with_its_stored_verifier() {
    let w = world("connect-legacy-state").await;
    let state = "legacy-state-started-before-the-deploy-0123";
    // The old code's verifier: any valid one, unrelated to the stack's key.
    let old = PkceKey::new(Secret::new("an-unrelated-key-".repeat(4))).unwrap();
    let now = SystemClock.now_ms() as u64 / 1000;
    w.aws
        .dynamodb
        .put_item()
        .table_name(&w.stack.table_name)
        .item("pk", AttributeValue::S(format!("OAUTH_STATE#{state}")))
        .item("sk", AttributeValue::S("STATE".into()))
        .item("kind", AttributeValue::S("oauth_state".into()))
        .item("user_id", AttributeValue::S("olga".into()))
        .item(
            "pkce_verifier",
            AttributeValue::S(old.verifier(state).expose().to_owned()),
        )
        .item("created_at", AttributeValue::N(now.to_string()))
        .item(
            "expires_at",
            AttributeValue::N((now + STATE_TTL_SECS).to_string()),
        )
        .send()
        .await
        .unwrap();
    w.hold_binding_of(state);
    let authorize = w.oauth().authorize_url(state, old.challenge(state));
    let query = w.consent(authorize, &[]).await;
    let (status, body) = w.callback(&query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connected"]["status"], "active");
    assert_eq!(
        w.emu.admin().records().code_verifiers,
        vec![old.verifier(state).expose().to_owned()]
    );
}

/// A secret that cannot be read stops the cold start of every function that needs it, with an
/// error that names the secret's ARN and never holds a secret's value: a missing secret, a
/// binary one, a PKCE key too short, and the old plain X_CLIENT_SECRET variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_secret_fails_the_cold_start_naming_it_never_its_value() {
    let w = world("connect-cold-start").await;
    let secrets = SecretsManagerSource::new(w.aws.secretsmanager.clone());
    let pkce_value = w
        .aws
        .secretsmanager
        .get_secret_value()
        .secret_id(&w.stack.pkce_key_secret_arn)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    let mut env = w.stack.function_env();
    for (k, v) in [
        ("X_CLIENT_ID", CLIENT_ID.to_owned()),
        ("X_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("X_AUTHORIZE_URL", w.emu.authorize_url()),
        ("X_TOKEN_URL", w.emu.token_url()),
        ("X_API_BASE_URL", w.emu.base_url.clone()),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    let clean = |text: &str| {
        assert!(
            !text.contains(CLIENT_SECRET),
            "the client secret leaked: {text}"
        );
        assert!(!text.contains(&pkce_value), "the PKCE key leaked: {text}");
    };
    let http = build_http_client(Duration::from_secs(10)).unwrap();

    // The client secret's ARN names no secret: api, oauth-callback and process-upload each
    // refuse to start, naming it.
    let missing = format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-gone-AbCdEf",
        w.stack.spec.prefix
    );
    let mut bad = env.clone();
    bad.insert("X_CLIENT_SECRET_ARN".into(), missing.clone());
    let errors = [
        ErrorChain(
            &reelay_api::App::cold_start(
                reelay_api::ApiConfig::from_env(&bad).unwrap(),
                w.aws.clone(),
                http.clone(),
                &secrets,
            )
            .await
            .err()
            .expect("api starts without its client secret"),
        )
        .to_string(),
        ErrorChain(
            &reelay_oauth_callback::App::cold_start(
                reelay_oauth_callback::CallbackConfig::from_env(&bad).unwrap(),
                w.aws.clone(),
                http.clone(),
                &secrets,
            )
            .await
            .err()
            .expect("oauth-callback starts without its client secret"),
        )
        .to_string(),
        ErrorChain(
            &reelay_process_upload::App::cold_start(
                reelay_process_upload::WorkerConfig::from_env(&bad).unwrap(),
                &w.aws,
                http.clone(),
                &secrets,
            )
            .await
            .err()
            .expect("process-upload starts without its client secret"),
        )
        .to_string(),
        format!(
            "{:#}",
            Functions::from_env(&bad, &w.aws)
                .await
                .err()
                .expect("the local functions start without it")
        ),
    ];
    for text in &errors {
        assert!(text.contains(&missing), "{text}");
        assert!(text.contains("cold start"), "{text}");
        assert!(text.contains("ResourceNotFound"), "says why: {text}");
        clean(text);
    }

    // A binary secret where a string is expected.
    let binary = w
        .aws
        .secretsmanager
        .create_secret()
        .name(format!("{}-binary", w.stack.spec.prefix))
        .secret_binary(aws_sdk_s3::primitives::Blob::new(vec![0u8, 1, 2]))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut bad = env.clone();
    bad.insert("X_CLIENT_SECRET_ARN".into(), binary.clone());
    let text = format!(
        "{:#}",
        Functions::from_env(&bad, &w.aws).await.err().unwrap()
    );
    assert!(
        text.contains(&binary) && text.contains("no string value"),
        "{text}"
    );
    clean(&text);

    // A PKCE key shorter than the code accepts.
    let short_value = "short-pkce-key-value";
    let short = w
        .aws
        .secretsmanager
        .create_secret()
        .name(format!("{}-short", w.stack.spec.prefix))
        .secret_string(short_value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut bad = env.clone();
    bad.insert("PKCE_KEY_SECRET_ARN".into(), short.clone());
    let text = format!(
        "{:#}",
        Functions::from_env(&bad, &w.aws).await.err().unwrap()
    );
    assert!(
        text.contains(&short) && text.contains("too short"),
        "{text}"
    );
    assert!(!text.contains(short_value), "{text}");
    clean(&text);

    // The secret itself in the environment, the old way: refused, without echoing it.
    let mut bad = env.clone();
    bad.insert("X_CLIENT_SECRET".into(), CLIENT_SECRET.into());
    let text = format!(
        "{:#}",
        Functions::from_env(&bad, &w.aws).await.err().unwrap()
    );
    assert!(text.contains("X_CLIENT_SECRET_ARN"), "{text}");
    clean(&text);

    // And with the stack's own secrets, everything starts.
    assert!(Functions::from_env(&env, &w.aws).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_answers_json_and_refuses_a_return_to_not_on_the_allow_list() {
    let w = world("connect-start").await;
    let url = w.start_connect("bob").await;
    assert!(url.as_str().starts_with(&w.emu.authorize_url()));
    let resp = w
        .api(
            reqwest::Method::GET,
            "/api/auth/platforms/twitter/connect?return_to=https%3A%2F%2Fevil.example%2F",
            "bob",
        )
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "return_to_not_allowed");
    assert_eq!(body["field"], "return_to");
    let resp = w
        .api(
            reqwest::Method::POST,
            "/api/auth/platforms/twitter/connect",
            "bob",
        )
        .await;
    assert_eq!(resp.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_state_is_refused_on_read_and_stores_nothing() {
    let w = world("connect-expired").await;
    let store = w.store();
    // A state whose ten minutes are over but which TTL has not deleted (moto never does).
    store
        .put_state(&OAuthState {
            state: "expired-state-0123456789abcdef".into(),
            user_id: uid("carol"),
            platform: Platform::Twitter,
            legacy_pkce_verifier: None,
            return_to: None,
            created_at: 1_000,
            expires_at: 1_000 + STATE_TTL_SECS,
        })
        .await
        .unwrap();
    w.hold_binding_of("expired-state-0123456789abcdef");
    let (status, body) = w
        .callback("state=expired-state-0123456789abcdef&code=whatever")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "expired_state");
    assert!(w.platforms("carol").await.is_empty());

    // The same through the domain with an injected clock: a state started now is refused
    // 601 s later, without sleeping.
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let connector = Connector::new(
        store.clone(),
        w.cipher(),
        w.oauth(),
        AccountDirectory::X(w.x()),
        clock.clone(),
        w.pkce_key().await,
    );
    let started = connector.start(&uid("carol"), None).await.unwrap();
    let query = w.consent(started.authorize_url, &[]).await;
    clock.advance_ms((STATE_TTL_SECS as i64 + 1) * 1000);
    let outcome = connector
        .complete(CallbackParams {
            state: query_param(&query, "state"),
            code: query_param(&query, "code").map(Secret::new),
            cookies: vec![started.binding],
            ..Default::default()
        })
        .await;
    assert!(matches!(outcome.result, Err(ConnectError::ExpiredState)));
    assert!(store
        .get_account(&uid("carol"), Platform::Twitter)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_errors_are_clear_4xx_or_502_and_leave_no_account() {
    let w = world("connect-errors").await;

    // Missing and unknown state.
    let (status, body) = w.callback("code=abc").await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("missing_state"))
    );
    let (status, body) = w.callback("state=never-issued&code=abc").await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("unknown_state"))
    );

    // Consent denied at X: 403, and the state is used up.
    let authorize = w.start_connect("dave").await;
    let query = w
        .consent(authorize, &[("x_emulator_consent", "deny")])
        .await;
    assert_eq!(
        query_param(&query, "error").as_deref(),
        Some("access_denied")
    );
    let (status, body) = w.callback(&query).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (403, Some("consent_denied"))
    );
    let (status, _) = w.callback(&query).await;
    assert_eq!(status, 400);

    // A code X does not accept.
    let authorize = w.start_connect("dave").await;
    let query = w.consent(authorize, &[]).await;
    let state = query_param(&query, "state").unwrap();
    let (status, body) = w.callback(&format!("state={state}&code=forged")).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("code_rejected"))
    );
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("Value passed for the authorization code was invalid."));

    // X down at the token endpoint: 502.
    let authorize = w.start_connect("dave").await;
    let query = w.consent(authorize, &[]).await;
    w.emu
        .admin()
        .add_fault(FaultSpec {
            endpoint: "token".into(),
            kind: FaultKind::Fail { status: 503 },
            count: Some(1),
            phase: Phase::Before,
        })
        .unwrap();
    let (status, body) = w.callback(&query).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (502, Some("x_unavailable"))
    );

    // X down after issuing tokens (users/me fails): 502, and the issued pair is revoked.
    let authorize = w.start_connect("dave").await;
    let query = w.consent(authorize, &[]).await;
    w.emu
        .admin()
        .add_fault(FaultSpec {
            endpoint: "users_me".into(),
            kind: FaultKind::Fail { status: 500 },
            count: Some(1),
            phase: Phase::Before,
        })
        .unwrap();
    let (status, body) = w.callback(&query).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (502, Some("x_unavailable"))
    );
    assert!(w
        .emu
        .admin()
        .records()
        .tokens
        .iter()
        .any(|t| t.event == "revoked"));

    // Too few scopes to even identify the user: 403 naming them.
    let (status, body) = w
        .connect("dave", &[("x_emulator_scope", "media.write")])
        .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (403, Some("missing_scopes"))
    );
    assert!(body["detail"].as_str().unwrap().contains("users.read"));

    // After all of that, nothing is stored for dave.
    assert!(w.platforms("dave").await.is_empty());
    // Every answer was problem JSON, never a 500.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_media_write_is_stored_as_needs_reconnect_naming_the_scope() {
    let w = world("connect-scope").await;
    let (status, body) = w
        .connect(
            "erin",
            &[(
                "x_emulator_scope",
                "tweet.read tweet.write users.read offline.access",
            )],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connected"]["status"], "needs_reconnect");
    let listed = w.platforms("erin").await;
    assert_eq!(listed[0]["status"], "needs_reconnect");
    let reason = listed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("media.write"), "{reason}");
    assert!(reason.contains("Connect X again"), "{reason}");
    // Workers are refused up front.
    let provider = w.provider(Arc::new(SystemClock));
    match provider.access_token(&uid("erin")).await {
        Err(TokenError::NeedsReconnect { reason }) => assert!(reason.contains("media.write")),
        other => panic!("expected NeedsReconnect, got {other:?}"),
    }
    // Reconnecting with every scope makes it active again.
    let (status, body) = w.connect("erin", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["connected"]["status"], "active");
    assert!(provider.access_token(&uid("erin")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_never_sees_or_deletes_another_users_connection() {
    let w = world("connect-isolation").await;
    // The state binds the callback to the user who started it, and the binding cookie to frank's
    // browser: the unauthenticated callback stores the account for frank, no one else.
    let (status, _) = w.connect("frank", &[]).await;
    assert_eq!(status, 200);
    assert!(w.platforms("grace").await.is_empty());
    let resp = w
        .api(
            reqwest::Method::DELETE,
            "/api/auth/platforms/twitter",
            "grace",
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(w.platforms("frank").await.len(), 1);
    assert!(
        !w.emu
            .admin()
            .records()
            .tokens
            .iter()
            .any(|t| t.event == "revoked"),
        "grace's attempt revoked nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_on_an_expired_token_cause_exactly_one_refresh() {
    let w = world("connect-race").await;
    let (status, _) = w.connect("heidi", &[]).await;
    assert_eq!(status, 200);
    let user = uid("heidi");
    let clock: Arc<dyn Clock> = clock_ahead(3 * 3600);
    // Five "containers", each with its own provider, ten callers each.
    let providers: Vec<Arc<TokenProvider>> = (0..5)
        .map(|_| Arc::new(w.provider(clock.clone())))
        .collect();
    let calls = (0..50).map(|i| {
        let provider = providers[i % providers.len()].clone();
        let user = user.clone();
        tokio::spawn(async move { provider.access_token(&user).await })
    });
    let tokens: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("token"))
        .collect();
    assert_eq!(w.refreshes(), 1, "exactly one refresh at X");
    let x = w.x();
    let checks = tokens.iter().map(|t| x.users_me(&t.access_token));
    for result in futures::future::join_all(checks).await {
        assert_eq!(result.expect("a working token").id, X_USER_ID);
    }
    assert!(tokens.windows(2).all(|p| p[0] == p[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_after_a_sibling_refreshed_uses_their_token_and_a_refused_refresh_flags_the_account()
{
    let w = world("connect-401").await;
    let (status, _) = w.connect("ivan", &[]).await;
    assert_eq!(status, 200);
    let user = uid("ivan");
    let now: Arc<dyn Clock> = Arc::new(SystemClock);
    let stale = w.provider(now.clone()).access_token(&user).await.unwrap();
    // A sibling refreshes (its clock says the token is expiring); X kills the old access token.
    let sibling = w
        .provider(clock_ahead(3 * 3600))
        .access_token(&user)
        .await
        .unwrap();
    assert!(matches!(
        w.x().users_me(&stale.access_token).await,
        Err(XError::Unauthorized { .. })
    ));
    let fresh = w
        .provider(now.clone())
        .refresh_after_unauthorized(&user, &stale)
        .await
        .unwrap();
    assert_eq!(
        fresh, sibling,
        "the sibling's pair is used, not refreshed again"
    );
    assert_eq!(w.refreshes(), 1);

    // The user revokes Reelay at X: the next refresh is truly refused.
    w.emu.admin().revoke_user_tokens(X_USER_ID);
    let err = w
        .provider(now.clone())
        .refresh_after_unauthorized(&user, &fresh)
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::NeedsReconnect { .. }), "{err:?}");
    assert_eq!(w.platforms("ivan").await[0]["status"], "needs_reconnect");

    // A worker that sees a 403 for scope flags the account itself.
    let (status, _) = w.connect("ivan", &[]).await;
    assert_eq!(status, 200);
    w.provider(now)
        .mark_needs_reconnect(&user, "X refused media.write: connect X again")
        .await
        .unwrap();
    let listed = w.platforms("ivan").await;
    assert_eq!(
        listed[0]["reason"],
        "X refused media.write: connect X again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_unavailable_during_refresh_is_transient_and_keeps_the_account() {
    let w = world("connect-refresh-5xx").await;
    let (status, _) = w.connect("judy", &[]).await;
    assert_eq!(status, 200);
    w.emu
        .admin()
        .add_fault(FaultSpec {
            endpoint: "token".into(),
            kind: FaultKind::Fail { status: 503 },
            count: Some(1),
            phase: Phase::Before,
        })
        .unwrap();
    let provider = w.provider(clock_ahead(3 * 3600));
    assert!(matches!(
        provider.access_token(&uid("judy")).await,
        Err(TokenError::Unavailable { .. })
    ));
    // The lease was released and the refresh token not spent: the next call succeeds.
    let token = provider.access_token(&uid("judy")).await.unwrap();
    assert!(w.x().users_me(&token.access_token).await.is_ok());
    assert_eq!(w.platforms("judy").await[0]["status"], "active");
}

// ---- the X client -----------------------------------------------------------------------------

fn mint(w: &World, scopes: &[&str]) -> Secret {
    let minted = w
        .emu
        .admin()
        .mint_token(&MintRequest {
            user_id: X_USER_ID.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            client_id: Some(CLIENT_ID.into()),
        })
        .unwrap();
    Secret::new(minted.access_token)
}

const ALL: &[&str] = &[
    "tweet.read",
    "tweet.write",
    "users.read",
    "offline.access",
    "media.write",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_client_uploads_posts_and_finds_the_post() {
    let w = world("xclient-happy").await;
    let x = w.x();
    let token = mint(&w, ALL);
    let video = x_emulator::testing::tiny_mp4(3000);
    let init = x
        .media_initialize(&token, video.len() as u64, "video/mp4", "tweet_video")
        .await
        .unwrap();
    assert!(init.media_key.is_some());
    let (a, b) = video.split_at(1500);
    x.media_append(&token, &init.id, 0, axum::body::Bytes::copy_from_slice(a))
        .await
        .unwrap();
    x.media_append(&token, &init.id, 1, axum::body::Bytes::copy_from_slice(b))
        .await
        .unwrap();
    let mut status = x.media_finalize(&token, &init.id).await.unwrap();
    for _ in 0..10 {
        if status.state.is_usable() || status.state == ProcessingState::Failed {
            break;
        }
        status = x.media_status(&token, &init.id).await.unwrap();
    }
    assert_eq!(status.state, ProcessingState::Succeeded);
    let post = x
        .create_post(&token, "hello from reelay", std::slice::from_ref(&init.id))
        .await
        .unwrap();
    assert_eq!(post.text, "hello from reelay");
    let recent = x.recent_posts(&token, X_USER_ID, 10).await.unwrap();
    assert!(recent
        .iter()
        .any(|p| p.id == post.id && Some(&p.media_keys[0]) == init.media_key.as_ref()));
    let record = w.emu.admin().records().media.pop().unwrap();
    assert_eq!(record.received_bytes, video.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_client_classifies_each_failure() {
    let w = world("xclient-errors").await;
    let x = w.x();
    let admin = w.emu.admin();
    let token = mint(&w, ALL);
    let fault = |endpoint: &str, kind: FaultKind| {
        admin
            .add_fault(FaultSpec {
                endpoint: endpoint.into(),
                kind,
                count: Some(1),
                phase: Phase::Before,
            })
            .unwrap()
    };

    fault("users_me", FaultKind::RateLimit { reset_in_secs: 120 });
    let err = x.users_me(&token).await.unwrap_err();
    let now = admin.now_ms() / 1000;
    match &err {
        XError::RateLimited {
            reset_at_epoch: Some(reset),
            ..
        } => assert!((now + 100..=now + 140).contains(reset), "{reset} vs {now}"),
        other => panic!("expected RateLimited with a reset, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(err.code(), "x_rate_limited");

    let err = x.users_me(&Secret::new("not-a-token")).await.unwrap_err();
    assert!(matches!(err, XError::Unauthorized { .. }), "{err:?}");
    assert!(!err.is_retryable());

    // Real X's answer to a token without media.write is a bare "Forbidden" (PLH#588): the client
    // cannot tell a missing scope from the body; the X platform adapter reads the granted scopes
    // (tests/fidelity.rs shows the user-facing outcome).
    let no_media = mint(&w, &["tweet.read", "tweet.write", "users.read"]);
    let err = x
        .media_initialize(&no_media, 1000, "video/mp4", "tweet_video")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            XError::Forbidden {
                kind: ForbiddenKind::Other,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.detail(), "Forbidden");
    assert_eq!(err.code(), "x_forbidden");

    x.create_post(&token, "same words twice", &[])
        .await
        .unwrap();
    let err = x
        .create_post(&token, "same words twice", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            XError::Forbidden {
                kind: ForbiddenKind::Duplicate,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    // Unknown media: X's resource-not-found problem, told apart so the engine starts over.
    let err = x.media_status(&token, "1234567890").await.unwrap_err();
    assert!(
        matches!(err, XError::MediaGone { status: 400, .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "x_media_gone");

    fault("users_me", FaultKind::Fail { status: 503 });
    let err = x.users_me(&token).await.unwrap_err();
    assert!(
        matches!(err, XError::ServerError { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());

    fault(
        "users_me",
        FaultKind::Drop {
            when: DropWhen::BeforeResponse,
        },
    );
    let err = x.users_me(&token).await.unwrap_err();
    assert!(
        matches!(
            err,
            XError::Transport {
                timed_out: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());

    fault(
        "users_me",
        FaultKind::Drop {
            when: DropWhen::MidResponse,
        },
    );
    let err = x.users_me(&token).await.unwrap_err();
    assert!(matches!(err, XError::Transport { .. }), "{err:?}");

    // A call slower than the client's timeout.
    let impatient = XClient::new(
        build_http_client(Duration::from_millis(300)).unwrap(),
        &w.x_config,
    );
    fault("users_me", FaultKind::Latency { ms: 3000 });
    let err = impatient.users_me(&token).await.unwrap_err();
    assert!(
        matches!(
            err,
            XError::Transport {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "x_timeout");
    assert!(
        !err.to_string().contains("http://"),
        "no URL in errors: {err}"
    );
}

// ---- events/ samples --------------------------------------------------------------------------

fn sample(name: &str) -> Value {
    let path = reelay_local::moto::repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn request(mut event: Value, sub: &str, query: Option<&str>) -> lambda_http::Request {
    if let Some(claims) = event
        .pointer_mut("/requestContext/authorizer/jwt/claims")
        .and_then(|c| c.as_object_mut())
    {
        claims.insert("sub".into(), Value::String(sub.into()));
    }
    if let Some(query) = query {
        let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
        event["rawQueryString"] = Value::String(query.into());
    }
    lambda_http::request::from_str(&event.to_string()).expect("sample parses as API Gateway v2")
}

/// `event` as sent by a browser holding `cookie` (`name=value`): API Gateway's payload 2.0 puts
/// cookies in `cookies`, apart from the headers.
fn with_cookie(mut event: Value, cookie: &str) -> Value {
    event["cookies"] = serde_json::json!([cookie]);
    event
}

fn status_and_body(resp: lambda_http::Response<lambda_http::Body>) -> (u16, String) {
    let status = resp.status().as_u16();
    let body = match resp.into_body() {
        lambda_http::Body::Text(t) => t,
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    };
    (status, body)
}

/// Each sample in `events/` drives the handlers directly, as `cargo lambda invoke --data-file`
/// or `sam local invoke -e` would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_samples_drive_the_handlers() {
    let w = world("connect-events").await;
    let mut env = w.stack.function_env();
    for (k, v) in [
        ("X_CLIENT_ID", CLIENT_ID.to_owned()),
        ("X_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("X_AUTHORIZE_URL", w.emu.authorize_url()),
        ("X_TOKEN_URL", w.emu.token_url()),
        (
            "X_REVOKE_URL",
            format!("{}/2/oauth2/revoke", w.emu.base_url),
        ),
        ("X_API_BASE_URL", w.emu.base_url.clone()),
    ] {
        env.insert(k.to_owned(), v);
    }
    let functions = Functions::from_env(&env, &w.aws).await.unwrap();
    let api = &functions.api;
    let callback = &functions.oauth_callback;

    let started = reelay_api::handle(
        api,
        request(sample("apigw-connect-twitter.json"), "kim", None),
    )
    .await
    .unwrap();
    // The browser keeps the binding cookie the answer sets.
    let kim_cookie = started.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (status, body) = status_and_body(started);
    assert_eq!(status, 200, "{body}");
    let authorize: Value = serde_json::from_str(&body).unwrap();
    let authorize = Url::parse(authorize["authorize_url"].as_str().unwrap()).unwrap();

    // Denied, as X sends it (with a real state so it is consumed), answered with a page.
    let denied_query = w
        .consent(authorize, &[("x_emulator_consent", "deny")])
        .await;
    let (status, page) = status_and_body(
        reelay_oauth_callback::handle(
            callback,
            request(
                with_cookie(sample("apigw-callback-twitter-denied.json"), &kim_cookie),
                "",
                Some(&denied_query),
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 403);
    assert!(page.contains("<h1>X was not connected</h1>"), "{page}");
    assert!(page.contains("did not allow Reelay"), "{page}");
    // The sample as committed (its state was never issued): a clear 400 page.
    let (status, page) = status_and_body(
        reelay_oauth_callback::handle(
            callback,
            request(sample("apigw-callback-twitter-success.json"), "", None),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 400);
    assert!(page.contains("unknown or was already used"), "{page}");

    // Success with a real state and code, in the browser that started it.
    let authorize = w.start_connect("kim").await;
    let query = w.consent(authorize, &[]).await;
    let answer = reelay_oauth_callback::handle(
        callback,
        request(
            with_cookie(
                sample("apigw-callback-twitter-success.json"),
                &w.binding_cookie(),
            ),
            "",
            Some(&query),
        ),
    )
    .await
    .unwrap();
    let cleared = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cleared.contains("Max-Age=0"),
        "the binding is cleared: {cleared}"
    );
    let (status, page) = status_and_body(answer);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("@{X_USERNAME}")), "{page}");

    let (status, body) = status_and_body(
        reelay_api::handle(
            api,
            request(sample("apigw-platforms-list.json"), "kim", None),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"active\""), "{body}");

    let (status, _) = status_and_body(
        reelay_api::handle(
            api,
            request(sample("apigw-disconnect-twitter.json"), "kim", None),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 204);
}

/// With an app URL configured, the callback sends the browser back to the app with the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_redirects_to_the_configured_app_url() {
    let w = world("connect-return").await;
    let mut env = w.stack.function_env();
    for (k, v) in [
        ("X_CLIENT_ID", CLIENT_ID.to_owned()),
        ("X_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("X_AUTHORIZE_URL", w.emu.authorize_url()),
        ("X_TOKEN_URL", w.emu.token_url()),
        (
            "X_REVOKE_URL",
            format!("{}/2/oauth2/revoke", w.emu.base_url),
        ),
        ("X_API_BASE_URL", w.emu.base_url.clone()),
        (
            "CONNECT_RETURN_URLS",
            "https://app.reelay.example/settings/connections".to_owned(),
        ),
    ] {
        env.insert(k.to_owned(), v);
    }
    let functions = Functions::from_env(&env, &w.aws).await.unwrap();
    let authorize = w.start_connect("liam").await;
    let query = w.consent(authorize, &[]).await;
    let mut event = with_cookie(
        sample("apigw-callback-twitter-success.json"),
        &w.binding_cookie(),
    );
    event["headers"]["accept"] = Value::String("text/html".into());
    let resp =
        reelay_oauth_callback::handle(&functions.oauth_callback, request(event, "", Some(&query)))
            .await
            .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        "https://app.reelay.example/settings/connections?platform=twitter&result=active"
    );
}
