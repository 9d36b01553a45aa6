//! Queries on `refresh_tokens`. Tokens are found by the SHA-256 of their
//! `jti`; every state change is a single conditional UPDATE, so concurrent
//! requests cannot both win.

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::models::{NewRefreshTokenRow, RefreshTokenRow};
use super::schema::refresh_tokens as rt;
use super::{Conn, Result};

#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(conn: &mut Conn, row: &NewRefreshTokenRow<'_>) -> Result<()> {
    diesel::insert_into(rt::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a live token used, and answers whether this call did it. A token
/// already used, revoked or expired is left alone.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn consume(conn: &mut Conn, token_hash: &[u8], now: NaiveDateTime) -> Result<bool> {
    let updated = diesel::update(
        rt::table
            .filter(rt::token_hash.eq(token_hash))
            .filter(rt::used_at.is_null())
            .filter(rt::revoked_at.is_null())
            .filter(rt::expires_at.gt(now))
            .filter(rt::idle_expires_at.gt(now)),
    )
    .set(rt::used_at.eq(now))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(conn: &mut Conn, token_hash: &[u8]) -> Result<Option<RefreshTokenRow>> {
    Ok(rt::table
        .filter(rt::token_hash.eq(token_hash))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Revokes every token of a family that is not revoked yet.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_family(conn: &mut Conn, family_id: &[u8], now: NaiveDateTime) -> Result<usize> {
    Ok(revoke_family_statement(family_id, now)
        .execute(conn)
        .await?)
}

/// The statement behind [`revoke_family`], for callers that inspect its
/// plan.
#[dsl::auto_type(no_type_alias)]
pub fn revoke_family_statement<'a>(family_id: &'a [u8], now: NaiveDateTime) -> _ {
    dsl::update(
        rt::table
            .filter(rt::family_id.eq(family_id))
            .filter(rt::revoked_at.is_null()),
    )
    .set(rt::revoked_at.eq(now))
}

/// Revokes every token of a user that is not revoked yet.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn revoke_user(conn: &mut Conn, user_id: i64, now: NaiveDateTime) -> Result<usize> {
    Ok(revoke_user_statement(user_id, now).execute(conn).await?)
}

/// The statement behind [`revoke_user`], for callers that inspect its
/// plan.
#[dsl::auto_type(no_type_alias)]
pub fn revoke_user_statement(user_id: i64, now: NaiveDateTime) -> _ {
    dsl::update(
        rt::table
            .filter(rt::user_id.eq(user_id))
            .filter(rt::revoked_at.is_null()),
    )
    .set(rt::revoked_at.eq(now))
}

/// Deletes up to `batch` tokens that can no longer matter: past their
/// absolute expiry, revoked, or never used and idle too long. Used tokens
/// stay until their family expires, so reuse is still detected. The
/// database works out that moment in `purge_after`, so this reads one
/// index range.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn purge(conn: &mut Conn, now: NaiveDateTime, batch: i64) -> Result<usize> {
    let ids: Vec<i64> = purgeable_ids(now, batch).load(conn).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(rt::table.filter(rt::id.eq_any(ids)))
        .execute(conn)
        .await?)
}

/// The ids [`purge`] deletes, for callers that inspect its plan.
#[dsl::auto_type(no_type_alias)]
pub fn purgeable_ids(now: NaiveDateTime, batch: i64) -> _ {
    rt::table
        .filter(rt::purge_after.le(now))
        .select(rt::id)
        .limit(batch)
}
