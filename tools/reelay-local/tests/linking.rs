//! Issue 12, item 1: linking X is bound to the browser and the Reelay user that started it.
//!
//! End to end against moto and the X emulator, through the runner's HTTP routes, with each
//! browser played by the test: a `Browser` keeps what Reelay's connect route set in it (the
//! binding cookie) and sends it back to the callback as a browser would. Approvals at X choose
//! the consenting X user with the emulator's `x_emulator_user` override.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use reelay_local::harness::moto_endpoint;
use reelay_local::world::{World, WorldOptions, CALLBACK_PATH, CLIENT_ID, CLIENT_SECRET};
use reelay_shared::accounts::cipher::{KmsTokenCipher, TokenCipher, TokenPair};
use reelay_shared::accounts::store::{
    AccountStore, DynamoAccountStore, NewConnection, SavedConnection,
};
use reelay_shared::accounts::{AccountStatus, EncryptedTokens};
use reelay_shared::ids::UserId;
use reelay_shared::posts::Platform;
use serde_json::Value;
use url::Url;
use x_emulator::{FaultKind, FaultSpec, Phase as FaultPhase};

/// The emulator's two test users (its default config).
const X_ALICE: &str = "1072250532645998596";
const X_OTHER: &str = "1456012973835788293";

async fn world(label: &str) -> World {
    World::without_reconciler(label).await.expect("world")
}

/// One browser: the cookies Reelay set in it, sent back as a browser would (the test client has
/// no cookie store; `Secure` cookies would not go over the runner's plain http in one anyway,
/// while browsers treat 127.0.0.1 as a secure context).
#[derive(Default)]
struct Browser {
    /// `name=value` pairs from `Set-Cookie`, latest last.
    cookies: Vec<String>,
}

/// What the callback answered.
struct Landing {
    status: u16,
    body: Value,
    set_cookies: Vec<String>,
}

impl Browser {
    fn keep(&mut self, resp: &reqwest::Response) -> Vec<String> {
        let set: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        for header in &set {
            let pair = header
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            let name = pair.split('=').next().unwrap_or_default().to_owned();
            self.cookies
                .retain(|c| c.split('=').next().unwrap_or_default() != name);
            let cleared = header.to_ascii_lowercase().contains("max-age=0");
            if !cleared && !pair.ends_with('=') {
                self.cookies.push(pair);
            }
        }
        set
    }

    /// `GET .../connect` as `user` (JSON); returns X's authorize URL and the `Set-Cookie`s.
    async fn start_connect(&mut self, w: &World, user: &str) -> (Url, Vec<String>) {
        let resp = w
            .http
            .get(format!(
                "{}/api/auth/platforms/twitter/connect",
                w.runner.http_url
            ))
            .bearer_auth(w.auth.mint(user))
            .header("accept", "application/json")
            .send()
            .await
            .expect("connect");
        assert_eq!(resp.status(), 200);
        let set = self.keep(&resp);
        let body: Value = resp.json().await.unwrap();
        (
            Url::parse(body["authorize_url"].as_str().unwrap()).unwrap(),
            set,
        )
    }

    /// Approves at X as `x_user` and returns the callback URL X redirects this browser to.
    async fn approve(&self, w: &World, mut authorize: Url, x_user: &str) -> Url {
        authorize
            .query_pairs_mut()
            .append_pair("x_emulator_user", x_user);
        let resp = w.http.get(authorize).send().await.expect("authorize");
        assert_eq!(resp.status(), 302, "X answers consent with a redirect");
        let location = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(location.path(), CALLBACK_PATH);
        location
    }

