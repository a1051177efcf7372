//! Every problem the API can answer with (RFC 9457 `application/problem+json`, `problem::Problem`):
//! its stable `type`, its status and what it means. The OpenAPI document lists these as the
//! `Problem` schema's `type` enum, and the tests below tie the list to the code that builds them,
//! so a new problem cannot ship undocumented.
//!
//! `type` is a relative URI reference (RFC 9457 §3.1.1 allows one) naming the problem: clients
//! branch on it, never on `detail`.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::problem::Problem;

/// One kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    pub kind: &'static str,
    pub status: u16,
    /// When it happens and what to do, for the document.
    pub about: &'static str,
}

const fn p(kind: &'static str, status: u16, about: &'static str) -> ProblemType {
    ProblemType {
        kind,
        status,
        about,
    }
}

/// The catalogue, by status.
pub const PROBLEM_TYPES: &[ProblemType] = &[
    // 400: the request itself; `field` names the part to fix.
    p("invalid_json", 400, "The body is not a JSON object."),
    p("invalid_query", 400, "The query string could not be read (for example a parameter given twice)."),
    p("required", 400, "A required field is missing."),
    p("type", 400, "A field has the wrong JSON type."),
    p("unknown_field", 400, "The body has a field the route does not know (field `body`)."),
    p("text_empty", 400, "The post's text is empty or only whitespace."),
    p("text_too_long", 400, "The post's text is over X's 280 weighted characters."),
    p("text_invalid_characters", 400, "The post's text has a character X refuses (U+FFFE, U+FEFF, U+FFFF)."),
    p("platforms_empty", 400, "`platforms` names no platform."),
    p("platform_unknown", 400, "`platforms` names a platform Reelay does not post to."),
    p("file_name_format", 400, "`file_name` is not 1 to 100 safe characters."),
    p("content_type_unsupported", 400, "`content_type` is not `video/mp4`, `video/quicktime`, `video/webm` or `video/x-matroska`."),
    p("trim_range", 400, "`trim_to_secs` is not a number of seconds of at least 0.5."),
    p("fit_disabled", 400, "`trim_to_secs` or `pad` asks to change a video that `fit: false` forbids changing."),
    p("scheduled_at_format", 400, "`scheduled_at` is not an RFC 3339 date-time with its offset (e.g. `2026-12-01T10:30:00+01:00`)."),
    p("limit_range", 400, "`limit` is not a whole number from 1 to 100."),
    p("cursor_invalid", 400, "`cursor` is not one this API returned."),
    p("return_to_not_allowed", 400, "`return_to` is not one of the app's allowed return addresses."),
    p("missing_state", 400, "The OAuth callback has no `state`: start connecting again."),
    p("missing_code", 400, "The OAuth callback has no `code`: start connecting again."),
    p("unknown_state", 400, "The OAuth callback's `state` is unknown or already used: start connecting again."),
    p("expired_state", 400, "The OAuth callback's `state` is over ten minutes old: start connecting again."),
    p("youtube_options", 400, "`youtube` is not an object of title, privacy, made_for_kids and category_id, or breaks YouTube's rules (title 1–100 characters without < or >, description at most 5,000 bytes), or YouTube is not a target."),
    p("code_rejected", 400, "The platform (X or Google) did not accept the authorization code: start connecting again."),
    // 401, 403
    p("unauthorized", 401, "No verified bearer token reached the API."),
    p("connect_other_browser", 403, "The OAuth callback came from a browser that did not start the connect; nothing was connected."),
    p("consent_denied", 403, "The user did not allow Reelay at the platform; nothing was connected."),
    p("missing_scopes", 403, "The platform granted too few scopes for Reelay to read the account."),
    // 404, 405
    p("not_found", 404, "No such route, or no such post of the caller's (another user's post is not found)."),
    p("not_connected", 404, "The caller has not connected that platform."),
    p("platform_not_enabled", 404, "The platform is not configured on this deployment (YouTube without a Google OAuth client)."),
    p("method_not_allowed", 405, "The route exists but not with this method."),
    // 409: the request is fine but the state of things refuses it.
    p("no_youtube_channel", 409, "The Google account has no YouTube channel to post to: create one, then connect again."),
    p("platform_not_connected", 409, "A target platform is not connected: connect it first."),
    p("platform_needs_reconnect", 409, "A target platform must be reconnected (a refused token or a missing scope such as media.write)."),
    p("nothing_to_retry", 409, "No target of the post has failed."),
    p("not_retryable", 409, "Every failed target failed for a reason a retry cannot fix: create a new post."),
    p("retry_limit_reached", 409, "The post was retried five times already: create a new post."),
    p("post_changed", 409, "The post changed while the request was handled (a retry, a change, a cancel, or its video arriving): read it again."),
    p("too_late", 409, "A target of the post is published, or being published, on X: it can no longer be changed or cancelled (delete it on X)."),
    p("cancelled", 409, "The post was cancelled: it can no longer be changed or retried; create a new post."),
    p("x_account_linked_elsewhere", 409, "The X account is connected to another Reelay user."),
    // 422: well-formed, but not a value the rules allow.
    p("scheduled_at_range", 422, "`scheduled_at` is less than 60 seconds or more than 14 days ahead (X keeps an uploaded video about 15 days)."),
    // 429: with `Retry-After` (seconds).
    p("post_quota_exceeded", 429, "The caller's posts per day are used up; `Retry-After` says when one frees."),
    p("uploads_in_flight_exceeded", 429, "The caller has the most uploads in flight at once; `Retry-After` says when to try again."),
    p("too_many_concurrent_requests", 429, "Several of the caller's create or retry requests arrived at once; try again in a second."),
    // 5xx: opaque; the cause is logged.
    p("internal_error", 500, "A fault on Reelay's side; the cause is logged, never answered."),
    p("x_unavailable", 502, "X is not answering properly; nothing was changed. Try again later."),
    p("console_not_built", 503, "This build of the API lacks the console's twitter-text bundle (`make setup` builds it)."),
];

