//! The web console (issue 13): the single-page app in `console/public`, embedded in this binary so
//! one deploy serves both and the API needs no CORS, and the sign-in settings it starts from.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | `index.html` |
//! | `GET /assets/{path}` | the console's own scripts and styles |
//! | `GET /vendor/{path}` | third-party code bundled by `npm run build` (twitter-text) |
//! | `GET /api/console/config` | where and how to sign in (`config_json`) |
//!
//! All four need no token (the template gives them no authorizer): the app must load before the
//! user can sign in. Nothing here reads a request body or a user's data.
//!
//! The vendor bundle is generated (`make setup` runs `npm ci` and `npm run build` in `console/`)
//! and not committed. A binary built without it still builds, and `GET /vendor/twitter-text.js`
//! answers 503 saying to run `make setup`: failing the build instead would break every
//! `cargo check` on a machine that has not run the setup, for a file only the browser needs.
//! `tests::the_vendor_bundle_is_embedded` fails `make test` (which runs the setup first) if the
//! bundle is still missing, so a release cannot ship without it unnoticed.

use include_dir::{include_dir, Dir};
use lambda_http::{Body, Response};
use reelay_shared::config::ConsoleConfig;
use reelay_shared::problem::{Problem, PROBLEM_CONTENT_TYPE};
use serde::Serialize;

/// `console/public`, read at compile time (`build.rs` makes cargo rebuild when it changes).
static PUBLIC: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../console/public");

/// The generated twitter-text bundle, relative to `console/public`.
pub const VENDOR_TWITTER_TEXT: &str = "vendor/twitter-text.js";
pub const CONFIG_PATH: &str = "/api/console/config";

/// The file served for a URL path, with its content type: `/` is `index.html`; only files under
/// `assets/` and `vendor/` are served otherwise (the template routes exactly these).
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let relative = match path {
        "/" | "" => "index.html",
        _ => path.strip_prefix('/')?,
    };
    let allowed = relative == "index.html"
        || relative.starts_with("assets/")
        || relative.starts_with("vendor/");
    // include_dir looks names up literally, but refuse anything that is not a plain path anyway.
    let plain = relative
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
    if !allowed || !plain {
        return None;
    }
    let file = PUBLIC.get_file(relative)?;
    Some((content_type(relative), file.contents()))
}

/// The content type for a file name (only the kinds the console ships).
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json" | "map") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// What `GET /api/console/config` answers: the OAuth endpoints for an authorization-code grant
/// with PKCE from the browser (a public client: no secret), or `sign_in: null` when the
/// deployment has none configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConsoleSettings {
    pub sign_in: Option<SignInSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SignInSettings {
    pub authorize_url: String,
    pub token_url: String,
    pub logout_url: String,
    pub client_id: String,
    /// Space-separated, as OAuth sends them. `openid` alone: Cognito then puts the user's
    /// readable attributes in the ID token, which is all the console shows.
    pub scope: String,
}

pub const SCOPE: &str = "openid";

pub fn settings(config: &ConsoleConfig) -> ConsoleSettings {
    ConsoleSettings {
        sign_in: config.sign_in.as_ref().map(|s| SignInSettings {
            authorize_url: s.authorize_url().to_string(),
            token_url: s.token_url().to_string(),
            logout_url: s.logout_url().to_string(),
            client_id: s.client_id.clone(),
            scope: SCOPE.to_owned(),
        }),
    }
}

pub fn config_json(config: &ConsoleConfig) -> String {
    // A struct of strings cannot fail to serialize.
    serde_json::to_string(&settings(config)).unwrap_or_else(|_| "{}".to_owned())
}

/// Whether `path` is one of the console's routes (the router sends these here, before asking for
/// a token).
pub fn is_console_path(path: &str) -> bool {
    path == "/"
        || path == CONFIG_PATH
        || path.starts_with("/assets/")
        || path.starts_with("/vendor/")
}

/// Answers a console route, or `None` when `path` is not one (the API's own routes follow).
pub fn route(config: &ConsoleConfig, method: &str, path: &str) -> Option<Response<Body>> {
    if !is_console_path(path) {
        return None;
    }
    if method != "GET" && method != "HEAD" {
        return Some(problem(&Problem::method_not_allowed(format!(
            "{method} is not supported on {path}."
        ))));
    }
    if path == CONFIG_PATH {
        return Some(response(
            200,
            "application/json",
            &[("cache-control", "no-store")],
            Body::from(config_json(config)),
        ));
    }
    Some(match asset(path) {
        Some((content_type, bytes)) => {
            let body = match std::str::from_utf8(bytes) {
                Ok(text) => Body::Text(text.to_owned()),
                Err(_) => Body::Binary(bytes.to_vec()),
            };
            let mut headers = vec![
                // No hashed file names: the browser revalidates, so a deploy shows at once.
                ("cache-control", "no-cache"),
            ];
            if content_type.starts_with("text/html") {
                headers.extend(PAGE_HEADERS);
            }
            response(200, content_type, &headers, body)
        }
        None if path == format!("/{VENDOR_TWITTER_TEXT}") => problem(&not_built()),
        None => problem(&Problem::not_found(format!(
            "The console has no file at {path}."
        ))),
    })
}

