//! Accounts: signing up, logging in, refreshing tokens and the admin
//! account made from configuration.

use std::sync::Arc;

use crate::db::{self, Pool, models::NewUserRow, models::UserRow};
use chrono::{DateTime, Utc};

use super::error::{Error, Result};
use super::passwords::Passwords;
use super::tokens::{TokenError, TokenKind, TokenPair, Tokens};
use super::values::{Email, LoginName, NewPassword, Password, Username, login_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub(crate) fn from_db(text: &str) -> Self {
        if text == "admin" {
            Self::Admin
        } else {
            Self::User
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            role: Role::from_db(&row.role),
            created_at: row.created_at.and_utc(),
        }
    }
}

/// A user with a fresh pair of tokens.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub tokens: TokenPair,
}

pub struct NewAccount {
    pub username: Username,
    pub email: Email,
    pub password: NewPassword,
}

/// The admin account to ensure at start-up (`ADMIN_*`).
pub struct AdminAccount {
    pub username: Username,
    pub email: Email,
    pub password: NewPassword,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AdminOutcome {
    Created,
    Promoted,
    AlreadyAdmin,
}

#[derive(Clone)]
pub struct Accounts {
    pool: Pool,
    tokens: Arc<Tokens>,
    passwords: Passwords,
}

impl Accounts {
    pub fn new(pool: Pool, tokens: Arc<Tokens>, passwords: Passwords) -> Self {
        Self {
            pool,
            tokens,
            passwords,
        }
    }

    #[tracing::instrument(skip_all, fields(username = %account.username.as_str()))]
    pub async fn signup(&self, account: NewAccount) -> Result<Session> {
        let user = self.create(account, Role::User).await?;
        let tokens = self.issue(user.id)?;
        Ok(Session { user, tokens })
    }

    /// Logs in by username or email. Unknown users and wrong passwords
    /// fail alike and take alike long.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, name: LoginName, password: Password) -> Result<Session> {
        let row = {
            let mut conn = db::conn(&self.pool).await?;
            db::users::find_by_login_key(&mut conn, &login_key(name.as_str())).await?
        };
        let hash = row.as_ref().map(|row| row.password_hash.clone());
        if !self.passwords.verify(password.into_secret(), hash).await? {
            return Err(Error::BadCredentials);
        }
        let user = User::from(row.ok_or(Error::BadCredentials)?);
        let tokens = self.issue(user.id)?;
        Ok(Session { user, tokens })
    }

    /// Trades a valid refresh token for a new pair.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let claims = self.tokens.verify(refresh_token, TokenKind::Refresh)?;
        let user = self.user(claims.user_id()?).await?;
        self.issue(user.id)
    }

    /// The user an access token speaks for, without touching the database.
    pub fn authenticate(&self, access_token: &str) -> Result<i64> {
        let claims = self.tokens.verify(access_token, TokenKind::Access)?;
        Ok(claims.user_id()?)
    }

    /// The account behind an authenticated request.
    #[tracing::instrument(skip(self))]
    pub async fn user(&self, id: i64) -> Result<User> {
        let mut conn = db::conn(&self.pool).await?;
        db::users::find(&mut conn, id)
            .await?
            .map(User::from)
            .ok_or(Error::Unauthenticated(TokenError::UnknownUser))
    }

    /// Makes sure the configured admin exists and has the admin role. An
    /// existing account keeps its password.
    #[tracing::instrument(skip_all, fields(username = %admin.username.as_str()))]
    pub async fn ensure_admin(&self, admin: AdminAccount) -> Result<AdminOutcome> {
        let existing = {
            let mut conn = db::conn(&self.pool).await?;
            db::users::find_by_login_key(&mut conn, &login_key(admin.username.as_str())).await?
        };
        let Some(row) = existing else {
            let account = NewAccount {
                username: admin.username,
                email: admin.email,
                password: admin.password,
            };
            return match self.create(account, Role::Admin).await {
                Ok(_) => Ok(AdminOutcome::Created),
                // Another replica created it first.
                Err(Error::Taken(_)) => Ok(AdminOutcome::AlreadyAdmin),
                Err(err) => Err(err),
            };
        };
        if Role::from_db(&row.role) == Role::Admin {
            return Ok(AdminOutcome::AlreadyAdmin);
        }
        let mut conn = db::conn(&self.pool).await?;
        db::users::set_role(&mut conn, row.id, Role::Admin.as_str()).await?;
        Ok(AdminOutcome::Promoted)
    }

    async fn create(&self, account: NewAccount, role: Role) -> Result<User> {
        let password_hash = self.passwords.hash(account.password.into_secret()).await?;
        let now = db::now();
        let (username, email) = (account.username.as_str(), account.email.as_str());
        let row = NewUserRow {
            username,
            username_key: &login_key(username),
            email,
            email_key: &login_key(email),
            password_hash: &password_hash,
            role: role.as_str(),
            created_at: now,
            updated_at: now,
        };
        let mut conn = db::conn(&self.pool).await?;
        let id = db::users::insert(&mut conn, &row).await?;
        Ok(User {
            id,
            username: username.to_owned(),
            email: email.to_owned(),
            role,
            created_at: now.and_utc(),
        })
    }

    fn issue(&self, user_id: i64) -> Result<TokenPair> {
        self.tokens.issue_pair(user_id).map_err(Error::internal)
    }
}
