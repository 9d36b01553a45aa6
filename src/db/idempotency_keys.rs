//! Queries on `idempotency_keys`: which creates a user already made with
//! a key, and what they created.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Datetime};
use diesel_async::RunQueryDsl;

use super::schema::idempotency_keys as ik;
use super::{Conn, Result};

/// A key's record: the request it came with and, once made, what it
/// created.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ik, check_for_backend(diesel::mysql::Mysql))]
pub struct IdempotencyRow {
    pub request_hash: Vec<u8>,
    pub created: Option<String>,
}

/// Deletes the user's record of `key_hash` if it has expired, so the key
/// can be used afresh.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn forget_expired(
    conn: &mut Conn,
    user_id: i64,
    key_hash: &[u8],
    now: NaiveDateTime,
) -> Result<()> {
    diesel::delete(
        ik::table
            .filter(ik::user_id.eq(user_id))
            .filter(ik::key_hash.eq(key_hash))
            .filter(ik::expires_at.le(now)),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that the user is creating with `key_hash`, unless a record
/// exists: answers whether this request claimed the key. A concurrent
/// claim of the same key waits here until the first one's transaction
/// ends, then finds its record.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn claim(
    conn: &mut Conn,
    user_id: i64,
    key_hash: &[u8],
    request_hash: &[u8],
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<bool> {
    let inserted = diesel::insert_into(ik::table)
        .values((
            ik::user_id.eq(user_id),
            ik::key_hash.eq(key_hash),
            ik::request_hash.eq(request_hash),
            ik::created_at.eq(now),
            ik::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Stores what the claimed key created.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record(conn: &mut Conn, user_id: i64, key_hash: &[u8], created: &str) -> Result<()> {
    diesel::update(ik::table.find((user_id, key_hash)))
        .set(ik::created.eq(created))
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find(
    conn: &mut Conn,
    user_id: i64,
    key_hash: &[u8],
) -> Result<Option<IdempotencyRow>> {
    Ok(ik::table
        .find((user_id, key_hash))
        .select(IdempotencyRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Deletes up to `batch` expired records; answers how many went. Reads
/// one range of the `expires_at` index.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn purge(conn: &mut Conn, now: NaiveDateTime, batch: i64) -> Result<usize> {
    // diesel's DELETE has no LIMIT; MySQL's single-table DELETE does.
    Ok(
        diesel::sql_query("DELETE FROM idempotency_keys WHERE expires_at <= ? LIMIT ?")
            .bind::<Datetime, _>(now)
            .bind::<BigInt, _>(batch)
            .execute(conn)
            .await?,
    )
}
