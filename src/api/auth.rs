//! The Auth operations: signup, login, refresh and "who am I".

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use crate::domain::Services;
use crate::domain::accounts::{NewAccount, Role, Session, User};
use crate::domain::sessions::TokenPair;
use crate::domain::values::{Email, LoginName, NewPassword, Password, Username};

use super::ApiTags;
use super::body::{Fields, FromFields, JsonBody};
use super::problem::{Problem, problems};
use super::security::{AccessToken, RefreshToken};

/// The token type of every issued token.
const BEARER: &str = "Bearer";

#[derive(Debug, Object)]
pub struct SignupRequest {
    pub username: Username,
    pub email: Email,
    #[oai(write_only)]
    pub password: NewPassword,
}

impl FromFields for SignupRequest {
    fn from_fields(fields: &mut Fields) -> Result<Self, Problem> {
        Ok(Self {
            username: fields.required("username")?,
            email: fields.required("email")?,
            password: fields.required("password")?,
        })
    }
}

#[derive(Debug, Object)]
pub struct LoginRequest {
    pub username: LoginName,
    #[oai(write_only)]
    pub password: Password,
}

impl FromFields for LoginRequest {
    fn from_fields(fields: &mut Fields) -> Result<Self, Problem> {
        Ok(Self {
            username: fields.required("username")?,
            password: fields.required("password")?,
        })
    }
}

#[derive(Debug, Object)]
pub struct ChangePasswordRequest {
    #[oai(write_only)]
    pub current_password: Password,
    #[oai(write_only)]
    pub new_password: NewPassword,
}

impl FromFields for ChangePasswordRequest {
    fn from_fields(fields: &mut Fields) -> Result<Self, Problem> {
        Ok(Self {
            current_password: fields.required("current_password")?,
            new_password: fields.required("new_password")?,
        })
    }
}

/// A new account and its first tokens.
#[derive(Debug, Object)]
pub struct SignupResult {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// A fresh access and refresh token.
#[derive(Debug, Object)]
#[oai(rename = "TokenPair")]
pub struct TokenPairView {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// Who a user is, as shown next to their tokens.
#[derive(Debug, Object)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub email: String,
}

#[derive(Debug, Object)]
pub struct LoginResult {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: UserSummary,
}

#[derive(Debug, Enum)]
#[oai(rename = "Role", rename_all = "lowercase")]
pub enum RoleView {
    User,
    Admin,
}

/// The caller's own account.
#[derive(Debug, Object)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: RoleView,
    pub created_at: DateTime<Utc>,
}

impl From<TokenPair> for TokenPairView {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: BEARER.to_owned(),
            expires_in: pair.expires_in,
        }
    }
}

impl From<Session> for SignupResult {
    fn from(Session { user, tokens }: Session) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: BEARER.to_owned(),
            expires_in: tokens.expires_in,
        }
    }
}

impl From<Session> for LoginResult {
    fn from(Session { user, tokens }: Session) -> Self {
        let TokenPairView {
            access_token,
            refresh_token,
            token_type,
            expires_in,
        } = tokens.into();
        Self {
            access_token,
            refresh_token,
            token_type,
            expires_in,
            user: UserSummary {
                id: user.id,
                username: user.username,
                email: user.email,
            },
        }
    }
}

impl From<User> for Account {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            role: match user.role {
                Role::User => RoleView::User,
                Role::Admin => RoleView::Admin,
            },
            created_at: user.created_at,
        }
    }
}

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
    pub enum SignupProblem {
        /// A field is missing, has the wrong type or breaks its limits; `field` names it.
        400 => BadRequest,
        /// The username or email is taken (ignoring case); `field` says which.
        409 => Conflict,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
    }
}

problems! {
    pub enum LoginProblem {
        /// A field is missing, has the wrong type or breaks its limits; `field` names it.
        400 => BadRequest,
        /// Unknown user or wrong password; the two are not told apart.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
        /// Too many failed logins for this account (or name) recently.
        #[oai(header(name = "Retry-After", ty = "u64", description = "Seconds until attempts are accepted again."))]
        429 => TooManyRequests,
    }
}

problems! {
    pub enum ChangePasswordProblem {
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
        /// Too many wrong passwords for this account recently.
        #[oai(header(name = "Retry-After", ty = "u64", description = "Seconds until attempts are accepted again."))]
        429 => TooManyRequests,
    }
}

problems! {
    pub enum TokenProblem {
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
        let session = services.accounts.signup(account).await?;
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
        body: JsonBody<LoginRequest>,
    ) -> Result<LoginResponse, LoginProblem> {
        let JsonBody(LoginRequest { username, password }) = body;
        let session = services.accounts.login(username, password).await?;
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
        caller: AccessToken,
        body: JsonBody<ChangePasswordRequest>,
    ) -> Result<SessionEndedResponse, ChangePasswordProblem> {
        let JsonBody(ChangePasswordRequest {
            current_password,
            new_password,
        }) = body;
        services
            .accounts
            .change_password(caller.0, current_password, new_password)
            .await?;
        Ok(SessionEndedResponse::Ended)
    }
}
