//! The Auth operations: signup, login, refresh, "who am I", logout and
//! password changes. Their bodies live in `wire`.

mod wire;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use crate::client::Client;
use crate::domain::Services;
use crate::domain::accounts::{Accounts, Login, NewAccount};

use super::ApiTags;
use super::body::JsonBody;
use super::problem::problems;
use super::security::{AccessToken, RefreshToken};

pub use wire::RoleView;
use wire::{
    Account, ChangePasswordRequest, LoginRequest, LoginResult, SignupRequest, SignupResult,
    TokenPairView,
};

#[derive(Debug, ApiResponse)]
pub enum SignupResponse {
    /// The account was created; it comes with its first tokens.
    #[oai(status = 201)]
    Created(Json<SignupResult>),
}

#[derive(Debug, ApiResponse)]
pub enum LoginResponse {
    /// Logged in: tokens and who they belong to.
    #[oai(status = 200)]
    Ok(Json<LoginResult>),
}

#[derive(Debug, ApiResponse)]
pub enum RefreshResponse {
    /// A new access and refresh token.
    #[oai(status = 200)]
    Ok(Json<TokenPairView>),
}

#[derive(Debug, ApiResponse)]
pub enum AccountResponse {
    /// The caller's account.
    #[oai(status = 200)]
    Ok(Json<Account>),
}

#[derive(Debug, ApiResponse)]
pub enum SessionEndedResponse {
    /// Done: the session or sessions are over.
    #[oai(status = 204)]
    Ended,
}

problems! {
    pub enum SignupProblem for [Accounts::SIGNUP_FAILURES] {
        /// A field is missing, has the wrong type or breaks its limits; `field` names it.
        400 => BadRequest,
        /// The username or email is taken (ignoring case); `field` says which.
        409 => Conflict,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
        /// Too many signups from this client recently.
        #[oai(header(name = "Retry-After", ty = "u64", description = "Seconds until signups are accepted again."))]
        429 => TooManyRequests,
    }
}

problems! {
    pub enum LoginProblem for [Accounts::LOGIN_FAILURES] {
        /// A field is missing, has the wrong type or breaks its limits; `field` names it.
        400 => BadRequest,
        /// Unknown user or wrong password; the two are not told apart.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The password is right, but an admin has disabled the account (`type` ends in `account-disabled`). A wrong password for a disabled account gets 401 like any other.
        403 => Forbidden,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
        /// Too many failed logins recently: for this account from this client, from this client on any account, or for this account from everywhere (then only a `device_token` from an earlier login gets through).
        #[oai(header(name = "Retry-After", ty = "u64", description = "Seconds until attempts are accepted again."))]
        429 => TooManyRequests,
    }
}

problems! {
    pub enum ChangePasswordProblem for [Accounts::CHANGE_PASSWORD_FAILURES] {
        /// A field is missing, has the wrong type or breaks its limits; `field` names it.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or revoked.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// `current_password` is wrong.
        403 => Forbidden,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
        /// Too many wrong passwords for this account from this client, or from this client on any account, recently.
        #[oai(header(name = "Retry-After", ty = "u64", description = "Seconds until attempts are accepted again."))]
        429 => TooManyRequests,
    }
}

problems! {
    pub enum TokenProblem for [Accounts::REFRESH_FAILURES, Accounts::USER_FAILURES, Accounts::LOGOUT_FAILURES, Accounts::LOGOUT_EVERYWHERE_FAILURES] {
        /// The bearer token is missing, malformed, expired, revoked, of the wrong kind or signed with an unknown key.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
    }
}

pub struct AuthApi;

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account
    ///
    /// Creates a user and logs them in: the answer holds an access token
    /// and a refresh token.
    #[oai(path = "/signup", method = "post", operation_id = "signup")]
    async fn signup(
        &self,
        services: Data<&Services>,
        client: Data<&Client>,
        body: JsonBody<SignupRequest>,
    ) -> Result<SignupResponse, SignupProblem> {
        let JsonBody(SignupRequest {
            username,
            email,
            password,
        }) = body;
        let account = NewAccount {
            username,
            email,
            password,
        };
        let session = services.accounts.signup(account, **client).await?;
        Ok(SignupResponse::Created(Json(session.into())))
    }

    /// Log in
    ///
    /// Exchanges a username (or email) and password for an access token
    /// and a refresh token.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        services: Data<&Services>,
        client: Data<&Client>,
        body: JsonBody<LoginRequest>,
    ) -> Result<LoginResponse, LoginProblem> {
        let JsonBody(LoginRequest {
            username,
            password,
            device_token,
        }) = body;
        let login = Login {
            name: username,
            password,
            client: **client,
            device_token,
        };
        let session = services.accounts.login(login).await?;
        Ok(LoginResponse::Ok(Json(session.into())))
    }

    /// Refresh tokens
    ///
    /// Send a refresh token as the bearer token; get a new access and
    /// refresh token. The refresh token sent is used up: sending it again
    /// ends its whole session.
    #[oai(path = "/refresh", method = "post", operation_id = "refreshTokens")]
    async fn refresh(
        &self,
        services: Data<&Services>,
        token: RefreshToken,
    ) -> Result<RefreshResponse, TokenProblem> {
        let pair = services.accounts.refresh(&token.0.token).await?;
        Ok(RefreshResponse::Ok(Json(pair.into())))
    }

    /// Get my account
    ///
    /// The account the access token belongs to.
    #[oai(path = "/me", method = "get", operation_id = "getCurrentUser")]
    async fn me(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
    ) -> Result<AccountResponse, TokenProblem> {
        let user = services.accounts.user(caller.0).await?;
        Ok(AccountResponse::Ok(Json(user.into())))
    }

    /// Log out
    ///
    /// Send a refresh token as the bearer token; its session ends and none
    /// of its refresh tokens work any more.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        services: Data<&Services>,
        token: RefreshToken,
    ) -> Result<SessionEndedResponse, TokenProblem> {
        services.accounts.logout(&token.0.token).await?;
        Ok(SessionEndedResponse::Ended)
    }

    /// Log out everywhere
    ///
    /// Ends every session of the caller: all refresh tokens and all access
    /// tokens issued so far stop working.
    #[oai(
        path = "/logout-all",
        method = "post",
        operation_id = "logoutEverywhere"
    )]
    async fn logout_all(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
    ) -> Result<SessionEndedResponse, TokenProblem> {
        services.accounts.logout_everywhere(caller.0).await?;
        Ok(SessionEndedResponse::Ended)
    }

    /// Change my password
    ///
    /// Needs the current password. Every session ends: tokens issued before
    /// the change stop working, so log in again with the new password.
    #[oai(path = "/password", method = "put", operation_id = "changePassword")]
    async fn change_password(
        &self,
        services: Data<&Services>,
        client: Data<&Client>,
        caller: AccessToken,
        body: JsonBody<ChangePasswordRequest>,
    ) -> Result<SessionEndedResponse, ChangePasswordProblem> {
        let JsonBody(ChangePasswordRequest {
            current_password,
            new_password,
        }) = body;
        services
            .accounts
            .change_password(caller.0, **client, current_password, new_password)
            .await?;
        Ok(SessionEndedResponse::Ended)
    }
}