    /// Follows X's redirect to Reelay's (unauthenticated) callback with this browser's cookies.
    async fn land(&mut self, w: &World, callback: &Url) -> Landing {
        let mut req = w
            .http
            .get(callback.clone())
            .header("accept", "application/json");
        if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookies.join("; "));
        }
        let resp = req.send().await.expect("callback");
        let status = resp.status().as_u16();
        let set_cookies = self.keep(&resp);
        let body = resp.json().await.unwrap_or(Value::Null);
        Landing {
            status,
            body,
            set_cookies,
        }
    }

    /// The whole dance in this browser: start as `user`, approve as `x_user`, land.
    async fn link(&mut self, w: &World, user: &str, x_user: &str) -> Landing {
        let (authorize, _) = self.start_connect(w, user).await;
        let callback = self.approve(w, authorize, x_user).await;
        self.land(w, &callback).await
    }
}

async fn platforms(w: &World, user: &str) -> Vec<Value> {
    let resp = w
        .http
        .get(format!("{}/api/platforms", w.runner.http_url))
        .bearer_auth(w.auth.mint(user))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["platforms"].as_array().cloned().unwrap_or_default()
}

async fn disconnect(w: &World, user: &str) -> u16 {
    w.http
        .delete(format!("{}/api/auth/platforms/twitter", w.runner.http_url))
        .bearer_auth(w.auth.mint(user))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Token events at X for `x_user` with `event` (issued, revoked, ...).
fn token_events(w: &World, x_user: &str, event: &str) -> usize {
    w.emulator
        .admin()
        .records()
        .tokens
        .iter()
        .filter(|t| t.user_id == x_user && t.event == event)
        .count()
}

/// The X user id `user`'s stored tokens belong to, asked of X itself (so the tokens work).
async fn x_user_behind_stored_tokens(w: &World, user: &str) -> String {
    let user = UserId::parse(user).unwrap();
    let store = DynamoAccountStore::new(w.aws.dynamodb.clone(), w.stack.table_name.clone());
    let account = store
        .get_account(&user, Platform::Twitter)
        .await
        .unwrap()
        .expect("account stored");
    let cipher = KmsTokenCipher::new(w.aws.kms.clone(), w.stack.kms_key_id.clone());
    let tokens = cipher
        .decrypt(&user, Platform::Twitter, &account.tokens)
        .await
        .unwrap();
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{}/2/users/me", w.emulator.base_url))
        .bearer_auth(tokens.access_token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the stored access token works at X");
    let me: Value = resp.json().await.unwrap();
    me["data"]["id"].as_str().unwrap().to_owned()
}

/// The pair stored for `user`, decrypted as a worker would.
async fn stored_pair(w: &World, user: &str) -> TokenPair {
    let user = UserId::parse(user).unwrap();
    let store = DynamoAccountStore::new(w.aws.dynamodb.clone(), w.stack.table_name.clone());
    let account = store
        .get_account(&user, Platform::Twitter)
        .await
        .unwrap()
        .expect("account stored");
    KmsTokenCipher::new(w.aws.kms.clone(), w.stack.kms_key_id.clone())
        .decrypt(&user, Platform::Twitter, &account.tokens)
        .await
        .unwrap()
}

/// The status of `GET /2/users/me` at X with `access_token`.
async fn users_me_status(w: &World, access_token: &str) -> u16 {
    w.http
        .get(format!("{}/2/users/me", w.emulator.base_url))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The status of spending `refresh_token` at X's token endpoint as Reelay's confidential client.
async fn refresh_status(w: &World, refresh_token: &str) -> u16 {
    w.http
        .post(w.emulator.token_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The emulator's id of a token, as its records name it (it never keeps the token itself).
fn token_id(token: &str) -> String {
    x_emulator::state::token_id(&x_emulator::state::token_hash(token))
}

/// Ids of every token a revoke call named at X (access and refresh alike).
fn revoked_token_ids(w: &World) -> Vec<String> {
    w.emulator
        .admin()
        .records()
        .tokens
        .into_iter()
        .filter(|t| t.event == "revoked")
        .flat_map(|t| [t.access_token_id, t.refresh_token_id])
        .flatten()
        .collect()
}

/// The key of the link item saying which Reelay user holds `x_user` (shared/src/accounts/store.rs).
fn link_key(x_user: &str) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("LINK#twitter#{x_user}")),
        ),
        ("sk".to_owned(), AttributeValue::S("LINK".to_owned())),
    ])
}

