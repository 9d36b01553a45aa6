//! Sessions: token pairs backed by stored, rotating refresh tokens.
//!
//! A login starts a *family*. Each refresh consumes the presented token
//! with one conditional UPDATE and issues the next token of the family in
//! the same transaction, so of two concurrent refreshes exactly one wins.
//! Presenting a token that was already used means it leaked: the whole
//! family is revoked, the newest token included. A family lives at most
//! the absolute lifetime from its login, and each token dies after the
//! idle lifetime unused.
//!
//! Access tokens stay stateless JWTs, but carry the user's token version;
//! a password change or "log out everywhere" moves the version on, and
//! [`Sessions::authenticate`] then refuses every older access token.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel_async::AsyncConnection;
use sha2::{Digest, Sha256};

use crate::db::{self, Conn, Database, models::NewRefreshTokenRow};
use crate::metric_names as names;

use super::clock::{Clock, after};
use super::error::{Error, Result};
use super::tokens::{Claims, TokenError, TokenKind, Tokens};

/// How long tokens live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub access_ttl: Duration,
    /// From login to the end of the family, however often it refreshes.
    pub refresh_absolute_ttl: Duration,
    /// How long one refresh token lives unused.
    pub refresh_idle_ttl: Duration,
}

/// A freshly issued pair.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
}

#[derive(Clone)]
pub struct Sessions {
    db: Database,
    tokens: Arc<Tokens>,
    policy: SessionPolicy,
    clock: Clock,
}

/// Ends every session of a user, in the caller's transaction: all refresh
/// families are revoked and every access token issued so far stops
/// working. Needs no signing key, so the command line can do it too.
pub async fn end_all(conn: &mut Conn, user_id: i64, now: NaiveDateTime) -> Result<()> {
    db::users::bump_token_version(conn, user_id).await?;
    db::refresh_tokens::revoke_user(conn, user_id, now).await?;
    Ok(())
}

/// Refresh tokens are looked up by a hash of their id, so the table holds
/// nothing that could be replayed.
fn token_hash(jti: &str) -> [u8; 32] {
    Sha256::digest(jti.as_bytes()).into()
}

impl Sessions {
    pub fn new(db: Database, tokens: Arc<Tokens>, policy: SessionPolicy, clock: Clock) -> Self {
        Self {
            db,
            tokens,
            policy,
            clock,
        }
    }

    /// Checks a token against the clock's time.
    fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims> {
        let now = self.clock.now_utc().timestamp();
        Ok(self.tokens.verify(token, kind, now)?)
    }

    /// Starts a new family for a user who just proved who they are.
    #[tracing::instrument(level = "debug", skip(self, conn))]
    pub async fn start(&self, conn: &mut Conn, user_id: i64, version: i32) -> Result<TokenPair> {
        let family = uuid::Uuid::new_v4();
        let now = self.clock.now();
        let expires_at = after(now, self.policy.refresh_absolute_ttl);
        self.issue(conn, user_id, version, family.as_bytes(), expires_at, now)
            .await
    }

