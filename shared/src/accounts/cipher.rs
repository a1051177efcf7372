//! Token encryption at rest: the access and refresh token of an account, sealed with KMS under an
//! encryption context naming the Reelay user and the platform, so a ciphertext copied to another
//! user's item (or another platform's) does not decrypt (KMS rejects a context mismatch).

use aws_sdk_kms::primitives::Blob;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{EncryptedTokens, Platform};
use crate::ids::UserId;
use crate::secret::Secret;

/// The plaintext pair. Never logged: `Secret` prints `***`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    pub access_token: Secret,
    /// X sends one only when `offline.access` was granted (research §1).
    pub refresh_token: Option<Secret>,
}

#[derive(Debug, Error)]
pub enum CipherError {
    #[error("KMS could not encrypt the tokens")]
    Encrypt(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("KMS could not decrypt the tokens")]
    Decrypt(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Decrypted, but not a token pair: written by something else.
    #[error("the decrypted tokens are not a token pair")]
    Corrupt,
}

#[async_trait::async_trait]
pub trait TokenCipher: Send + Sync {
    async fn encrypt(
        &self,
        user: &UserId,
        platform: Platform,
        tokens: &TokenPair,
    ) -> Result<EncryptedTokens, CipherError>;
    async fn decrypt(
        &self,
        user: &UserId,
        platform: Platform,
        sealed: &EncryptedTokens,
    ) -> Result<TokenPair, CipherError>;
}

/// KMS `Encrypt`/`Decrypt` with the user's encryption context. A token pair is a few hundred
/// bytes, well under KMS's 4 KB direct-encryption limit, so no envelope (data key) is needed.
#[derive(Clone, Debug)]
pub struct KmsTokenCipher {
    kms: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsTokenCipher {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            kms,
            key_id: key_id.into(),
        }
    }
}

pub const CONTEXT_USER: &str = "user_id";
pub const CONTEXT_PLATFORM: &str = "platform";

#[async_trait::async_trait]
impl TokenCipher for KmsTokenCipher {
    #[tracing::instrument(skip(self, tokens), fields(user_id = %user, platform = %platform))]
    async fn encrypt(
        &self,
        user: &UserId,
        platform: Platform,
        tokens: &TokenPair,
    ) -> Result<EncryptedTokens, CipherError> {
        let plaintext = serde_json::to_vec(tokens).map_err(|e| CipherError::Encrypt(e.into()))?;
        let out = self
            .kms
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext))
            .encryption_context(CONTEXT_USER, user.as_str())
            .encryption_context(CONTEXT_PLATFORM, platform.as_str())
            .send()
            .await
            .map_err(|e| CipherError::Encrypt(Box::new(e)))?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| CipherError::Encrypt("KMS returned no ciphertext".into()))?;
        Ok(EncryptedTokens(blob.into_inner()))
    }

    #[tracing::instrument(skip(self, sealed), fields(user_id = %user, platform = %platform))]
    async fn decrypt(
        &self,
        user: &UserId,
        platform: Platform,
        sealed: &EncryptedTokens,
    ) -> Result<TokenPair, CipherError> {
        let out = self
            .kms
            .decrypt()
            // Pinning the key stops a ciphertext made under another key from being accepted.
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(sealed.0.clone()))
            .encryption_context(CONTEXT_USER, user.as_str())
            .encryption_context(CONTEXT_PLATFORM, platform.as_str())
            .send()
            .await
            .map_err(|e| CipherError::Decrypt(Box::new(e)))?;
        let plaintext = out.plaintext.ok_or(CipherError::Corrupt)?;
        serde_json::from_slice(plaintext.as_ref()).map_err(|_| CipherError::Corrupt)
    }
}
