//! Queries on `login_failures`: a counter of password checks per throttle
//! key in a fixed window that opens at the first check.

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;
use diesel::sql_types::{Binary, Datetime, Integer};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::login_failures as lf;
use super::{Conn, Result};

/// Counts one password check for a key and answers the count and when
/// its window opened, atomically: the upsert locks the key's row until the
/// transaction ends, so concurrent checks (on any replica) queue and each
/// sees the count its own check made. A window that opened at or before
/// `window_opened_before` has passed, so the count restarts at 1. The
/// count stops at `cap`: once the key is locked out, refused checks need
/// not be counted.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn count_check(
    conn: &mut Conn,
    key: &[u8],
    now: NaiveDateTime,
    window_opened_before: NaiveDateTime,
    cap: i32,
) -> Result<(i32, NaiveDateTime)> {
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        // MySQL evaluates these assignments left to right, so `failures`
        // must be set while `window_started_at` still holds the old value.
        diesel::sql_query(
            "INSERT INTO login_failures (throttle_key, failures, window_started_at) VALUES (?, 1, ?) \
             ON DUPLICATE KEY UPDATE \
               failures = IF(window_started_at <= ?, 1, LEAST(failures + 1, ?)), \
               window_started_at = IF(window_started_at <= ?, VALUES(window_started_at), window_started_at)",
        )
        .bind::<Binary, _>(key)
        .bind::<Datetime, _>(now)
        .bind::<Datetime, _>(window_opened_before)
        .bind::<Integer, _>(cap)
        .bind::<Datetime, _>(window_opened_before)
        .execute(conn)
        .await?;
        lf::table
            .find(key)
            .select((lf::failures, lf::window_started_at))
            .first(conn)
            .await
    })
    .await
    .map_err(Into::into)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn clear(conn: &mut Conn, key: &[u8]) -> Result<()> {
    diesel::delete(lf::table.find(key)).execute(conn).await?;
    Ok(())
}

/// Deletes counters whose window has passed.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn purge(conn: &mut Conn, window_opened_before: NaiveDateTime) -> Result<usize> {
    Ok(purge_statement(window_opened_before).execute(conn).await?)
}

/// The statement behind [`purge`], for callers that inspect its plan.
#[dsl::auto_type(no_type_alias)]
pub fn purge_statement(window_opened_before: NaiveDateTime) -> _ {
    dsl::delete(lf::table.filter(lf::window_started_at.le(window_opened_before)))
}
