//! The Auth operations' request and response bodies, and how domain
//! results become them.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};

use crate::domain::accounts::{Role, Session, User};
use crate::domain::devices::DeviceToken;
use crate::domain::sessions::TokenPair;
use crate::domain::values::{Email, LoginName, NewPassword, Password, Username};

use crate::api::body::request_body;

/// The token type of every issued token.
const BEARER: &str = "Bearer";

request_body! {
    pub struct SignupRequest {
        pub username: Username => required,
        pub email: Email => required,
        #[oai(write_only)]
        pub password: NewPassword => required,
    }
}

request_body! {
    pub struct LoginRequest {
        pub username: LoginName => required,
        #[oai(write_only)]
        pub password: Password => required,
        #[oai(write_only)]
        pub device_token: Option<DeviceToken> => unless_absent,
    }
}

request_body! {
    pub struct ChangePasswordRequest {
        #[oai(write_only)]
        pub current_password: Password => required,
        #[oai(write_only)]
        pub new_password: NewPassword => required,
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
    /// Keep it and send it with this account's later logins from this
    /// device: it lets them through while others have spent the account's
    /// failure budget. Valid for 30 days (`LOGIN_DEVICE_TTL_SECS`); every
    /// login answers a fresh one.
    pub device_token: String,
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
    /// Keep it and send it with this account's later logins from this
    /// device: it lets them through while others have spent the account's
    /// failure budget. Valid for 30 days (`LOGIN_DEVICE_TTL_SECS`); every
    /// login answers a fresh one.
    pub device_token: String,
}

#[derive(Debug, Enum)]
#[oai(rename = "Role", rename_all = "lowercase")]
pub enum RoleView {
    User,
    Admin,
}

impl From<Role> for RoleView {
    fn from(role: Role) -> Self {
        match role {
            Role::User => Self::User,
            Role::Admin => Self::Admin,
        }
    }
}

impl From<RoleView> for Role {
    fn from(role: RoleView) -> Self {
        match role {
            RoleView::User => Self::User,
            RoleView::Admin => Self::Admin,
        }
    }
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
    fn from(
        Session {
            user,
            tokens,
            device_token,
        }: Session,
    ) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: BEARER.to_owned(),
            expires_in: tokens.expires_in,
            device_token: device_token.as_str().to_owned(),
        }
    }
}

impl From<Session> for LoginResult {
    fn from(
        Session {
            user,
            tokens,
            device_token,
        }: Session,
    ) -> Self {
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
            device_token: device_token.as_str().to_owned(),
        }
    }
}

impl From<User> for Account {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            role: user.role.into(),
            created_at: user.created_at,
        }
    }
}
