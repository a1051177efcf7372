//! Posts: `/api/posts...` (issue 5).

use lambda_http::Request;
use reelay_shared::ids::UserId;
use reelay_shared::problem::Problem;

use crate::{App, Reply};

pub async fn route(_app: &App, req: &Request, _user: &UserId) -> Result<Reply, Problem> {
    Err(Problem::not_found(format!(
        "There is no resource at {}.",
        req.uri().path()
    )))
}