/// The catalogue entry for `kind`.
pub fn problem_type(kind: &str) -> Option<&'static ProblemType> {
    PROBLEM_TYPES.iter().find(|t| t.kind == kind)
}

/// The kinds answered with `status`, as a sentence for a response's description.
pub fn kinds_with_status(status: u16) -> Vec<&'static str> {
    PROBLEM_TYPES
        .iter()
        .filter(|t| t.status == status)
        .map(|t| t.kind)
        .collect()
}

/// The `Problem` schema: RFC 9457 members, with `type` one of the catalogue's kinds.
impl PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        let kinds = PROBLEM_TYPES.iter().map(|t| t.kind);
        let about: String = PROBLEM_TYPES
            .iter()
            .map(|t| format!("- `{}` ({}): {}\n", t.kind, t.status, t.about))
            .collect();
        let string = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "An error answer, RFC 9457 problem details (`application/problem+json`).",
            ))
            .property(
                "type",
                string(&format!(
                    "A stable name for the problem; branch on it, not on `detail`.\n\n{about}"
                ))
                .enum_values(Some(kinds)),
            )
            .required("type")
            .property("title", string("The HTTP status's reason phrase."))
            .required("title")
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("The HTTP status, repeated.")),
            )
            .required("status")
            .property(
                "detail",
                string("What happened and what to do, for a person. 5xx details are opaque."),
            )
            .required("detail")
            .property(
                "field",
                string("The request field the problem is about, when there is one."),
            )
            .into()
    }
}

impl ToSchema for Problem {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::cipher::CipherError;
    use crate::accounts::connect::ConnectError;
    use crate::accounts::oauth::OAuthError;
    use crate::accounts::store::StoreError as AccountStoreError;
    use crate::api::posts::{problem, PostsError};
    use crate::quota::QuotaExceeded;
    use std::collections::HashSet;

    /// One of each `ConnectError`; the `match` fails to compile when a variant is added, so the
    /// new one gets an example (and a catalogue entry) here.
    fn connect_examples() -> Vec<ConnectError> {
        let all = vec![
            ConnectError::ReturnToNotAllowed,
            ConnectError::MissingState,
            ConnectError::MissingCode,
            ConnectError::OtherBrowser,
            ConnectError::UnknownState,
            ConnectError::ExpiredState,
            ConnectError::Denied {
                error: "access_denied".into(),
                description: String::new(),
            },
            ConnectError::CodeRejected { detail: "d".into() },
            ConnectError::MissingScopes {
                missing: vec!["users.read".into()],
            },
            ConnectError::XUnavailable { detail: "d".into() },
            ConnectError::NotConnected,
            ConnectError::LinkedElsewhere,
            ConnectError::NoChannel,
            ConnectError::PlatformNotEnabled("YouTube"),
            ConnectError::OAuth(OAuthError::Unavailable {
                provider: crate::accounts::oauth::Provider::X,
                detail: "d".into(),
            }),
            ConnectError::Store(AccountStoreError::Corrupt {
                what: "account",
                problem: "p".into(),
            }),
            ConnectError::Cipher(CipherError::Corrupt),
        ];
        for err in &all {
            match err {
                ConnectError::ReturnToNotAllowed
                | ConnectError::MissingState
                | ConnectError::MissingCode
                | ConnectError::OtherBrowser
                | ConnectError::UnknownState
                | ConnectError::ExpiredState
                | ConnectError::Denied { .. }
                | ConnectError::CodeRejected { .. }
                | ConnectError::MissingScopes { .. }
                | ConnectError::XUnavailable { .. }
                | ConnectError::NotConnected
                | ConnectError::LinkedElsewhere
                | ConnectError::NoChannel
                | ConnectError::PlatformNotEnabled(_)
                | ConnectError::OAuth(_)
                | ConnectError::Store(_)
                | ConnectError::Cipher(_) => {}
            }
        }
        all
    }