/// The Reelay user the link item of `x_user` names, if there is one.
async fn link_holder(w: &World, x_user: &str) -> Option<String> {
    let out = w
        .aws
        .dynamodb
        .get_item()
        .table_name(&w.stack.table_name)
        .set_key(Some(link_key(x_user)))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item
        .and_then(|i| i.get("user_id").and_then(|v| v.as_s().ok()).cloned())
}

/// The attack of issue 12: mallory starts a connect and sends X's authorize URL to a victim,
/// who approves at X as themselves in their own browser. Nothing may be linked to mallory, and no
/// token of the victim's may be left alive at X.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorize_url_approved_in_another_browser_links_nothing() {
    let w = world("link-attack").await;
    let mut mallory = Browser::default();
    let (authorize, _) = mallory.start_connect(&w, "mallory").await;

    // The victim's browser: it even holds a binding of its own (the victim started connecting
    // their Reelay account too), just not the one for mallory's state.
    let mut victim = Browser::default();
    let _ = victim.start_connect(&w, "victim").await;
    let callback = victim.approve(&w, authorize, X_OTHER).await;
    let landing = victim.land(&w, &callback).await;
    assert_eq!(landing.status, 403, "{}", landing.body);
    assert_eq!(landing.body["type"], "connect_other_browser");
    let detail = landing.body["detail"].as_str().unwrap();
    assert!(detail.contains("another browser"), "{detail}");
    assert!(detail.contains("start connecting X again"), "{detail}");
    // The victim's own pending connect keeps its cookie: the mismatch does not clear it.
    assert!(landing.set_cookies.is_empty(), "{:?}", landing.set_cookies);

    assert!(
        platforms(&w, "mallory").await.is_empty(),
        "mallory got nothing"
    );
    assert!(platforms(&w, "victim").await.is_empty());
    assert_eq!(
        token_events(&w, X_OTHER, "issued"),
        0,
        "the victim's code was never exchanged, so X issued no tokens"
    );

    // The state died with the refused attempt: even mallory's own browser, which holds the
    // binding, cannot use that callback URL (say the victim pasted it back to mallory).
    let replay = mallory.land(&w, &callback).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_eq!(replay.body["type"], "unknown_state");
    assert!(platforms(&w, "mallory").await.is_empty());
    assert_eq!(token_events(&w, X_OTHER, "issued"), 0);

    // A browser with no cookie at all is refused the same way.
    let mut bare = Browser::default();
    let (authorize, _) = mallory.start_connect(&w, "mallory").await;
    let callback = bare.approve(&w, authorize, X_OTHER).await;
    let landing = bare.land(&w, &callback).await;
    assert_eq!(landing.status, 403, "{}", landing.body);
    assert_eq!(landing.body["type"], "connect_other_browser");
    assert!(platforms(&w, "mallory").await.is_empty());
    assert_eq!(token_events(&w, X_OTHER, "issued"), 0);
}

/// The normal flow: the connect route sets the binding cookie (scoped to the callback, ten
/// minutes, not readable by scripts), the same browser lands with it, the account is linked and
/// the cookie cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_that_started_the_connect_links_and_the_cookie_is_cleared() {
    let w = world("link-normal").await;
    let mut browser = Browser::default();
    let (authorize, set) = browser.start_connect(&w, "alice").await;
    assert_eq!(set.len(), 1, "{set:?}");
    let cookie = set[0].to_ascii_lowercase();
    for attribute in [
        "httponly",
        "secure",
        "samesite=lax",
        &format!("path={}", CALLBACK_PATH.to_ascii_lowercase()),
        "max-age=600",
    ] {
        assert!(
            cookie.split(';').any(|a| a.trim() == attribute),
            "{attribute} in {cookie}"
        );
    }
    // The cookie carries a hash of the state, not the state.
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    assert!(
        !set[0].contains(&state),
        "the state itself is not in the cookie"
    );

    let callback = browser.approve(&w, authorize, X_ALICE).await;
    let landing = browser.land(&w, &callback).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(landing.body["connected"]["x_user_id"], X_ALICE);
    assert_eq!(landing.set_cookies.len(), 1, "{:?}", landing.set_cookies);
    let cleared = landing.set_cookies[0].to_ascii_lowercase();
    assert!(cleared.contains("max-age=0"), "{cleared}");
    assert!(
        cleared.contains(&format!("path={}", CALLBACK_PATH.to_ascii_lowercase())),
        "{cleared}"
    );
    assert!(browser.cookies.is_empty(), "{:?}", browser.cookies);

    let listed = platforms(&w, "alice").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(x_user_behind_stored_tokens(&w, "alice").await, X_ALICE);
}

