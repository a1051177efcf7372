//! Connected platform accounts: the X account a Reelay user connected, its tokens (encrypted with
//! KMS), its scopes and whether it needs reconnecting; the one-time OAuth state of a connect in
//! progress; the OAuth client; the connect flow; and the token provider workers use.
//!
//! Layout (DESIGN §2 "hexagonal"): `store` and `cipher` are ports with one AWS adapter each,
//! `oauth` wraps the `oauth2` crate, `connect` is the flow the HTTP functions call, `binding` ties
//! a connect to the browser that started it and `tokens` keeps access tokens fresh for the
//! upload engine.

pub mod binding;
pub mod callback;
pub mod cipher;
pub mod connect;
pub mod oauth;
pub mod pkce;
pub mod store;
pub mod tokens;

use std::fmt;

use crate::ids::UserId;

/// Scopes Reelay asks for (DESIGN §1). Without `media.write` uploads get 403 (the seed's bug,
/// research §1); without `offline.access` X gives no refresh token and the connection dies after
/// two hours.
pub const REQUIRED_SCOPES: &[&str] = &[
    "tweet.read",
    "tweet.write",
    "users.read",
    "offline.access",
    "media.write",
];

/// The platform an account connects; its name is the key suffix and the KMS encryption context
/// value, so it must never change.
pub use crate::posts::Platform;

/// Whether Reelay can post with the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    /// The user must connect X again; `reason` says why and what to do, in words for the user.
    NeedsReconnect {
        reason: String,
    },
}

impl AccountStatus {
    pub fn code(&self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsReconnect { .. } => "needs_reconnect",
        }
    }
}

/// KMS ciphertext of a user's token pair. Opaque outside `cipher`.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedTokens(pub Vec<u8>);

impl fmt::Debug for EncryptedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptedTokens({} bytes)", self.0.len())
    }
}

/// A connected X account as stored (token material encrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user_id: UserId,
    pub platform: Platform,
    pub x_user_id: String,
    pub username: String,
    pub name: String,
    /// Scopes X granted, as X listed them in the token response.
    pub scopes: Vec<String>,
    pub status: AccountStatus,
    /// Bumped on every new token pair (connect, refresh). Conditional writes on it make sure a
    /// rotated pair is never overwritten by a stale one (DESIGN §3 "Tokens").
    pub token_version: u64,
    /// Epoch seconds when the access token expires (X: two hours, research §1).
    pub access_expires_at: u64,
    pub tokens: EncryptedTokens,
    pub connected_at: u64,
    pub updated_at: u64,
}

/// "Now" in epoch seconds from the shared clock port (injectable, so tests expire states and
/// tokens without sleeping).
pub(crate) fn epoch_secs(clock: &dyn crate::clock::Clock) -> u64 {
    clock.now_secs().max(0) as u64
}

/// The scopes `platform`'s provider must grant, in the order Reelay asks for them.
pub fn required_scopes(platform: Platform) -> &'static [&'static str] {
    oauth::Provider::for_platform(platform).scopes()
}

/// The scopes `platform` requires that are missing from `granted`, in `required_scopes` order.
pub fn missing_scopes<S: AsRef<str>>(platform: Platform, granted: &[S]) -> Vec<&'static str> {
    required_scopes(platform)
        .iter()
        .copied()
        .filter(|r| !granted.iter().any(|g| g.as_ref() == *r))
        .collect()
}

/// What the user is told when scopes are missing: which ones, and what to do.
pub fn missing_scopes_reason(platform: Platform, missing: &[&str]) -> String {
    let name = platform.display_name();
    format!(
        "{name} did not grant Reelay the permission(s) {}. Connect {name} again and allow all \
         the permissions Reelay asks for; without them Reelay cannot post videos for you.",
        missing.join(", ")
    )
}

/// A connect in progress: the one-time `state` sent to X, bound to the user who started it. Its
/// PKCE verifier is not stored: it is derived from the state with a server key (`pkce`).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthState {
    pub state: String,
    pub user_id: UserId,
    /// The platform being connected: only its callback may complete the connect. States
    /// written before YouTube (issue 17) have none and are X's.
    pub platform: Platform,
    /// Only in a state item written before verifiers were derived (issue 12), which stored the
    /// verifier in plain text: read so that a connect under way during that deploy still
    /// finishes (states live ten minutes). Never written; `None` for every new state.
    pub legacy_pkce_verifier: Option<crate::secret::Secret>,
    /// Where to send the browser afterwards (checked against the allow-list when used).
    pub return_to: Option<String>,
    pub created_at: u64,
    /// Epoch seconds; also the table's TTL attribute. Checked on read: TTL deletion is lazy
    /// (DESIGN §5).
    pub expires_at: u64,
}

impl fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthState")
            .field("user_id", &self.user_id)
            .field("platform", &self.platform)
            .field("return_to", &self.return_to)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_missing_scope() {
        assert!(missing_scopes(Platform::Twitter, REQUIRED_SCOPES).is_empty());
        let granted = ["tweet.read", "users.read", "tweet.write", "offline.access"];
        assert_eq!(
            missing_scopes(Platform::Twitter, &granted),
            vec!["media.write"]
        );
        assert!(missing_scopes_reason(Platform::Twitter, &["media.write"]).contains("media.write"));
        assert_eq!(
            missing_scopes(Platform::YouTube, &[oauth::YOUTUBE_SCOPES[0]]),
            vec![oauth::YOUTUBE_SCOPES[1]]
        );
        assert!(missing_scopes_reason(Platform::YouTube, &["x"]).starts_with("YouTube"));
    }
}
