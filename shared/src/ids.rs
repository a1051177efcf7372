//! Identifiers parsed at the edge, so the domain never handles raw strings from events.

use std::fmt;

use thiserror::Error;

use crate::resources::bucket::UPLOAD_PREFIX;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{what} must be 1 to {max} characters of letters, digits, '-' or '_'")]
    Malformed { what: &'static str, max: usize },
    #[error("object key {key:?} is not of the form uploads/{{user_id}}/{{post_id}}/{{file}}")]
    NotAnUploadKey { key: String },
    #[error("object key {key:?} is not valid percent-encoded UTF-8")]
    BadEncoding { key: String },
}

fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

macro_rules! id_newtype {
    ($name:ident, $what:literal, $max:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                if is_token(raw, $max) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(IdError::Malformed { what: $what, max: $max })
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

// A user id is the JWT `sub`; identity providers use UUIDs or similar tokens well under 128.
id_newtype!(UserId, "a user id", 128);
id_newtype!(PostId, "a post id", 64);

/// `uploads/{user_id}/{post_id}/{file}`: where a post's video is uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadKey {
    pub user_id: UserId,
    pub post_id: PostId,
    pub file: String,
}

impl UploadKey {
    /// Decodes a key as it arrives in an S3 event. S3 form-URL-encodes event keys (a space
    /// becomes `+`); moto also encodes `/` as `%2F` (research/local-aws.md). Form-decoding
    /// handles both.
    pub fn decode_event_key(raw: &str) -> Result<String, IdError> {
        let plus_as_space = raw.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_as_space)
            .decode_utf8()
            .map(|k| k.into_owned())
            .map_err(|_| IdError::BadEncoding {
                key: raw.to_owned(),
            })
    }

    pub fn parse(key: &str) -> Result<Self, IdError> {
        let not_upload = || IdError::NotAnUploadKey {
            key: key.to_owned(),
        };
        let rest = key.strip_prefix(UPLOAD_PREFIX).ok_or_else(not_upload)?;
        let mut parts = rest.splitn(3, '/');
        let (user, post, file) = match (parts.next(), parts.next(), parts.next()) {
            (Some(u), Some(p), Some(f)) if !f.is_empty() && !f.contains('/') => (u, p, f),
            _ => return Err(not_upload()),
        };
        Ok(Self {
            user_id: UserId::parse(user).map_err(|_| not_upload())?,
            post_id: PostId::parse(post).map_err(|_| not_upload())?,
            file: file.to_owned(),
        })
    }

    pub fn to_key(&self) -> String {
        format!(
            "{UPLOAD_PREFIX}{}/{}/{}",
            self.user_id, self.post_id, self.file
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_keys_as_s3_and_moto_send_them() {
        assert_eq!(
            UploadKey::decode_event_key("uploads/u1/p1/my+clip.mp4").unwrap(),
            "uploads/u1/p1/my clip.mp4"
        );
        assert_eq!(
            UploadKey::decode_event_key("uploads%2Fu1%2Fp1%2Fa%2Bb.mp4").unwrap(),
            "uploads/u1/p1/a+b.mp4"
        );
        assert!(UploadKey::decode_event_key("uploads/%FF").is_err());
    }

    #[test]
    fn parses_upload_keys_and_refuses_others() {
        let key = UploadKey::parse("uploads/user-1/post_2/clip.mp4").unwrap();
        assert_eq!(key.user_id.as_str(), "user-1");
        assert_eq!(key.post_id.as_str(), "post_2");
        assert_eq!(key.file, "clip.mp4");
        assert_eq!(key.to_key(), "uploads/user-1/post_2/clip.mp4");
        for bad in [
            "other/u/p/f",
            "uploads/u/p",
            "uploads/u/p/",
            "uploads/u/p/a/b",
            "uploads/u!/p/f",
            "uploads//p/f",
        ] {
            assert!(UploadKey::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn ids_reject_what_would_break_keys() {
        assert!(UserId::parse("abc-123_X").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a#b").is_err());
        assert!(PostId::parse(&"x".repeat(65)).is_err());
    }
}