/// One X account belongs to one Reelay user at a time: a second user's link is refused with a
/// clear answer, the tokens X issued for it are revoked, and the first link is untouched. Once
/// the first user disconnects, the account is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_x_account_linked_to_another_user_is_refused_until_disconnected_there() {
    let w = world("link-unique").await;
    let landing = Browser::default().link(&w, "alice", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    let before = platforms(&w, "alice").await;

    let landing = Browser::default().link(&w, "bob", X_ALICE).await;
    assert_eq!(landing.status, 409, "{}", landing.body);
    assert_eq!(landing.body["type"], "x_account_linked_elsewhere");
    let detail = landing.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("already connected to another Reelay user"),
        "{detail}"
    );
    assert!(detail.contains("disconnect it there first"), "{detail}");
    assert!(platforms(&w, "bob").await.is_empty());
    assert_eq!(
        token_events(&w, X_ALICE, "issued"),
        2,
        "X issued a pair for each approval"
    );
    assert_eq!(
        token_events(&w, X_ALICE, "revoked"),
        2,
        "bob's pair was revoked, its refresh and its access token each by one call"
    );
    // Alice's link is as it was, and her tokens still work at X.
    assert_eq!(platforms(&w, "alice").await, before);
    assert_eq!(x_user_behind_stored_tokens(&w, "alice").await, X_ALICE);

    // Alice lets go; now bob may link it.
    assert_eq!(disconnect(&w, "alice").await, 204);
    let landing = Browser::default().link(&w, "bob", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(x_user_behind_stored_tokens(&w, "bob").await, X_ALICE);
    // And alice is the one refused.
    let landing = Browser::default().link(&w, "alice", X_ALICE).await;
    assert_eq!(landing.status, 409, "{}", landing.body);
    assert!(platforms(&w, "alice").await.is_empty());
}

/// Reconnecting the same X account as the same user keeps working; switching to another X
/// account releases the first one for other users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_the_same_account_works_and_switching_releases_the_old_one() {
    let w = world("link-reconnect").await;
    let mut browser = Browser::default();
    for _ in 0..2 {
        let landing = browser.link(&w, "alice", X_ALICE).await;
        assert_eq!(landing.status, 200, "{}", landing.body);
    }
    let listed = platforms(&w, "alice").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["x_user_id"], X_ALICE);
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(x_user_behind_stored_tokens(&w, "alice").await, X_ALICE);

    // Alice switches to her other X account: it is hers now, the first one is free.
    let landing = browser.link(&w, "alice", X_OTHER).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(x_user_behind_stored_tokens(&w, "alice").await, X_OTHER);
    let landing = Browser::default().link(&w, "carol", X_OTHER).await;
    assert_eq!(landing.status, 409, "{}", landing.body);
    let landing = Browser::default().link(&w, "bob", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(x_user_behind_stored_tokens(&w, "bob").await, X_ALICE);
    assert_eq!(x_user_behind_stored_tokens(&w, "alice").await, X_OTHER);
}