/// The answer for the vendor bundle when this binary was built without it.
pub fn not_built() -> Problem {
    Problem::new(
        503,
        "console_not_built",
        "Service Unavailable",
        format!(
            "This build of the API has no console/public/{VENDOR_TWITTER_TEXT}: run `make setup` \
             (npm ci and npm run build in console/), then build the API again."
        ),
    )
}

/// Headers for the page itself. The script and style sources are ours only; `connect-src` is
/// open to http(s) because the upload goes to the S3 URL the API signs per request and sign-in
/// to the configured issuer. No framing (clickjacking), no referrer (the sign-in code is in the
/// URL for a moment).
const PAGE_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' https: http:; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'",
    ),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

fn response(
    status: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-content-type-options", "nosniff");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::from(Problem::internal().to_json())))
}

fn problem(problem: &Problem) -> Response<Body> {
    response(
        problem.status,
        PROBLEM_CONTENT_TYPE,
        &[],
        Body::from(problem.to_json()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelay_shared::config::ConsoleSignIn;

    fn body_text(response: &Response<Body>) -> String {
        match response.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }

    fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn the_root_is_the_page_with_its_headers() {
        let page = route(&ConsoleConfig::default(), "GET", "/").expect("console route");
        assert_eq!(page.status(), 200);
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        assert!(header(&page, "content-security-policy").contains("frame-ancestors 'none'"));
        assert_eq!(header(&page, "x-content-type-options"), "nosniff");
        let html = body_text(&page);
        assert!(html.contains("<title>Reelay</title>"), "{html}");
        assert!(html.contains("/assets/app.js"), "the page loads the app");
    }

    #[test]
    fn every_file_the_page_references_is_served_with_its_type() {
        let (_, html) = asset("/").unwrap();
        let html = std::str::from_utf8(html).unwrap();
        let mut seen = 0;
        for part in html.split(['"', '\'']) {
            if part.starts_with("/assets/") || part.starts_with("/vendor/") {
                seen += 1;
                let (kind, bytes) = asset(part).unwrap_or_else(|| panic!("{part} is not served"));
                assert!(!bytes.is_empty(), "{part}");
                assert_ne!(kind, "application/octet-stream", "{part}");
            }
        }
        assert!(
            seen >= 2,
            "expected the page to reference its script and style"
        );
        assert_eq!(
            asset("/assets/app.js").unwrap().0,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            asset("/assets/console.css").unwrap().0,
            "text/css; charset=utf-8"
        );
    }

    #[test]
    fn only_the_console_folders_are_served() {
        for path in [
            "/index.html/",
            "/assets/../index.html",
            "/assets//app.js",
            "/assets/./app.js",
            "/package.json",
            "/tests/browser.mjs",
            "/assets/nope.js",
        ] {
            assert!(asset(path).is_none(), "{path} must not be served");
        }
        let missing =
            route(&ConsoleConfig::default(), "GET", "/assets/nope.js").expect("console route");
        assert_eq!(missing.status(), 404);
        assert_eq!(header(&missing, "content-type"), PROBLEM_CONTENT_TYPE);
        assert!(route(&ConsoleConfig::default(), "GET", "/api/posts").is_none());
        assert!(route(&ConsoleConfig::default(), "GET", "/index.html").is_none());
        let post = route(&ConsoleConfig::default(), "POST", "/").unwrap();
        assert_eq!(post.status(), 405);
    }

    #[test]
    fn the_config_names_the_sign_in_endpoints_or_says_there_are_none() {
        let none = route(&ConsoleConfig::default(), "GET", CONFIG_PATH).unwrap();
        assert_eq!(none.status(), 200);
        assert_eq!(header(&none, "cache-control"), "no-store");
        let value: serde_json::Value = serde_json::from_str(&body_text(&none)).unwrap();
        assert_eq!(value, serde_json::json!({ "sign_in": null }));

        let config = ConsoleConfig {
            sign_in: Some(ConsoleSignIn {
                base_url: "https://reelay.auth.us-east-1.amazoncognito.com/"
                    .parse()
                    .unwrap(),
                client_id: "client-1".into(),
            }),
        };
        let value: serde_json::Value = serde_json::from_str(&config_json(&config)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({ "sign_in": {
                "authorize_url": "https://reelay.auth.us-east-1.amazoncognito.com/oauth2/authorize",
                "token_url": "https://reelay.auth.us-east-1.amazoncognito.com/oauth2/token",
                "logout_url": "https://reelay.auth.us-east-1.amazoncognito.com/logout",
                "client_id": "client-1",
                "scope": "openid",
            }})
        );
    }

    #[test]
    fn a_missing_vendor_bundle_says_to_run_the_setup() {
        let p = not_built();
        assert_eq!(p.status, 503);
        assert!(p.detail.contains("make setup"), "{}", p.detail);
    }

    /// `make test` runs the setup first, which builds the bundle: a binary without it is a
    /// broken console, so the suite fails rather than shipping it.
    #[test]
    fn the_vendor_bundle_is_embedded() {
        let served = route(
            &ConsoleConfig::default(),
            "GET",
            &format!("/{VENDOR_TWITTER_TEXT}"),
        )
        .unwrap();
        assert_eq!(
            served.status(),
            200,
            "{}: run `make setup`",
            body_text(&served)
        );
        assert!(body_text(&served).contains("parseTweet"));
    }
}
