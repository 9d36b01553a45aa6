//! Bearer schemes. `AccessToken` checks the token before the handler runs
//! and hands it the caller's user id; `RefreshToken` only carries the raw
//! token, which the refresh operation hands to the domain.

use poem::Request;
use poem::http::header;
use poem::web::Data;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::domain::Services;

use super::problem::Problem;

/// A 15-minute access token from signup, login or refresh.
#[derive(SecurityScheme)]
#[oai(
    rename = "accessToken",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_access_token"
)]
pub struct AccessToken(pub i64);

async fn check_access_token(req: &Request, bearer: Bearer) -> poem::Result<i64> {
    one_authorization(req)?;
    let services = <Data<&Services> as poem::FromRequest>::from_request_without_body(req).await?;
    services
        .accounts
        .authenticate(&bearer.token)
        .await
        .map_err(|err| Problem::from(err).into())
}

/// A refresh token from signup, login or refresh.
#[derive(SecurityScheme)]
#[oai(
    rename = "refreshToken",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_refresh_token"
)]
pub struct RefreshToken(pub Bearer);

async fn check_refresh_token(req: &Request, bearer: Bearer) -> poem::Result<Bearer> {
    one_authorization(req)?;
    Ok(bearer)
}

/// Refuses a request with two `Authorization` headers: which one counts
/// differs between proxies and frameworks, so neither is trusted.
fn one_authorization(req: &Request) -> Result<(), Problem> {
    match req.headers().get_all(header::AUTHORIZATION).iter().count() {
        0 | 1 => Ok(()),
        _ => Err(Problem::unauthenticated(
            "send exactly one Authorization header",
        )),
    }
}