    /// Stores the next refresh token of a family and signs both tokens.
    async fn issue(
        &self,
        conn: &mut Conn,
        user_id: i64,
        version: i32,
        family: &[u8],
        expires_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<TokenPair> {
        let idle_expires_at = after(now, self.policy.refresh_idle_ttl).min(expires_at);
        let iat = now.and_utc().timestamp();
        let refresh = self
            .tokens
            .issue(
                user_id,
                TokenKind::Refresh,
                version,
                iat,
                idle_expires_at.and_utc().timestamp(),
            )
            .map_err(Error::internal)?;
        let row = NewRefreshTokenRow {
            token_hash: &token_hash(&refresh.jti),
            family_id: family,
            user_id,
            issued_at: now,
            expires_at,
            idle_expires_at,
        };
        db::refresh_tokens::insert(conn, &row).await?;
        let access_exp = after(now, self.policy.access_ttl).and_utc().timestamp();
        let access = self
            .tokens
            .issue(user_id, TokenKind::Access, version, iat, access_exp)
            .map_err(Error::internal)?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: refresh.token,
            expires_in: self.policy.access_ttl.as_secs(),
        })
    }

    /// Consumes a refresh token and returns the next pair of its family.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn rotate(&self, refresh_token: &str) -> Result<TokenPair> {
        let claims = self.verify(refresh_token, TokenKind::Refresh)?;
        let user_id = claims.user_id()?;
        let hash = token_hash(&claims.jti);
        let now = self.clock.now();
        self.db
            .run(async |conn| {
                let rotated = conn
                    .transaction::<_, Error, _>(async |conn| {
                        if !db::refresh_tokens::consume(conn, &hash, now).await? {
                            return Ok(None);
                        }
                        let version = db::users::token_version(conn, user_id)
                            .await?
                            .ok_or(TokenError::UnknownUser)?;
                        if version != claims.ver {
                            return Err(TokenError::Revoked.into());
                        }
                        let row = db::refresh_tokens::find(conn, &hash)
                            .await?
                            .ok_or_else(|| Error::internal("a consumed refresh token vanished"))?;
                        let pair = self
                            .issue(conn, user_id, version, &row.family_id, row.expires_at, now)
                            .await?;
                        Ok(Some(pair))
                    })
                    .await?;
                match rotated {
                    Some(pair) => {
                        metrics::counter!(names::REFRESH_ROTATIONS).increment(1);
                        Ok(pair)
                    }
                    None => Err(self.refusal(conn, &hash, claims.exp, now).await?.into()),
                }
            })
            .await
    }

    /// Says why a refresh token could not be consumed, revoking its family
    /// if it was presented a second time. `exp` is the token's own expiry:
    /// its row may already be purged.
    async fn refusal(
        &self,
        conn: &mut Conn,
        hash: &[u8],
        exp: i64,
        now: NaiveDateTime,
    ) -> Result<TokenError> {
        let Some(row) = db::refresh_tokens::find(conn, hash).await? else {
            if exp <= now.and_utc().timestamp() {
                return Ok(TokenError::Expired);
            }
            return Ok(TokenError::Revoked);
        };
        if row.revoked_at.is_some() {
            return Ok(TokenError::Revoked);
        }
        if row.used_at.is_some() {
            let revoked = db::refresh_tokens::revoke_family(conn, &row.family_id, now).await?;
            metrics::counter!(names::REFRESH_REUSE_DETECTED).increment(1);
            tracing::warn!(
                user_id = row.user_id,
                revoked,
                "refresh token reused; family revoked"
            );
            return Ok(TokenError::Reused);
        }
        if row.expires_at <= now || row.idle_expires_at <= now {
            return Ok(TokenError::Expired);
        }
        Ok(TokenError::Revoked)
    }

    /// Ends the session a refresh token belongs to.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn end(&self, refresh_token: &str) -> Result<()> {
        let claims = self.verify(refresh_token, TokenKind::Refresh)?;
        let now = self.clock.now();
        self.db
            .run(async |conn| {
                let row = db::refresh_tokens::find(conn, &token_hash(&claims.jti))
                    .await?
                    .ok_or(TokenError::Revoked)?;
                db::refresh_tokens::revoke_family(conn, &row.family_id, now).await?;
                Ok::<_, Error>(())
            })
            .await?;
        metrics::counter!(names::SESSIONS_ENDED, "by" => names::label::ended_by::LOGOUT)
            .increment(1);
        Ok(())
    }

    /// Ends every session of a user: all refresh families are revoked and
    /// every access token issued so far stops working.
    #[tracing::instrument(level = "debug", skip(self, conn))]
    pub async fn end_all(&self, conn: &mut Conn, user_id: i64) -> Result<()> {
        end_all(conn, user_id, self.clock.now()).await?;
        metrics::counter!(names::SESSIONS_ENDED, "by" => names::label::ended_by::LOGOUT_ALL)
            .increment(1);
        Ok(())
    }

    /// The user an access token speaks for, if it is still current.
    pub async fn authenticate(&self, access_token: &str) -> Result<i64> {
        let claims = self.verify(access_token, TokenKind::Access)?;
        let user_id = claims.user_id()?;
        let version = self
            .db
            .run(async |conn| db::users::token_version(conn, user_id).await)
            .await?;
        match version {
            None => Err(TokenError::UnknownUser.into()),
            Some(version) if version != claims.ver => Err(TokenError::Revoked.into()),
            Some(_) => Ok(user_id),
        }
    }

    /// Deletes refresh tokens that can no longer matter, in batches.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn purge(&self) -> Result<usize> {
        let now = self.clock.now();
        let purge =
            async move |conn: &mut Conn, batch| db::refresh_tokens::purge(conn, now, batch).await;
        Ok(self.db.purge_in_batches(1000, purge).await?)
    }
}
