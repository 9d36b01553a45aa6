//! Accounts: signing up and logging in (both throttled), sessions and
//! passwords, and the admin account made from configuration.

use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;

use crate::db::users::LoginKey;
use crate::db::{self, Database, models::NewUserRow, models::UserRow};

use super::clock::Clock;
use super::devices::{DeviceToken, DeviceTokens};
use super::error::{Error, Failures, Kind, Result};
use super::passwords::Passwords;
use super::sessions::{Sessions, TokenPair};
use super::throttle::{Attempt, LoginThrottle, Recognised, ThrottleKey};
use super::tokens::TokenError;
use super::values::{Email, LoginName, NewPassword, Password, Username, login_key};
use crate::client::Client;
use crate::metric_names as names;

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

/// A user with a fresh pair of tokens, and a device token that lets the
/// client that logged in be recognised at its next login.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub tokens: TokenPair,
    pub device_token: DeviceToken,
}

/// Who is logging in, and from where.
pub struct Login {
    pub name: LoginName,
    pub password: Password,
    pub client: Client,
    /// The device token an earlier login to this account gave the client.
    pub device_token: Option<DeviceToken>,
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
    db: Database,
    sessions: Sessions,
    passwords: Passwords,
    throttle: LoginThrottle,
    devices: DeviceTokens,
    clock: Clock,
}

impl Accounts {
    pub const SIGNUP_FAILURES: Failures = &[Kind::Taken, Kind::Throttled];
    pub const LOGIN_FAILURES: Failures =
        &[Kind::BadCredentials, Kind::Throttled, Kind::AccountDisabled];
    pub const REFRESH_FAILURES: Failures = &[Kind::Unauthenticated];
    pub const LOGOUT_FAILURES: Failures = &[Kind::Unauthenticated];
    pub const LOGOUT_EVERYWHERE_FAILURES: Failures = &[Kind::Unauthenticated];
    pub const CHANGE_PASSWORD_FAILURES: Failures =
        &[Kind::WrongPassword, Kind::Throttled, Kind::Unauthenticated];
    pub const USER_FAILURES: Failures = &[Kind::Unauthenticated];

    pub fn new(
        db: Database,
        sessions: Sessions,
        passwords: Passwords,
        throttle: LoginThrottle,
        devices: DeviceTokens,
        clock: Clock,
    ) -> Self {
        Self {
            db,
            sessions,
            passwords,
            throttle,
            devices,
            clock,
        }
    }

    /// Creates an account and starts its first session. Signups are
    /// counted per client before the password is hashed.
    #[tracing::instrument(level = "debug", skip_all, fields(username = %account.username.as_str()))]
    pub async fn signup(&self, account: NewAccount, client: Client) -> Result<Session> {
        self.db
            .run(async |conn| self.throttle.reserve_signup(conn, client.key()).await)
            .await?;
        let user = self.create(account, Role::User).await?;
        metrics::counter!(names::SIGNUPS).increment(1);
        let tokens = self
            .db
            .run(async |conn| self.sessions.start(conn, user.id, 0).await)
            .await?;
        let device_token = self.devices.issue(user.id, self.clock.now());
        Ok(Session {
            user,
            tokens,
            device_token,
        })
    }