/// Callbacks of several users racing for one X account: the link's conditional transaction lets
/// exactly one of them have it, and only the winner has an account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_racing_for_one_x_account_link_exactly_one() {
    let w = world("link-race").await;
    let store = Arc::new(DynamoAccountStore::new(
        w.aws.dynamodb.clone(),
        w.stack.table_name.clone(),
    ));
    let saves = (0..6).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let user = UserId::parse(&format!("racer-{i}")).unwrap();
            let saved = store
                .save_connection(&NewConnection {
                    user_id: user.clone(),
                    platform: Platform::Twitter,
                    x_user_id: X_ALICE.into(),
                    username: "ReelayTester".into(),
                    name: "Reelay Tester".into(),
                    scopes: vec!["tweet.read".into()],
                    status: AccountStatus::Active,
                    access_expires_at: 7200,
                    tokens: EncryptedTokens(vec![7; 16]),
                    now: 1,
                })
                .await
                .expect("save");
            (user, saved)
        })
    });
    let results: Vec<_> = futures::future::join_all(saves)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let winners: Vec<&UserId> = results
        .iter()
        .filter(|(_, saved)| matches!(saved, SavedConnection::Saved { .. }))
        .map(|(user, _)| user)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (user, saved) in &results {
        let stored = store.get_account(user, Platform::Twitter).await.unwrap();
        match saved {
            SavedConnection::Saved { .. } => assert!(stored.is_some()),
            SavedConnection::LinkedElsewhere { owner } => {
                assert_eq!(owner, winners[0]);
                assert!(stored.is_none(), "{user} was refused but has an account");
            }
        }
    }
}

