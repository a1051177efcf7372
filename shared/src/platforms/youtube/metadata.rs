//! A YouTube video's metadata from a Reelay post: the rules of the `video` resource
//! (docs/research/youtube.md §3), checked before any upload so a refusal names the field.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thiserror::Error;

/// "A maximum length of 100 characters" (§3).
pub const TITLE_MAX_CHARS: usize = 100;
/// "A maximum length of 5000 bytes" of UTF-8 (§3).
pub const DESCRIPTION_MAX_BYTES: usize = 5000;

/// Who can see the video (`status.privacyStatus`, §3). Always sent: without it YouTube defaults
/// to `public`, or to `private` by the creator's account settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Reelay's default: a cross-poster should not publish to the world what the user did not
    /// ask to.
    #[default]
    Private,
    Unlisted,
    Public,
}

impl Privacy {
    pub fn as_str(self) -> &'static str {
        match self {
            Privacy::Private => "private",
            Privacy::Unlisted => "unlisted",
            Privacy::Public => "public",
        }
    }
}

/// What the user chose for YouTube when creating the post.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct YouTubeOptions {
    /// Defaults to the first line of the post's text, cut to 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub privacy: Privacy,
    /// `status.selfDeclaredMadeForKids`: YouTube requires creators to say (COPPA).
    #[serde(default)]
    pub made_for_kids: bool,
    /// `snippet.categoryId`, e.g. "22" (People & Blogs). YouTube picks one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
}

/// The `video` resource sent when the upload session starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoMetadata {
    pub title: String,
    pub description: String,
    pub privacy: Privacy,
    pub made_for_kids: bool,
    pub category_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    #[error("the YouTube title is empty")]
    EmptyTitle,
    #[error("the YouTube title has {chars} characters; YouTube allows at most {TITLE_MAX_CHARS}")]
    TitleTooLong { chars: usize },
    #[error("the YouTube {field} contains '<' or '>', which YouTube does not allow")]
    AngleBrackets { field: &'static str },
    #[error("the text is {bytes} bytes as a YouTube description; YouTube allows at most {DESCRIPTION_MAX_BYTES}")]
    DescriptionTooLong { bytes: usize },
    #[error("the YouTube category must be a number such as \"22\", not {0:?}")]
    BadCategory(String),
}

impl VideoMetadata {
    /// The metadata for a post with `text`: the description is the text; the title is the
    /// user's, or else the text's first non-empty line cut to 100 characters with any `<` or `>`
    /// left out (the user did not write that title, so Reelay mends it rather than refuse).
    pub fn for_post(text: &str, options: &YouTubeOptions) -> Result<Self, MetadataError> {
        let title = match &options.title {
            Some(title) => {
                let title = title.trim();
                let chars = title.chars().count();
                if chars == 0 {
                    return Err(MetadataError::EmptyTitle);
                }
                if chars > TITLE_MAX_CHARS {
                    return Err(MetadataError::TitleTooLong { chars });
                }
                if has_angle_brackets(title) {
                    return Err(MetadataError::AngleBrackets { field: "title" });
                }
                title.to_owned()
            }
            None => default_title(text).ok_or(MetadataError::EmptyTitle)?,
        };
        if has_angle_brackets(text) {
            return Err(MetadataError::AngleBrackets {
                field: "description (the post's text)",
            });
        }
        if text.len() > DESCRIPTION_MAX_BYTES {
            return Err(MetadataError::DescriptionTooLong { bytes: text.len() });
        }
        if let Some(category) = &options.category_id {
            if category.is_empty() || !category.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MetadataError::BadCategory(category.clone()));
            }
        }
        Ok(Self {
            title,
            description: text.to_owned(),
            privacy: options.privacy,
            made_for_kids: options.made_for_kids,
            category_id: options.category_id.clone(),
        })
    }

    /// The JSON body of the session's start request (`part=snippet,status`).
    pub fn to_resource(&self) -> Value {
        let mut snippet = json!({"title": self.title, "description": self.description});
        if let Some(category) = &self.category_id {
            snippet["categoryId"] = json!(category);
        }
        json!({
            "snippet": snippet,
            "status": {
                "privacyStatus": self.privacy.as_str(),
                "selfDeclaredMadeForKids": self.made_for_kids,
            }
        })
    }
}

fn has_angle_brackets(s: &str) -> bool {
    s.contains(['<', '>'])
}

/// The first non-empty line of `text`, without `<` and `>`, cut to 100 characters.
fn default_title(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let title: String = line
        .chars()
        .filter(|c| *c != '<' && *c != '>')
        .take(TITLE_MAX_CHARS)
        .collect();
    let title = title.trim().to_owned();
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_title_is_the_first_line_cut_to_100_characters() {
        let long = "é".repeat(150);
        let text = format!("\n  {long}\nsecond line");
        let meta = VideoMetadata::for_post(&text, &YouTubeOptions::default()).unwrap();
        assert_eq!(meta.title, "é".repeat(100));
        assert_eq!(meta.description, text);
        assert_eq!(meta.privacy, Privacy::Private);
    }

    #[test]
    fn a_chosen_title_is_checked_not_mended() {
        let options = |title: &str| YouTubeOptions {
            title: Some(title.into()),
            ..Default::default()
        };
        assert_eq!(
            VideoMetadata::for_post("text", &options(&"a".repeat(101))),
            Err(MetadataError::TitleTooLong { chars: 101 })
        );
        assert_eq!(
            VideoMetadata::for_post("text", &options("a <b>")),
            Err(MetadataError::AngleBrackets { field: "title" })
        );
        assert_eq!(
            VideoMetadata::for_post("text", &options("  ")),
            Err(MetadataError::EmptyTitle)
        );
    }

    #[test]
    fn the_description_is_limited_in_bytes() {
        // 2,501 two-byte characters: 5,002 bytes.
        let text = "é".repeat(2501);
        assert_eq!(
            VideoMetadata::for_post(&text, &YouTubeOptions::default()),
            Err(MetadataError::DescriptionTooLong { bytes: 5002 })
        );
    }

    #[test]
    fn the_resource_always_names_privacy_and_made_for_kids() {
        let meta = VideoMetadata::for_post(
            "Hello",
            &YouTubeOptions {
                privacy: Privacy::Unlisted,
                category_id: Some("22".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            meta.to_resource(),
            json!({"snippet": {"title": "Hello", "description": "Hello", "categoryId": "22"},
                   "status": {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": false}})
        );
    }
}