    /// Logs in by username or email. Unknown users and wrong passwords
    /// fail alike, take alike long and are throttled alike.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn login(&self, login: Login) -> Result<Session> {
        let outcome = self.check_login(login).await;
        let label = match &outcome {
            Ok(_) => Some(names::label::outcome::SUCCESS),
            Err(Error::BadCredentials) => Some(names::label::outcome::BAD_CREDENTIALS),
            Err(Error::Throttled { .. }) => Some(names::label::outcome::THROTTLED),
            Err(Error::AccountDisabled) => Some(names::label::outcome::DISABLED),
            Err(_) => None,
        };
        if let Some(label) = label {
            metrics::counter!(names::LOGINS, "outcome" => label).increment(1);
        }
        outcome
    }

    async fn check_login(&self, login: Login) -> Result<Session> {
        let Login {
            name,
            password,
            client,
            device_token,
        } = login;
        let key = login_key(name.as_str());
        let now = self.clock.now();
        let (row, attempt) = self
            .db
            .run(async |conn| {
                let row =
                    db::users::find_by_login_key(conn, unique_key(name.as_str(), &key)).await?;
                let (subject, recognised) = match &row {
                    None => (ThrottleKey::unknown_name(name.as_str()), Recognised::No),
                    Some(row) => (
                        ThrottleKey::account(row.id),
                        device_token
                            .as_ref()
                            .and_then(|token| self.devices.recognise(token, row.id, now))
                            .map_or(Recognised::No, Recognised::Device),
                    ),
                };
                let attempt = Attempt {
                    subject,
                    client: client.key(),
                    recognised,
                };
                self.throttle.reserve(conn, &attempt).await?;
                Ok::<_, Error>((row, attempt))
            })
            .await?;

        // Hashing may queue behind other logins: no connection is held.
        let hash = row.as_ref().map(|row| row.password_hash.clone());
        let verified = self.passwords.verify(password.into_secret(), hash).await?;
        let row = match row {
            Some(row) if verified => row,
            _ => return Err(Error::BadCredentials),
        };
        // Only now: a wrong password for a disabled account is refused
        // like any other, so the answer tells nothing without it.
        if row.disabled_at.is_some() {
            self.db
                .run(async |conn| self.throttle.succeeded(conn, &attempt).await)
                .await?;
            return Err(Error::AccountDisabled);
        }
        let tokens = self
            .db
            .run(async |conn| {
                self.throttle.succeeded(conn, &attempt).await?;
                self.sessions.start(conn, row.id, row.token_version).await
            })
            .await?;
        let device_token = self.devices.issue(row.id, self.clock.now());
        Ok(Session {
            user: row.into(),
            tokens,
            device_token,
        })
    }

    /// Trades a refresh token for the next pair of its session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        self.sessions.rotate(refresh_token).await
    }

    /// Ends the session a refresh token belongs to.
    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        self.sessions.end(refresh_token).await
    }

    /// Ends every session of the user, access tokens included.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn logout_everywhere(&self, user_id: i64) -> Result<()> {
        self.db
            .run(async |conn| {
                conn.transaction::<_, Error, _>(async |conn| {
                    self.sessions.end_all(conn, user_id).await
                })
                .await
            })
            .await
    }

    /// Changes the password after checking the current one, and ends every
    /// session. Wrong current passwords count towards the login throttle,
    /// for this account from this client (the session recognises it, so
    /// the account's global budget does not apply).
    #[tracing::instrument(level = "debug", skip_all, fields(user_id))]
    pub async fn change_password(
        &self,
        user_id: i64,
        client: Client,
        current: Password,
        new: NewPassword,
    ) -> Result<()> {
        let attempt = Attempt {
            subject: ThrottleKey::account(user_id),
            client: client.key(),
            recognised: Recognised::Session,
        };
        let row = self
            .db
            .run(async |conn| {
                let row = db::users::find(conn, user_id)
                    .await?
                    .ok_or(TokenError::UnknownUser)?;
                self.throttle.reserve(conn, &attempt).await?;
                Ok::<_, Error>(row)
            })
            .await?;

        let verified = self
            .passwords
            .verify(current.into_secret(), Some(row.password_hash))
            .await?;
        if !verified {
            return Err(Error::WrongPassword);
        }
        let new_hash = self.passwords.hash(new.into_secret()).await?;
        self.db
            .run(async |conn| {
                conn.transaction::<_, Error, _>(async |conn| {
                    let now = self.clock.now();
                    db::users::set_password(conn, user_id, &new_hash, now).await?;
                    db::refresh_tokens::revoke_user(conn, user_id, now).await?;
                    Ok(())
                })
                .await?;
                self.throttle.succeeded(conn, &attempt).await
            })
            .await
    }

    /// The user a current access token speaks for.
    pub async fn authenticate(&self, access_token: &str) -> Result<i64> {
        self.sessions.authenticate(access_token).await
    }

    /// The account behind an authenticated request.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn user(&self, id: i64) -> Result<User> {
        self.db
            .run(async |conn| db::users::find(conn, id).await)
            .await?
            .map(User::from)
            .ok_or(Error::Unauthenticated(TokenError::UnknownUser))
    }

    /// Deletes expired refresh tokens and throttle counters.
    pub async fn purge_expired(&self) -> Result<(usize, usize)> {
        let tokens = self.sessions.purge().await?;
        let counters = self
            .db
            .run(async |conn| self.throttle.purge(conn).await)
            .await?;
        Ok((tokens, counters))
    }

    /// Makes sure the configured admin exists and has the admin role. An
    /// existing account keeps its password.
    #[tracing::instrument(level = "debug", skip_all, fields(username = %admin.username.as_str()))]
    pub async fn ensure_admin(&self, admin: AdminAccount) -> Result<AdminOutcome> {
        let key = login_key(admin.username.as_str());
        let existing = self
            .db
            .run(async |conn| db::users::find_by_login_key(conn, LoginKey::Username(&key)).await)
            .await?;
        let Some(row) = existing else {
            let account = NewAccount {
                username: admin.username,
                email: admin.email,
                password: admin.password,
            };
            return match self.create(account, Role::Admin).await {
                Ok(_) => Ok(AdminOutcome::Created),
                // Another replica created it first.
                Err(Error::Taken { .. }) => Ok(AdminOutcome::AlreadyAdmin),
                Err(err) => Err(err),
            };
        };
        if Role::from_db(&row.role) == Role::Admin {
            return Ok(AdminOutcome::AlreadyAdmin);
        }
        let now = self.clock.now();
        self.db
            .run(async |conn| db::users::set_role(conn, row.id, Role::Admin.as_str(), now).await)
            .await?;
        Ok(AdminOutcome::Promoted)
    }

    async fn create(&self, account: NewAccount, role: Role) -> Result<User> {
        let password_hash = self.passwords.hash(account.password.into_secret()).await?;
        let now = self.clock.now();
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
        let id = self
            .db
            .run(async |conn| db::users::insert(conn, &row).await)
            .await?;
        Ok(User {
            id,
            username: username.to_owned(),
            email: email.to_owned(),
            role,
            created_at: now.and_utc(),
        })
    }
}

/// Which unique key a login name is: usernames cannot contain `@` and
/// emails must, so a login is one exact lookup rather than a search of
/// both keys.
fn unique_key<'a>(name: &str, key: &'a [u8; 32]) -> LoginKey<'a> {
    if name.contains('@') {
        LoginKey::Email(key)
    } else {
        LoginKey::Username(key)
    }
}