    fn check(p: &Problem) {
        let entry = problem_type(&p.kind)
            .unwrap_or_else(|| panic!("{:?} is answered but not in PROBLEM_TYPES", p.kind));
        assert_eq!(entry.status, p.status, "{}", p.kind);
    }

    #[test]
    fn kinds_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for t in PROBLEM_TYPES {
            assert!(seen.insert(t.kind), "{} twice", t.kind);
            assert!(
                t.kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                t.kind
            );
            assert!((400..600).contains(&t.status));
        }
    }

    #[test]
    fn every_problem_the_code_builds_is_in_the_catalogue() {
        check(&Problem::not_found("x"));
        check(&Problem::method_not_allowed("x"));
        check(&Problem::unauthorized("x"));
        check(&Problem::internal());
        for err in PostsError::examples() {
            check(&problem(err));
        }
        for err in connect_examples() {
            check(&err.to_problem());
            check(&err.to_problem_for(crate::posts::Platform::YouTube));
        }
        // The rules `PostsError::Invalid` carries, named by the request parsers.
        for text in ["", &"a".repeat(281), "\u{FFFE}"] {
            let rule = crate::posts::check_text(text).unwrap_err().rule();
            assert!(problem_type(rule).is_some(), "{rule}");
        }
        for bad in [
            &br#"{"text":1,"platforms":["x"]}"#[..],
            br#"{"text":"hi"}"#,
            br#"{"text":"hi","platforms":[]}"#,
            br#"{"text":"hi","platforms":["tiktok"]}"#,
            br#"{"text":"hi","platforms":["x"],"file_name":"../a"}"#,
            br#"{"text":"hi","platforms":["x"],"content_type":"video/avi"}"#,
            br#"{"text":"hi","platforms":["x"],"trim_to_secs":0}"#,
            br#"{"text":"hi","platforms":["x"],"fit":false,"pad":true}"#,
            br#"{"text":"hi","platforms":["x"],"other":1}"#,
            br#"{"text":"hi","platforms":["x"],"scheduled_at":"tomorrow"}"#,
            br#"{"text":"hi","platforms":["x"],"scheduled_at":5}"#,
            b"[1]",
        ] {
            check(&problem(
                crate::api::posts::parse_new_post(bad).unwrap_err(),
            ));
        }
        for bad in [
            &b"{}"[..],
            br#"{"text":""}"#,
            br#"{"text":null}"#,
            br#"{"scheduled_at":"2026-12-01 10:00"}"#,
            br#"{"scheduled_at":1}"#,
            br#"{"other":1}"#,
            b"nope",
        ] {
            check(&problem(
                crate::api::posts::parse_post_changes(bad).unwrap_err(),
            ));
        }
        for (limit, cursor) in [(Some("0"), None), (None, Some("bad"))] {
            check(&problem(
                crate::api::posts::parse_page(limit, cursor).unwrap_err(),
            ));
        }
        for q in [
            QuotaExceeded::PostsPerDay {
                limit: 1,
                retry_after_secs: 1,
            },
            QuotaExceeded::UploadsInFlight {
                limit: 1,
                retry_after_secs: 1,
            },
        ] {
            check(&problem(PostsError::Quota(q)));
        }
    }

    #[test]
    fn the_schema_lists_every_kind() {
        let json = serde_json::to_value(Problem::schema()).unwrap();
        let listed: Vec<&str> = json["properties"]["type"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let all: Vec<&str> = PROBLEM_TYPES.iter().map(|t| t.kind).collect();
        assert_eq!(listed, all);
    }
}