/// Issue 12 item 5: a reconnect replaces the stored pair, and the replaced pair is revoked at X,
/// each token by its own revoke call (X's revoke takes one token per call): the old access token
/// gets 401, the old refresh token is refused by X's token endpoint, while the new pair works and
/// a post publishes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_revokes_the_replaced_pair_at_x_and_the_new_pair_posts() {
    let w = World::start(
        &moto_endpoint(),
        WorldOptions {
            label: "link-replace".into(),
            reconcile_period: None,
            engine: reelay_shared::engine::EngineSettings {
                publish_settle_ms: 500,
                ..Default::default()
            },
            ..WorldOptions::default()
        },
    )
    .await
    .expect("world");
    let mut browser = Browser::default();
    let landing = browser.link(&w, "alice", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    let old = stored_pair(&w, "alice").await;
    let old_refresh = old
        .refresh_token
        .clone()
        .expect("offline.access gives a refresh token");
    assert_eq!(users_me_status(&w, old.access_token.expose()).await, 200);

    let landing = browser.link(&w, "alice", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(landing.body["connected"]["status"], "active");
    let new = stored_pair(&w, "alice").await;
    assert_ne!(new.access_token.expose(), old.access_token.expose());

    let revoked = revoked_token_ids(&w);
    for (what, token) in [
        ("access", old.access_token.expose()),
        ("refresh", old_refresh.expose()),
    ] {
        assert!(
            revoked.contains(&token_id(token)),
            "the replaced {what} token was named in a revoke call: {revoked:?}"
        );
    }
    assert_eq!(
        users_me_status(&w, old.access_token.expose()).await,
        401,
        "the replaced access token is dead at X"
    );
    assert_eq!(
        refresh_status(&w, old_refresh.expose()).await,
        400,
        "the replaced refresh token is refused by X"
    );

    // The new pair is untouched by all this: it works, and a post publishes with it.
    assert_eq!(users_me_status(&w, new.access_token.expose()).await, 200);
    assert_eq!(x_user_behind_stored_tokens(&w, "alice").await, X_ALICE);
    let file = x_emulator::testing::tiny_mp4(4096);
    let post = w
        .start_upload("alice", file.clone(), "posted after a reconnect")
        .await
        .unwrap();
    let job = w
        .wait_until_final("alice", &post, Duration::from_secs(60))
        .await
        .unwrap();
    reelay_local::checks::assert_published_once(&w, &job, &file);
}

/// Revoking the replaced pair is best effort: X refusing it, or answering slower than Reelay
/// waits, neither fails nor holds up the reconnect. The new pair is stored and works either way
/// (the replaced one stays valid at X until X expires it; Reelay no longer stores it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_whose_revoke_x_refuses_or_delays_still_stores_the_new_pair() {
    let w = world("link-replace-fault").await;
    let mut browser = Browser::default();
    let landing = browser.link(&w, "alice", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    let first = stored_pair(&w, "alice").await;

    let fault = |kind| FaultSpec {
        endpoint: "revoke".into(),
        kind,
        count: None,
        phase: FaultPhase::Before,
    };
    w.emulator
        .admin()
        .add_fault(fault(FaultKind::Fail { status: 503 }))
        .unwrap();
    let landing = browser.link(&w, "alice", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(landing.body["connected"]["status"], "active");
    let second = stored_pair(&w, "alice").await;
    assert_ne!(second.access_token.expose(), first.access_token.expose());
    assert_eq!(users_me_status(&w, second.access_token.expose()).await, 200);
    let refused = w
        .emulator
        .admin()
        .records()
        .calls
        .get("revoke")
        .and_then(|c| c.get("503").copied())
        .unwrap_or(0);
    assert!(refused >= 1, "the revoke was tried and X refused it");
    assert_eq!(
        users_me_status(&w, first.access_token.expose()).await,
        200,
        "X refused the revoke, so the replaced pair lives on at X"
    );

    // X slower than Reelay waits for a revoke: the reconnect answers anyway, in bounded time.
    w.emulator.admin().clear_faults();
    w.emulator
        .admin()
        .add_fault(fault(FaultKind::Latency { ms: 25_000 }))
        .unwrap();
    let started = std::time::Instant::now();
    let landing = browser.link(&w, "alice", X_ALICE).await;
    let took = started.elapsed();
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert!(
        took < Duration::from_secs(15),
        "a slow revoke held the reconnect up for {took:?}"
    );
    let third = stored_pair(&w, "alice").await;
    assert_ne!(third.access_token.expose(), second.access_token.expose());
    assert_eq!(users_me_status(&w, third.access_token.expose()).await, 200);
    assert_eq!(x_user_behind_stored_tokens(&w, "alice").await, X_ALICE);
}

/// Accounts stored before link items existed have none (simulated here by deleting the link of
/// a fresh account). Another Reelay user linking that X account must still be refused, with the
/// same 409 as for any linked account, and the owner's account stays as it was. The refusal also
/// writes the owner's missing link, so the account is from then on guarded like any other, and
/// the owner disconnecting frees it as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_stored_before_link_items_existed_cannot_be_taken_by_another_user() {
    let w = world("link-legacy").await;
    let landing = Browser::default().link(&w, "alice", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    w.aws
        .dynamodb
        .delete_item()
        .table_name(&w.stack.table_name)
        .set_key(Some(link_key(X_ALICE)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        link_holder(&w, X_ALICE).await,
        None,
        "an account the old way"
    );
    let before = platforms(&w, "alice").await;

    let landing = Browser::default().link(&w, "bob", X_ALICE).await;
    assert_eq!(landing.status, 409, "{}", landing.body);
    assert_eq!(landing.body["type"], "x_account_linked_elsewhere");
    assert!(platforms(&w, "bob").await.is_empty());
    assert!(
        token_events(&w, X_ALICE, "revoked") >= 1,
        "bob's pair was revoked"
    );
    assert_eq!(
        platforms(&w, "alice").await,
        before,
        "alice's account is intact"
    );
    assert_eq!(x_user_behind_stored_tokens(&w, "alice").await, X_ALICE);
    assert_eq!(
        link_holder(&w, X_ALICE).await.as_deref(),
        Some("alice"),
        "the refusal wrote alice's missing link"
    );

    // Refused again, now by the link itself; and once alice lets go, bob may have it.
    let landing = Browser::default().link(&w, "bob", X_ALICE).await;
    assert_eq!(landing.status, 409, "{}", landing.body);
    assert_eq!(disconnect(&w, "alice").await, 204);
    assert_eq!(link_holder(&w, X_ALICE).await, None);
    let landing = Browser::default().link(&w, "bob", X_ALICE).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(x_user_behind_stored_tokens(&w, "bob").await, X_ALICE);
}
