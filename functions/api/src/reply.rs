//! A successful answer, independent of Lambda types until `into_response`.

use lambda_http::{Body, Response};
use reelay_shared::problem::{Problem, PROBLEM_CONTENT_TYPE};

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body: value.to_string(),
        }
    }

    pub fn redirect(location: &str) -> Self {
        Self {
            status: 302,
            content_type: None,
            headers: vec![("location".to_owned(), location.to_owned())],
            body: String::new(),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            content_type: None,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn problem(problem: &Problem) -> Self {
        Self {
            status: problem.status,
            content_type: Some(PROBLEM_CONTENT_TYPE),
            headers: Vec::new(),
            body: problem.to_json(),
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder().status(self.status);
        if let Some(content_type) = self.content_type {
            builder = builder.header("content-type", content_type);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = if self.body.is_empty() {
            Body::Empty
        } else {
            Body::from(self.body)
        };
        builder
            .body(body)
            .unwrap_or_else(|_| Response::new(Body::from(Problem::internal().to_json())))
    }
}
