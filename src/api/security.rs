//! Bearer schemes. `AccessToken` checks the token before the handler runs
//! and hands it the caller's user id; `RefreshToken` only carries the raw
//! token, which the refresh operation hands to the domain.

use poem::Request;
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
    let services = <Data<&Services> as poem::FromRequest>::from_request_without_body(req).await?;
    services
        .accounts
        .authenticate(&bearer.token)
        .await
        .map_err(|err| Problem::from(err).into())
}

/// A refresh token from signup, login or refresh.
#[derive(SecurityScheme)]
#[oai(rename = "refreshToken", ty = "bearer", bearer_format = "JWT")]
pub struct RefreshToken(pub Bearer);
