//! Plays API Gateway's JWT authorizer locally: verifies a bearer token signed with a local key
//! and hands its claims to the function where API Gateway puts them
//! (`requestContext.authorizer.jwt.claims`). The demo and tests mint tokens with the same key.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const LOCAL_ISSUER: &str = "https://reelay.local/issuer";
pub const LOCAL_AUDIENCE: &str = "reelay-local";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
}

#[derive(Clone)]
pub struct LocalAuthorizer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl LocalAuthorizer {
    /// A fresh random signing key, so a token minted by one run means nothing to another.
    pub fn random() -> Self {
        let secret = uuid::Uuid::new_v4().as_bytes().repeat(2);
        Self::from_secret(&secret)
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `sub`, valid for an hour.
    pub fn mint(&self, sub: &str) -> String {
        let now = now_secs();
        let claims = Claims {
            sub: sub.to_owned(),
            iss: LOCAL_ISSUER.to_owned(),
            aud: LOCAL_AUDIENCE.to_owned(),
            iat: now,
            exp: now + 3600,
        };
        // HS256 over a struct of strings cannot fail.
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// Verifies an `Authorization` header value as API Gateway's JWT authorizer would (signature,
    /// issuer, audience, expiry) and returns the claims as the strings API Gateway passes on.
    pub fn verify(&self, authorization: Option<&str>) -> Option<HashMap<String, String>> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_audience(&[LOCAL_AUDIENCE]);
        let data = decode::<Claims>(token, &self.decoding, &validation).ok()?;
        let c = data.claims;
        Some(HashMap::from([
            ("sub".to_owned(), c.sub),
            ("iss".to_owned(), c.iss),
            ("aud".to_owned(), c.aud),
            ("exp".to_owned(), c.exp.to_string()),
            ("iat".to_owned(), c.iat.to_string()),
        ]))
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_own_tokens_and_refuses_others() {
        let auth = LocalAuthorizer::random();
        let token = auth.mint("user-1");
        let claims = auth
            .verify(Some(&format!("Bearer {token}")))
            .expect("valid token");
        assert_eq!(claims["sub"], "user-1");
        assert!(auth.verify(None).is_none());
        assert!(auth.verify(Some(&token)).is_none(), "missing Bearer prefix");
        let other = LocalAuthorizer::random();
        assert!(
            other.verify(Some(&format!("Bearer {token}"))).is_none(),
            "other key"
        );
    }
}
