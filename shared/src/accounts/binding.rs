//! Binding a connect to the browser that started it (issue 12).
//!
//! The one-time state binds a connect to the Reelay *user* who started it, but the callback is
//! unauthenticated (X redirects a browser there), so on its own it cannot tell whose browser
//! arrived. Without more, an attacker could start a connect, send X's authorize URL to a victim
//! and, once the victim approved, own the victim's X tokens under the attacker's Reelay user (the
//! session-fixation attack on account linking). So the connect route also sets a cookie in the
//! starting browser with a hash of the state, and the callback goes on only if the browser that
//! arrives sends it back.
//!
//! - `HttpOnly`: scripts (an XSS in the app) cannot read it. `Secure`: never sent over plain
//!   http (browsers count `http://localhost` and `http://127.0.0.1` as secure, so local runs
//!   work). `SameSite=Lax`: X's redirect is a top-level GET navigation, which Lax sends on.
//! - `Path` = the callback's path (from `X_REDIRECT_URI`): no other route ever receives it.
//! - `Max-Age` = the state's ten minutes.
//! - The value is `base64url(SHA-256(state))`, not the state: the state travels in URLs (X's
//!   consent page, the browser's history), the cookie does not, and neither alone reproduces
//!   the other.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::connect::STATE_TTL_SECS;

/// The cookie's name. One per browser: starting a second connect replaces it, so of two connects
/// started in one browser only the later can finish.
pub const COOKIE_NAME: &str = "reelay_oauth";

/// What the cookie carries for `state`.
pub fn binding_for(state: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(state.as_bytes()))
}

/// The `Set-Cookie` value the connect route answers with. `path` is the callback's path.
pub fn set_cookie(binding: &str, path: &str) -> String {
    format!(
        "{COOKIE_NAME}={binding}; Path={path}; Max-Age={STATE_TTL_SECS}; HttpOnly; Secure; \
         SameSite=Lax"
    )
}

/// The `Set-Cookie` value that removes the cookie (same name and path, `Max-Age=0`).
pub fn clear_cookie(path: &str) -> String {
    format!("{COOKIE_NAME}=; Path={path}; Max-Age=0; HttpOnly; Secure; SameSite=Lax")
}

/// This cookie's values in a `Cookie` header (`a=b; c=d`). Usually one; a browser may hold
/// more under different paths, and sends them all.
pub fn cookie_values(header: &str) -> Vec<String> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .collect()
}

/// Whether one of the browser's `cookies` is the binding of `state`. Compared in constant time,
/// so the answer's timing says nothing about how much of a guess was right.
pub fn is_bound(state: &str, cookies: &[String]) -> bool {
    let expected = binding_for(state);
    cookies.iter().fold(false, |found, c| {
        found | constant_time_eq(c.as_bytes(), expected.as_bytes())
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length is public (always 43 for a real binding); only the content is compared blind.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_is_the_states_hash_and_only_it_matches() {
        let state = "a-state-of-forty-three-characters-123456789";
        let binding = binding_for(state);
        assert_eq!(binding.len(), 43);
        assert!(!binding.contains(state));
        assert!(is_bound(state, std::slice::from_ref(&binding)));
        assert!(is_bound(state, &["other".into(), binding.clone()]));
        assert!(!is_bound(state, &[]));
        assert!(!is_bound(state, &[binding_for("another state")]));
        assert!(
            !is_bound(state, &[state.to_owned()]),
            "the raw state is not a binding"
        );
        let mut truncated = binding.clone();
        truncated.pop();
        assert!(!is_bound(state, &[truncated]));
    }

    #[test]
    fn reads_only_this_cookie_from_the_header() {
        assert_eq!(
            cookie_values("a=1; reelay_oauth=xyz;other=2; reelay_oauth=abc; reelay_oauth="),
            vec!["xyz".to_owned(), "abc".to_owned()]
        );
        assert!(cookie_values("reelay_oauthx=1; x_reelay_oauth=2").is_empty());
        assert!(cookie_values("").is_empty());
    }

    #[test]
    fn cookies_are_scoped_and_protected() {
        let set = set_cookie("h", "/api/auth/platforms/twitter/callback");
        assert_eq!(
            set,
            "reelay_oauth=h; Path=/api/auth/platforms/twitter/callback; Max-Age=600; HttpOnly; \
             Secure; SameSite=Lax"
        );
        let clear = clear_cookie("/cb");
        assert!(
            clear.starts_with("reelay_oauth=; Path=/cb; Max-Age=0;"),
            "{clear}"
        );
    }
}
